package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestScanCommand(t *testing.T) {
	keyPath, key := newKey(t)
	dir := t.TempDir()
	_, marked := watermarkedText(t, key, 300, 4)
	human := "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness."
	var b bytes.Buffer
	for i, text := range []string{human, marked, human + " Again."} {
		line, _ := json.Marshal(map[string]any{"id": []string{"h1", "m1", "h2"}[i], "text": text})
		b.Write(append(line, '\n'))
	}
	b.WriteString("{broken\n")
	var z bytes.Buffer
	w, _ := zstd.NewWriter(&z)
	w.Write(b.Bytes())
	w.Close()
	corpus := filepath.Join(dir, "part-0.jsonl.zst")
	os.WriteFile(corpus, z.Bytes(), 0o644)
	list := filepath.Join(dir, "shards.txt")
	os.WriteFile(list, []byte(corpus+"\n# a comment\n\n"), 0o644)

	code, out, stderr := cliRun(t, "", "scan", "--key", keyPath, "--json", "--files-from", list)
	if code != exitError { // the broken line is an error
		t.Errorf("exit code %d, want 2 for a bad record\n%s", code, stderr)
	}
	var types []string
	var flagged []string
	var sum map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("bad JSON line %q", line)
		}
		types = append(types, rec["type"].(string))
		if rec["type"] == "doc" && rec["flagged"] == true {
			flagged = append(flagged, rec["id"].(string))
		}
		if rec["type"] == "doc" {
			for _, f := range []string{"id", "file", "location", "tokens", "scored", "p_value", "log10_p", "q_value", "detected", "key_id"} {
				if _, ok := rec[f]; !ok {
					t.Errorf("doc record lacks %q", f)
				}
			}
		}
		if rec["type"] == "summary" {
			sum = rec
		}
	}
	if strings.Join(types, ",") != "begin,doc,doc,doc,error,end,summary" {
		t.Errorf("record types: %v", types)
	}
	if len(flagged) != 1 || flagged[0] != "m1" {
		t.Errorf("flagged %v, want [m1]", flagged)
	}
	for _, f := range []string{"documents", "flagged", "errors", "pooled_p_value", "pooled_log10_p", "bytes", "seconds"} {
		if _, ok := sum[f]; !ok {
			t.Errorf("summary lacks %q", f)
		}
	}
	if sum["documents"].(float64) != 3 || sum["errors"].(float64) != 1 {
		t.Errorf("summary %v", sum)
	}
	// Bad records need not fail the run.
	code, out, stderr = cliRun(t, "", "scan", "--key", keyPath, "--soft-errors-ok", corpus)
	if code != exitFound || !strings.Contains(out, "m1") || !strings.Contains(stderr, "line 4") {
		t.Errorf("--soft-errors-ok: code %d\n%s\n%s", code, out, stderr)
	}
	// A corpus of human text: nothing found.
	clean := filepath.Join(dir, "clean.txt")
	os.WriteFile(clean, []byte(human), 0o644)
	if code, out, _ := cliRun(t, "", "scan", "--key", keyPath, clean); code != exitNotFound || !strings.Contains(out, "no corpus-wide evidence") {
		t.Errorf("clean corpus: code %d %s", code, out)
	}
	// Standard input.
	if code, out, _ := cliRun(t, marked, "scan", "--key", keyPath, "-"); code != exitFound || !strings.Contains(out, "WATERMARKED") {
		t.Errorf("stdin: %d %s", code, out)
	}
	if code, _, stderr := cliRun(t, "", "scan", "--key", keyPath); code != exitError || !strings.Contains(stderr, "no input") {
		t.Errorf("no input: %d %s", code, stderr)
	}
}

// TestScanDocDedupFlag: --doc-dedup chooses the mode of the per-document
// p-values, which every doc record and the summary name (document by
// default); a copy of a document scores nothing in corpus mode; merge
// takes the flag too; an unknown mode is a usage error.
func TestScanDocDedupFlag(t *testing.T) {
	keyPath, key := newKey(t)
	dir := t.TempDir()
	_, marked := watermarkedText(t, key, 300, 4)
	var b bytes.Buffer
	for _, id := range []string{"m1", "m1-copy"} {
		line, _ := json.Marshal(map[string]any{"id": id, "text": marked})
		b.Write(append(line, '\n'))
	}
	corpus := filepath.Join(dir, "c.jsonl")
	os.WriteFile(corpus, b.Bytes(), 0o644)
	records := func(out string) (docs []map[string]any, sum map[string]any) {
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("bad JSON line %q", line)
			}
			switch rec["type"] {
			case "doc":
				docs = append(docs, rec)
			case "summary":
				sum = rec
			}
		}
		return docs, sum
	}
	for _, c := range []struct {
		args        []string
		mode        string
		copyFlagged bool
	}{{nil, "document", true}, {[]string{"--doc-dedup", "document"}, "document", true}, {[]string{"--doc-dedup", "corpus"}, "corpus", false}} {
		out := filepath.Join(t.TempDir(), "out")
		args := append([]string{"scan", "--key", keyPath, "--json", "--out", out}, c.args...)
		code, stdout, stderr := cliRun(t, "", append(args, corpus)...)
		if code != exitFound {
			t.Fatalf("%v: exit %d\n%s", c.args, code, stderr)
		}
		for _, run := range []string{stdout, func() string {
			_, o, _ := cliRun(t, "", append([]string{"merge", "--json"}, append(c.args, out)...)...)
			return o
		}()} {
			docs, sum := records(run)
			if len(docs) != 2 || sum["doc_dedup"] != c.mode {
				t.Fatalf("%v: %d docs, summary mode %v", c.args, len(docs), sum["doc_dedup"])
			}
			for _, d := range docs {
				if d["doc_dedup"] != c.mode {
					t.Errorf("%v: doc %v has mode %v", c.args, d["id"], d["doc_dedup"])
				}
			}
			if docs[0]["flagged"] != true || docs[1]["flagged"] != c.copyFlagged {
				t.Errorf("%v: flagged %v, %v", c.args, docs[0]["flagged"], docs[1]["flagged"])
			}
			if c.mode == "corpus" && docs[1]["scored"].(float64) != 0 {
				t.Errorf("corpus mode: the copy scored %v tuples", docs[1]["scored"])
			}
		}
	}
	code, stdout, _ := cliRun(t, "", "scan", "--key", keyPath, corpus)
	if code != exitFound || !strings.Contains(stdout, "document dedup mode") {
		t.Errorf("human summary does not name the mode (exit %d):\n%s", code, stdout)
	}
	if code, _, stderr := cliRun(t, "", "scan", "--key", keyPath, "--doc-dedup", "tuples", corpus); code != exitError || !strings.Contains(stderr, "--doc-dedup") {
		t.Errorf("unknown mode: exit %d, %s", code, stderr)
	}
}
