// Package tmbeam is the tracemark scan as an Apache Beam pipeline: the same
// readers, per-document tests, pooled corpus test and Benjamini–Hochberg
// q-values as `tracemark scan`, run by a Beam runner (Prism on one machine;
// Dataflow, Flink or Spark on a cluster), which schedules the files over
// workers, retries failed bundles and deduplicates the pooled test's tuples
// in its shuffle.
package tmbeam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/normalize"
	"github.com/tracemark/tracemark/scan"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// Config is what every worker needs to score documents as `tracemark scan`
// does. It travels inside the pipeline's DoFns (as JSON), so it holds no
// secret: keys are named by path (a local file, or a gs://, s3:// object
// the workers can read) and loaded on each worker in Setup.
type Config struct {
	KeyPaths  []string // key files (local paths may be directories of key files)
	Scheme    string   // scheme spec overriding each key's; "" = the key's
	Tokenizer string   // "" = the keys' (which must agree)
	// TokenizerMismatchOK lets Tokenizer differ from a key's tokenizer (by
	// name, or by the file hash the key records); the verdict is then not
	// the key's. Otherwise such a Config is refused.
	TokenizerMismatchOK bool
	Normalize           bool                // fold look-alikes and drop zero-width characters before tokenizing
	Read                corpora.ReadOptions // format, fields, role, split, ID field
	// ExcludeNgrams is a text file (local or remote) whose paragraphs'
	// (h+1)-grams are not scored, as scan --exclude-ngrams.
	ExcludeNgrams string
	Alpha         float64 // per-document and pooled level; 0 = detect.DefaultAlpha
	FDR           float64 // flag by q <= FDR instead of p <= Alpha (0: off)
	ShowText      int     // keep the first ShowText characters of each document
	// DedupKey keys the tuple fingerprints of the pooled test and of the
	// n-gram exclusion; one for the whole job (not secret).
	DedupKey detect.DedupKey
}

// loaded is a Config made ready on a worker (or the launcher).
type loaded struct {
	keys    []*watermark.Key // keys[i] is schemes[i]'s
	schemes []watermark.Scheme
	tok     tokenize.Tokenizer
	scanner *scan.Scanner
}

// load reads the keys, the tokenizer and the exclusion file, and builds a
// Scanner, as `tracemark scan` does from its flags.
func (c Config) load(ctx context.Context) (*loaded, error) {
	if len(c.KeyPaths) == 0 {
		return nil, errors.New("tmbeam: no key")
	}
	var keys []*watermark.Key
	for _, p := range c.KeyPaths {
		if isRemote(p) {
			data, err := readAll(ctx, p)
			if err != nil {
				return nil, fmt.Errorf("tmbeam: key %s: %w", p, err)
			}
			k, err := watermark.ParseKeyFile(data)
			if err != nil {
				return nil, fmt.Errorf("tmbeam: key %s: %w", p, err)
			}
			keys = append(keys, k)
			continue
		}
		ks, err := watermark.LoadKeys([]string{p})
		if err != nil {
			return nil, fmt.Errorf("tmbeam: %w", err)
		}
		keys = append(keys, ks...)
	}
	var override watermark.Config
	if c.Scheme != "" {
		var err error
		if override, err = watermark.ParseSpec(c.Scheme); err != nil {
			return nil, fmt.Errorf("tmbeam: %w", err)
		}
	}
	l := &loaded{}
	for _, k := range keys {
		cfg := k.Scheme
		if override != nil {
			cfg = override
		}
		s, err := watermark.NewScheme(k, cfg)
		if err != nil {
			return nil, fmt.Errorf("tmbeam: key %s: %w", k.ID(), err)
		}
		l.keys = append(l.keys, k)
		l.schemes = append(l.schemes, s)
	}
	name := c.Tokenizer
	if name == "" {
		name = keys[0].Tokenizer
		for _, k := range keys[1:] {
			if k.Tokenizer != name {
				return nil, fmt.Errorf("tmbeam: keys %s and %s are for different tokenizers (%s, %s): name one", keys[0].ID(), k.ID(), name, k.Tokenizer)
			}
		}
	}
	tok, err := tokenize.Get(name)
	if err != nil {
		return nil, fmt.Errorf("tmbeam: %w", err)
	}
	if !c.TokenizerMismatchOK {
		for _, k := range keys {
			if why := k.TokenizerMismatch(tok.Name(), tokenize.FileSHA256(tok)); why != "" {
				return nil, fmt.Errorf("tmbeam: key %s: %s (text re-tokenized into other IDs is not a test of the key's watermark)", k.ID(), why)
			}
		}
	}
	if c.Normalize {
		tok = normalize.Tokenizer(tok)
	}
	l.tok = tok
	var exclude [][]uint32
	if c.ExcludeNgrams != "" {
		data, err := readAll(ctx, c.ExcludeNgrams)
		if err != nil {
			return nil, fmt.Errorf("tmbeam: exclusion file: %w", err)
		}
		for _, para := range strings.Split(string(data), "\n") {
			if ids, _ := tok.AppendEncode(nil, para); len(ids) > 0 {
				exclude = append(exclude, ids)
			}
		}
	}
	key := c.DedupKey
	l.scanner, err = scan.New(scan.Config{Schemes: l.schemes, Tokenizer: tok, Read: c.Read, Workers: 1,
		Alpha: c.Alpha, FDR: c.FDR, Exclude: exclude, ShowText: c.ShowText, DedupKey: &key})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// isRemote reports whether path names a Beam filesystem other than the
// local one (gs://, s3://, ...).
func isRemote(path string) bool {
	i := strings.Index(path, "://")
	return i > 0 && !strings.ContainsAny(path[:i], "/\\") && path[:i] != "file"
}

// readAll reads a whole (small) file through Beam's filesystems.
func readAll(ctx context.Context, path string) ([]byte, error) {
	if !isRemote(path) {
		return os.ReadFile(path)
	}
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	r, err := fs.OpenRead(ctx, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// localCopy returns a local path holding the input path: path itself when
// it is local, else a copy in a fresh temporary directory under the same
// base name (document IDs of plain text files come from it); done removes
// the copy.
func localCopy(ctx context.Context, path string) (local string, done func(), err error) {
	if !isRemote(path) {
		return path, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "tracemark-beam-")
	if err != nil {
		return "", nil, err
	}
	done = func() { os.RemoveAll(dir) }
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		done()
		return "", nil, err
	}
	defer fs.Close()
	r, err := fs.OpenRead(ctx, path)
	if err != nil {
		done()
		return "", nil, err
	}
	defer r.Close()
	local = filepath.Join(dir, filepath.Base(path))
	f, err := os.Create(local)
	if err != nil {
		done()
		return "", nil, err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		done()
		return "", nil, fmt.Errorf("copying %s to the worker: %w", path, err)
	}
	if err := f.Close(); err != nil {
		done()
		return "", nil, err
	}
	return local, done, nil
}
