package corpora

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// sniffSize is how much of an input's (decompressed) start is looked at to
// tell its format, and whether it is binary.
const sniffSize = 8192

// extFormat names the format a file name's extension (after compression
// extensions are stripped) stands for, or "" when it names none. ".json"
// stands for the JSON family: an array, or JSON Lines (see ReadFile).
func extFormat(path string) string {
	if path == "-" {
		return ""
	}
	switch strings.TrimPrefix(filepath.Ext(baseName(path)), ".") {
	case "jsonl", "ndjson":
		return "jsonl"
	case "json":
		return "json"
	case "csv":
		return "csv"
	case "tsv", "tab":
		return "tsv"
	case "parquet", "pq":
		return "parquet"
	case "warc", "wet", "arc":
		return "warc"
	case "txt", "text", "md", "markdown", "rst":
		return "text"
	}
	return ""
}

// binaryMagic are signatures of files that are not text.
var binaryMagic = []struct {
	offset int
	magic  string
}{
	{0, "\x89PNG\r\n\x1a\n"}, {0, "PK\x03\x04"}, {0, "PK\x05\x06"}, {0, "\x7fELF"},
	{0, "%PDF-"}, {0, "\xff\xd8\xff"}, {0, "GIF87a"}, {0, "GIF89a"}, {0, "7z\xbc\xaf\x27\x1c"},
	{0, "PAR1"}, {0, "\xfe\xed\xfa"}, {0, "\xcf\xfa\xed\xfe"}, {0, "\x00asm"}, {0, "SQLite format 3\x00"},
	{257, "ustar"},
}

// looksBinary reports whether head, the start of a (decompressed) input,
// is not text: a known binary signature (PNG, ZIP, ELF, tar, PDF, JPEG,
// GIF, 7z, Parquet, Mach-O, WebAssembly, SQLite), more than 1/64 NUL bytes,
// or more than a fifth of bytes that are not UTF-8 (Latin-1 prose stays
// well below that; random or compressed bytes are far above it).
func looksBinary(head []byte) (string, bool) {
	for _, m := range binaryMagic {
		if len(head) >= m.offset+len(m.magic) && string(head[m.offset:m.offset+len(m.magic)]) == m.magic {
			return fmt.Sprintf("%q signature", strings.TrimRight(m.magic, "\x00")), true
		}
	}
	if len(head) == 0 {
		return "", false
	}
	if nul := bytes.Count(head, []byte{0}); nul*64 > len(head) {
		return fmt.Sprintf("%d NUL bytes in the first %d", nul, len(head)), true
	}
	invalid := 0
	for i := 0; i < len(head); {
		r, size := utf8.DecodeRune(head[i:])
		if r == utf8.RuneError && size == 1 && len(head)-i >= utf8.UTFMax {
			invalid++
		}
		i += size
	}
	if invalid*5 > len(head) {
		return fmt.Sprintf("%d of its first %d bytes are not UTF-8", invalid, len(head)), true
	}
	return "", false
}

// sniffFormat guesses the format of an input whose name says nothing, from
// its first bytes: "warc", "json" (an array), "jsonl", "binary" or "text".
func sniffFormat(head []byte) string {
	if _, bin := looksBinary(head); bin {
		return "binary"
	}
	trimmed := bytes.TrimLeft(head, " \t\r\n\ufeff")
	switch {
	case bytes.HasPrefix(trimmed, []byte("WARC/")):
		return "warc"
	case bytes.HasPrefix(trimmed, []byte("[")):
		return "json"
	case bytes.HasPrefix(trimmed, []byte("{")):
		return "jsonl"
	}
	return "text"
}

// checkInput refuses, before it is opened, an input that is not a regular
// file: opening a FIFO blocks until a writer comes, and a device can be
// read forever. The error names the path.
func checkInput(path string) (fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err // *PathError: names the path
	}
	mode := st.Mode()
	switch {
	case mode.IsRegular():
		return st, nil
	case mode.IsDir():
		if _, err := os.ReadDir(path); err != nil {
			return nil, fmt.Errorf("%s: directory not read: %w", path, err)
		}
		return nil, fmt.Errorf("%s: %w", path, errDirectory)
	}
	kind := "special file"
	switch {
	case mode&fs.ModeNamedPipe != 0:
		kind = "named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		kind = "socket"
	case mode&fs.ModeCharDevice != 0:
		kind = "character device"
	case mode&fs.ModeDevice != 0:
		kind = "block device"
	}
	return nil, fmt.Errorf("%s: a %s, not read (only regular files, and - for standard input): %w", path, kind, ErrNotRegular)
}
