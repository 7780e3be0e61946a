package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

func TestJobKindString(t *testing.T) {
	for k, want := range map[jobKind]string{jobBegin: "begin", jobDoc: "doc", jobDiag: "diagnostic", jobEnd: "end", 0: "jobKind(0)", 9: "jobKind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("jobKind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

// endlessJSONL is an io.Reader of JSON Lines documents that never ends:
// only cancellation or an error can end a scan of it.
type endlessJSONL struct {
	line []byte
	off  int
}

func newEndlessJSONL() *endlessJSONL {
	words := strings.Fields("the light of the sun falls on a prism and is parted into colours which the eye sees as one")
	rng := rand.New(rand.NewPCG(3, 4))
	var text strings.Builder
	for i := 0; i < 300; i++ {
		text.WriteString(words[rng.IntN(len(words))])
		text.WriteByte(' ')
	}
	line, _ := json.Marshal(map[string]string{"text": text.String()})
	return &endlessJSONL{line: append(line, '\n')}
}

func (r *endlessJSONL) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.line[r.off:])
		n += c
		r.off = (r.off + c) % len(r.line)
	}
	return n, nil
}

// failingSink fails on the first record of kind fail.
type failingSink struct {
	nullSink
	fail string
	err  error
}

func (f failingSink) Begin(e FileEvent) error {
	if f.fail == "begin" {
		return f.err
	}
	return nil
}

func (f failingSink) Doc(Doc) error {
	if f.fail == "doc" {
		return f.err
	}
	return nil
}

func (f failingSink) Summary(Summary) error {
	if f.fail == "summary" {
		return f.err
	}
	return nil
}

// runBounded runs s over files and fails the test if Run does not return
// within limit.
func runBounded(t *testing.T, ctx context.Context, s *Scanner, files []string, sink Sink, limit time.Duration) (Summary, error) {
	t.Helper()
	type out struct {
		sum Summary
		err error
	}
	ch := make(chan out, 1)
	go func() {
		sum, err := s.Run(ctx, files, sink)
		ch <- out{sum, err}
	}()
	select {
	case o := <-ch:
		return o.sum, o.err
	case <-time.After(limit):
		buf := make([]byte, 1<<20)
		t.Fatalf("Run did not return within %v; goroutines:\n%s", limit, buf[:runtime.Stack(buf, true)])
		return Summary{}, nil
	}
}

// checkNoLeak fails the test if goroutines started since before are still
// running shortly after Run returned.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before Run, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stageTestScanner(t *testing.T, opts func(*Config)) *Scanner {
	t.Helper()
	tok, err := tokenize.Get(tokenize.Default)
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := watermark.NewKGW(newKey(31), watermark.DefaultKGW())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Schemes: []watermark.Scheme{scheme}, Tokenizer: tok, Workers: 2}
	cfg.Read.Format = "jsonl"
	if opts != nil {
		opts(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetStdin(newEndlessJSONL())
	return s
}

// TestRunFailingSink: an error of the sink ends Run with that error, and
// leaves no goroutine behind.
func TestRunFailingSink(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i := 0; i < 3; i++ {
		var b strings.Builder
		for j := 0; j < 20; j++ {
			fmt.Fprintf(&b, "{\"id\":\"%d-%d\",\"text\":\"a short document number %d of file %d, with a few words\"}\n", i, j, j, i)
		}
		path := filepath.Join(dir, fmt.Sprintf("f%d.jsonl", i))
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	for _, fail := range []string{"begin", "doc", "summary"} {
		for _, out := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/out=%v", fail, out), func(t *testing.T) {
				before := runtime.NumGoroutine()
				s := stageTestScanner(t, func(c *Config) {
					if out {
						c.OutDir = filepath.Join(t.TempDir(), "out")
					}
				})
				sinkErr := errors.New("sink is full")
				_, err := runBounded(t, context.Background(), s, files, failingSink{fail: fail, err: sinkErr}, 30*time.Second)
				if !errors.Is(err, sinkErr) {
					t.Errorf("Run returned %v, want the sink's error", err)
				}
				checkNoLeak(t, before)
			})
		}
	}
}

// TestRunCancelled: cancelling the context, before or during a scan of an
// endless input, ends Run promptly with the context's error.
func TestRunCancelled(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		before := runtime.NumGoroutine()
		s := stageTestScanner(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := runBounded(t, ctx, s, []string{"-"}, nullSink{}, 10*time.Second)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
		checkNoLeak(t, before)
	})
	for _, out := range []bool{false, true} {
		t.Run(fmt.Sprintf("during/out=%v", out), func(t *testing.T) {
			before := runtime.NumGoroutine()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cancelled := make(chan time.Time, 1)
			s := stageTestScanner(t, func(c *Config) {
				c.Progress = func(p Progress) {
					if p.Documents >= 512 {
						select {
						case cancelled <- time.Now():
							cancel()
						default:
						}
					}
				}
				if out {
					c.OutDir = filepath.Join(t.TempDir(), "out")
				}
			})
			_, err := runBounded(t, ctx, s, []string{"-"}, failingSink{fail: "begin", err: errors.New("sink reached")}, 60*time.Second)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
			select {
			case at := <-cancelled:
				if d := time.Since(at); d > 5*time.Second {
					t.Errorf("Run returned %v after the cancel", d)
				}
			default:
				t.Error("the scan never got to 512 documents")
			}
			checkNoLeak(t, before)
		})
	}
}

// TestRunStageErrorEndsAll: an error in one stage (the order stage's spill
// file, the score stage's tuple file) ends the others, which would read an
// endless input forever, and Run returns that error.
func TestRunStageErrorEndsAll(t *testing.T) {
	t.Run("order", func(t *testing.T) {
		before := runtime.NumGoroutine()
		s := stageTestScanner(t, func(c *Config) { c.SpillDir = filepath.Join(t.TempDir(), "missing") })
		s.spillMemory = 100
		_, err := runBounded(t, context.Background(), s, []string{"-"}, nullSink{}, 60*time.Second)
		if err == nil || !strings.Contains(err.Error(), "spill file") {
			t.Errorf("Run returned %v, want the spill file's error", err)
		}
		checkNoLeak(t, before)
	})
	t.Run("score", func(t *testing.T) {
		before := runtime.NumGoroutine()
		out := filepath.Join(t.TempDir(), "out")
		// A directory where the tuple file of "-" goes: it cannot be created.
		if err := os.MkdirAll(filepath.Join(out, outputName("-")+".tuples.0.zst"+partialSuffix), 0o755); err != nil {
			t.Fatal(err)
		}
		s := stageTestScanner(t, func(c *Config) { c.OutDir = out })
		_, err := runBounded(t, context.Background(), s, []string{"-"}, nullSink{}, 60*time.Second)
		if err == nil || !strings.Contains(err.Error(), "output directory") || !strings.Contains(err.Error(), "tuples.0.zst") {
			t.Errorf("Run returned %v, want the tuple file's error", err)
		}
		if matches, _ := filepath.Glob(filepath.Join(out, "*.done")); len(matches) != 0 {
			t.Errorf("unfinished input marked done: %v", matches)
		}
		checkNoLeak(t, before)
	})
}
