package main

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// prismMemoryLimit is the soft memory limit set for a Prism run when
// neither GOMEMLIMIT nor a size is given: Prism runs the runner and every
// worker in this one process, and without a limit the Go runtime keeps
// memory it has freed (it collects at twice the live heap and returns
// pages lazily), which doubled the peak RSS of the measured 500 MB run
// (docs/distributed.md).
const prismMemoryLimit = 1536 << 20

// applyMemoryLimit sets the Go runtime's soft memory limit from spec:
// "auto" (prismMemoryLimit on the Prism runner unless GOMEMLIMIT is set;
// nothing otherwise, where the runner's workers are other processes),
// "off", or a size in bytes with an optional B, KiB, MiB, GiB or TiB
// suffix as GOMEMLIMIT takes it. It returns the limit set, 0 for none.
func applyMemoryLimit(spec, runner string) (int64, error) {
	var limit int64
	switch spec {
	case "off":
		return 0, nil
	case "auto", "":
		if runner != "prism" || os.Getenv("GOMEMLIMIT") != "" {
			return 0, nil
		}
		limit = prismMemoryLimit
	default:
		n, err := parseSize(spec)
		if err != nil {
			return 0, err
		}
		limit = n
	}
	debug.SetMemoryLimit(limit)
	return limit, nil
}

// parseSize parses a byte count such as 1536MiB, 2GiB or 1000000.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	num, shift := s, uint(0)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("memory limit %q: want a positive size such as 1536MiB, 2GiB or a byte count", s)
	}
	return n << shift, nil
}
