//go:build race

package hf_test

// raceEnabled reports a -race build, where sync.Pool drops items on purpose,
// so allocation counts are meaningless.
const raceEnabled = true
