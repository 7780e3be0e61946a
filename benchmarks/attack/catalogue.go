package attack

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Level says what an attack edits.
type Level string

// The levels of Attack.Level.
const (
	// Token attacks edit token IDs.
	Token Level = "token"
	// Text attacks edit the decoded text.
	Text Level = "text"
)

// Inputs are what some attacks need besides the tokens and the strength.
// Each attack reads only the fields it needs.
type Inputs struct {
	// Vocab is the vocabulary size, for "insert" and "substitute".
	Vocab int
	// Model and K are the model and the number of candidates it is asked
	// for, for "substitute-model".
	Model Alternatives
	K     int
	// Human is the human-written text that "copy-paste" pastes into.
	Human []uint32
	// Codec decodes and re-encodes tokens for text attacks applied with
	// ApplyTokens.
	Codec Codec
}

// Attack is a named attack with a uniform signature. Its strength is in
// [0, 1], and strength 0 leaves the input unchanged.
type Attack struct {
	// Name identifies the attack, e.g. "delete" or "homoglyph".
	Name string
	// Level says whether it edits tokens or text.
	Level Level
	// Doc is a one-line description, for reports.
	Doc string

	tokens func(rng *rand.Rand, ids []uint32, strength float64, in Inputs) ([]uint32, error)
	text   func(rng *rand.Rand, text string, strength float64) (string, error)
}

// ApplyTokens applies the attack to token IDs. A token attack works on
// them directly. A text attack decodes them with in.Codec, edits the text
// and encodes it again; if the text comes back unchanged it returns a copy
// of ids, so that re-tokenization alone (see ReEncode) does not count as
// an edit.
func (a Attack) ApplyTokens(rng *rand.Rand, ids []uint32, strength float64, in Inputs) ([]uint32, error) {
	if a.tokens != nil {
		return a.tokens(rng, ids, strength, in)
	}
	if a.text == nil {
		return nil, fmt.Errorf("attack: zero Attack")
	}
	if in.Codec == nil {
		return nil, fmt.Errorf("attack: %s: text attack on tokens needs Inputs.Codec", a.Name)
	}
	before, err := in.Codec.Decode(ids)
	if err != nil {
		return nil, fmt.Errorf("attack: %s: decode: %w", a.Name, err)
	}
	after, err := a.text(rng, before, strength)
	if err != nil {
		return nil, err
	}
	if after == before {
		return slices.Clone(ids), nil
	}
	out, err := in.Codec.AppendEncode(nil, after)
	if err != nil {
		return nil, fmt.Errorf("attack: %s: encode: %w", a.Name, err)
	}
	return out, nil
}

// ApplyText applies a text attack to text. It returns an error for a token
// attack.
func (a Attack) ApplyText(rng *rand.Rand, text string, strength float64) (string, error) {
	if a.text == nil {
		return "", fmt.Errorf("attack: %s is a %s attack, not a text attack", a.Name, a.Level)
	}
	return a.text(rng, text, strength)
}

// Catalogue returns the attacks, token attacks first, in a fixed order.
// The slice is new on every call. ReEncode is not in it: it has no
// strength.
func Catalogue() []Attack {
	return []Attack{
		{
			Name: "delete", Level: Token,
			Doc: "delete a fraction of the tokens",
			tokens: func(rng *rand.Rand, ids []uint32, s float64, _ Inputs) ([]uint32, error) {
				return Delete(rng, ids, s)
			},
		},
		{
			Name: "insert", Level: Token,
			Doc: "insert uniformly random tokens, a fraction of the length",
			tokens: func(rng *rand.Rand, ids []uint32, s float64, in Inputs) ([]uint32, error) {
				return Insert(rng, ids, s, in.Vocab)
			},
		},
		{
			Name: "substitute", Level: Token,
			Doc: "replace a fraction of the tokens by uniformly random others",
			tokens: func(rng *rand.Rand, ids []uint32, s float64, in Inputs) ([]uint32, error) {
				return Substitute(rng, ids, s, in.Vocab)
			},
		},
		{
			Name: "substitute-model", Level: Token,
			Doc: "replace a fraction of the tokens by a model's top-k alternatives",
			tokens: func(rng *rand.Rand, ids []uint32, s float64, in Inputs) ([]uint32, error) {
				out, _, err := SubstituteWithModel(rng, ids, s, in.Model, in.K)
				return out, err
			},
		},
		{
			Name: "copy-paste", Level: Token,
			Doc: "keep a contiguous marked span of 1-strength of the length inside human text",
			tokens: func(rng *rand.Rand, ids []uint32, s float64, in Inputs) ([]uint32, error) {
				if math.IsNaN(s) || s < 0 || s > 1 { // report s, not 1-s
					return nil, fmt.Errorf("attack: copy-paste: %v: %w", s, ErrStrength)
				}
				return CopyPaste(rng, ids, in.Human, 1-s)
			},
		},
		{
			Name: "homoglyph", Level: Text,
			Doc:  "replace a fraction of the Latin letters by Cyrillic/Greek look-alikes",
			text: Homoglyphs,
		},
		{
			Name: "zero-width", Level: Text,
			Doc:  "insert zero-width characters after a fraction of the characters",
			text: ZeroWidth,
		},
		{
			Name: "case", Level: Text,
			Doc:  "flip the case of a fraction of the letters",
			text: Case,
		},
		{
			Name: "whitespace", Level: Text,
			Doc:  "change a fraction of the whitespace runs",
			text: Whitespace,
		},
	}
}

// Lookup returns the attack of Catalogue with the given name.
func Lookup(name string) (Attack, error) {
	for _, a := range Catalogue() {
		if a.Name == name {
			return a, nil
		}
	}
	return Attack{}, fmt.Errorf("attack: unknown attack %q", name)
}
