package refcorpus

import (
	"strings"
	"testing"
)

func TestOpticks(t *testing.T) {
	d, err := Opticks()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Text) < 500000 || !strings.Contains(d.Text, "OPTICKS") {
		t.Errorf("Opticks: %d bytes", len(d.Text))
	}
}

func TestGoSource(t *testing.T) {
	docs, err := GoSource("strconv", "go/ast")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 10 {
		t.Fatalf("%d files", len(docs))
	}
	for _, d := range docs {
		if strings.HasSuffix(d.Source, "_test.go") || !strings.Contains(d.Text, "package ") || !strings.HasPrefix(d.ID, "go:") {
			t.Errorf("bad document %s", d.ID)
		}
	}
	if _, err := GoSource("no/such/package"); err == nil || !strings.Contains(err.Error(), "no/such/package") {
		t.Errorf("missing package: %v", err)
	}
}

func TestGutenberg(t *testing.T) {
	docs, err := Gutenberg()
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 17 {
		t.Fatalf("%d books, want 17", len(docs))
	}
	words := 0
	for _, d := range docs {
		words += len(strings.Fields(d.Text))
		if strings.Contains(d.Text, "\n\n\n") || !strings.HasPrefix(d.ID, "gutenberg:") {
			t.Errorf("%s: not normalized", d.ID)
		}
	}
	if words < 1300000 || words > 1330000 {
		t.Errorf("%d words, want about 1.31 million", words)
	}
	if !strings.Contains(docs[0].Text, "Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy disposition") {
		t.Error("Emma's first sentence is not unwrapped")
	}
}

func TestUnwrapParagraphs(t *testing.T) {
	in := "  A line\nwrapped  here.\n\n\n\nNext\tpara.\r\nends\n"
	if got, want := UnwrapParagraphs(in), "A line wrapped here.\n\nNext para. ends"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := UnwrapParagraphs("\n\n \n"); got != "" {
		t.Errorf("blank text gave %q", got)
	}
}
