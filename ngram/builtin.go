package ngram

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/tokenize"
)

// BuiltinTokenizer is the tokenizer the built-in model speaks.
const BuiltinTokenizer = "o200k_base"

// BuiltinVocab is the number of regular o200k_base tokens (IDs 0..199997);
// the special tokens are never produced.
const BuiltinVocab = 199998

// CacheEnv names the environment variable that overrides the cache
// directory of the built-in model (default: the user cache directory's
// "tracemark" folder).
const CacheEnv = "TRACEMARK_CACHE_DIR"

// builtinVersion changes whenever training or the file layout changes, so
// that stale caches are never used.
const builtinVersion = "ngram-builtin-v2/" + fileMagic

// BuildInfo says where the built-in model came from and what it cost.
type BuildInfo struct {
	CachePath string        // cache file, "" if there is no cache directory
	FromCache bool          // loaded rather than trained
	Duration  time.Duration // time to load or train (and write the cache)
	Tokens    int           // training tokens (0 when loaded)
	Note      string        // why the cache was not used, if it was not
}

// CacheDir returns the cache directory for built-in models: $TRACEMARK_CACHE_DIR,
// else <user cache dir>/tracemark; "" if neither can be determined.
func CacheDir() string {
	if d := os.Getenv(CacheEnv); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "tracemark")
	}
	return ""
}

// builtinCacheName is the cache file name: a hash of the training data,
// the tokenizer and the code version.
func builtinCacheName() string {
	h := sha256.New()
	h.Write([]byte(builtinVersion + "/" + BuiltinTokenizer + "\x00"))
	h.Write(refcorpus.GutenbergArchive())
	return "ngram-" + BuiltinTokenizer + "-" + hex.EncodeToString(h.Sum(nil)[:8]) + ".bin.zst"
}

// Builtin returns the built-in model: order-4 Kneser–Ney over o200k_base,
// trained on the books in internal/refcorpus/gutenberg. The first call on a machine
// trains it (a few seconds) and writes it to cacheDir (pass CacheDir());
// later calls load it. An unusable cache is rebuilt, never fatal; cacheDir
// "" disables caching.
func Builtin(ctx context.Context, cacheDir string) (*Model, BuildInfo, error) {
	start := time.Now()
	var info BuildInfo
	if cacheDir != "" {
		info.CachePath = filepath.Join(cacheDir, builtinCacheName())
		if f, err := os.Open(info.CachePath); err == nil {
			m, err := Load(f)
			f.Close()
			if err == nil && m.vocab == BuiltinVocab {
				info.FromCache, info.Duration = true, time.Since(start)
				return m, info, nil
			}
			info.Note = fmt.Sprintf("cache %s unusable (%v); rebuilt", info.CachePath, err)
		}
	}
	m, tokens, err := trainBuiltin(ctx)
	if err != nil {
		return nil, info, err
	}
	info.Tokens = tokens
	if cacheDir != "" {
		if err := writeCache(m, cacheDir, info.CachePath); err != nil {
			info.Note = fmt.Sprintf("could not write cache: %v", err)
			info.CachePath = ""
		}
	}
	info.Duration = time.Since(start)
	return m, info, nil
}

// trainBuiltin tokenizes the built-in books (in parallel) and trains.
func trainBuiltin(ctx context.Context) (*Model, int, error) {
	books, err := refcorpus.Gutenberg()
	if err != nil {
		return nil, 0, err
	}
	tok, err := tokenize.Get(BuiltinTokenizer)
	if err != nil {
		return nil, 0, err
	}
	docs := make([][]uint32, len(books))
	errs := make([]error, len(books))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(2, 4))
	for i := range books {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			docs[i], errs[i] = tok.AppendEncode(nil, books[i].Text)
		}(i)
	}
	wg.Wait()
	tokens := 0
	for i, err := range errs {
		if err != nil {
			return nil, 0, fmt.Errorf("tokenize %s: %w", books[i].ID, err)
		}
		tokens += len(docs[i])
	}
	m, err := Train(ctx, docs, BuiltinVocab)
	return m, tokens, err
}

// writeCache writes the model atomically (temporary file, then rename), so
// concurrent first runs never see a half-written file.
func writeCache(m *Model, dir, path string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".ngram-*.tmp")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
