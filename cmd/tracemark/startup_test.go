package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tracemark/tracemark/tokenize"
)

// BenchmarkStartup runs the built tracemark binary as a whole process
// (start-up, building the vocabulary, encoding) on an empty file and on a
// 2 kB text, beside a tiktoken-go program doing the same count
// (testdata/tiktokencount), in one run: the ratio of their ns/op is the
// start-up ratio. It reports the processes' peak RSS (max-RSS-KB). It
// also runs detect of the 2 kB text under a new key, reporting its CPU time
// (cpu-ms/run) too, which a loaded machine inflates less than wall time,
// and the count of the 2 kB text by each known tokenizer.json the cache
// holds.
func BenchmarkStartup(b *testing.B) {
	dir := b.TempDir()
	bins := map[string]string{"tracemark": filepath.Join(dir, "tracemark"), "tiktoken-go": filepath.Join(dir, "tiktokencount")}
	for pkg, out := range map[string]string{".": bins["tracemark"], "./testdata/tiktokencount": bins["tiktoken-go"]} {
		if msg, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", pkg, err, msg)
		}
	}
	empty := filepath.Join(dir, "empty.txt")
	small := filepath.Join(dir, "small.txt")
	os.WriteFile(empty, nil, 0o644)
	text := "The old house at the end of the lane had stood empty for years. "
	for len(text) < 2000 {
		text += text
	}
	os.WriteFile(small, []byte(text[:2000]), 0o644)
	for _, in := range []struct{ name, path string }{{"empty", empty}, {"2kB", small}} {
		for _, impl := range []string{"tracemark", "tiktoken-go"} {
			args := []string{"tokenize", "--count", in.path}
			if impl == "tiktoken-go" {
				args = []string{"o200k_base", in.path}
			}
			b.Run("input="+in.name+"/impl="+impl, func(b *testing.B) {
				var rss int64
				for b.Loop() {
					cmd := exec.Command(bins[impl], args...)
					if out, err := cmd.CombinedOutput(); err != nil {
						b.Fatalf("%s: %v\n%s", impl, err, out)
					}
					if u, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
						rss = max(rss, u.Maxrss)
					}
				}
				b.ReportMetric(float64(rss), "max-RSS-KB")
				b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(time.Millisecond), "ms/run")
			})
		}
	}
	// detect of the 2 kB text under a key: the start-up target
	// (<= 30 ms wall, <= 30 MB RSS on a warm disk cache).
	key := filepath.Join(dir, "k.key")
	if out, err := exec.Command(bins["tracemark"], "keygen", "--out", key).CombinedOutput(); err != nil {
		b.Fatalf("keygen: %v\n%s", err, out)
	}
	b.Run("input=2kB/impl=tracemark-detect", func(b *testing.B) {
		runProcesses(b, bins["tracemark"], "detect", "-k", key, small)
	})
	// A tokenizer.json from its compiled form in the cache (mapped, used
	// in place), for each known one the tests have fetched.
	for _, k := range tokenize.KnownTokenizers() {
		b.Run("input=2kB/impl=tracemark-"+k.Name, func(b *testing.B) {
			if _, err := tokenize.Get(k.Name); err != nil {
				b.Skipf("%s: %v", k.Name, err)
			}
			// The first run writes the compiled form if it is missing.
			exec.Command(bins["tracemark"], "tokenize", "--count", "--tokenizer", k.Name, small).Run()
			runProcesses(b, bins["tracemark"], "tokenize", "--count", "--tokenizer", k.Name, small)
		})
	}
	b.Run("input=none/impl=tracemark-help", func(b *testing.B) {
		for b.Loop() {
			if out, err := exec.Command(bins["tracemark"], "--help").CombinedOutput(); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
		}
	})
}

// runProcesses runs bin with args once per benchmark iteration (exit
// status 0, or 1 for detect's "not watermarked") and reports the peak RSS
// (max-RSS-KB), the wall time (ms/run) and the CPU time (cpu-ms/run) of a
// run.
func runProcesses(b *testing.B, bin string, args ...string) {
	var rss int64
	var cpu time.Duration
	for b.Loop() {
		cmd := exec.Command(bin, args...)
		if out, err := cmd.CombinedOutput(); err != nil && cmd.ProcessState.ExitCode() != 1 {
			b.Fatalf("%s: %v\n%s", args[0], err, out)
		}
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if u, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = max(rss, u.Maxrss)
		}
	}
	b.ReportMetric(float64(rss), "max-RSS-KB")
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(time.Millisecond), "ms/run")
	b.ReportMetric(float64(cpu)/float64(b.N)/float64(time.Millisecond), "cpu-ms/run")
}
