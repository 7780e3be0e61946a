package hf

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tracemark/tracemark/tokenize/bpe"
)

// compiledMagic starts the compiled form of a tokenizer.json.
const compiledMagic = "tmhf1\x00\x00\x00"

// MarshalBinary returns the tokenizer in a compiled form that
// UnmarshalBinary loads without parsing the JSON vocabulary and merges
// (tens of milliseconds instead of about a second for Llama 3): the magic
// "tmhf1\0\0\0", the file's SHA-256 (32 bytes), the file's other settings as
// JSON (uvarint length first), the vocabulary in bpe.Ranks.MarshalBinary
// form (uvarint length first), the number of merges (uvarint) and each as
// two little-endian uint32 token IDs.
func (t *Tokenizer) MarshalBinary() ([]byte, error) {
	vocab, err := t.model.Vocabulary().MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(compiledMagic)+32+len(t.settings)+len(vocab)+8*len(t.merges)+30)
	out = append(out, compiledMagic...)
	sum, err := hexSum(t.sha256)
	if err != nil {
		return nil, err
	}
	out = append(out, sum...)
	out = binary.AppendUvarint(out, uint64(len(t.settings)))
	out = append(out, t.settings...)
	out = binary.AppendUvarint(out, uint64(len(vocab)))
	out = append(out, vocab...)
	out = binary.AppendUvarint(out, uint64(len(t.merges)))
	for _, m := range t.merges {
		out = binary.LittleEndian.AppendUint32(out, m[0])
		out = binary.LittleEndian.AppendUint32(out, m[1])
	}
	return out, nil
}

// SHA256Compiled returns the hex SHA-256 of the tokenizer.json that a
// compiled form was made from, without loading it.
func SHA256Compiled(data []byte) (string, error) {
	if len(data) < len(compiledMagic)+32 || string(data[:len(compiledMagic)]) != compiledMagic {
		return "", errors.New("compiled tokenizer: bad magic")
	}
	return fmt.Sprintf("%x", data[len(compiledMagic):len(compiledMagic)+32]), nil
}

// UnmarshalBinary loads a tokenizer from MarshalBinary's output, with the
// same checks as Load.
func UnmarshalBinary(data []byte, name string, opts Options) (*Tokenizer, error) {
	sum, err := SHA256Compiled(data)
	if err != nil {
		return nil, err
	}
	p := data[len(compiledMagic)+32:]
	chunk := func(what string) ([]byte, error) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return nil, fmt.Errorf("compiled tokenizer: bad %s length", what)
		}
		c := p[k : k+int(n)]
		p = p[k+int(n):]
		return c, nil
	}
	settings, err := chunk("settings")
	if err != nil {
		return nil, err
	}
	var f file
	if err := json.Unmarshal(settings, &f); err != nil {
		return nil, fmt.Errorf("compiled tokenizer: settings: %w", err)
	}
	if err := checkModel(&f); err != nil {
		return nil, err
	}
	vocab, err := chunk("vocabulary")
	if err != nil {
		return nil, err
	}
	ranks, err := bpe.UnmarshalRanks(vocab)
	if err != nil {
		return nil, fmt.Errorf("compiled tokenizer: %w", err)
	}
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k)/8 || uint64(len(p)-k) != 8*n {
		return nil, errors.New("compiled tokenizer: bad merges")
	}
	p = p[k:]
	merges := make([][2]uint32, n)
	for i := range merges {
		merges[i] = [2]uint32{binary.LittleEndian.Uint32(p), binary.LittleEndian.Uint32(p[4:])}
		p = p[8:]
	}
	tokens := make([][]byte, ranks.MaxRank()+1)
	for id := range tokens {
		if tok, ok := ranks.Token(uint32(id)); ok {
			tokens[id] = tok
		}
	}
	return build(&f, tokens, merges, sum, name, opts)
}

func hexSum(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("bad SHA-256 %q", s)
	}
	return b, nil
}
