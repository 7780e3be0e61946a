package hf

import (
	"slices"
	"testing"
)

func TestCompiledRoundTrip(t *testing.T) {
	src, err := Load(toyJSON(t, toyMerges, "", map[string]any{"normalizer": map[string]any{"type": "NFC"}}), "toy", Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := SHA256Compiled(data); err != nil || sum != src.SHA256() {
		t.Fatalf("hash %q %v, want %q", sum, err, src.SHA256())
	}
	got, err := UnmarshalBinary(data, "toy", Options{AddedTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"hello world", "hello<|end|> wor ld e\u0301", "日本 12345"} {
		want, _ := src.AppendEncode(nil, text)
		if got.AddedTokens() {
			want, _ = mustLoad(t, src, Options{AddedTokens: true}).AppendEncode(nil, text)
		}
		ids, _ := got.AppendEncode(nil, text)
		if !slices.Equal(ids, want) {
			t.Errorf("%q: compiled %v, want %v", text, ids, want)
		}
	}
	for name, bad := range map[string][]byte{
		"empty": nil, "magic": append([]byte("xxxxxxxx"), data[8:]...), "truncated": data[:len(data)-3], "trailing": append(slices.Clone(data), 0),
	} {
		if _, err := UnmarshalBinary(bad, "bad", Options{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func mustLoad(t *testing.T, src *Tokenizer, opts Options) *Tokenizer {
	t.Helper()
	data, _ := src.MarshalBinary()
	tok, err := UnmarshalBinary(data, src.Name(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func FuzzUnmarshalBinary(f *testing.F) {
	src, err := Load(toyJSON(f, toyMerges, "", nil), "toy", Options{})
	if err != nil {
		f.Fatal(err)
	}
	data, _ := src.MarshalBinary()
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := UnmarshalBinary(data, "fuzz", Options{AddedTokens: true})
		if err != nil {
			return
		}
		ids, _ := tok.AppendEncode(nil, "hello world <|end|>")
		if _, err := tok.Decode(ids); err != nil {
			t.Fatal(err)
		}
	})
}
