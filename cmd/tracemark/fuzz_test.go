package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

func FuzzParseIDs(f *testing.F) {
	for _, s := range []string{"[1,2,3]", "[]", "[4294967295]", "[4294967296]", "[-1]", "[1.5]", "[1e3]", "[1] [2]", "{}", "", "[\"1\"]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		ids, err := parseIDs(line)
		if err != nil {
			return
		}
		// What parses is an array of integers that round-trips.
		b, _ := json.Marshal(ids)
		again, err := parseIDs(b)
		if err != nil || len(again) != len(ids) {
			t.Fatalf("round trip of %q failed: %v", line, err)
		}
		for i := range ids {
			if again[i] != ids[i] {
				t.Fatalf("round trip changed %q", line)
			}
		}
	})
}

func FuzzReadLine(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), 2)
	f.Add([]byte("no newline"), 100)
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		if limit < 1 || limit > 1<<20 {
			return
		}
		br := bufio.NewReaderSize(bytes.NewReader(data), 16)
		var lines [][]byte
		var long []bool
		for {
			line, tooLong, err := readLine(br, nil, limit)
			if !tooLong && len(line) > limit {
				t.Fatalf("line of %d bytes over limit %d", len(line), limit)
			}
			lines = append(lines, append([]byte{}, line...))
			long = append(long, tooLong)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		// Every line that was kept is the corresponding line of data.
		want := bytes.Split(data, []byte("\n"))
		if len(lines) != len(want) {
			t.Fatalf("%d lines, want %d", len(lines), len(want))
		}
		for i := range want {
			if !long[i] && !bytes.Equal(lines[i], want[i]) {
				t.Fatalf("line %d = %q, want %q", i, lines[i], want[i])
			}
			if long[i] && len(want[i]) <= limit {
				t.Fatalf("line %d (%d bytes) called too long at limit %d", i, len(want[i]), limit)
			}
		}
	})
}
