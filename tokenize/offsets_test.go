package tokenize

import (
	"strings"
	"testing"
)

// TestAppendByteOffsets: the offsets cut the text into exactly the
// tokens' bytes, for valid text, text with characters split across
// tokens, and empty input.
func TestAppendByteOffsets(t *testing.T) {
	tok, err := Get(Default)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"", "Hello, world! <b>tags</b> & 🤖 naïve 北京 \n\n  spaces", strings.Repeat("🤖", 5)} {
		ids, err := tok.AppendEncode(nil, text)
		if err != nil {
			t.Fatal(err)
		}
		offs, err := AppendByteOffsets([]int{-7}, tok, ids)
		if err != nil {
			t.Fatal(err)
		}
		offs = offs[1:] // appended after what dst held
		if len(offs) != len(ids)+1 || offs[0] != 0 || offs[len(ids)] != len(text) {
			t.Fatalf("%q: offsets %v for %d tokens", text, offs, len(ids))
		}
		for i := range ids {
			b, _ := tok.AppendBytes(nil, ids[i:i+1])
			if string(b) != text[offs[i]:offs[i+1]] {
				t.Fatalf("%q: token %d is %q, offsets give %q", text, i, b, text[offs[i]:offs[i+1]])
			}
		}
	}
	if _, err := AppendByteOffsets(nil, tok, []uint32{1 << 30}); err == nil {
		t.Error("an unknown token ID gave no error")
	}
}
