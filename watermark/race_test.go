//go:build race

package watermark

// raceEnabled reports a -race build, where sync.Pool drops items on purpose,
// so allocation counts of pooled state are meaningless.
const raceEnabled = true
