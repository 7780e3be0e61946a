package calibrate

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// TestHumanTextUnderAFixedKey: on the bundled public-domain books, cut
// into paragraphs, the false-positive rate of one fixed key at each level
// is consistent with the level and the p-values are not anti-conservative.
func TestHumanTextUnderAFixedKey(t *testing.T) {
	books, err := refcorpus.Gutenberg()
	if err != nil {
		t.Fatal(err)
	}
	nBooks, seeds, minDocs, maxBytes := 3, []byte{1, 2}, 3000, 1<<30
	if testing.Short() { // the race run: part of one book, one key
		nBooks, seeds, minDocs, maxBytes = 1, []byte{1}, 500, 250_000
	}
	dir := t.TempDir()
	var files []string
	for i, b := range books[:nBooks] {
		p := filepath.Join(dir, fmt.Sprintf("book%d.txt", i))
		text := b.Text
		if len(text) > maxBytes {
			text = text[:strings.LastIndex(text[:maxBytes], "\n\n")]
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	tok, err := tokenize.Get("o200k_base")
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range seeds {
		var secret [watermark.SecretSize]byte
		secret[0] = seed
		key := watermark.NewKey(secret, watermark.DefaultKGW(), tok.Name(), time.Time{})
		scheme, err := watermark.NewScheme(key, key.Scheme)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Run(context.Background(), Config{Scheme: scheme, Tokenizer: tok, Read: corpora.ReadOptions{Split: "paragraphs"}, Workers: 2}, files)
		if err != nil {
			t.Fatal(err)
		}
		if c.Documents < minDocs || len(c.Levels) != 4 || len(c.Corpora) != nBooks || c.KeyID != key.ID() {
			t.Fatalf("calibration: %+v", c)
		}
		for _, l := range c.Levels {
			if !l.Consistent || !(l.CILow <= l.Rate && l.Rate <= l.CIHigh) {
				t.Errorf("key %d: alpha %g: %d of %d flagged, interval [%g, %g]", seed, l.Alpha, l.Flagged, c.Documents, l.CILow, l.CIHigh)
			}
		}
		if c.Uniformity.ExcessP < 1e-3 {
			t.Errorf("key %d: too many small p-values: %+v", seed, c.Uniformity)
		}
	}
}

func TestFPR(t *testing.T) {
	p := []float64{0.0005, 0.005, 0.02, 0.5, 1, 0.009, 0.0001}
	levels := FPR(p, []float64{1e-2, 1e-3, 1e-4})
	want := []int{4, 2, 1}
	for i, l := range levels {
		if l.Flagged != want[i] || math.Abs(l.Rate-float64(want[i])/7) > 1e-15 || l.CILevel != CILevel {
			t.Errorf("level %g: %+v", l.Alpha, l)
		}
	}
	// 4, 2 and 1 of 7 are far above the levels: not consistent.
	for _, l := range levels {
		if l.Consistent {
			t.Errorf("level %g: %d of 7 called consistent", l.Alpha, l.Flagged)
		}
	}
	// Evenly spread p-values are.
	even := make([]float64, 1000)
	for i := range even {
		even[i] = (float64(i) + 0.5) / 1000
	}
	for _, l := range FPR(even, []float64{1e-2, 1e-3}) {
		if !l.Consistent || l.Flagged != int(l.Alpha*1000) {
			t.Errorf("even p-values at %g: %+v", l.Alpha, l)
		}
	}
}

func TestRunErrors(t *testing.T) {
	if _, err := Run(context.Background(), Config{}, nil); err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Errorf("no scheme: %v", err)
	}
}
