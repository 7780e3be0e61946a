package tokenize

import "fmt"

// AppendByteOffsets appends len(ids)+1 byte offsets to dst: offset i is
// where token i's bytes start in the concatenation of all tokens' raw bytes
// (AppendBytes), and the last is its length. For a byte-level tokenizer that
// concatenation is the tokenized text itself (after the U+FFFD repair of
// invalid UTF-8), so the offsets point into it; a token that holds part of
// a multi-byte character gets an offset inside that character.
func AppendByteOffsets(dst []int, tok Tokenizer, ids []uint32) ([]int, error) {
	var buf [64]byte
	off := 0
	dst = append(dst, 0)
	for i := range ids {
		b, err := tok.AppendBytes(buf[:0], ids[i:i+1])
		if err != nil {
			return dst, fmt.Errorf("byte offsets: token %d: %w", i, err)
		}
		off += len(b)
		dst = append(dst, off)
	}
	return dst, nil
}
