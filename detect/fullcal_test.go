package detect

import (
	"os"
	"testing"
)

// fullCalibration reports whether the calibration tests run at their full
// size (TRACEMARK_FULL_CALIBRATION=1: about 10^6 fold tests per scheme,
// 400 keys per templated corpus, 40 repetitions per scheme), as the
// numbers in docs/statistics.md were measured; by default they run at a
// size that keeps go test ./detect within a few minutes.
func fullCalibration() bool { return os.Getenv("TRACEMARK_FULL_CALIBRATION") == "1" }

// skipCalibrationUnderRace skips a statistical calibration test in the
// race detector's -short run: such a test is single-goroutine arithmetic
// over many documents (nothing for the race detector to find) that runs
// 5 to 10 times slower under -race, and it runs in full in the normal
// run. Tests of concurrent code never call it.
func skipCalibrationUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled && testing.Short() {
		t.Skip("calibration test: runs in the normal (non-race) run only")
	}
}
