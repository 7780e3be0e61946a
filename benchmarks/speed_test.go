package benchmarks

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"runtime"
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
	if testing.Short() {
		t.Skip("builds tracemark and runs the built-in model")
	}
	// A tracemark binary to time start-up with.
	exe := filepath.Join(t.TempDir(), "tracemark")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", exe, "github.com/tracemark/tracemark/cmd/tracemark")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	start := time.Now()
	// A quick run takes a few seconds once the built-in model is cached.
	e := newEnv(context.Background(), Config{Quick: true, Seed: 1, Executable: exe})
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

	if st := r.Startup; st == nil {
		t.Error("no start-up timings")
	} else {
		pos("start-up version ms", st.VersionMs)
		pos("start-up detect ms", st.DetectMs)
		if st.Runs < 1 {
			t.Errorf("start-up: %d runs", st.Runs)
		}
	}

	g := r.Generation
	if g == nil || g.Completions < 1 || g.Length < 1 {
		t.Fatalf("generation %+v", g)
	}
	var labels []string
	for _, s := range g.Schemes {
		labels = append(labels, s.Scheme)
		pos(s.Scheme+" plain tokens/s", s.PlainTokensPerSec)
		pos(s.Scheme+" marked tokens/s", s.MarkedTokensPerSec)
		ratio(s.Scheme+" time ratio", s.TimeRatio, s.PlainTokensPerSec, s.MarkedTokensPerSec)
	}
	var specs []string
	for _, spec := range defaultSchemes {
		cfg, err := watermark.ParseSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, cfg.String())
	}
	if len(labels) != len(specs) {
		t.Errorf("generation: %d rows, want %d", len(labels), len(specs))
	}
next:
	for _, spec := range specs {
		for _, l := range labels {
			if strings.HasPrefix(l, spec) {
				continue next
			}
		}
		t.Errorf("generation: no row for %s", spec)
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
	for _, want := range []string{"| Command | ms |", "| Scheme | plain (tokens/s)", "| Work | MB/s of text", "go test -run", "BenchmarkCandidates",
		r.Machine.CPU, "What the numbers mean", "NaN", "Inf"} {
		has := strings.Contains(md, want)
		if bad := want == "NaN" || want == "Inf"; has == bad {
			t.Errorf("markdown: contains %q = %v", want, has)
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

// TestSpeedMarkdownOlderResults renders a speed section of an older
// results.json (micro-timings, no start-up or generation): the parts it
// lacks are left out, the scan is kept.
func TestSpeedMarkdownOlderResults(t *testing.T) {
	old := `{"machine":{"cpu":"AMD EPYC","cores":2},"repeats":3,"seconds":15,
		"embedding":{"contexts":2000,"k":40,"candidates":[{"scheme":"gumbel:h=4","plain_ns":375,"marked_ns":1028,"ratio":2.74}]},
		"detection":{"corpora":[]},
		"scan":{"scheme":"kgw","documents":2919,"text_bytes":7300000,"file_bytes":2700000,"tokens":1705697,"workers":2,
			"tokenize":{"tokens_per_s":1.8e7,"mb_per_s":77.5},"detect":{"tokens_per_s":1.1e7,"mb_per_s":49},
			"scan_1":{"tokens_per_s":9.6e6,"mb_per_s":41.4},"scan_all":{"tokens_per_s":1.1e7,"mb_per_s":48.9},
			"scan1_vs_tokenize":0.53,"scan1_vs_detect":0.84,"all_vs_1":1.18}}`
	var r SpeedResult
	if err := json.Unmarshal([]byte(old), &r); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.markdown(&b)
	md := b.String()
	if !strings.Contains(md, "| scan, 2 workers | 48.9") || strings.Contains(md, "| Command | ms |") || strings.Contains(md, "tokens/s) |") {
		t.Errorf("markdown of an older result:\n%s", md)
	}
}
