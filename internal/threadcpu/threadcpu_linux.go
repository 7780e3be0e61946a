// Package threadcpu reads the calling thread's CPU time, for benchmarks
// that must not count the time a thread waited for a core on a loaded
// machine.
package threadcpu

import (
	"time"

	"golang.org/x/sys/unix"
)

// Now returns the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID,
// nanosecond resolution), or 0 if it cannot be read. The caller locks its
// OS thread. (getrusage(RUSAGE_THREAD) has the resolution of the
// scheduler tick on some kernels: 4 ms here.)
func Now() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
