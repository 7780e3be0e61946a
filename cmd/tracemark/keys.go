package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/tracemark/tracemark/normalize"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
	"github.com/urfave/cli/v2"
)

// looksLikeKeyMaterial reports whether a command-line value looks like a
// key file's contents (or its secret) rather than a path: pasting
// "$(cat k.key)" or "$TRACEMARK_KEY" into --key must not put the secret
// into an error message, a file name or the process list twice.
func looksLikeKeyMaterial(v string) bool {
	t := strings.TrimSpace(v)
	switch {
	case strings.ContainsAny(t, "{}\n\"") || strings.Contains(t, "secret"):
		return true
	}
	// A bare secret: 32 bytes in standard or URL-safe base64, or in hex.
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(t); err == nil && len(b) == watermark.SecretSize {
			return true
		}
	}
	if b, err := hex.DecodeString(t); err == nil && len(b) == watermark.SecretSize {
		return true
	}
	return false
}

// errKeyMaterial is the refusal of a --key or --out value that looks like
// key material; it does not echo the value.
func errKeyMaterial(flag string) error {
	return fmt.Errorf("%s takes a file path, but the value given looks like key material (not shown); pass the key file's path, or set %s to its contents", flag, watermark.KeyEnv)
}

// keyHint adds to a missing-key error how to give one.
func keyHint(err error) error {
	if errors.Is(err, watermark.ErrNoKey) {
		return fmt.Errorf("%w (pass --key FILE or set %s to a key file's contents)", err, watermark.KeyEnv)
	}
	return err
}

// warnLoose warns about key files that others may read.
func warnLoose(e *env, keys ...*watermark.Key) {
	for _, k := range keys {
		if k.LooseMode() {
			fmt.Fprintf(e.stderr, "tracemark: warning: key file %s can be read by other users: chmod 600 it\n", k.Source())
		}
	}
}

// loadKey loads one --key (or $TRACEMARK_KEY), refusing key material in
// argv and warning about a loose file mode.
func loadKey(c *cli.Context, e *env, path string) (*watermark.Key, error) {
	if looksLikeKeyMaterial(path) {
		return nil, errKeyMaterial("--key")
	}
	k, err := watermark.LoadKey(path)
	if err != nil {
		return nil, keyHint(err)
	}
	warnLoose(e, k)
	return k, nil
}

// loadKeys loads every --key (files, and the key files in directories), or
// the key in $TRACEMARK_KEY when none is given.
func loadKeys(e *env, paths []string) ([]*watermark.Key, error) {
	for _, p := range paths {
		if looksLikeKeyMaterial(p) {
			return nil, errKeyMaterial("--key")
		}
	}
	keys, err := watermark.LoadKeys(paths)
	if err != nil {
		return nil, keyHint(err)
	}
	warnLoose(e, keys...)
	return keys, nil
}

// keysFor loads the --key keys, binds them to their schemes and picks the
// tokenizer: --tokenizer, else the keys' (which must agree). A --scheme or
// --tokenizer other than a key's changes the verdict: the first is warned
// about on stderr, the second refused unless --tokenizer-mismatch-ok.
// --no-dedup is warned about too.
func keysFor(c *cli.Context, e *env) ([]watermark.Scheme, tokenize.Tokenizer, error) {
	schemes, tok, _, err := keysAndDefaults(c, e)
	return schemes, tok, err
}

// keyDefaults is what a key itself names: its scheme and tokenizer, which
// --scheme and --tokenizer may override.
type keyDefaults struct {
	Scheme    string `json:"key_scheme"`
	Tokenizer string `json:"key_tokenizer"`
}

// keysAndDefaults is keysFor that also returns each key's own scheme and
// tokenizer by key ID, so results can record both.
func keysAndDefaults(c *cli.Context, e *env) ([]watermark.Scheme, tokenize.Tokenizer, map[string]keyDefaults, error) {
	schemes, tok, keys, err := bindKeys(c, e)
	if err != nil {
		return nil, nil, nil, err
	}
	defaults := map[string]keyDefaults{}
	for _, k := range keys {
		d := keyDefaults{Tokenizer: k.Tokenizer}
		if k.Scheme != nil {
			d.Scheme = k.Scheme.String()
		}
		defaults[k.ID()] = d
	}
	return schemes, tok, defaults, nil
}

// bindKeys loads and binds the keys and picks the tokenizer, warning about
// overrides.
func bindKeys(c *cli.Context, e *env) ([]watermark.Scheme, tokenize.Tokenizer, []*watermark.Key, error) {
	keys, err := loadKeys(e, c.StringSlice("key"))
	if err != nil {
		return nil, nil, nil, err
	}
	schemes, err := schemesFor(c, keys)
	if err != nil {
		return nil, nil, nil, err
	}
	tokName := keys[0].Tokenizer
	if c.IsSet("tokenizer") {
		tokName = c.String("tokenizer")
	} else {
		for _, k := range keys[1:] {
			if k.Tokenizer != tokName {
				return nil, nil, nil, fmt.Errorf("keys %s and %s are for different tokenizers (%s, %s): pass --tokenizer", keys[0].ID(), k.ID(), tokName, k.Tokenizer)
			}
		}
	}
	tok, err := loadTokenizer(e, tokName)
	if err != nil {
		return nil, nil, nil, err
	}
	for i, k := range keys {
		if why := k.TokenizerMismatch(tok.Name(), tokenize.FileSHA256(tok)); why != "" {
			if !c.Bool(tokenizerMismatchFlag) {
				return nil, nil, nil, fmt.Errorf("key %s: %s: its text would be re-tokenized into other IDs, so the test would not be the key's; give the key's tokenizer (--tokenizer), or pass --%s to test anyway", k.ID(), why, tokenizerMismatchFlag)
			}
			fmt.Fprintf(e.stderr, "tracemark: warning: key %s: %s: text is re-tokenized differently, so the verdict is not the key's\n", k.ID(), why)
		}
		if k.Scheme != nil && schemes[i].Spec() != k.Scheme.String() {
			fmt.Fprintf(e.stderr, "tracemark: warning: key %s was made for scheme %s but --scheme is %s: the verdict is for that scheme\n", k.ID(), k.Scheme, schemes[i].Spec())
		}
	}
	if c.Bool("no-dedup") {
		fmt.Fprintln(e.stderr, "tracemark: warning: --no-dedup counts repeated (context, token) tuples again: p-values are INVALID on repetitive text (code, templates, lists) and false accusations follow; for experiments only")
	}
	if c.Bool("normalize") {
		tok = normalize.Tokenizer(tok)
	}
	return schemes, tok, keys, nil
}

// tokenizerMismatchFlag is the flag of the commands that bind keys to a
// tokenizer (detect, scan, calibrate, probe) that lets an expert test with
// a tokenizer other than the key's.
const tokenizerMismatchFlag = "tokenizer-mismatch-ok"

// tokenizerMismatchOK is the flag named tokenizerMismatchFlag.
func tokenizerMismatchOK() cli.Flag {
	return &cli.BoolFlag{Name: tokenizerMismatchFlag, Usage: "test with a tokenizer other than the key's (name or file hash): the verdict is then not the key's (experts only)"}
}

// checkLevels validates --alpha and --fdr (where the command has them):
// alpha in (0, 1), fdr 0 (off) or in (0, 1); NaN and infinities refused.
func checkLevels(c *cli.Context) error {
	if a := c.Float64("alpha"); !(a > 0 && a < 1) {
		return fmt.Errorf("--alpha: alpha must be in (0, 1), got %v", a)
	}
	if q := c.Float64("fdr"); !(q == 0 || (q > 0 && q < 1)) {
		return fmt.Errorf("--fdr: the false discovery rate must be in (0, 1) (or 0 for off), got %v", q)
	}
	return nil
}

// loadTokenizer returns the tokenizer called name (an encoding, a known
// tokenizer.json or a path to one), with a one-line notice on stderr when
// a split pattern has no hand-written scanner and runs on regexp2.
func loadTokenizer(e *env, name string) (tokenize.Tokenizer, error) {
	tok, err := tokenize.Get(name)
	if err != nil {
		return nil, err
	}
	if f, ok := tok.(interface{ Fallbacks() []string }); ok && len(f.Fallbacks()) > 0 {
		fmt.Fprintf(e.stderr, "tracemark: notice: tokenizer %s: %d split pattern(s) without a hand-written scanner run on regexp2, several times slower\n", tok.Name(), len(f.Fallbacks()))
	}
	return tok, nil
}
