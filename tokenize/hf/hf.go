// Package hf loads Hugging Face tokenizer.json files of byte-level BPE
// models (GPT-2, Llama 3, Qwen 2/2.5/3, DeepSeek-V3 and others of that
// design) and encodes text with exactly the IDs Hugging Face's tokenizers
// give, using the hand-written pre-tokenizers of package pretokenize for the
// split patterns it knows and the merge-list byte-pair encoder of package
// bpe.
//
// What a file may hold: model.type "BPE" with vocab and merges (as "a b"
// strings or ["a", "b"] pairs), ignore_merges; the ByteLevel pre-tokenizer
// (without add_prefix_space) and decoder; Split pre-tokenizers with a regex
// or string pattern, any behaviour (Isolated, Removed, MergedWithPrevious,
// MergedWithNext, Contiguous) and invert; Sequence of pre-tokenizers and of
// normalizers; the NFC, NFD, NFKC and NFKD normalizers; added tokens.
// Anything else (another model type, dropout, a continuing-subword prefix,
// Metaspace, byte fallback without ByteLevel, ...) is an error that names
// it: a tokenizer that would give different IDs is never returned.
//
// The post-processor (a BOS token some models prepend) is not applied:
// tracemark encodes text, not prompts.
package hf

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/dlclark/regexp2/v2"
	"golang.org/x/text/unicode/norm"

	"github.com/tracemark/tracemark/tokenize/bpe"
	"github.com/tracemark/tracemark/tokenize/pretokenize"
)

// Options change how text is encoded.
type Options struct {
	// AddedTokens matches the file's added tokens (special or not, such
	// as "<|begin_of_text|>") inside text, leftmost-longest, and encodes
	// each as its ID, as Hugging Face's tokenizers do. Without it, text
	// that spells an added token is encoded as ordinary text, as
	// tracemark's tiktoken encodings do: a returned text cannot then
	// smuggle in control tokens.
	AddedTokens bool
}

// MaxFileSize is the largest tokenizer.json Load accepts.
const MaxFileSize = 256 << 20

// Tokenizer is a loaded tokenizer.json. It implements tokenize.Tokenizer
// and is safe for concurrent use.
type Tokenizer struct {
	name      string
	sha256    string
	opts      Options
	normalize []norm.Form
	stages    []stage
	model     *bpe.Merges
	added     []addedToken // by content, longest first within a first byte
	addedByID map[uint32]string
	firstByte [256]bool // some added token starts with this byte
	fallback  []string  // patterns run by regexp2
	settings  []byte    // the file without vocab and merges, for MarshalBinary
	scratch   sync.Pool // of *scratch
}

type addedToken struct {
	content string
	id      uint32
}

type scratch struct {
	bpe     bpe.Scratch
	valid   []byte
	matches [][][]int // regexp2 matches, by stage
	norm    norm.Iter // for isNormal
	ends    []int     // a batch of piece ends (last stage)
}

// Behavior is how a Split pre-tokenizer treats the pattern's matches.
type behavior int

const (
	isolated behavior = iota
	removed
	mergedWithPrevious
	mergedWithNext
	contiguous
)

var behaviors = map[string]behavior{
	"Isolated": isolated, "Removed": removed, "MergedWithPrevious": mergedWithPrevious,
	"MergedWithNext": mergedWithNext, "Contiguous": contiguous,
}

// stage is one splitting step: a hand-written splitter or a regexp2
// matcher, or a literal string.
type stage struct {
	split    *pretokenize.Splitter
	re       *regexp2.Regexp
	literal  string
	behavior behavior
	invert   bool
}

// LoadFile reads and loads a tokenizer.json file. The tokenizer's name is
// name; see Load.
func LoadFile(path, name string, opts Options) (*Tokenizer, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if info.Size() > MaxFileSize {
		return nil, fmt.Errorf("tokenizer.json %s: %d bytes, more than %d", path, info.Size(), MaxFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	t, err := Load(data, name, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// file is the part of tokenizer.json that is read; unknown top-level keys
// (truncation, padding, post_processor) do not change the IDs of a text.
type file struct {
	AddedTokens []struct {
		ID         *int   `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		Lstrip     bool   `json:"lstrip"`
		Rstrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Decoder      json.RawMessage `json:"decoder"`
	Model        *struct {
		Type                    string            `json:"type"`
		Dropout                 *float64          `json:"dropout"`
		UnkToken                *string           `json:"unk_token"`
		ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
		ByteFallback            bool              `json:"byte_fallback"`
		IgnoreMerges            bool              `json:"ignore_merges"`
		Vocab                   map[string]int    `json:"vocab"`
		Merges                  []json.RawMessage `json:"merges"`
	} `json:"model"`
}

type component struct {
	Type           string            `json:"type"`
	Normalizers    []json.RawMessage `json:"normalizers"`
	Pretokenizers  []json.RawMessage `json:"pretokenizers"`
	Decoders       []json.RawMessage `json:"decoders"`
	AddPrefixSpace bool              `json:"add_prefix_space"`
	UseRegex       *bool             `json:"use_regex"`
	Behavior       string            `json:"behavior"`
	Invert         bool              `json:"invert"`
	Pattern        *struct {
		Regex  *string `json:"Regex"`
		String *string `json:"String"`
	} `json:"pattern"`
}

// Load parses a tokenizer.json. The tokenizer reports name as its Name (the
// caller's choice: a registry name, or one derived from SHA256).
func Load(data []byte, name string, opts Options) (*Tokenizer, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("tokenizer.json: %d bytes, more than %d", len(data), MaxFileSize)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if err := checkModel(&f); err != nil {
		return nil, err
	}
	tokens, merges, err := vocabAndMerges(&f)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	model := func() (*bpe.Merges, error) { return bpe.NewMerges(tokens, merges, true, f.Model.IgnoreMerges) }
	return build(&f, model, hex.EncodeToString(sum[:]), name, opts)
}

// checkModel refuses model settings that this package does not implement.
func checkModel(f *file) error {
	if f.Model == nil {
		return errors.New("tokenizer.json: no model")
	}
	m := f.Model
	if m.Type != "BPE" {
		return fmt.Errorf("tokenizer.json: model type %q is not supported (only BPE)", m.Type)
	}
	if m.Dropout != nil && *m.Dropout != 0 {
		return fmt.Errorf("tokenizer.json: BPE dropout %v is not supported (IDs would be random)", *m.Dropout)
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return fmt.Errorf("tokenizer.json: continuing_subword_prefix %q is not supported", *m.ContinuingSubwordPrefix)
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return fmt.Errorf("tokenizer.json: end_of_word_suffix %q is not supported", *m.EndOfWordSuffix)
	}
	// Before the vocabulary is read (its "▁" tokens are not byte-level):
	// name what a SentencePiece-style file is.
	metaspace := hasType(f.PreTokenizer, "Metaspace", 0)
	if metaspace || m.ByteFallback && !hasType(f.PreTokenizer, "ByteLevel", 0) {
		what := "byte_fallback without a ByteLevel pre-tokenizer"
		if metaspace {
			what = "the Metaspace pre-tokenizer"
		}
		return fmt.Errorf("tokenizer.json: SentencePiece-style BPE (%s; e.g. Llama 2, Mistral v0.1, Gemma) is not supported: only byte-level BPE (ByteLevel pre-tokenizer)", what)
	}
	return nil
}

// hasType reports whether the component raw, or one in its Sequence, has
// the given type.
func hasType(raw json.RawMessage, typ string, depth int) bool {
	var c component
	if isNull(raw) || depth > maxDepth || json.Unmarshal(raw, &c) != nil {
		return false
	}
	if c.Type == typ {
		return true
	}
	for _, p := range c.Pretokenizers {
		if hasType(p, typ, depth+1) {
			return true
		}
	}
	return false
}

// vocabAndMerges returns the model's tokens as bytes by ID and its merges
// as pairs of IDs.
func vocabAndMerges(f *file) ([][]byte, [][2]uint32, error) {
	m := f.Model
	if len(m.Vocab) == 0 {
		return nil, nil, errors.New("tokenizer.json: model has no vocab")
	}
	maxID := 0
	for _, id := range m.Vocab {
		if id < 0 || id > bpe.MaxRank {
			return nil, nil, fmt.Errorf("tokenizer.json: vocab ID %d out of range", id)
		}
		maxID = max(maxID, id)
	}
	if maxID > 2*len(m.Vocab)+1024 {
		return nil, nil, fmt.Errorf("tokenizer.json: vocab IDs too sparse: %d tokens, largest ID %d", len(m.Vocab), maxID)
	}
	addedContent := map[string]int{}
	for _, a := range f.AddedTokens {
		if a.ID != nil {
			addedContent[a.Content] = *a.ID
		}
	}
	tokens := make([][]byte, maxID+1)
	for s, id := range m.Vocab {
		b, err := fromByteLevel(s)
		if aid, ok := addedContent[s]; err != nil && ok && aid == id {
			// An added token listed in the vocab too (DeepSeek-V3's
			// specials): its content is text, not byte-level.
			b, err = []byte(s), nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("tokenizer.json: vocab token %q: %w", s, err)
		}
		if tokens[id] != nil {
			return nil, nil, fmt.Errorf("tokenizer.json: vocab ID %d is given to two tokens", id)
		}
		tokens[id] = b
	}
	merges := make([][2]uint32, len(m.Merges))
	for k, raw := range m.Merges {
		l, r, err := parseMerge(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("tokenizer.json: merge %d: %w", k, err)
		}
		li, lok := m.Vocab[l]
		ri, rok := m.Vocab[r]
		if !lok || !rok {
			return nil, nil, fmt.Errorf("tokenizer.json: merge %d (%q %q) refers to a token not in the vocab", k, l, r)
		}
		merges[k] = [2]uint32{uint32(li), uint32(ri)}
	}
	return tokens, merges, nil
}

// build makes the tokenizer from the file's settings (f, whose vocab and
// merges are no longer read) and its model.
func build(f *file, newModel func() (*bpe.Merges, error), sum, name string, opts Options) (*Tokenizer, error) {
	t := &Tokenizer{name: name, sha256: sum, opts: opts}
	m := f.Model
	var err error
	byteLevel := false
	if t.stages, byteLevel, err = t.parsePreTokenizer(f.PreTokenizer, 0); err != nil {
		return nil, fmt.Errorf("tokenizer.json: pre_tokenizer: %w", err)
	}
	if !byteLevel {
		if m.ByteFallback {
			return nil, errors.New("tokenizer.json: SentencePiece-style BPE (byte_fallback, no ByteLevel pre-tokenizer, e.g. Llama 2, Mistral v0.1, Gemma) is not supported: only byte-level BPE")
		}
		return nil, errors.New("tokenizer.json: no ByteLevel pre-tokenizer: only byte-level BPE models are supported")
	}
	if t.normalize, err = parseNormalizer(f.Normalizer, 0); err != nil {
		return nil, fmt.Errorf("tokenizer.json: normalizer: %w", err)
	}
	if err := checkDecoder(f.Decoder, 0); err != nil {
		return nil, fmt.Errorf("tokenizer.json: decoder: %w", err)
	}
	if t.model, err = newModel(); err != nil {
		return nil, fmt.Errorf("tokenizer.json: model: %w", err)
	}
	if t.model.IgnoreMerges() != m.IgnoreMerges {
		return nil, errors.New("tokenizer.json: model: ignore_merges differs from the settings")
	}
	t.addedByID = map[uint32]string{}
	for k, a := range f.AddedTokens {
		if a.ID == nil || *a.ID < 0 || *a.ID > bpe.MaxRank {
			return nil, fmt.Errorf("tokenizer.json: added token %d (%q): missing or bad id", k, a.Content)
		}
		if a.Content == "" || !utf8.ValidString(a.Content) {
			return nil, fmt.Errorf("tokenizer.json: added token %d: empty or invalid content", *a.ID)
		}
		if a.SingleWord || a.Lstrip || a.Rstrip {
			return nil, fmt.Errorf("tokenizer.json: added token %q: single_word, lstrip and rstrip are not supported", a.Content)
		}
		if a.Normalized && len(t.normalize) > 0 && !isNormalized(t.normalize, a.Content) {
			return nil, fmt.Errorf("tokenizer.json: added token %q changes under the normalizer: not supported", a.Content)
		}
		id := uint32(*a.ID)
		if tok, ok := t.model.Token(id); ok && string(tok) != a.Content {
			return nil, fmt.Errorf("tokenizer.json: added token %q has ID %d, which the vocab gives to %q", a.Content, id, tok)
		}
		if prev, ok := t.addedByID[id]; ok && prev != a.Content {
			return nil, fmt.Errorf("tokenizer.json: added tokens %q and %q share ID %d", prev, a.Content, id)
		}
		t.addedByID[id] = a.Content
		t.added = append(t.added, addedToken{a.Content, id})
		t.firstByte[a.Content[0]] = true
	}
	sort.SliceStable(t.added, func(i, j int) bool { return len(t.added[i].content) > len(t.added[j].content) })
	settings := *f
	model := *f.Model
	model.Vocab, model.Merges = nil, nil
	settings.Model = &model
	if t.settings, err = json.Marshal(&settings); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	return t, nil
}

func isNormalized(forms []norm.Form, s string) bool {
	for _, f := range forms {
		if !f.IsNormalString(s) {
			return false
		}
	}
	return true
}

// maxDepth bounds the nesting of Sequence components.
const maxDepth = 8

func parseNormalizer(raw json.RawMessage, depth int) ([]norm.Form, error) {
	if isNull(raw) {
		return nil, nil
	}
	if depth > maxDepth {
		return nil, errors.New("Sequence nested too deep")
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var out []norm.Form
		for _, n := range c.Normalizers {
			forms, err := parseNormalizer(n, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, forms...)
		}
		return out, nil
	case "NFC":
		return []norm.Form{norm.NFC}, nil
	case "NFD":
		return []norm.Form{norm.NFD}, nil
	case "NFKC":
		return []norm.Form{norm.NFKC}, nil
	case "NFKD":
		return []norm.Form{norm.NFKD}, nil
	}
	return nil, fmt.Errorf("normalizer type %q is not supported (only NFC, NFD, NFKC, NFKD and Sequence)", c.Type)
}

// parsePreTokenizer returns the splitting stages of raw, and whether a
// ByteLevel pre-tokenizer ends it.
func (t *Tokenizer) parsePreTokenizer(raw json.RawMessage, depth int) ([]stage, bool, error) {
	if isNull(raw) {
		return nil, false, nil
	}
	if depth > maxDepth {
		return nil, false, errors.New("Sequence nested too deep")
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, false, err
	}
	switch c.Type {
	case "Sequence":
		var out []stage
		byteLevel := false
		for k, p := range c.Pretokenizers {
			if byteLevel {
				return nil, false, errors.New("a pre-tokenizer after ByteLevel is not supported")
			}
			st, bl, err := t.parsePreTokenizer(p, depth+1)
			if err != nil {
				return nil, false, fmt.Errorf("pretokenizers[%d]: %w", k, err)
			}
			out = append(out, st...)
			byteLevel = bl
		}
		return out, byteLevel, nil
	case "ByteLevel":
		if c.AddPrefixSpace {
			return nil, false, errors.New("ByteLevel with add_prefix_space is not supported")
		}
		if c.UseRegex == nil || *c.UseRegex {
			s, err := pretokenize.New(pretokenize.GPT2)
			if err != nil {
				return nil, false, err
			}
			return []stage{{split: s, behavior: isolated}}, true, nil
		}
		return nil, true, nil
	case "Split":
		b, ok := behaviors[c.Behavior]
		if !ok {
			return nil, false, fmt.Errorf("Split behavior %q is not supported", c.Behavior)
		}
		st := stage{behavior: b, invert: c.Invert}
		switch {
		case c.Pattern == nil:
			return nil, false, errors.New("Split without a pattern")
		case c.Pattern.String != nil:
			if *c.Pattern.String == "" {
				return nil, false, errors.New("Split with an empty string pattern")
			}
			st.literal = *c.Pattern.String
		case c.Pattern.Regex != nil:
			if p, ok := pretokenize.Recognize(*c.Pattern.Regex); ok {
				s, err := pretokenize.New(p)
				if err != nil {
					return nil, false, err
				}
				st.split = s
			} else {
				re, err := regexp2.Compile(*c.Pattern.Regex, regexp2.None)
				if err != nil {
					return nil, false, fmt.Errorf("Split regex %q: %w", *c.Pattern.Regex, err)
				}
				st.re = re
				t.fallback = append(t.fallback, *c.Pattern.Regex)
			}
		default:
			return nil, false, errors.New("Split pattern is neither Regex nor String")
		}
		return []stage{st}, false, nil
	case "Metaspace":
		return nil, false, errors.New("Metaspace (SentencePiece-style) is not supported: only byte-level BPE")
	}
	return nil, false, fmt.Errorf("pre-tokenizer type %q is not supported (only ByteLevel, Split and Sequence)", c.Type)
}

func checkDecoder(raw json.RawMessage, depth int) error {
	if isNull(raw) {
		return nil
	}
	if depth > maxDepth {
		return errors.New("Sequence nested too deep")
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	switch c.Type {
	case "ByteLevel":
		return nil
	case "Sequence":
		for _, d := range c.Decoders {
			if err := checkDecoder(d, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("decoder type %q is not supported (only ByteLevel)", c.Type)
}

func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// parseMerge reads a merge as "a b" or ["a", "b"].
func parseMerge(raw json.RawMessage) (string, string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		l, r, ok := strings.Cut(s, " ")
		if !ok || l == "" || r == "" || strings.Contains(r, " ") {
			return "", "", fmt.Errorf("%q is not two tokens separated by a space", s)
		}
		return l, r, nil
	}
	var pair []string
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return "", "", fmt.Errorf("%s is neither \"a b\" nor [\"a\", \"b\"]", truncate(string(raw)))
	}
	return pair[0], pair[1], nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// byteLevelChars maps each byte to the character GPT-2's byte-level
// encoding writes for it: printable Latin-1 bytes stand for themselves, the
// others for U+0100 onwards in byte order.
var byteLevelChars = func() (m [256]rune) {
	n := 0
	for b := range 256 {
		if '!' <= b && b <= '~' || 0xa1 <= b && b <= 0xac || 0xae <= b && b <= 0xff {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}()

// fromByteLevel returns the bytes a byte-level token string stands for.
func fromByteLevel(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		b, ok := byteOf(r)
		if !ok {
			return nil, fmt.Errorf("character %U is not in the byte-level alphabet", r)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, errors.New("empty token")
	}
	return out, nil
}

func byteOf(r rune) (byte, bool) {
	switch {
	case r < 256 && byteLevelChars[r] == r:
		return byte(r), true
	case 256 <= r && r < 256+68:
		for b, c := range byteLevelChars {
			if c == r {
				return byte(b), true
			}
		}
	}
	return 0, false
}

// Name returns the name Load was given.
func (t *Tokenizer) Name() string { return t.name }

// SHA256 returns the hex SHA-256 of the tokenizer.json it was loaded from.
func (t *Tokenizer) SHA256() string { return t.sha256 }

// Fallbacks returns the split patterns this package has no hand-written
// scanner for, which regexp2 runs (several times slower).
func (t *Tokenizer) Fallbacks() []string { return append([]string(nil), t.fallback...) }

// AddedTokens reports whether added tokens are matched inside text.
func (t *Tokenizer) AddedTokens() bool { return t.opts.AddedTokens }

// IsAdded reports whether id is one of the file's added tokens.
func (t *Tokenizer) IsAdded(id uint32) bool {
	_, ok := t.addedByID[id]
	return ok
}

// VocabularySize returns one more than the largest token ID.
func (t *Tokenizer) VocabularySize() int {
	n := t.model.Vocabulary().MaxRank() + 1
	for id := range t.addedByID {
		n = max(n, int(id)+1)
	}
	return n
}

// AppendEncode appends the token IDs of text to dst. Invalid UTF-8 is
// replaced by U+FFFD first. It fails only if a fallback regex does.
func (t *Tokenizer) AppendEncode(dst []uint32, text string) ([]uint32, error) {
	s, _ := t.scratch.Get().(*scratch)
	if s == nil {
		s = &scratch{matches: make([][][]int, len(t.stages))}
	}
	defer t.scratch.Put(s)
	if !utf8.ValidString(text) {
		s.valid = bpe.AppendReplacingInvalid(s.valid[:0], text)
		text = unsafe.String(unsafe.SliceData(s.valid), len(s.valid))
	}
	if !t.opts.AddedTokens || len(t.added) == 0 {
		return t.encodeText(dst, text, s)
	}
	start := 0
	for i := 0; i < len(text); i++ {
		if !t.firstByte[text[i]] {
			continue
		}
		for _, a := range t.added {
			if strings.HasPrefix(text[i:], a.content) {
				var err error
				if dst, err = t.encodeText(dst, text[start:i], s); err != nil {
					return dst, err
				}
				dst = append(dst, a.id)
				i += len(a.content) - 1
				start = i + 1
				break
			}
		}
	}
	return t.encodeText(dst, text[start:], s)
}

// encodeText normalizes, splits and merges text that holds no added token.
func (t *Tokenizer) encodeText(dst []uint32, text string, s *scratch) ([]uint32, error) {
	if text == "" {
		return dst, nil
	}
	for _, f := range t.normalize {
		if !isNormal(f, text, &s.norm) {
			text = f.String(text)
		}
	}
	return t.split(dst, text, 0, s)
}

// isNormal reports whether text is in form f, as f.IsNormalString does,
// but passes over ASCII eight bytes at a time and checks only the runs of
// non-ASCII bytes, each with the ASCII byte before it (a base character that
// a combining mark after it may compose with). ASCII characters are
// unchanged by every form and nothing composes with or reorders across
// one that follows, so each ASCII character starts a stretch that
// normalizes independently of what comes before it. It does not allocate:
// a run is normal if f.QuickSpanString passes all of it, and otherwise if
// it reads back unchanged through it, an iterator kept by the caller
// (IsNormalString allocates on every call).
func isNormal(f norm.Form, text string, it *norm.Iter) bool {
	b := unsafe.Slice(unsafe.StringData(text), len(text))
	for i := 0; ; {
		for i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 == 0 {
			i += 8
		}
		for i < len(b) && b[i] < utf8.RuneSelf {
			i++
		}
		if i == len(b) {
			return true
		}
		j := max(i-1, 0)
		for i < len(b) && b[i] >= utf8.RuneSelf {
			i++
		}
		if run := text[j:i]; f.QuickSpanString(run) != len(run) && !unchanged(f, run, it) {
			return false
		}
	}
}

// unchanged reports whether f leaves s as it is, reading f's output of s
// segment by segment through it.
func unchanged(f norm.Form, s string, it *norm.Iter) bool {
	// InitString leaves the reorder buffer of an iteration that was
	// abandoned (below) as it was: start from a zero iterator.
	*it = norm.Iter{}
	it.InitString(f, s)
	p := 0
	for !it.Done() {
		seg := it.Next()
		if len(seg) > len(s)-p || string(seg) != s[p:p+len(seg)] {
			return false
		}
		p += len(seg)
	}
	return p == len(s)
}

// split cuts text with stage k and passes each piece to the next stage, the
// last stage's pieces to the byte-pair model.
func (t *Tokenizer) split(dst []uint32, text string, k int, s *scratch) ([]uint32, error) {
	if text == "" {
		return dst, nil
	}
	if k == len(t.stages) {
		return t.model.AppendEncode(dst, text, &s.bpe), nil
	}
	st := &t.stages[k]
	if st.split != nil && st.behavior == isolated && !st.invert && k+1 == len(t.stages) {
		// The most common case: the last stage, whose spans (matches
		// and gaps) are all pieces for the model, taken in batches.
		if s.ends == nil {
			s.ends = make([]int, 0, 256)
		}
		for i := 0; i < len(text); {
			ends, next := st.split.AppendEnds(s.ends[:0], text, i)
			dst = t.model.AppendEncodePieces(dst, text, i, ends, &s.bpe)
			i = next
		}
		return dst, nil
	}
	if st.split != nil && st.behavior == isolated && !st.invert {
		// The common case, without closures: every span is a piece.
		for i := 0; i < len(text); {
			a, b := st.split.Next(text, i)
			if a > i {
				dst, _ = t.split(dst, text[i:a], k+1, s)
			}
			if a == b {
				break
			}
			dst, _ = t.split(dst, text[a:b], k+1, s)
			i = b
		}
		return dst, nil
	}
	var err error
	emit := func(piece string) {
		if err == nil && piece != "" {
			dst, err = t.split(dst, piece, k+1, s)
		}
	}
	var ms [][]int
	if st.re != nil {
		ms, err = st.re.FindAllStringIndex(text, -1)
		if err != nil {
			return dst, fmt.Errorf("split with %q: %w", st.re.String(), err)
		}
	}
	// Walk the spans: alternately gaps (isMatch false) and matches.
	var (
		pending     = -1 // start of a piece being merged
		contigStart = -1
		contigEnd   = -1
		mi          = 0
	)
	flush := func() {
		if contigStart >= 0 {
			emit(text[contigStart:contigEnd])
			contigStart = -1
		}
	}
	handle := func(a, b int, isMatch bool) {
		if a == b {
			return
		}
		if st.invert {
			isMatch = !isMatch
		}
		switch st.behavior {
		case isolated:
			emit(text[a:b])
		case removed:
			if !isMatch {
				emit(text[a:b])
			}
		case mergedWithPrevious:
			if !isMatch {
				flush()
				contigStart, contigEnd = a, b
			} else {
				if contigStart < 0 {
					contigStart = a
				}
				contigEnd = b
				flush()
			}
		case mergedWithNext:
			if isMatch {
				if pending >= 0 {
					emit(text[pending:a])
				}
				pending = a
			} else if pending < 0 {
				emit(text[a:b])
			}
		case contiguous:
			if isMatch {
				if contigStart < 0 {
					contigStart = a
				}
				contigEnd = b
			} else {
				flush()
				emit(text[a:b])
			}
		}
	}
	prev := 0
	for prev < len(text) {
		var a, b int
		switch {
		case st.split != nil:
			a, b = st.split.Next(text, prev)
		case st.re != nil:
			a, b = len(text), len(text)
			for ; mi < len(ms); mi++ {
				if ms[mi][1] > ms[mi][0] && ms[mi][0] >= prev {
					a, b = ms[mi][0], ms[mi][1]
					mi++
					break
				}
			}
		default:
			if j := strings.Index(text[prev:], st.literal); j >= 0 {
				a, b = prev+j, prev+j+len(st.literal)
			} else {
				a, b = len(text), len(text)
			}
		}
		handle(prev, a, false)
		if a == b {
			break
		}
		handle(a, b, true)
		prev = b
	}
	if st.behavior == mergedWithNext && pending >= 0 {
		emit(text[pending:])
	}
	flush()
	return dst, err
}

// Decode returns the text of ids, with U+FFFD for bytes that are not valid
// UTF-8.
func (t *Tokenizer) Decode(ids []uint32) (string, error) {
	raw, err := t.AppendBytes(nil, ids)
	if err != nil {
		return "", err
	}
	if utf8.Valid(raw) {
		return string(raw), nil
	}
	return string(bpe.AppendReplacingInvalid(nil, string(raw))), nil
}

// AppendBytes appends the raw bytes of ids to dst: a byte-level token may
// hold part of a character; an added token gives its content.
func (t *Tokenizer) AppendBytes(dst []byte, ids []uint32) ([]byte, error) {
	for k, id := range ids {
		if c, ok := t.addedByID[id]; ok {
			dst = append(dst, c...)
			continue
		}
		tok, ok := t.model.Token(id)
		if !ok {
			return dst, fmt.Errorf("decode with %s: token %d (position %d) is not in the vocabulary", t.name, id, k)
		}
		dst = append(dst, tok...)
	}
	return dst, nil
}
