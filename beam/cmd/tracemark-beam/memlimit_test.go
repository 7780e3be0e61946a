package main

import (
	"runtime/debug"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1536MiB": 1536 << 20, "2GiB": 2 << 30, "1000": 1000, "7B": 7, "3KiB": 3072, "1TiB": 1 << 40} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1GiB", "0", "1.5GiB", "1GB", "9999999TiB", "x"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q): no error", bad)
		}
	}
}

func TestApplyMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOMEMLIMIT", "")
	if got, _ := applyMemoryLimit("auto", "prism"); got != prismMemoryLimit || debug.SetMemoryLimit(-1) != prismMemoryLimit {
		t.Errorf("auto on prism: %d", got)
	}
	if got, _ := applyMemoryLimit("auto", "dataflow"); got != 0 {
		t.Errorf("auto on dataflow: %d", got)
	}
	t.Setenv("GOMEMLIMIT", "4GiB")
	if got, _ := applyMemoryLimit("auto", "prism"); got != 0 {
		t.Errorf("auto with GOMEMLIMIT: %d", got)
	}
	if got, _ := applyMemoryLimit("off", "prism"); got != 0 {
		t.Errorf("off: %d", got)
	}
	if got, err := applyMemoryLimit("3GiB", "flink"); err != nil || got != 3<<30 || debug.SetMemoryLimit(-1) != 3<<30 {
		t.Errorf("3GiB: %d, %v", got, err)
	}
	if _, err := applyMemoryLimit("lots", "prism"); err == nil {
		t.Error("a bad size was accepted")
	}
}
