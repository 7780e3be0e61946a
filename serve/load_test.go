package serve

import (
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tracemark/tracemark/serve/servelog"
)

// TestLoad drives the server over loopback TCP with 1, 8 and 64
// concurrent clients (watermarked, authenticated, logged) and checks: no
// errors, one log record per answered request, bounded RSS. The default
// run is small (CI); TRACEMARK_SERVE_LOAD=1 runs the measured version
// (docs/serve.md):
//
//	TRACEMARK_SERVE_LOAD=1 go test -count=1 -run TestLoad -v ./serve/
func TestLoad(t *testing.T) {
	full := os.Getenv("TRACEMARK_SERVE_LOAD") != ""
	levels, perLevel, maxTokens, limit := []int{1, 8}, 16, 16, 20*time.Second
	if full {
		levels, perLevel, maxTokens, limit = []int{1, 8, 64}, 512, 64, 60*time.Second
	} else if testing.Short() {
		t.Skip("short mode")
	}
	dir := t.TempDir()
	creds := filepath.Join(dir, "creds.json")
	key, _, err := AddCustomer(creds, Customer{ID: "load"}, 8)
	if err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "log")
	w, err := servelog.Create(logDir, servelog.Options{MaxFileBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Backends: []Backend{testBackend(t)}, Scheme: testScheme(t, "kgw:payload_bits=8"), CredentialsPath: creds, Log: w, MaxQueue: 128})
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := serveOn(t, srv)
	url := "http://" + addr + "/v1/completions"
	body := fmt.Sprintf(`{"model":"tracemark-ngram","prompt":"It was the best of times, it was the worst of times","max_tokens":%d}`, maxTokens)
	var answered atomic.Int64
	t.Logf("base: tok/s of the sampler alone on %d goroutines (no HTTP, no log), measured just before each level", srv.cfg.MaxConcurrent)
	t.Logf("%-8s %9s %10s %9s %9s %9s %9s %7s %9s", "clients", "requests", "req/s", "tok/s", "vs base", "p50 ms", "p99 ms", "errors", "RSS MB")
	for _, clients := range levels {
		// The baseline is measured just before each level: on a shared
		// machine the CPU available changes from minute to minute.
		base := baselineTokensPerSecond(t, srv, maxTokens, max(perLevel/8, 4))
		tr := &http.Transport{MaxIdleConnsPerHost: clients}
		client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
		var (
			mu        sync.Mutex
			latencies []time.Duration
			errs      []string
			next      atomic.Int64
		)
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		start := time.Now()
		var wg sync.WaitGroup
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(perLevel) && ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+key)
					t0 := time.Now()
					resp, err := client.Do(req)
					var b []byte
					if err == nil {
						b, err = io.ReadAll(resp.Body)
						resp.Body.Close()
					}
					d := time.Since(t0)
					mu.Lock()
					switch {
					case err != nil && ctx.Err() != nil: // the level's time is up
					case err != nil:
						errs = append(errs, err.Error())
					case resp.StatusCode != 200:
						errs = append(errs, fmt.Sprintf("%d %s", resp.StatusCode, b))
					default:
						latencies = append(latencies, d)
						answered.Add(1)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		cancel()
		tr.CloseIdleConnections()
		if len(errs) > 0 {
			t.Fatalf("%d clients: %d errors, first: %s", clients, len(errs), errs[0])
		}
		if len(latencies) == 0 {
			t.Fatalf("%d clients: no request finished within %v", clients, limit)
		}
		slices.Sort(latencies)
		q := func(p float64) float64 {
			return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
		}
		rate := float64(len(latencies)) / elapsed.Seconds()
		t.Logf("%-8d %9d %10.1f %9.0f %9.2f %9.1f %9.1f %7d %9.0f", clients, len(latencies), rate, rate*float64(maxTokens), rate*float64(maxTokens)/base, q(0.50), q(0.99), len(errs), rssMB("VmRSS"))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st, err := servelog.Read(context.Background(), logDir, func(servelog.Record) error { return nil })
	if err != nil || !st.Complete() {
		t.Fatalf("log: %+v %v", st, err)
	}
	if st.Records != answered.Load() {
		t.Fatalf("%d requests answered, %d log records", answered.Load(), st.Records)
	}
	peak := rssMB("VmHWM")
	t.Logf("%d answered, %d log records in %d files; peak RSS %.0f MB (test process: server and clients)", answered.Load(), st.Records, st.Files, peak)
	if peak > 1024 {
		t.Fatalf("peak RSS %.0f MB", peak)
	}
}

// baselineTokensPerSecond generates n completions of maxTokens tokens with
// the server's backend and scheme on MaxConcurrent goroutines, without
// HTTP or the log: what the server's throughput is compared with.
func baselineTokensPerSecond(t *testing.T, srv *Server, maxTokens, n int) float64 {
	b := srv.cfg.Backends[0]
	prompt, _ := b.Tokenizer().AppendEncode(nil, "It was the best of times, it was the worst of times")
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range srv.cfg.MaxConcurrent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := newGenerator(b, srv.cfg.Scheme, b.Settings())
			if err != nil {
				t.Error(err)
				return
			}
			rng := mrand.New(mrand.NewPCG(1, 2))
			for next.Add(1) <= int64(n) {
				if _, err := g.run(context.Background(), prompt, maxTokens, nil, rng); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n*maxTokens) / time.Since(start).Seconds()
}

// rssMB reads a memory figure (VmRSS, VmHWM) of this process, in MB; 0
// where /proc is not available.
func rssMB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
