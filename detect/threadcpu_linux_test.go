package detect

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU returns the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID,
// nanosecond resolution), so that a benchmark's per-core cost does not
// count time the thread spent waiting for a core on a loaded machine. The
// caller locks its OS thread. (getrusage(RUSAGE_THREAD), used before, has
// the resolution of the scheduler tick on some kernels: 4 ms here, as
// long as a whole pass of the fast paths.)
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
