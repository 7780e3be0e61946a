package corpora

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
