//go:build !linux

package hf_test

import "time"

var threadStart = time.Now()

// threadCPU falls back to wall time where the thread's CPU time is not
// available.
func threadCPU() time.Duration { return time.Since(threadStart) }
