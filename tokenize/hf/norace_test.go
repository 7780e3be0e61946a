//go:build !race

package hf_test

const raceEnabled = false
