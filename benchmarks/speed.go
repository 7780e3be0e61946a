package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/generate"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/scan"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// Machine describes the computer a run was timed on.
type Machine struct {
	CPU       string `json:"cpu"`   // /proc/cpuinfo "model name", else GOARCH
	Cores     int    `json:"cores"` // runtime.NumCPU
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	GoVersion string `json:"go_version"`
}

// detectMachine describes the machine the process runs on.
func detectMachine() Machine {
	m := Machine{CPU: runtime.GOARCH, Cores: runtime.NumCPU(), OS: runtime.GOOS,
		Arch: runtime.GOARCH, GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if name := cpuModelName(string(b)); name != "" {
			m.CPU = name
		}
	}
	return m
}

// cpuModelName returns the first "model name" of a /proc/cpuinfo listing,
// with its spaces collapsed ("" if there is none).
func cpuModelName(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			if v = strings.Join(strings.Fields(v), " "); v != "" {
				return v
			}
		}
	}
	return ""
}

// SpeedResult is the speed section: what only a whole run can measure. The
// process's start-up, end-to-end generation with and without the mark on
// the built-in model, and the scanner on a compressed file against
// in-memory work on the same documents. Micro-timings (a marked draw, a
// bias pass, scoring and hashing per token, tokenization) are `go test
// -bench` benchmarks (microBenchCommand) and are not repeated here.
type SpeedResult struct {
	Machine Machine `json:"machine"`
	Repeats int     `json:"repeats"` // each figure is the median of this many repeats
	Seconds float64 `json:"seconds"`
	// Startup is nil when the run had no tracemark executable to start
	// (Config.Executable).
	Startup    *SpeedStartup    `json:"startup,omitempty"`
	Generation *SpeedGeneration `json:"generation,omitempty"`
	Scan       SpeedScan        `json:"scan"`
}

// SpeedStartup is the wall time of whole tracemark processes, start to
// exit: `tracemark version` (the process and CLI alone) and `tracemark
// detect` of one short text (adding the tokenizer, the key and a verdict).
type SpeedStartup struct {
	Runs      int     `json:"runs"` // processes started per command; the figure is their median
	VersionMs float64 `json:"version_ms"`
	DetectMs  float64 `json:"detect_ms"`
}

// SpeedGeneration is end-to-end generation with the built-in model
// (generate.Sampler.Generate with default settings), unwatermarked against
// watermarked, from the same prompts, timed alternately in the same run.
type SpeedGeneration struct {
	Completions int             `json:"completions"` // per pass
	Length      int             `json:"length"`      // tokens per completion
	Schemes     []SpeedGenerate `json:"schemes"`
}

// SpeedGenerate is one scheme's generation speed against plain generation.
type SpeedGenerate struct {
	Scheme             string  `json:"scheme"`
	PlainTokensPerSec  float64 `json:"plain_tokens_per_s"`
	MarkedTokensPerSec float64 `json:"marked_tokens_per_s"`
	// TimeRatio is marked time over plain time:
	// PlainTokensPerSec / MarkedTokensPerSec.
	TimeRatio float64 `json:"time_ratio"`
}

// SpeedRate is a throughput.
type SpeedRate struct {
	TokensPerSec float64 `json:"tokens_per_s"`
	MBPerSec     float64 `json:"mb_per_s"` // 10^6 bytes of text per second
}

// SpeedScan is `tracemark scan` on a .jsonl.zst file against in-memory
// tokenization and detection of the same documents.
type SpeedScan struct {
	Scheme    string `json:"scheme"`
	Documents int    `json:"documents"`
	TextBytes int    `json:"text_bytes"`
	FileBytes int    `json:"file_bytes"` // compressed .jsonl.zst
	Tokens    int    `json:"tokens"`
	Workers   int    `json:"workers"` // "all": runtime.NumCPU
	// Tokenize and Detect run on one goroutine over the texts in memory.
	Tokenize SpeedRate `json:"tokenize"`
	Detect   SpeedRate `json:"detect"`
	Scan1    SpeedRate `json:"scan_1"`
	ScanAll  SpeedRate `json:"scan_all"`
	// Ratios of MB/s: Scan1/Tokenize, Scan1/Detect and ScanAll/Scan1.
	Scan1VsTokenize float64 `json:"scan1_vs_tokenize"`
	Scan1VsDetect   float64 `json:"scan1_vs_detect"`
	AllVs1          float64 `json:"all_vs_1"`
}

// microBenchCommand is the command that measures what the speed section
// leaves to `go test -bench`, in benchstat's input format.
const microBenchCommand = "go test -run '^$' -bench . -benchmem -count 6 ./watermark ./detect ./generate ./tokenize > bench.txt && benchstat bench.txt"

const (
	speedScanDoc    = 2000 // scan documents: about 500 tokens
	speedSchemeSeed = "speed/scheme"
)

// speed sizes, scaled by Config.Quick.
func (c Config) speedRepeats() int        { return c.scale(3, 1) }
func (c Config) speedStartups() int       { return c.scale(11, 3) }
func (c Config) speedCompletions() int    { return c.scale(20, 4) }
func (c Config) speedGenerateLength() int { return c.scale(200, 50) }
func (c Config) speedScanBytes() int      { return c.scale(8_000_000, 300_000) }

// runSpeed times, in one run: the start-up of whole tracemark processes
// (when Config.Executable is set), end-to-end generation with each scheme
// against plain generation on the built-in model, and the scanner on a
// .jsonl.zst file with one and all workers against in-memory tokenization
// and detection. Every figure is the median of a few repeats; marked and
// plain generation alternate so that drift in the machine's speed falls on
// both.
func runSpeed(ctx context.Context, e *env) (*SpeedResult, error) {
	start := time.Now()
	res := &SpeedResult{Machine: detectMachine(), Repeats: e.cfg.speedRepeats()}
	tok, err := e.tokenizer()
	if err != nil {
		return nil, err
	}
	schemes, err := e.speedSchemes()
	if err != nil {
		return nil, err
	}
	if res.Startup, err = e.speedStartup(ctx); err != nil {
		return nil, fmt.Errorf("start-up: %w", err)
	}
	if res.Generation, err = e.speedGeneration(ctx, tok, schemes); err != nil {
		return nil, fmt.Errorf("generation: %w", err)
	}
	if err := e.speedScan(ctx, res, tok, schemes[0]); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	res.Seconds = time.Since(start).Seconds()
	e.logf("speed: done in %.1fs", res.Seconds)
	return res, nil
}

// speedSchemes binds defaultSchemes to keys; payload schemes get a payload.
func (e *env) speedSchemes() ([]watermark.Scheme, error) {
	out := make([]watermark.Scheme, len(defaultSchemes))
	for i, spec := range defaultSchemes {
		s, err := e.scheme(spec, speedSchemeSeed, uint64(i))
		if err != nil {
			return nil, err
		}
		if s, _, err = watermark.RandomPayload(s, e.rng("speed/payload", uint64(i))); err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// speedLabel names a scheme in tables: its canonical spec, with a note when
// it carries a payload.
func speedLabel(s watermark.Scheme) string {
	if k, ok := watermark.CarriesPayload(s); ok {
		if _, set := k.Payload(); set {
			return s.Spec() + " (payload set)"
		}
	}
	return s.Spec()
}

// speedMedian returns the median (nearest rank) of durations, in ns.
func speedMedian(ns []float64) float64 { return quantile(ns, 0.5) }

// speedStartup starts Config.Executable: `version`, then `detect` of one
// short text under a fresh key, each Config.speedStartups() times, and
// returns the median wall times (nil when there is no executable).
func (e *env) speedStartup(ctx context.Context) (*SpeedStartup, error) {
	exe := e.cfg.Executable
	if exe == "" {
		e.logf("speed: no tracemark executable given; start-up not timed")
		return nil, nil
	}
	dir, err := os.MkdirTemp("", "tracemark-startup-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	key, text := filepath.Join(dir, "key"), filepath.Join(dir, "text.txt")
	prompts, err := allPrompts(1)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(text, []byte(prompts[0]+"\n"), 0o644); err != nil {
		return nil, err
	}
	// okCodes are the exit codes a successful command may give (detect: 1
	// when no watermark is found).
	run := func(okCodes []int, args ...string) (time.Duration, error) {
		cmd := exec.CommandContext(ctx, exe, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		var exit *exec.ExitError
		if errors.As(err, &exit) && slices.Contains(okCodes, exit.ExitCode()) {
			err = nil
		}
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w (%s)", exe, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return d, nil
	}
	if _, err := run(nil, "keygen", "--out", key); err != nil {
		return nil, err
	}
	n := e.cfg.speedStartups()
	var version, detect []float64
	for range n {
		d, err := run(nil, "version")
		if err != nil {
			return nil, err
		}
		version = append(version, float64(d.Nanoseconds()))
		if d, err = run([]int{1}, "detect", "--key", key, text); err != nil {
			return nil, err
		}
		detect = append(detect, float64(d.Nanoseconds()))
	}
	st := &SpeedStartup{Runs: n, VersionMs: speedMedian(version) / 1e6, DetectMs: speedMedian(detect) / 1e6}
	e.logf("speed: start-up: version %.1f ms, detect %.1f ms", st.VersionMs, st.DetectMs)
	return st, nil
}

// speedGeneration generates the same completions with and without each
// scheme, alternating which goes first, and returns tokens per second.
func (e *env) speedGeneration(ctx context.Context, tok tokenize.Tokenizer, schemes []watermark.Scheme) (*SpeedGeneration, error) {
	m, err := e.model()
	if err != nil {
		return nil, err
	}
	texts, err := allPrompts(e.cfg.speedCompletions())
	if err != nil {
		return nil, err
	}
	prompts := make([][]uint32, len(texts))
	for i, t := range texts {
		if prompts[i], err = tok.AppendEncode(nil, t); err != nil {
			return nil, err
		}
	}
	length := e.cfg.speedGenerateLength()
	g := &SpeedGeneration{Completions: len(prompts), Length: length}
	// pass generates every completion with mark (nil: unwatermarked); the
	// same seeds for both sides.
	pass := func(mark generate.Watermark, r int) (float64, error) {
		s, err := generate.NewSampler(m.NewSession(), mark, generate.DefaultSettings())
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		for i, p := range prompts {
			if _, err := s.Generate(ctx, p, length, e.rng("speed/generate", uint64(r+1), uint64(i))); err != nil {
				return 0, err
			}
		}
		return float64(time.Since(t0).Nanoseconds()), nil
	}
	tokens := float64(len(prompts) * length)
	// One untimed pass warms the model's tables and the caches.
	if _, err := pass(nil, -1); err != nil {
		return nil, err
	}
	runtime.GC()
	for _, s := range schemes {
		var plain, marked []float64
		for r := range e.cfg.speedRepeats() {
			sides := []struct {
				mark generate.Watermark
				dst  *[]float64
			}{{nil, &plain}, {s, &marked}}
			if r%2 == 1 {
				sides[0], sides[1] = sides[1], sides[0]
			}
			for _, side := range sides {
				ns, err := pass(side.mark, r)
				if err != nil {
					return nil, err
				}
				*side.dst = append(*side.dst, ns)
			}
		}
		row := SpeedGenerate{Scheme: speedLabel(s),
			PlainTokensPerSec: tokens / (speedMedian(plain) / 1e9), MarkedTokensPerSec: tokens / (speedMedian(marked) / 1e9)}
		row.TimeRatio = row.PlainTokensPerSec / row.MarkedTokensPerSec
		g.Schemes = append(g.Schemes, row)
		e.logf("speed: generation %s: %.0f vs %.0f tokens/s (×%.3f)", s.Spec(), row.MarkedTokensPerSec, row.PlainTokensPerSec, row.TimeRatio)
	}
	return g, nil
}

// speedDocs is a corpus cut into documents.
type speedDocs struct {
	texts  []string
	bytes  int
	tokens int
}

// countTokens tokenizes the documents once (also growing *buf).
func (d *speedDocs) countTokens(tok tokenize.Tokenizer, buf *[]uint32) error {
	d.tokens = 0
	for _, t := range d.texts {
		ids, err := tok.AppendEncode((*buf)[:0], t)
		if err != nil {
			return err
		}
		*buf = ids
		d.tokens += len(ids)
	}
	return nil
}

// tokenizePass tokenizes every document.
func (d *speedDocs) tokenizePass(tok tokenize.Tokenizer, buf *[]uint32) (time.Duration, error) {
	ids := *buf
	var err error
	t0 := time.Now()
	for _, t := range d.texts {
		if ids, err = tok.AppendEncode(ids[:0], t); err != nil {
			return 0, err
		}
	}
	dur := time.Since(t0)
	*buf = ids
	return dur, nil
}

// detectPass tokenizes and scores every document.
func (d *speedDocs) detectPass(tok tokenize.Tokenizer, det *detect.Detector, buf *[]uint32) (time.Duration, error) {
	ids := *buf
	var err error
	var acc int
	t0 := time.Now()
	for _, t := range d.texts {
		if ids, err = tok.AppendEncode(ids[:0], t); err != nil {
			return 0, err
		}
		acc += det.Tokens(ids).Tokens
	}
	dur := time.Since(t0)
	*buf = ids
	if acc != d.tokens {
		return 0, fmt.Errorf("speed: detection scored %d tokens, tokenization gave %d", acc, d.tokens)
	}
	return dur, nil
}

// rate converts a time for all the documents into a throughput.
func speedRate(tokens, bytes int, ns float64) SpeedRate {
	s := ns / 1e9
	return SpeedRate{TokensPerSec: float64(tokens) / s, MBPerSec: float64(bytes) / 1e6 / s}
}

// speedNullSink discards the scanner's records.
type speedNullSink struct{}

func (speedNullSink) Begin(scan.FileEvent) error       { return nil }
func (speedNullSink) Doc(scan.Doc) error               { return nil }
func (speedNullSink) Diagnostic(scan.Diagnostic) error { return nil }
func (speedNullSink) End(scan.FileEvent) error         { return nil }
func (speedNullSink) Summary(scan.Summary) error       { return nil }

// writeScanCorpus writes the books as a .jsonl.zst file of documents of
// about speedScanDoc bytes (paragraphs joined), up to total bytes of text,
// and returns the documents.
func writeScanCorpus(path string, total int) (*speedDocs, int, error) {
	books, err := refcorpus.Gutenberg()
	if err != nil {
		return nil, 0, err
	}
	d := &speedDocs{}
	for _, book := range books {
		var cur strings.Builder
		flush := func() {
			if cur.Len() > 0 && d.bytes < total {
				d.texts = append(d.texts, cur.String())
				d.bytes += cur.Len()
			}
			cur.Reset()
		}
		for _, p := range strings.Split(book.Text, "\n\n") {
			cur.WriteString(p)
			cur.WriteString("\n\n")
			if cur.Len() > speedScanDoc {
				flush()
			}
		}
		flush()
		if d.bytes >= total {
			break
		}
	}
	var raw bytes.Buffer
	for i, t := range d.texts {
		line, err := json.Marshal(map[string]string{"id": strconv.Itoa(i), "text": t, "source": "gutenberg"})
		if err != nil {
			return nil, 0, err
		}
		raw.Write(line)
		raw.WriteByte('\n')
	}
	var z bytes.Buffer
	w, err := zstd.NewWriter(&z)
	if err != nil {
		return nil, 0, err
	}
	if _, err := w.Write(raw.Bytes()); err != nil {
		return nil, 0, err
	}
	if err := w.Close(); err != nil {
		return nil, 0, err
	}
	if err := os.WriteFile(path, z.Bytes(), 0o644); err != nil {
		return nil, 0, err
	}
	return d, z.Len(), nil
}

func (e *env) speedScan(ctx context.Context, res *SpeedResult, tok tokenize.Tokenizer, scheme watermark.Scheme) error {
	dir, err := os.MkdirTemp("", "tracemark-speed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "gutenberg.jsonl.zst")
	d, fileBytes, err := writeScanCorpus(path, e.cfg.speedScanBytes())
	if err != nil {
		return err
	}
	var buf []uint32
	if err := d.countTokens(tok, &buf); err != nil {
		return err
	}
	det, err := detect.New(scheme, detect.Options{Tokenizer: tok.Name()})
	if err != nil {
		return err
	}
	all := runtime.NumCPU()
	scanOnce := func(workers int) (time.Duration, error) {
		s, err := scan.New(scan.Config{Schemes: []watermark.Scheme{scheme}, Tokenizer: tok, Workers: workers, SpillDir: dir})
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		sum, err := s.Run(ctx, []string{path}, speedNullSink{})
		dur := time.Since(t0)
		if err != nil {
			return 0, err
		}
		if sum.Documents != len(d.texts) || sum.Errors != 0 {
			return 0, fmt.Errorf("speed: scan read %d documents (%d errors), wrote %d", sum.Documents, sum.Errors, len(d.texts))
		}
		return dur, nil
	}
	var tTok, tDet, t1, tAll []float64
	for r := 0; r < e.cfg.speedRepeats(); r++ {
		runtime.GC()
		steps := []struct {
			dst *[]float64
			f   func() (time.Duration, error)
		}{
			{&tTok, func() (time.Duration, error) { return d.tokenizePass(tok, &buf) }},
			{&tDet, func() (time.Duration, error) { return d.detectPass(tok, det, &buf) }},
			{&t1, func() (time.Duration, error) { return scanOnce(1) }},
			{&tAll, func() (time.Duration, error) { return scanOnce(all) }},
		}
		for _, st := range steps {
			if err := ctx.Err(); err != nil {
				return err
			}
			dur, err := st.f()
			if err != nil {
				return err
			}
			*st.dst = append(*st.dst, float64(dur.Nanoseconds()))
		}
	}
	sc := &res.Scan
	*sc = SpeedScan{Scheme: scheme.Spec(), Documents: len(d.texts), TextBytes: d.bytes, FileBytes: fileBytes, Tokens: d.tokens, Workers: all,
		Tokenize: speedRate(d.tokens, d.bytes, speedMedian(tTok)),
		Detect:   speedRate(d.tokens, d.bytes, speedMedian(tDet)),
		Scan1:    speedRate(d.tokens, d.bytes, speedMedian(t1)),
		ScanAll:  speedRate(d.tokens, d.bytes, speedMedian(tAll)),
	}
	sc.Scan1VsTokenize = sc.Scan1.MBPerSec / sc.Tokenize.MBPerSec
	sc.Scan1VsDetect = sc.Scan1.MBPerSec / sc.Detect.MBPerSec
	sc.AllVs1 = sc.ScanAll.MBPerSec / sc.Scan1.MBPerSec
	e.logf("speed: scan %.1f MB/s (1 worker), %.1f MB/s (%d workers)", sc.Scan1.MBPerSec, sc.ScanAll.MBPerSec, all)
	return nil
}

// markdown writes the section body: the machine, the tables and what they
// mean. Parts a run did not measure (start-up without an executable, or
// results.json of an older version) are left out.
func (r *SpeedResult) markdown(b *strings.Builder) {
	m := r.Machine
	fmt.Fprintf(b, "Machine: %s, %d cores, %s/%s, %s. Each figure is the median of %d repeat%s (the section took %.0f s). "+
		"Absolute timings depend on the machine and its load; the ratios compare work timed in the same run and are what to read.\n\n",
		m.CPU, m.Cores, m.OS, m.Arch, m.GoVersion, r.Repeats, speedPlural(r.Repeats), r.Seconds)
	b.WriteString("This section times only what needs a whole run. **Micro-timings come from `go test -bench`**, not from this report: " +
		"a marked draw from 40 candidates against the plain sampler (`BenchmarkCandidates` in `watermark`), " +
		"a draw or bias pass over the whole vocabulary (`BenchmarkFullVocab`, `BenchmarkBiasLogits`), the keyed hash per token (`BenchmarkHashToken`), " +
		"one generation step on the same contexts (`BenchmarkGenerate` in `generate`), scoring and tokenize + score per token on prose and code (`BenchmarkDetect` in `detect`) " +
		"and the tokenizer against tiktoken-go (`BenchmarkEncode` in `tokenize`). Measure them on your machine with\n\n")
	fmt.Fprintf(b, "```sh\n%s\n```\n\n", microBenchCommand)

	if s := r.Startup; s != nil {
		fmt.Fprintf(b, "**Start-up**: wall time of whole `tracemark` processes, start to exit (median of %d):\n\n", s.Runs)
		b.WriteString("| Command | ms |\n|---|---:|\n")
		fmt.Fprintf(b, "| `tracemark version` (process and CLI) | %.1f |\n", s.VersionMs)
		fmt.Fprintf(b, "| `tracemark detect --key KEY FILE` of one sentence (adds tokenizer, key and verdict) | %.1f |\n\n", s.DetectMs)
	}
	if g := r.Generation; g != nil && len(g.Schemes) > 0 {
		fmt.Fprintf(b, "**End-to-end generation** with the built-in model (`generate.Sampler.Generate`, default settings): %d completions of %d tokens from the same prompts and seeds, "+
			"unwatermarked and watermarked passes alternating:\n\n", g.Completions, g.Length)
		b.WriteString("| Scheme | plain (tokens/s) | marked (tokens/s) | marked / plain time |\n|---|---:|---:|---:|\n")
		for _, s := range g.Schemes {
			fmt.Fprintf(b, "| `%s` | %.0f | %.0f | %.3f |\n", s.Scheme, s.PlainTokensPerSec, s.MarkedTokensPerSec, s.TimeRatio)
		}
		b.WriteString("\n")
	}

	s := &r.Scan
	if s.Documents > 0 {
		fmt.Fprintf(b, "**Scan** (`%s`) of a .jsonl.zst file of %d Gutenberg documents of about 2 kB (%.1f MB of text, %.1f MB compressed, %d tokens):\n\n",
			s.Scheme, s.Documents, float64(s.TextBytes)/1e6, float64(s.FileBytes)/1e6, s.Tokens)
		b.WriteString("| Work | MB/s of text | M tokens/s | ratio |\n|---|---:|---:|---|\n")
		fmt.Fprintf(b, "| tokenize in memory (1 goroutine) | %.1f | %.2f | |\n", s.Tokenize.MBPerSec, s.Tokenize.TokensPerSec/1e6)
		fmt.Fprintf(b, "| tokenize + detect in memory (1 goroutine) | %.1f | %.2f | |\n", s.Detect.MBPerSec, s.Detect.TokensPerSec/1e6)
		fmt.Fprintf(b, "| scan, 1 worker | %.1f | %.2f | %.2f of tokenize, %.2f of detect |\n", s.Scan1.MBPerSec, s.Scan1.TokensPerSec/1e6, s.Scan1VsTokenize, s.Scan1VsDetect)
		fmt.Fprintf(b, "| scan, %d workers | %.1f | %.2f | ×%.2f of 1 worker |\n\n", s.Workers, s.ScanAll.MBPerSec, s.ScanAll.TokensPerSec/1e6, s.AllVs1)
	}

	b.WriteString("**What the numbers mean.** Start-up is what a one-shot command costs before it reads its first byte, and what a batch of short invocations pays each time. " +
		"The generation ratio is what a serving stack sees: the mark's cost beside the model's work per token, on whole free-running completions " +
		"(so the two sides take somewhat different paths through the model; `BenchmarkGenerate` times the same contexts on both sides); " +
		"with a neural model, whose forward pass takes milliseconds per token, the overhead of the mark is smaller still. " +
		"The scan's ratios show what reading, decompressing and parsing the file, ordering results and the pooled test add to in-memory detection (1 worker), " +
		"and how it scales to all cores of this machine (which other work may share).\n")
}

func speedPlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
