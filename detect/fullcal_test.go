package detect

import "os"

// fullCalibration reports whether the calibration tests run at their full
// size (TRACEMARK_FULL_CALIBRATION=1: about 10^6 fold tests per scheme,
// 400 keys per templated corpus, 40 repetitions per scheme), as the
// numbers in docs/statistics.md were measured; by default they run at a
// size that keeps go test ./detect within a few minutes.
func fullCalibration() bool { return os.Getenv("TRACEMARK_FULL_CALIBRATION") == "1" }
