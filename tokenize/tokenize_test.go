package tokenize

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRoundTripAndKnownIDs(t *testing.T) {
	for _, name := range Names() {
		tok, err := Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Name() != name {
			t.Errorf("Name() = %q, want %q", tok.Name(), name)
		}
		text := "The watermark survives 1234 tokens, naïvely — 東京 🙂!"
		ids, err := tok.AppendEncode(nil, text)
		if err != nil {
			t.Fatal(err)
		}
		back, err := tok.Decode(ids)
		if err != nil || back != text {
			t.Errorf("%s: round trip gave %q, %v", name, back, err)
		}
	}
	// "hello world" is [24912, 2375] in o200k_base and [15339, 1917] in
	// cl100k_base (values published with OpenAI's tiktoken).
	for name, want := range map[string][]uint32{"o200k_base": {24912, 2375}, "cl100k_base": {15339, 1917}} {
		tok, _ := Get(name)
		got, _ := tok.AppendEncode(nil, "hello world")
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%s: hello world = %v, want %v", name, got, want)
		}
	}
}

func TestDefaultAndUnknown(t *testing.T) {
	tok, err := Get("")
	if err != nil || tok.Name() != Default {
		t.Fatalf("Get(\"\") = %v, %v", tok, err)
	}
	_, err = Get("gpt9_base")
	if err == nil || !strings.Contains(err.Error(), "o200k_base") || !strings.Contains(err.Error(), "gpt9_base") {
		t.Errorf("unknown tokenizer error should name it and the known ones: %v", err)
	}
}

func TestInvalidUTF8AndSplitCharacters(t *testing.T) {
	tok, _ := Get(Default)
	ids, err := tok.AppendEncode(nil, "ok \xff\xfe bytes")
	if err != nil || len(ids) == 0 {
		t.Fatalf("invalid UTF-8 input: %v, %v", ids, err)
	}
	// A rare character that byte-level BPE splits across tokens.
	var char string
	for _, c := range []string{"🙂", "𠜎", "𝔘", "ꙮ", "🦩"} {
		if ids, _ = tok.AppendEncode(nil, c); len(ids) >= 2 {
			char = c
			break
		}
	}
	if char == "" {
		t.Fatal("no test character splits across tokens")
	}
	s, err := tok.Decode(ids[:1])
	if err != nil || !utf8.ValidString(s) {
		t.Errorf("decoding half a character: %q, %v", s, err)
	}
	raw, err := tok.AppendBytes(nil, ids[:1])
	if err != nil || utf8.Valid(raw) || len(raw) == 0 {
		t.Errorf("raw bytes of half a character: %q, %v", raw, err)
	}
	all, _ := tok.AppendBytes(nil, ids)
	if string(all) != char {
		t.Errorf("raw bytes of the whole character: %q", all)
	}
}

func TestDecodeBadID(t *testing.T) {
	tok, _ := Get(Default)
	if _, err := tok.Decode([]uint32{1 << 30}); err == nil {
		t.Error("out-of-range ID decoded without error")
	}
}
