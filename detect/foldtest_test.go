package detect

import (
	"encoding/json"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/watermark"
)

// TestFoldMatchesExactDistribution checks the fold test's null law by brute
// force: for fixed slots and folds of a few tuples, every colouring is
// enumerated (each has probability radix^-n under the null) and the exact
// distribution of the number of matches, summed with math/big, must be
// Binomial(trials, 1/radix), which is what the p-value uses.
func TestFoldMatchesExactDistribution(t *testing.T) {
	type tuple struct{ slot, fold int }
	cases := []struct {
		radix, slots int
		tuples       []tuple
	}{
		{2, 1, []tuple{{0, 0}, {0, 1}, {0, 1}, {0, 2}, {0, 5}, {0, 7}, {0, 7}, {0, 3}, {0, 3}, {0, 0}}},
		{4, 2, []tuple{{0, 0}, {0, 0}, {0, 1}, {1, 1}, {1, 2}, {0, 4}, {1, 4}, {1, 6}, {0, 7}}},
		{8, 2, []tuple{{0, 1}, {0, 2}, {1, 2}, {0, 3}, {1, 5}, {1, 6}}},
		{4, 3, []tuple{{2, 0}, {2, 0}, {2, 0}, {2, 1}, {0, 2}, {1, 3}, {2, 6}, {2, 7}}},
	}
	null := func(radix, slots int) watermark.Null {
		return watermark.Null{Kind: watermark.PayloadNull, Radix: radix, Slots: slots}
	}
	for ci, c := range cases {
		n := len(c.tuples)
		total := 1
		for range n {
			total *= c.radix
		}
		counts := map[int]int64{} // matches -> colourings
		trials := -1
		colours := make([]int, n)
		for code := 0; code < total; code++ {
			x := code
			var tl Tally
			for i, tp := range c.tuples {
				colours[i] = x % c.radix
				x /= c.radix
				tl.Add(null(c.radix, c.slots), watermark.Observation{Slot: uint8(tp.slot), Colour: uint8(colours[i]), Bits: uint64(tp.fold)})
			}
			m, tr := foldMatches(&tl, c.radix, c.slots)
			if trials >= 0 && tr != trials {
				t.Fatalf("case %d: trials depend on the colours (%d, %d)", ci, tr, trials)
			}
			trials = tr
			counts[m]++
		}
		wantTrials := 0
		for _, tp := range c.tuples {
			if tp.fold > 0 {
				wantTrials++
			}
		}
		if trials != wantTrials {
			t.Errorf("case %d: %d trials, want %d (tuples outside fold 0)", ci, trials, wantTrials)
		}
		for k := 0; k <= trials; k++ {
			var tail int64
			for m, v := range counts {
				if m >= k {
					tail += v
				}
			}
			got := new(big.Rat).SetFrac(big.NewInt(tail), big.NewInt(int64(total)))
			gf, _ := got.Float64()
			want := math.Exp(stats.LogBinomialTail(k, trials, 1/float64(c.radix)))
			if math.Abs(gf-want) > 1e-12*want {
				t.Errorf("case %d: P(matches ≥ %d) = %v by enumeration, binomial %v", ci, k, gf, want)
			}
		}
	}
}

// TestFoldMatchesByHand checks the prediction rule on a small tally.
func TestFoldMatchesByHand(t *testing.T) {
	null := watermark.Null{Kind: watermark.PayloadNull, Radix: 4, Slots: 2}
	var tl Tally
	add := func(slot, colour, fold, times int) {
		for range times {
			tl.Add(null, watermark.Observation{Slot: uint8(slot), Colour: uint8(colour), Bits: uint64(fold)})
		}
	}
	add(0, 2, 0, 3) // fold 0: slot 0 decodes to 2
	add(0, 1, 0, 1)
	add(0, 2, 1, 2) // fold 1: 2 matches
	add(0, 3, 1, 4) // 0 matches; now 2 has 5, 3 has 4
	add(0, 3, 2, 1) // fold 2 predicts 2: no match
	add(0, 3, 3, 5) // fold 3: 3 has 5 = 2's 5, tie to 2: no match
	add(0, 3, 4, 1) // fold 4: 3 (10) beats 2 (5): match
	add(1, 0, 1, 2) // slot 1, fold 1 predicts 1 (fold 0 below): no match
	add(1, 1, 2, 3) // fold 2 predicts 0 (2 > 1): no match
	add(1, 1, 0, 1) // fold 0 only decodes
	m, tr := foldMatches(&tl, 4, 2)
	if m != 3 || tr != 18 {
		t.Errorf("matches %d of %d, want 3 of 18", m, tr)
	}
}

// TestTallyFoldsJSON: fold counts survive JSON, tallies without them read
// back unsplit (and fall back to the tests that need no folds), and
// inconsistent fold counts are rejected.
func TestTallyFoldsJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cfg, _ := watermark.ParseSpec("kgw:payload_bits=4,radix=4")
	null := cfg.Null()
	var tl Tally
	for range 2000 { // 1000 tuples a slot: the fold test
		tl.Add(null, watermark.Observation{Slot: uint8(rng.IntN(2)), Colour: uint8(rng.IntN(4)), Bits: rng.Uint64N(8)})
	}
	want := Evaluate(cfg, "k", &tl, 0)
	if want.Test != TestPayloadFold {
		t.Fatalf("test %s, want %s", want.Test, TestPayloadFold)
	}
	b, _ := json.Marshal(tl)
	var back Tally
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got := Evaluate(cfg, "k", &back, 0); got.Log10P != want.Log10P || got.Test != want.Test || !back.Split() {
		t.Errorf("after JSON: %v %s, want %v %s", got.Log10P, got.Test, want.Log10P, want.Test)
	}
	var old map[string]any
	json.Unmarshal(b, &old)
	delete(old, "fold_counts")
	ob, _ := json.Marshal(old)
	var unsplit Tally
	if err := json.Unmarshal(ob, &unsplit); err != nil {
		t.Fatal(err)
	}
	if unsplit.Split() {
		t.Error("a tally without fold counts reads back split")
	}
	if got := Evaluate(cfg, "k", &unsplit, 0); got.Test != TestPayloadBonferro {
		t.Errorf("unsplit tally evaluated by %s", got.Test)
	}
	// Adding an unsplit tally makes the sum unsplit.
	sum := tl.Clone()
	sum.AddTally(&unsplit)
	if sum.Split() {
		t.Error("split + unsplit tally is split")
	}
	bad := strings.Replace(string(b), `"fold_counts":[[[`, `"fold_counts":[[[1000000,`, 1)
	if err := json.Unmarshal([]byte(bad), &back); err == nil {
		t.Error("fold counts that do not add up: no error")
	}
	if err := json.Unmarshal([]byte(`{"n":1,"counts":[[1]],"fold_counts":[[[1]]]}`), &back); err == nil {
		t.Error("one fold: no error")
	}
}
