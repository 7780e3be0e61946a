//go:build !linux

// Package threadcpu reads the calling thread's CPU time, for benchmarks
// that must not count the time a thread waited for a core on a loaded
// machine.
package threadcpu

import "time"

var start = time.Now()

// Now falls back to wall time where the thread's CPU time is not
// available.
func Now() time.Duration { return time.Since(start) }
