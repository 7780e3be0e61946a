package detect

import (
	"time"

	"github.com/tracemark/tracemark/internal/threadcpu"
)

// threadCPU returns the calling thread's CPU time (threadcpu.Now), so that
// a benchmark's per-core cost does not count time the thread spent waiting
// for a core on a loaded machine. The caller locks its OS thread.
func threadCPU() time.Duration { return threadcpu.Now() }
