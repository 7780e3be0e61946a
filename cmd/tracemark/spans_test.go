package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracemark/tracemark/internal/refcorpus"
)

// spanInput is human text (Newton's Opticks) with a 250-token watermarked
// passage and hostile markup inside, and the passage's byte range.
func spanInput(t *testing.T) (keyPath, text string, from, to int) {
	t.Helper()
	keyPath, key := newKey(t)
	_, marked := watermarkedText(t, key, 250, 5)
	doc, err := refcorpus.Opticks()
	if err != nil {
		t.Skip(err)
	}
	human := doc.Text[:12000]
	cut := strings.LastIndex(human[:6000], " ")
	prefix := human[:cut] + " <script>alert('x')</script>&amp;"
	text = prefix + marked + human[cut:]
	return keyPath, text, len(prefix), len(prefix) + len(marked)
}

func TestDetectSpans(t *testing.T) {
	keyPath, text, from, to := spanInput(t)
	in := filepath.Join(t.TempDir(), "mixed.txt")
	if err := os.WriteFile(in, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := cliRun(t, "", "detect", "--key", keyPath, "--spans", "--json", in)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, stderr)
	}
	var rec struct {
		PValue float64 `json:"p_value"`
		Spans  struct {
			Detected bool    `json:"detected"`
			PValue   float64 `json:"p_value"`
			Spans    []struct {
				ByteStart int `json:"byte_start"`
				ByteEnd   int `json:"byte_end"`
			} `json:"spans"`
		} `json:"span_test"`
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatal(err)
	}
	if !rec.Spans.Detected || len(rec.Spans.Spans) != 1 {
		t.Fatalf("span test: %s", out)
	}
	sp := rec.Spans.Spans[0]
	inter := min(sp.ByteEnd, to) - max(sp.ByteStart, from)
	if union := max(sp.ByteEnd, to) - min(sp.ByteStart, from); float64(inter) < 0.7*float64(union) {
		t.Errorf("span bytes [%d,%d), passage [%d,%d)", sp.ByteStart, sp.ByteEnd, from, to)
	}
	code, out, _ = cliRun(t, "", "detect", "--key", keyPath, "--spans", in)
	if code != 0 || !strings.Contains(out, "span 1: tokens ") || !strings.Contains(out, "span test: WATERMARKED") {
		t.Errorf("human output: %s", out)
	}
	code, out, _ = cliRun(t, "", "detect", "--key", keyPath, "--color", in)
	if code != 0 || !strings.Contains(out, "span 1: tokens ") || !strings.Contains(out, "\x1b[30;48;5;") || !strings.Contains(out, ";4m") {
		t.Errorf("--color output: %.300q", out)
	}
	if code, _, stderr := cliRun(t, "", "detect", "--key", keyPath, "--color", "--json", in); code != 2 || !strings.Contains(stderr, "--color") {
		t.Errorf("--color --json: exit %d, %s", code, stderr)
	}
	other, _ := newKey(t)
	if code, _, stderr := cliRun(t, "", "detect", "--key", keyPath, "--key", other, "--spans", in); code != 2 || !strings.Contains(stderr, "one key") {
		t.Errorf("two keys: exit %d, %s", code, stderr)
	}
}

// TestHTMLViewInChromium renders detect --html in headless Chromium: the
// page's text holds the verdict and p-values, the hostile markup is shown
// as text (no script element), and the screenshot is not blank.
func TestHTMLViewInChromium(t *testing.T) {
	keyPath, text, _, _ := spanInput(t)
	dir := t.TempDir()
	in, page := filepath.Join(dir, "mixed.txt"), filepath.Join(dir, "view.html")
	if err := os.WriteFile(in, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := cliRun(t, "", "detect", "--key", keyPath, "--html", page, in); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, stderr)
	}
	html := mustRead(t, page)
	if bytes.Contains(html, []byte("<script")) || !bytes.Contains(html, []byte("&lt;")) || bytes.Contains(html, []byte("src=")) || bytes.Contains(html, []byte("href=")) || bytes.Contains(html, []byte("url(")) {
		t.Fatal("the view holds unescaped markup or an external reference")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("TRACEMARK_REQUIRE_NODE") != "" {
			t.Fatal("chromium is required (TRACEMARK_REQUIRE_NODE is set)")
		}
		t.Skip("no chromium")
	}
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dom, err := exec.CommandContext(ctx, chromium, append(base, "--dump-dom", "file://"+page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	for _, want := range []string{"WATERMARKED", "span test p", "alert"} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	shot := filepath.Join(dir, "view.png")
	cmd := exec.CommandContext(ctx, chromium, append(base, "--screenshot="+shot, "--window-size=1200,1600", "file://"+page)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v %s", err, out)
	}
	// TRACEMARK_SPANS_SCREENSHOT=PATH (relative to the repository's
	// root, or absolute) keeps the screenshot.
	if keep := os.Getenv("TRACEMARK_SPANS_SCREENSHOT"); keep != "" {
		if !filepath.IsAbs(keep) {
			keep = filepath.Join("..", "..", keep)
		}
		if err := os.WriteFile(keep, mustRead(t, shot), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	colours := map[[3]uint32]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}]++
		}
	}
	// Green and red token backgrounds, text and white: a blank page has
	// one colour.
	green, red := 0, 0
	for c, n := range colours {
		if c[1] > c[0]+40 && c[1] > c[2]+40 {
			green += n
		}
		if c[0] > c[1]+40 && c[0] > c[2]+40 {
			red += n
		}
	}
	if len(colours) < 20 || green < 100 || red < 100 {
		t.Errorf("screenshot looks blank: %d colours, %d green and %d red samples", len(colours), green, red)
	}
}

// TestScanSpans: scan --spans finds the passage in a JSONL record and
// --html writes a view of the detected record only.
func TestScanSpans(t *testing.T) {
	keyPath, text, from, to := spanInput(t)
	dir := t.TempDir()
	in, views := filepath.Join(dir, "docs.jsonl"), filepath.Join(dir, "views")
	rec := func(id, s string) string {
		b, _ := json.Marshal(map[string]string{"id": id, "text": s})
		return string(b) + "\n"
	}
	human := text[:from] + text[to:]
	if err := os.WriteFile(in, []byte(rec("mixed", text)+rec("human", human)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := cliRun(t, "", "scan", "--key", keyPath, "--html", views, "--json", in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var docs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["type"] == "doc" {
			docs = append(docs, m)
		}
	}
	if len(docs) != 2 || docs[0]["detected"] != true || docs[1]["detected"] != false {
		t.Fatalf("docs: %v", docs)
	}
	st, ok := docs[0]["span_test"].(map[string]any)
	if !ok || len(st["spans"].([]any)) != 1 {
		t.Fatalf("span_test: %v", docs[0]["span_test"])
	}
	sp := st["spans"].([]any)[0].(map[string]any)
	if b := int(sp["byte_start"].(float64)); b < from-200 || b > from+200 {
		t.Errorf("span starts at byte %d, passage at %d", b, from)
	}
	files, _ := filepath.Glob(filepath.Join(views, "*.html"))
	if len(files) != 1 || docs[0]["view"] != files[0] || docs[1]["view"] != nil {
		t.Errorf("views %v; records name %v, %v", files, docs[0]["view"], docs[1]["view"])
	}
	if code, _, stderr := cliRun(t, "", "scan", "--key", keyPath, "--spans", "--doc-dedup", "corpus", in); code != 2 || !strings.Contains(stderr, "document dedup") {
		t.Errorf("corpus dedup: exit %d, %s", code, stderr)
	}
}
