package hf

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/tracemark/tracemark/internal/bigbuf"
	"github.com/tracemark/tracemark/tokenize/bpe"
)

// compiledMagic starts the compiled form of a tokenizer.json.
const compiledMagic = "tmhf2\x00\x00\x00"

// compiledHeader is the size of the compiled form's fixed part: the magic,
// the file's SHA-256, the checksum and the settings' length.
const compiledHeader = len(compiledMagic) + 32 + 4 + 4

// crcOffset is where the checksummed bytes start: after the checksum.
const crcOffset = len(compiledMagic) + 32 + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary returns the tokenizer in a compiled form that loads without
// parsing or building anything: the magic "tmhf2\0\0\0"; the tokenizer.json's
// SHA-256 (32 bytes); the CRC-32C (Castagnoli, little-endian uint32) of all
// that follows it; the length of the file's other settings (little-endian
// uint32) and those settings as JSON, zero-padded to a multiple of 8 bytes;
// then the merge model in bpe.Merges.MarshalIndexed form (the pair table
// and the indexed vocabulary), aligned for use in place. UnmarshalBinary
// reads it back checking every entry; LoadCompiledFile maps a file of it
// and checks the checksum only, so a program starts in milliseconds.
func (t *Tokenizer) MarshalBinary() ([]byte, error) {
	model, err := t.model.MarshalIndexed()
	if err != nil {
		return nil, err
	}
	sum, err := hexSum(t.sha256)
	if err != nil {
		return nil, err
	}
	pad := (8 - len(t.settings)%8) % 8
	out := make([]byte, 0, compiledHeader+len(t.settings)+pad+len(model))
	out = append(out, compiledMagic...)
	out = append(out, sum...)
	out = append(out, 0, 0, 0, 0) // the checksum, below
	out = binary.LittleEndian.AppendUint32(out, uint32(len(t.settings)))
	out = append(out, t.settings...)
	out = append(out, make([]byte, pad)...)
	out = append(out, model...)
	binary.LittleEndian.PutUint32(out[crcOffset-4:], crc32.Checksum(out[crcOffset:], castagnoli))
	return out, nil
}

// SHA256Compiled returns the hex SHA-256 of the tokenizer.json that a
// compiled form was made from, without loading it.
func SHA256Compiled(data []byte) (string, error) {
	if len(data) < compiledHeader || string(data[:len(compiledMagic)]) != compiledMagic {
		return "", errors.New("compiled tokenizer: bad magic (or an older version's form)")
	}
	return hex.EncodeToString(data[len(compiledMagic) : len(compiledMagic)+32]), nil
}

// UnmarshalBinary loads a tokenizer from MarshalBinary's output, with the
// same checks as Load: every table entry is verified, so data may come from
// anywhere. It keeps and uses data in place, which must not change.
func UnmarshalBinary(data []byte, name string, opts Options) (*Tokenizer, error) {
	if _, err := SHA256Compiled(data); err != nil {
		return nil, err
	}
	if crc32.Checksum(data[crcOffset:], castagnoli) != binary.LittleEndian.Uint32(data[crcOffset-4:]) {
		return nil, errors.New("compiled tokenizer: checksum mismatch")
	}
	return parseCompiled(data, name, opts, true)
}

// LoadCompiledFile loads the compiled tokenizer in the file at path (written
// from MarshalBinary, and replaced, never rewritten in place). It checks the
// checksum by reading the file through a small buffer, then maps it (see
// bigbuf.MapFile) and uses its tables in place without checking each entry:
// the checksum shows the file is what MarshalBinary wrote for a tokenizer
// Load had checked. So only the pages a text needs are ever read into the
// process. The checksum guards against a damaged or truncated file, not
// against one forged by whoever can write it; for data from elsewhere use
// UnmarshalBinary. The caller compares the result's SHA256 with the
// tokenizer.json it expects.
func LoadCompiledFile(path, name string, opts Options) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < int64(compiledHeader) || st.Size() > 1<<32 {
		return nil, fmt.Errorf("compiled tokenizer %s: %d bytes", path, st.Size())
	}
	var head [crcOffset]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return nil, fmt.Errorf("compiled tokenizer %s: %w", path, err)
	}
	if string(head[:len(compiledMagic)]) != compiledMagic {
		return nil, fmt.Errorf("compiled tokenizer %s: bad magic (or an older version's form)", path)
	}
	h := crc32.New(castagnoli)
	if n, err := io.Copy(h, bufio.NewReaderSize(f, 256<<10)); err != nil || n != st.Size()-int64(crcOffset) {
		return nil, fmt.Errorf("compiled tokenizer %s: read %d bytes: %v", path, n, err)
	}
	if h.Sum32() != binary.LittleEndian.Uint32(head[crcOffset-4:]) {
		return nil, fmt.Errorf("compiled tokenizer %s: checksum mismatch", path)
	}
	data, err := bigbuf.MapFile(f, int(st.Size()))
	if err != nil {
		return nil, fmt.Errorf("compiled tokenizer %s: %w", path, err)
	}
	if string(data[:crcOffset]) != string(head[:]) {
		return nil, fmt.Errorf("compiled tokenizer %s: changed while it was read", path)
	}
	return parseCompiled(data, name, opts, false)
}

// parseCompiled reads MarshalBinary's form (whose magic and checksum were
// checked); check asks for every table entry to be verified.
func parseCompiled(data []byte, name string, opts Options, check bool) (*Tokenizer, error) {
	sum := hex.EncodeToString(data[len(compiledMagic) : len(compiledMagic)+32])
	n := uint64(binary.LittleEndian.Uint32(data[crcOffset:]))
	pad := (8 - n%8) % 8
	if n+pad > uint64(len(data)-compiledHeader) {
		return nil, errors.New("compiled tokenizer: bad settings length")
	}
	settings := data[compiledHeader : compiledHeader+int(n)]
	var f file
	if err := json.Unmarshal(settings, &f); err != nil {
		return nil, fmt.Errorf("compiled tokenizer: settings: %w", err)
	}
	if err := checkModel(&f); err != nil {
		return nil, err
	}
	rest := data[compiledHeader+int(n+pad):]
	model := func() (*bpe.Merges, error) { return bpe.UnmarshalMergesIndexed(rest, check) }
	t, err := build(&f, model, sum, name, opts)
	if err != nil {
		return nil, fmt.Errorf("compiled tokenizer: %w", err)
	}
	return t, nil
}

func hexSum(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("bad SHA-256 %q", s)
	}
	return b, nil
}
