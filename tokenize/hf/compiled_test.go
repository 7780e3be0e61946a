package hf

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
		"damaged":  flipByte(data, len(data)-100),
		"settings": withCRC(flipByte(data, compiledHeader+1)),
		"tables":   withCRC(flipByte(data, len(data)-100)),
	} {
		if _, err := UnmarshalBinary(bad, "bad", Options{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// flipByte returns a copy of data with byte i changed.
func flipByte(data []byte, i int) []byte {
	d := slices.Clone(data)
	d[i] ^= 0x5a
	return d
}

// withCRC sets the checksum of a compiled form to its contents', so that
// a change reaches the structural checks.
func withCRC(d []byte) []byte {
	if len(d) >= compiledHeader {
		binary.LittleEndian.PutUint32(d[crcOffset-4:], crc32.Checksum(d[crcOffset:], castagnoli))
	}
	return d
}

// TestLoadCompiledFile: a compiled file loads mapped, encodes as the
// tokenizer it was made from, and is refused when damaged, truncated,
// extended or of another version's form, each error naming the file.
func TestLoadCompiledFile(t *testing.T) {
	src, err := Load(toyJSON(t, toyMerges, "", nil), "toy", Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, d []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, d, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := LoadCompiledFile(write("good.tmhf", data), "toy", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA256() != src.SHA256() || got.Name() != "toy" {
		t.Errorf("loaded %s %s, want toy %s", got.Name(), got.SHA256(), src.SHA256())
	}
	for _, text := range []string{"hello world", "hello<|end|> wor ld", "日本 12345"} {
		want, _ := src.AppendEncode(nil, text)
		if ids, _ := got.AppendEncode(nil, text); !slices.Equal(ids, want) {
			t.Errorf("%q: mapped %v, want %v", text, ids, want)
		}
	}
	old := slices.Clone(data)
	copy(old, "tmhf1\x00\x00\x00")
	for name, bad := range map[string][]byte{
		"damaged": flipByte(data, len(data)-100), "truncated": data[:len(data)-1], "extended": append(slices.Clone(data), 0),
		"old": old, "short": data[:10],
	} {
		p := write(name+".tmhf", bad)
		if _, err := LoadCompiledFile(p, "bad", Options{}); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v does not name %s", name, err, p)
		}
	}
	if _, err := LoadCompiledFile(filepath.Join(dir, "missing.tmhf"), "x", Options{}); err == nil {
		t.Error("missing file: no error")
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

// FuzzUnmarshalBinary: a compiled form (hundreds of kilobytes, too large
// for the fuzzer to mutate whole) changed at the places the input names,
// its checksum then made right so that the change reaches the checks of
// each table, either loads and encodes without panicking or looping, or is
// refused. The input is 5-byte patches: a little-endian offset (modulo the
// form's length; the first 64 KiB, where the header, settings and pair
// table start, are aimed at unless the offset's top bit is set) and a byte.
func FuzzUnmarshalBinary(f *testing.F) {
	src, err := Load(toyJSON(f, toyMerges, "", nil), "toy", Options{})
	if err != nil {
		f.Fatal(err)
	}
	data, _ := src.MarshalBinary()
	f.Add([]byte{})
	f.Add([]byte{60, 0, 0, 0, 0xff})
	f.Add([]byte{byte(compiledHeader), 0, 0, 0, '['})
	f.Add([]byte{0, 0, 0, 0x80, 7, 9, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, patches []byte) {
		d := slices.Clone(data)
		for ; len(patches) >= 5; patches = patches[5:] {
			off := binary.LittleEndian.Uint32(patches)
			at := int(off&0x7fffffff) % len(d)
			if off>>31 == 0 {
				at %= min(len(d), 1<<16)
			}
			d[at] = patches[4]
		}
		tok, err := UnmarshalBinary(withCRC(d), "fuzz", Options{AddedTokens: true})
		if err != nil {
			return
		}
		ids, _ := tok.AppendEncode(nil, "hello world <|end|>")
		if _, err := tok.Decode(ids); err != nil {
			t.Fatal(err)
		}
	})
}
