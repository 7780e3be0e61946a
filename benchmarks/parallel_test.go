package benchmarks

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelWorkerErrorEndsTheRun: the first failing work item ends the
// run with its error, the other workers stop taking items, and nothing is
// left blocked; a cancelled context ends it too.
func TestParallelWorkerErrorEndsTheRun(t *testing.T) {
	e := &env{cfg: Config{Workers: 3}}
	boom := errors.New("boom")
	var ran atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- e.parallel(context.Background(), 1_000_000, func(_, i int) error {
			ran.Add(1)
			if i == 5 {
				return boom
			}
			time.Sleep(time.Millisecond)
			return nil
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Errorf("error %v, want boom", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a failing worker did not end the run")
	}
	if n := ran.Load(); n > 100 {
		t.Errorf("%d items ran after the failure", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.parallel(ctx, 10, func(int, int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v", err)
	}
}
