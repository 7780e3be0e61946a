package corpora_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/corpora"
	"github.com/ulikunitz/xz"
)

// lzma2Chunks returns the compressed end offset and the uncompressed size
// of each LZMA2 chunk of the first block of a single-block .xz file (the
// framing of the xz file format 1.0.4 and of LZMA2).
func lzma2Chunks(t *testing.T, file []byte) (ends []int, sizes []int) {
	t.Helper()
	const streamHeader = 12
	off := streamHeader + (int(file[streamHeader])+1)*4 // past the block header
	for off < len(file) {
		ctrl := file[off]
		switch {
		case ctrl == 0x00: // end of the chunk sequence
			return ends, sizes
		case ctrl == 0x01 || ctrl == 0x02: // uncompressed chunk
			u := int(binary.BigEndian.Uint16(file[off+1:])) + 1
			off += 3 + u
			ends, sizes = append(ends, off), append(sizes, u)
		case ctrl >= 0x80: // LZMA chunk
			u := (int(ctrl&0x1f)<<16 | int(binary.BigEndian.Uint16(file[off+1:]))) + 1
			c := int(binary.BigEndian.Uint16(file[off+3:])) + 1
			hdr := 5
			if ctrl >= 0xc0 {
				hdr++ // properties byte
			}
			off += hdr + c
			ends, sizes = append(ends, off), append(sizes, u)
		default:
			t.Fatalf("bad LZMA2 control byte %#x at %d", ctrl, off)
		}
	}
	t.Fatal("no end of the LZMA2 chunks")
	return nil, nil
}

// A truncated .xz file keeps, in order and unchanged, every line that the
// LZMA2 chunks wholly before the cut hold (the last one possibly cut
// short, where the decoded bytes stop), then ends with one error naming
// the truncation. The lines of the chunk the cut falls in are lost: the
// xz library delivers none of a chunk it cannot finish (docs/scanning.md).
func TestTruncatedXZKeepsTheCompleteChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := strings.Fields("a tired analyst reads the long corpus again while seven quick brown foxes jump over lazy dogs at night")
	var lines []string
	var plain bytes.Buffer
	for plain.Len() < 3<<20 {
		var b strings.Builder
		for range 4 + rng.IntN(12) {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d", rng.Uint32())
		lines = append(lines, b.String())
		plain.WriteString(b.String() + "\n")
	}
	var z bytes.Buffer
	w, err := xz.NewWriter(&z)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain.Bytes())
	w.Close()
	file := z.Bytes()
	ends, sizes := lzma2Chunks(t, file)
	if len(ends) < 4 {
		t.Fatalf("%d chunks: the test needs several", len(ends))
	}
	dir := t.TempDir()
	for _, cut := range []int{ends[0] / 2, ends[0] + 1, (ends[1] + ends[2]) / 2, ends[len(ends)-2] + 100, len(file) - 30} {
		// What must be kept: the uncompressed bytes of the chunks that end
		// before the cut, and so the lines that end in them.
		whole := 0
		for i, e := range ends {
			if e <= cut {
				whole += sizes[i]
			}
		}
		mustKeep := strings.Count(plain.String()[:whole], "\n")
		path := write(t, dir, fmt.Sprintf("cut%d.txt.xz", cut), file[:cut])
		docs, diags, _, err := collect(t, path, corpora.ReadOptions{Split: "lines"})
		if err == nil || !strings.Contains(err.Error(), "truncated xz stream") || len(diags) != 0 {
			t.Fatalf("cut at %d: error %v and %d diagnostics; want one error naming the truncation", cut, err, len(diags))
		}
		if len(docs) < mustKeep || len(docs) > len(lines) {
			t.Fatalf("cut at %d of %d bytes: %d lines kept, want at least %d (the complete chunks) and at most %d", cut, len(file), len(docs), mustKeep, len(lines))
		}
		for i, d := range docs {
			// The last line may stop where the decoded bytes stop: the
			// text read is scored, as far as it goes.
			if d.Text != lines[i] && !(i == len(docs)-1 && strings.HasPrefix(lines[i], d.Text)) {
				t.Fatalf("cut at %d: line %d is %q, want %q", cut, i+1, d.Text, lines[i])
			}
		}
		t.Logf("cut at %d of %d compressed bytes: %d of %d lines kept (the complete chunks hold %d)", cut, len(file), len(docs), len(lines), mustKeep)
	}
}
