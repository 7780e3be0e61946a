package templated

import (
	"fmt"
	"strings"
	"testing"
)

// shingles returns the distinct runs of k words of text.
func shingles(text string, k int) map[string]bool {
	w := strings.Fields(text)
	out := map[string]bool{}
	for i := 0; i+k <= len(w); i++ {
		out[strings.Join(w[i:i+k], " ")] = true
	}
	return out
}

// TestShareTemplatesYetDiffer checks the corpora are what they are for:
// every document differs from every other, yet most word bigrams of a
// document (counted by position) occur in some other document.
func TestShareTemplatesYetDiffer(t *testing.T) {
	const n = 60
	for _, kind := range Kinds() {
		docs, err := Corpus(kind, n, 7)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if len(docs) != n {
			t.Fatalf("%s: %d documents, want %d", kind, len(docs), n)
		}
		seen := map[string]bool{}
		count := map[string]int{}
		sh := make([]map[string]bool, n)
		for i, d := range docs {
			if len(strings.Fields(d)) < 20 {
				t.Errorf("%s: document %d has %d words", kind, i, len(strings.Fields(d)))
			}
			if seen[d] {
				t.Errorf("%s: document %d repeats an earlier one", kind, i)
			}
			seen[d] = true
			sh[i] = shingles(d, 2)
			for s := range sh[i] {
				count[s]++
			}
		}
		var shared, total int
		for _, d := range docs {
			w := strings.Fields(d)
			for j := 0; j+2 <= len(w); j++ {
				total++
				if count[w[j]+" "+w[j+1]] > 1 {
					shared++
				}
			}
		}
		frac := float64(shared) / float64(total)
		t.Logf("%s: %.2f of word bigrams occur in another document", kind, frac)
		// Go source shares less verbatim text than the generated kinds.
		min := 0.5
		if kind == GoSource {
			min = 0.2
		}
		if frac < min {
			t.Errorf("%s: only %.3f of word bigrams shared, want ≥ %.2f", kind, frac, min)
		}
	}
}

func TestDeterministic(t *testing.T) {
	for _, kind := range Kinds() {
		a, err := Corpus(kind, 20, 42)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Corpus(kind, 20, 42)
		c, _ := Corpus(kind, 20, 43)
		if strings.Join(a, "\x00") != strings.Join(b, "\x00") {
			t.Errorf("%s: same seed, different corpora", kind)
		}
		if strings.Join(a, "\x00") == strings.Join(c, "\x00") {
			t.Errorf("%s: seeds 42 and 43 give the same corpus", kind)
		}
		// A prefix of a longer corpus is the shorter corpus.
		d, _ := Corpus(kind, 25, 42)
		if strings.Join(d[:20], "\x00") != strings.Join(a, "\x00") {
			t.Errorf("%s: Corpus(25) does not extend Corpus(20)", kind)
		}
	}
}

func TestKindsDiffer(t *testing.T) {
	first := map[string]string{}
	for _, kind := range Kinds() {
		docs, err := Corpus(kind, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		for k, d := range first {
			if d == docs[0] {
				t.Errorf("kinds %s and %s give the same document", k, kind)
			}
		}
		first[kind] = docs[0]
	}
}

func TestErrors(t *testing.T) {
	if _, err := Corpus("novels", 3, 1); err == nil || !strings.Contains(err.Error(), "novels") {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := Corpus(Letters, -1, 1); err == nil {
		t.Error("negative n: no error")
	}
	files, err := GoSourceFiles()
	if err != nil {
		t.Fatal(err)
	}
	if files < 300 {
		t.Errorf("Go source: %d files", files)
	}
	if _, err := Corpus(GoSource, files+1, 1); err == nil {
		t.Error("Go source: more documents than files, no error")
	}
	if docs, err := Corpus(GoSource, files, 1); err != nil || len(docs) != files {
		t.Errorf("Go source: all %d files: %d, %v", files, len(docs), err)
	}
}

func TestLetterSlotsVary(t *testing.T) {
	docs, _ := Corpus(Letters, 200, 3)
	subjects := map[string]int{}
	for _, d := range docs {
		subjects[strings.SplitN(d, "\n", 2)[0]]++
	}
	// Six templates, some with slots in the subject line: many subjects, no one dominating.
	if len(subjects) < 30 {
		t.Errorf("only %d distinct subject lines in 200 letters", len(subjects))
	}
	for s, c := range subjects {
		if c > 60 {
			t.Errorf("subject %q in %d of 200 letters", s, c)
		}
	}
}

func ExampleCorpus() {
	docs, err := Corpus(Logs, 3, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(docs), strings.Count(docs[0], "\n") >= 20)
	// Output: 3 true
}
