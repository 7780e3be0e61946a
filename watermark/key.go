package watermark

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SecretSize is the size of a key's secret in bytes.
const SecretSize = 32

// KeyFileVersion is the version written to and required of key files.
const KeyFileVersion = 1

// KeyEnv is the environment variable that may hold a key file's contents.
const KeyEnv = "TRACEMARK_KEY"

// DefaultTokenizer is the tokenizer recorded in new keys.
const DefaultTokenizer = "o200k_base"

// MaxEngineWords bounds the number of words of an engine key.
const MaxEngineWords = 1024

// Key is a watermark key: a secret, its public ID, and the scheme and
// tokenizer that detection uses by default. The secret is either tracemark's
// own 32 bytes (GenerateKey, NewKey) or an engine key: the integer words
// another serving engine is configured with, such as vLLM's 64-bit key
// (GenerateEngineKey, NewEngineKey). A scheme binds only the kind of key it
// is defined for. The secret is unexported and never printed: String,
// GoString, Format and MarshalJSON show only the ID. Write it with
// EncodeKeyFile or WriteKeyFile.
type Key struct {
	secret    [SecretSize]byte
	engine    []uint64 // engine key words; nil for a 32-byte secret key
	id        string
	Scheme    Config // default scheme for this key
	Tokenizer string // tokenizer of the model whose IDs are marked
	// TokenizerSHA256 is the SHA-256 (lower-case hex) of the tokenizer's
	// file (a Hugging Face tokenizer.json), "" for the built-in encodings,
	// whose name fixes them, and for keys made before it was recorded.
	TokenizerSHA256 string
	Created         time.Time   // when the key was made
	source          string      // file it was loaded from, if any
	mode            fs.FileMode // that file's permission bits
}

// GenerateKey makes a new key from crypto/rand.
func GenerateKey(scheme Config, tokenizer string) (*Key, error) {
	var s [SecretSize]byte
	if _, err := rand.Read(s[:]); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return NewKey(s, scheme, tokenizer, time.Now().UTC().Truncate(time.Second)), nil
}

// NewKey makes a key from a given secret (tests, derived keys). Use
// GenerateKey for real keys.
func NewKey(secret [SecretSize]byte, scheme Config, tokenizer string, created time.Time) *Key {
	return &Key{secret: secret, id: KeyID(secret), Scheme: scheme, Tokenizer: tokenizer, Created: created}
}

// KeyID returns the public ID of a secret: the first 8 bytes of
// SHA-256("tracemark/v1/key-id" || secret) in lower-case hex. It is one-way:
// the ID reveals nothing usable about the secret.
func KeyID(secret [SecretSize]byte) string {
	h := sha256.New()
	h.Write([]byte("tracemark/" + PRFVersion + "/key-id"))
	h.Write(secret[:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// GenerateEngineKey makes a new engine key of n uniformly random 64-bit
// words from crypto/rand.
func GenerateEngineKey(n int, scheme Config, tokenizer string) (*Key, error) {
	if n < 1 || n > MaxEngineWords {
		return nil, fmt.Errorf("generate engine key: %d words, want 1 to %d", n, MaxEngineWords)
	}
	var b [8]byte
	words := make([]uint64, n)
	for i := range words {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("generate engine key: %w", err)
		}
		for _, x := range b {
			words[i] = words[i]<<8 | uint64(x)
		}
	}
	return NewEngineKey(words, scheme, tokenizer, time.Now().UTC().Truncate(time.Second)), nil
}

// NewEngineKey makes an engine key from its words (copied), e.g. the
// integer key of a deployed vLLM watermark configuration. words must not be
// empty (a key without words is not an engine key).
func NewEngineKey(words []uint64, scheme Config, tokenizer string, created time.Time) *Key {
	w := slices.Clone(words)
	if w == nil {
		w = []uint64{}
	}
	return &Key{engine: w, id: EngineKeyID(w), Scheme: scheme, Tokenizer: tokenizer, Created: created}
}

// EngineKeyID returns the public ID of an engine key: the first 8 bytes of
// SHA-256("tracemark/v1/engine-key-id" || n || w_1 || ... || w_n), with n
// as 4 and each word as 8 big-endian bytes, in lower-case hex. It is
// one-way, but it cannot be stronger than the key: whoever can enumerate a
// small or guessable key (such as 42) can match it to the ID, as they could
// to watermarked text.
func EngineKeyID(words []uint64) string {
	h := sha256.New()
	h.Write([]byte("tracemark/" + PRFVersion + "/engine-key-id"))
	var b [8]byte
	n := uint32(len(words))
	h.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	for _, w := range words {
		for i := range b {
			b[i] = byte(w >> (56 - 8*i))
		}
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// IsEngine reports whether k is an engine key (NewEngineKey) rather than a
// 32-byte secret key.
func (k *Key) IsEngine() bool { return k.engine != nil }

// EngineWords returns a copy of an engine key's words, or nil for a 32-byte
// secret key. The words are the secret: never print or log them.
func (k *Key) EngineWords() []uint64 {
	if k.engine == nil {
		return nil
	}
	return slices.Clone(k.engine)
}

// ErrEngineKey is returned when a scheme defined on tracemark's 32-byte
// secrets is bound to an engine key.
var ErrEngineKey = errors.New("an engine key (the integer key of another serving engine) cannot key a tracemark scheme; use a key made by keygen for it")

// ErrSecretKey is returned when an engine scheme is bound to a 32-byte
// secret key.
var ErrSecretKey = errors.New("an engine scheme needs an engine key (keygen with that scheme, or key import of the engine's configuration), not a 32-byte tracemark key")

// requireSecret returns ErrEngineKey for an engine key.
func (k *Key) requireSecret() error {
	if k.engine != nil {
		return ErrEngineKey
	}
	return nil
}

// requireEngine returns the words of an engine key of n words (n <= 0: any
// number), or an error saying what kind of key is needed.
func (k *Key) requireEngine(n int) ([]uint64, error) {
	if k.engine == nil {
		return nil, ErrSecretKey
	}
	if len(k.engine) == 0 {
		return nil, errors.New("engine key has no words")
	}
	if n > 0 && len(k.engine) != n {
		return nil, fmt.Errorf("engine key has %d words, the scheme needs %d", len(k.engine), n)
	}
	return k.engine, nil
}

// EngineConfig is a scheme configuration keyed by an engine key rather
// than a 32-byte secret, such as vLLM's schemes.
type EngineConfig interface {
	Config
	// EngineKeyWords is the number of 64-bit words its key has.
	EngineKeyWords() int
}

// GenerateKeyFor makes a new key of the kind scheme needs: an engine key
// of its EngineKeyWords words for an EngineConfig, else a 32-byte secret.
func GenerateKeyFor(scheme Config, tokenizer string) (*Key, error) {
	if e, ok := scheme.(EngineConfig); ok {
		k, err := GenerateEngineKey(e.EngineKeyWords(), scheme, tokenizer)
		if err != nil {
			return nil, err
		}
		if b, ok := scheme.(interface{ EngineKeyBits() int }); ok && b.EngineKeyBits() < 64 {
			for i := range k.engine {
				k.engine[i] &= 1<<b.EngineKeyBits() - 1
			}
			k.id = EngineKeyID(k.engine)
		}
		return k, nil
	}
	return GenerateKey(scheme, tokenizer)
}

// ID returns the key's public ID.
func (k *Key) ID() string { return k.id }

// String returns "key <id>"; it never shows the secret.
func (k *Key) String() string { return "key " + k.id }

// GoString is like String, so %#v cannot print the secret either.
func (k *Key) GoString() string { return k.String() }

// Format implements fmt.Formatter so that every verb (%v, %+v, %x, ...)
// prints only the ID.
func (k *Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// MarshalJSON writes the public fields only (no secret). To store a key, use
// EncodeKeyFile.
func (k *Key) MarshalJSON() ([]byte, error) {
	kind := ""
	if k.engine != nil {
		kind = "engine"
	}
	return json.Marshal(struct {
		ID              string `json:"id"`
		Kind            string `json:"kind,omitempty"`
		Scheme          string `json:"scheme"`
		Tokenizer       string `json:"tokenizer"`
		TokenizerSHA256 string `json:"tokenizer_sha256,omitempty"`
	}{k.id, kind, specString(k.Scheme), k.Tokenizer, k.TokenizerSHA256})
}

func specString(c Config) string {
	if c == nil {
		return ""
	}
	return c.String()
}

// keyFile is the on-disk JSON form of a key. A key file holds either a
// secret (base64) or an engine key (its words as decimal strings, since a
// JSON number loses precision above 2^53).
type keyFile struct {
	Version   int      `json:"version"`
	ID        string   `json:"id"`
	Secret    string   `json:"secret,omitempty"`
	EngineKey []string `json:"engine_key,omitempty"`
	Scheme    string   `json:"scheme"`
	Tokenizer string   `json:"tokenizer"`
	// TokenizerSHA256 is the tokenizer file's SHA-256 (absent for the
	// built-in encodings and in older key files).
	TokenizerSHA256 string `json:"tokenizer_sha256,omitempty"`
	Created         string `json:"created"`
}

// EncodeKeyFile returns the key file contents, secret included (base64, or
// an engine key's words in decimal).
func (k *Key) EncodeKeyFile() []byte {
	kf := keyFile{
		Version:         KeyFileVersion,
		ID:              k.id,
		Scheme:          specString(k.Scheme),
		Tokenizer:       k.Tokenizer,
		TokenizerSHA256: k.TokenizerSHA256,
		Created:         k.Created.UTC().Format(time.RFC3339),
	}
	if k.engine != nil {
		kf.EngineKey = make([]string, len(k.engine))
		for i, w := range k.engine {
			kf.EngineKey[i] = strconv.FormatUint(w, 10)
		}
	} else {
		kf.Secret = base64.StdEncoding.EncodeToString(k.secret[:])
	}
	b, _ := json.MarshalIndent(kf, "", "  ")
	return append(b, '\n')
}

// ErrKeyExists is returned by WriteKeyFile when the file exists and
// overwriting was not asked for.
var ErrKeyExists = errors.New("key file exists")

// ErrNoKey is returned by LoadKey and LoadKeys when no key source is given
// and the environment variable TRACEMARK_KEY is unset or empty.
var ErrNoKey = errors.New("no key: no key file given and $" + KeyEnv + " is not set")

// WriteKeyFile writes the key file with mode 0600. Unless overwrite is set
// it refuses to replace an existing file. With overwrite, the new file is
// written beside the old one and renamed over it, so a symbolic link at
// path is replaced, never followed (its target is left alone), and a crash
// leaves either the old key or the new one.
func (k *Key) WriteKeyFile(path string, overwrite bool) error {
	if !overwrite {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("write key %s: %w", path, ErrKeyExists)
			}
			return fmt.Errorf("write key: %w", err)
		}
		return k.writeTo(f, path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tracemark-key-*")
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	tmp := f.Name()
	if err := k.writeTo(f, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

// writeTo writes the key file contents to f with mode 0600 and closes it.
func (k *Key) writeTo(f *os.File, path string) error {
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if _, err := f.Write(k.EncodeKeyFile()); err != nil {
		f.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

// ParseKeyFile parses key file contents. Errors describe what is wrong
// without quoting the contents, so a secret can never leak through them.
func ParseKeyFile(data []byte) (*Key, error) {
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&kf); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, fmt.Errorf("key file is not valid JSON (byte offset %d)", syn.Offset)
		case errors.As(err, &typ):
			return nil, fmt.Errorf("key file field %q has the wrong type (want %s)", typ.Field, typ.Type)
		default:
			return nil, errors.New("key file is not a JSON object")
		}
	}
	if dec.More() {
		return nil, errors.New("key file has data after its JSON object")
	}
	if kf.Version != KeyFileVersion {
		return nil, fmt.Errorf("key file version %d is not supported (want %d)", kf.Version, KeyFileVersion)
	}
	var s [SecretSize]byte
	var engine []uint64
	var id string
	switch {
	case kf.EngineKey != nil && kf.Secret != "":
		return nil, errors.New("key file has both a secret and an engine key (want one)")
	case kf.EngineKey != nil:
		w, err := parseEngineWords(kf.EngineKey)
		if err != nil {
			return nil, err
		}
		engine, id = w, EngineKeyID(w)
	default:
		raw, err := base64.StdEncoding.DecodeString(kf.Secret)
		if err != nil || len(raw) != SecretSize {
			return nil, fmt.Errorf("key file secret must be %d bytes in standard base64", SecretSize)
		}
		copy(s[:], raw)
		id = KeyID(s)
	}
	if kf.ID != id {
		return nil, fmt.Errorf("key file id %q does not match its secret (corrupted or edited key file)", kf.ID)
	}
	if kf.Scheme == "" {
		return nil, errors.New("key file has no scheme")
	}
	scheme, err := ParseSpec(kf.Scheme)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if kf.Tokenizer == "" {
		return nil, errors.New("key file has no tokenizer")
	}
	created, err := time.Parse(time.RFC3339, kf.Created)
	if err != nil {
		return nil, errors.New("key file created time is not RFC 3339")
	}
	if !validSHA256Hex(kf.TokenizerSHA256) {
		return nil, errors.New("key file tokenizer_sha256 must be 64 lower-case hex digits")
	}
	var k *Key
	if engine != nil {
		k = NewEngineKey(engine, scheme, kf.Tokenizer, created)
	} else {
		k = NewKey(s, scheme, kf.Tokenizer, created)
	}
	k.TokenizerSHA256 = kf.TokenizerSHA256
	return k, nil
}

// TokenizerMismatch says how a tokenizer named name, loaded from a file
// with SHA-256 fileSHA256 ("" for a built-in encoding), differs from the
// one k was made for: another name, or, where k recorded it, another file.
// It returns "" when they agree. Text re-tokenized by another tokenizer
// has other IDs, so a test of it is not a test of k's watermark.
func (k *Key) TokenizerMismatch(name, fileSHA256 string) string {
	switch {
	case k.Tokenizer != name:
		want := k.Tokenizer
		if k.TokenizerSHA256 != "" {
			want += " (file SHA-256 " + k.TokenizerSHA256 + ")"
		}
		return fmt.Sprintf("made for tokenizer %s, but the tokenizer given is %s", want, name)
	case k.TokenizerSHA256 != "" && fileSHA256 != k.TokenizerSHA256:
		return fmt.Sprintf("made for tokenizer %s with file SHA-256 %s, but the file given has SHA-256 %s", k.Tokenizer, k.TokenizerSHA256, fileSHA256)
	}
	return ""
}

// validSHA256Hex reports whether s is "" or 64 lower-case hex digits.
func validSHA256Hex(s string) bool {
	if s == "" {
		return true
	}
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// parseEngineWords parses an engine key's decimal words. Errors give the
// word's position and what is wrong, never its digits.
func parseEngineWords(ws []string) ([]uint64, error) {
	if len(ws) == 0 || len(ws) > MaxEngineWords {
		return nil, fmt.Errorf("key file engine_key has %d words, want 1 to %d", len(ws), MaxEngineWords)
	}
	out := make([]uint64, len(ws))
	for i, w := range ws {
		if w == "" || len(w) > 20 || strings.TrimLeft(w, "0123456789") != "" {
			return nil, fmt.Errorf("key file engine_key word %d is not a decimal integer of at most 20 digits", i+1)
		}
		v, err := strconv.ParseUint(w, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("key file engine_key word %d is not below 2^64", i+1)
		}
		out[i] = v
	}
	return out, nil
}

// MaxKeyFileSize bounds a key file: a real one is about 300 bytes.
const MaxKeyFileSize = 64 << 10

// LoadKey reads a key from path, or, if path is empty, from the environment
// variable TRACEMARK_KEY (the key file's contents). Errors name the source
// and never quote its contents. A key file must be a regular file (a
// symbolic link to one is followed) of at most MaxKeyFileSize bytes: a FIFO,
// a device such as /dev/urandom or a huge file is refused without being
// read.
func LoadKey(path string) (*Key, error) {
	if path == "" {
		data, ok := os.LookupEnv(KeyEnv)
		if !ok || data == "" {
			return nil, ErrNoKey
		}
		if len(data) > MaxKeyFileSize {
			return nil, fmt.Errorf("key from $%s: %d bytes, more than a key file's %d", KeyEnv, len(data), MaxKeyFileSize)
		}
		k, err := ParseKeyFile([]byte(data))
		if err != nil {
			if t := strings.TrimSpace(data); !strings.HasPrefix(t, "{") && !strings.ContainsAny(t, "\n{}") {
				if st, serr := os.Stat(t); serr == nil && st.Mode().IsRegular() {
					return nil, fmt.Errorf("key from $%s: it holds a file path, not a key file's contents (set it to the file's contents, or name the file instead)", KeyEnv)
				}
			}
			return nil, fmt.Errorf("key from $%s: %w", KeyEnv, err)
		}
		return k, nil
	}
	data, mode, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	k.source, k.mode = path, mode
	return k, nil
}

// readKeyFile reads a key file, refusing anything but a regular file of at
// most MaxKeyFileSize bytes before reading it.
func readKeyFile(path string) ([]byte, fs.FileMode, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, fmt.Errorf("read key: %w", err)
	}
	switch {
	case st.IsDir():
		return nil, 0, fmt.Errorf("read key %s: is a directory", path)
	case !st.Mode().IsRegular():
		return nil, 0, fmt.Errorf("read key %s: not a regular file (%s)", path, st.Mode().Type())
	case st.Size() > MaxKeyFileSize:
		return nil, 0, fmt.Errorf("read key %s: %d bytes, more than a key file's %d", path, st.Size(), MaxKeyFileSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("read key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxKeyFileSize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("read key %s: %w", path, err)
	}
	if len(data) > MaxKeyFileSize {
		return nil, 0, fmt.Errorf("read key %s: more than a key file's %d bytes", path, MaxKeyFileSize)
	}
	return data, st.Mode().Perm(), nil
}

// Source returns the path the key was loaded from ("" if it came from the
// environment or was made in memory).
func (k *Key) Source() string { return k.source }

// LooseMode reports whether the key was loaded from a file that users
// other than its owner may read or write (any of the mode bits 0o077).
func (k *Key) LooseMode() bool { return k.source != "" && k.mode&0o077 != 0 }

// LoadKeys loads keys from paths: key files, and directories whose
// non-hidden entries are key files (symbolic links to files are followed,
// as in a Kubernetes Secret mount). A key given twice is kept once, in the
// order first seen. With no paths it loads the key in TRACEMARK_KEY.
func LoadKeys(paths []string) ([]*Key, error) {
	if len(paths) == 0 {
		k, err := LoadKey("")
		if err != nil {
			return nil, err
		}
		return []*Key{k}, nil
	}
	var keys []*Key
	seen := map[string]bool{}
	for _, p := range paths {
		files := []string{p}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			if files, err = keyDirFiles(p); err != nil {
				return nil, err
			}
		}
		for _, f := range files {
			k, err := LoadKey(f)
			if err != nil {
				return nil, err
			}
			if !seen[k.ID()] {
				seen[k.ID()] = true
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// keyDirFiles lists the key files of a directory: its non-hidden regular
// files, and symbolic links that resolve to regular files.
func keyDirFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read key directory: %w", err)
	}
	var files []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			st, err := os.Stat(path)
			if err != nil {
				return nil, fmt.Errorf("key directory %s: %w", dir, err)
			}
			if !st.Mode().IsRegular() {
				continue
			}
		} else if !e.Type().IsRegular() {
			continue
		}
		files = append(files, path)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("key directory %s holds no key files", dir)
	}
	return files, nil
}
