package detect

import (
	"syscall"
	"time"
)

// threadCPU returns the calling thread's CPU time (user + system), so that
// a benchmark's per-core cost does not count time the thread spent waiting
// for a core on a loaded machine. The caller locks its OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
