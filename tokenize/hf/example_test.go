package hf_test

import (
	"encoding/json"
	"fmt"

	"github.com/tracemark/tracemark/tokenize/hf"
)

// ExampleLoad loads a tiny byte-level tokenizer.json (the 256 bytes and two
// merges, GPT-2 splitting) and encodes with it.
func ExampleLoad() {
	vocab := map[string]int{}
	n := 0
	for b := range 256 {
		r := rune(b)
		if !('!' <= b && b <= '~' || 0xa1 <= b && b <= 0xac || 0xae <= b && b <= 0xff) {
			r = rune(256 + n) // GPT-2's byte-level alphabet
			n++
		}
		vocab[string(r)] = b
	}
	vocab["he"], vocab["hel"] = 256, 257
	file, _ := json.Marshal(map[string]any{
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": [][]string{{"h", "e"}, {"he", "l"}}},
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false},
		"decoder":       map[string]any{"type": "ByteLevel"},
	})
	tok, err := hf.Load(file, "toy", hf.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ids, _ := tok.AppendEncode(nil, "hello help")
	text, _ := tok.Decode(ids)
	fmt.Println(ids, text)
	// Output: [257 108 111 32 257 112] hello help
}
