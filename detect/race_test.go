//go:build race

package detect

// raceEnabled reports a -race build.
const raceEnabled = true
