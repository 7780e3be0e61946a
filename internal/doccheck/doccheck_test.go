// Package doccheck holds a test that keeps the markdown documentation
// honest: no Go code blocks that could rot outside docs/SPEC.md, and no
// relative link that points at a file that is not there.
package doccheck

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// specFile may hold ```go blocks: it is the byte-level specification and
// its snippets are checked by the spec tests.
const specFile = "docs/SPEC.md"

// repoRoot walks up from the test's directory to the directory holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// markdownFiles returns README.md and docs/*.md, relative to root.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{"README.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	return files
}

var (
	fence      = regexp.MustCompile("^ {0,3}(```+|~~~+)\\s*([^`\\s]*)")
	inlineCode = regexp.MustCompile("`+[^`]*`+")
	inlineLink = regexp.MustCompile(`\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refLink    = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	scheme     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
)

// link is one relative link target found in a markdown file.
type link struct {
	line   int
	target string
}

// scan returns the ```go blocks (by opening line) and the link targets
// outside code blocks of one markdown file.
func scan(t *testing.T, path string) (goBlocks []int, links []link) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<22)
	open := "" // the fence that opened the current code block
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := fence.FindStringSubmatch(line); m != nil {
			switch {
			case open == "":
				open = m[1]
				info := strings.ToLower(m[2])
				if info == "go" || strings.HasPrefix(info, "go{") || strings.HasPrefix(info, "go,") || info == "golang" {
					goBlocks = append(goBlocks, n)
				}
				continue
			case m[1][0] == open[0] && len(m[1]) >= len(open) && m[2] == "":
				open = ""
				continue
			}
		}
		if open != "" {
			continue
		}
		text := inlineCode.ReplaceAllString(line, "")
		for _, m := range inlineLink.FindAllStringSubmatch(text, -1) {
			links = append(links, link{n, m[1]})
		}
		if m := refLink.FindStringSubmatch(text); m != nil {
			links = append(links, link{n, m[1]})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return goBlocks, links
}

func TestNoGoCodeBlocks(t *testing.T) {
	root := repoRoot(t)
	for _, rel := range markdownFiles(t, root) {
		if rel == specFile {
			continue
		}
		blocks, _ := scan(t, filepath.Join(root, rel))
		for _, n := range blocks {
			t.Errorf("%s:%d: a ```go block: link to a runnable Example function instead (only %s may hold Go code)", rel, n, specFile)
		}
	}
}

func TestRelativeLinksResolve(t *testing.T) {
	root := repoRoot(t)
	checked := 0
	for _, rel := range markdownFiles(t, root) {
		_, links := scan(t, filepath.Join(root, rel))
		for _, l := range links {
			target := l.target
			if scheme.MatchString(target) || strings.HasPrefix(target, "//") {
				continue // http:, https:, mailto: ...
			}
			if i := strings.IndexByte(target, '#'); i >= 0 {
				target = target[:i]
			}
			if i := strings.IndexByte(target, '?'); i >= 0 {
				target = target[:i]
			}
			if target == "" {
				continue // an anchor in the same file
			}
			var path string
			if strings.HasPrefix(target, "/") {
				path = filepath.Join(root, filepath.FromSlash(target))
			} else {
				path = filepath.Join(root, filepath.Dir(rel), filepath.FromSlash(target))
			}
			inRepo, err := filepath.Rel(root, path)
			if err != nil || inRepo == ".." || strings.HasPrefix(inRepo, ".."+string(filepath.Separator)) {
				t.Errorf("%s:%d: link %q points outside the repository", rel, l.line, l.target)
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s:%d: link %q: no such file %s", rel, l.line, l.target, filepath.ToSlash(inRepo))
			}
			checked++
		}
	}
	t.Logf("%d relative links checked", checked)
}

// TestScanner checks the scanner itself on a small document, so a broken
// regular expression cannot make the real tests pass vacuously.
func TestScanner(t *testing.T) {
	doc := "# t\n[a](x.md) `[b](y.md)` [c](https://e.org) [d](#anchor) ![e](img/p.png \"title\")\n" +
		"```go\n[f](inside.md)\n```\n" +
		"~~~sh\n```go\n~~~\n" +
		"```\nplain\n```\n" +
		"[g]: ref/z.md\n"
	path := filepath.Join(t.TempDir(), "t.md")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	blocks, links := scan(t, path)
	if len(blocks) != 1 || blocks[0] != 3 {
		t.Errorf("go blocks at %v, want [3]", blocks)
	}
	var got []string
	for _, l := range links {
		got = append(got, l.target)
	}
	want := "x.md https://e.org #anchor img/p.png ref/z.md"
	if strings.Join(got, " ") != want {
		t.Errorf("links %q, want %q", strings.Join(got, " "), want)
	}
}

// TestCIRunsTheREADMETestCommand: the README's test command (the line in
// its Tests block starting "go vet") is exactly what .ci/run runs, with an
// explicit -timeout for every go test.
func TestCIRunsTheREADMETestCommand(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	var cmd string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "go vet ") {
			cmd = line
		}
	}
	if cmd == "" {
		t.Fatal("README has no test command line starting with \"go vet\"")
	}
	found := false
	for _, line := range strings.Split(string(ci), "\n") {
		if line == cmd {
			found = true
		}
	}
	if !found {
		t.Errorf(".ci/run does not run the README's test command %q", cmd)
	}
	for _, part := range strings.Split(cmd, "&&") {
		if strings.Contains(part, "go test") && !strings.Contains(part, "-timeout") {
			t.Errorf("%q has no explicit -timeout", strings.TrimSpace(part))
		}
	}
}
