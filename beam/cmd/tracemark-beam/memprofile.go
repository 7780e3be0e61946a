package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"time"
)

// heapSample is the runtime metric heapProfiled watches: the bytes of live
// and not yet swept heap objects.
const heapSample = "/memory/classes/heap/objects:bytes"

// heapProfiled runs f and writes to path ("" = no profile) the heap
// profile taken when the heap was largest: it samples the heap every
// 100 ms and, each time the heap has grown by a tenth over the largest
// seen, runs a GC (so that the profile's in-use counts are the live heap
// at that moment) and keeps the profile. The last one kept is written
// when f returns.
func heapProfiled(path string, f func() error) error {
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	runtime.MemProfileRate = 512 << 10
	stop := make(chan struct{})
	done := make(chan *bytes.Buffer)
	go func() {
		sample := []metrics.Sample{{Name: heapSample}}
		var peak uint64
		var best bytes.Buffer
		keep := func() {
			runtime.GC()
			best.Reset()
			_ = pprof.Lookup("heap").WriteTo(&best, 0)
		}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				if best.Len() == 0 {
					keep()
				}
				done <- &best
				return
			case <-tick.C:
				metrics.Read(sample)
				if v := sample[0].Value.Uint64(); v > peak+peak/10 {
					peak = v
					keep()
				}
			}
		}
	}()
	err = f()
	close(stop)
	best := <-done
	if _, werr := out.Write(best.Bytes()); err == nil && werr != nil {
		err = fmt.Errorf("--memprofile: %w", werr)
	}
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("--memprofile: %w", cerr)
	}
	return err
}
