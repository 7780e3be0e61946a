package benchmarks

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tracemark/tracemark/watermark"
)

func TestCPUModelName(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD  EPYC 7B13\nflags\t: fpu\n\nprocessor\t: 1\nmodel name\t: other\n"
	if got := cpuModelName(info); got != "AMD EPYC 7B13" {
		t.Errorf("cpuModelName = %q", got)
	}
	if got := cpuModelName("processor : 0\n"); got != "" {
		t.Errorf("cpuModelName without a model = %q", got)
	}
	m := detectMachine()
	if m.Cores < 1 || m.CPU == "" || m.OS == "" || m.Arch == "" || m.GoVersion == "" {
		t.Errorf("detectMachine = %+v", m)
	}
}

func TestRunSpeedQuick(t *testing.T) {
	start := time.Now()
	// A quick run takes a few seconds once the built-in model is cached.
	e := newEnv(context.Background(), Config{Quick: true, Seed: 1})
	r, err := runSpeed(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("runSpeed (quick) took %v", time.Since(start).Round(time.Millisecond))

	pos := func(what string, x float64) {
		t.Helper()
		if !(x > 0) || math.IsInf(x, 0) {
			t.Errorf("%s = %v, want finite and positive", what, x)
		}
	}
	ratio := func(what string, got, num, den float64) {
		t.Helper()
		pos(what, got)
		if want := num / den; math.Abs(got-want) > 1e-9*want {
			t.Errorf("%s = %v, but the reported numbers give %v", what, got, want)
		}
	}
	rate := func(what string, r SpeedRate) {
		t.Helper()
		pos(what+" tokens/s", r.TokensPerSec)
		pos(what+" MB/s", r.MBPerSec)
	}

	if r.Machine.Cores < 1 || r.Machine.CPU == "" {
		t.Errorf("machine %+v", r.Machine)
	}
	if r.Repeats != 1 {
		t.Errorf("quick run: %d repeats, want 1", r.Repeats)
	}
	pos("seconds", r.Seconds)

	var specs []string
	for _, spec := range defaultSchemes {
		cfg, err := watermark.ParseSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, cfg.String())
	}
	hasAll := func(what string, labels []string) {
		t.Helper()
		if len(labels) < len(specs) {
			t.Errorf("%s: %d rows, want %d", what, len(labels), len(specs))
		}
	next:
		for _, spec := range specs {
			for _, l := range labels {
				if strings.HasPrefix(l, spec) {
					continue next
				}
			}
			t.Errorf("%s: no row for %s", what, spec)
		}
	}
	pairs := func(what string, ps []SpeedPair) {
		t.Helper()
		var labels []string
		for _, p := range ps {
			labels = append(labels, p.Scheme)
			pos(what+" "+p.Scheme+" plain ns", p.PlainNs)
			pos(what+" "+p.Scheme+" marked ns", p.MarkedNs)
			ratio(what+" "+p.Scheme+" ratio", p.Ratio, p.MarkedNs, p.PlainNs)
			if p.Calls < 1 {
				t.Errorf("%s %s: %d calls", what, p.Scheme, p.Calls)
			}
		}
		hasAll(what, labels)
	}
	em := r.Embedding
	if em.K != speedK || em.Contexts < 1 || em.Vocab != speedFullVocab {
		t.Errorf("embedding setup: k=%d, %d contexts, vocab %d", em.K, em.Contexts, em.Vocab)
	}
	pairs("candidates", em.Candidates)
	pairs("full vocabulary", em.FullVocab)
	pairs("generation step", em.Step)
	for i, p := range em.Step {
		// The step includes the model's top-k query: it costs more than
		// the draw alone.
		if i < len(em.Candidates) && p.PlainNs <= em.Candidates[i].PlainNs {
			t.Errorf("generation step %s: %.0f ns, less than the draw alone (%.0f ns)", p.Scheme, p.PlainNs, em.Candidates[i].PlainNs)
		}
	}

	if len(r.Detection.Corpora) != 2 {
		t.Fatalf("detection: %d corpora, want 2", len(r.Detection.Corpora))
	}
	for _, c := range r.Detection.Corpora {
		if c.Documents < 1 || c.Bytes < 1 || c.Tokens < 1 {
			t.Errorf("detection corpus %+v", c)
		}
		rate(c.Name+" tokenize", c.Tokenize)
		var labels []string
		for _, s := range c.Schemes {
			labels = append(labels, s.Scheme)
			rate(c.Name+" "+s.Scheme, s.Rate)
			ratio(c.Name+" "+s.Scheme+" time ratio", s.TimeRatio, c.Tokenize.TokensPerSec, s.Rate.TokensPerSec)
			// Both rates come from the same tokens and bytes.
			ratio(c.Name+" "+s.Scheme+" MB/s ratio", c.Tokenize.MBPerSec/s.Rate.MBPerSec, c.Tokenize.TokensPerSec, s.Rate.TokensPerSec)
		}
		hasAll("detection "+c.Name, labels)
	}
	ref := r.Detection.Reference
	if ref.Bytes < 1 || ref.Tokens < 1 || !strings.HasPrefix(ref.Name, "tiktoken-go:") {
		t.Errorf("reference %+v", ref)
	}
	rate("reference builtin", ref.Builtin)
	rate("reference tiktoken-go", ref.Reference)
	ratio("reference speedup", ref.Speedup, ref.Builtin.MBPerSec, ref.Reference.MBPerSec)
	if !ref.SameTokens {
		t.Errorf("tiktoken-go and the built-in tokenizer disagree on the sample")
	}

	s := r.Scan
	if s.Documents < 1 || s.TextBytes < 1 || s.FileBytes < 1 || s.Tokens < 1 || s.Workers < 1 {
		t.Errorf("scan %+v", s)
	}
	for _, x := range []struct {
		name string
		r    SpeedRate
	}{{"tokenize", s.Tokenize}, {"detect", s.Detect}, {"scan1", s.Scan1}, {"scanAll", s.ScanAll}} {
		rate("scan "+x.name, x.r)
	}
	ratio("scan1/tokenize", s.Scan1VsTokenize, s.Scan1.MBPerSec, s.Tokenize.MBPerSec)
	ratio("scan1/detect", s.Scan1VsDetect, s.Scan1.MBPerSec, s.Detect.MBPerSec)
	ratio("all/1", s.AllVs1, s.ScanAll.MBPerSec, s.Scan1.MBPerSec)

	if _, err := json.Marshal(r); err != nil {
		t.Errorf("json: %v", err)
	}

	var b strings.Builder
	r.markdown(&b)
	md := b.String()
	for _, want := range []string{"| Scheme | plain (ns/call)", "| Scheme | marked by", "| Scheme | plain step", "| Corpus | Work", "| Work | MB/s of text",
		r.Machine.CPU, "What the numbers mean", "NaN", "Inf"} {
		has := strings.Contains(md, want)
		if bad := want == "NaN" || want == "Inf"; has == bad {
			t.Errorf("markdown: contains %q = %v", want, has)
		}
	}
	for _, spec := range specs {
		if n := strings.Count(md, "`"+spec); n < 4 {
			t.Errorf("markdown mentions %s in %d rows, want at least 4 (one per table)", spec, n)
		}
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "|") && strings.Count(line, "|") < 3 {
			t.Errorf("markdown: short table row %q", line)
		}
	}
	if testing.Verbose() {
		t.Log("\n" + md)
	}
}
