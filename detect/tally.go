package detect

import (
	"encoding/json"
	"fmt"
	"math/bits"

	"github.com/tracemark/tracemark/watermark"
)

// maxRadix is the largest payload radix (colours per slot).
const maxRadix = 16

// maxSlots is the most payload slots a scheme has (64 one-bit slots).
const maxSlots = 64

// Tally accumulates the deduplicated observations of one scheme: all a
// p-value needs, so that tallies of parts (documents, files) add up to the
// tally of the whole. Its JSON form is
//
//	{"n": N, "sum": Σ score, "weighted": Σ weighted g, "counts": [[...], ...]}
//
// with "counts" ([slot][colour], payload schemes only) omitted when empty.
// Payload schemes add "fold_counts" ([fold][slot][colour]): the same counts
// split by the tuples' folds (watermark.PayloadFolds), which the zero-bit
// payload test needs; a tally read without them (written by an earlier
// version) is evaluated by the tests that need only "counts".
// The zero Tally is empty and ready to use. A Tally holds a slice: copy one
// with Clone, not by assignment, when both copies will keep counting.
type Tally struct {
	// N is the number of observations counted.
	N int
	// Sum is Σ score: green count (KGW), Σ -ln(1-r) (Gumbel), Σ g
	// (tournament); 0 for payload schemes.
	Sum float64
	// Weighted is Σ over layers l of (m-l)·g_l (tournament only).
	Weighted float64
	// radix is the payload's colours per slot (0: no payload counts).
	radix int
	// counts[slot*maxRadix+colour] is the payload colour count; its length
	// is maxRadix times the number of slots.
	counts []int
	// folds[(fold*slots+slot)*maxRadix+colour] splits counts by fold, for
	// foldSlots slots; unsplit records that some counts came without folds
	// (an earlier version's JSON), so folds do not add up to counts.
	folds     []int
	foldSlots int
	unsplit   bool
}

// Add counts one observation under the scheme's null model.
func (t *Tally) Add(null watermark.Null, o watermark.Observation) {
	t.N++
	switch {
	case null.Kind == watermark.PayloadNull:
		t.grow(null.Slots, null.Radix)
		t.counts[int(o.Slot)*maxRadix+int(o.Colour)]++
		f := int(o.Bits % watermark.PayloadFolds)
		t.folds[(f*t.foldSlots+int(o.Slot))*maxRadix+int(o.Colour)]++
	case null.Trials > 1:
		t.Sum += o.Score
		t.Weighted += float64(layerWeight(o.Bits, null.Trials))
	default:
		t.Sum += o.Score
	}
}

// AddAll counts each of obs under the scheme's null model, as Add does one
// by one (the same sums, in the same order, so bit for bit the same
// tally), deciding the null's kind once rather than per observation.
func (t *Tally) AddAll(null watermark.Null, obs []watermark.Observation) {
	if null.Kind == watermark.PayloadNull {
		for _, o := range obs {
			t.Add(null, o)
		}
		return
	}
	if m := null.Trials; m > 1 {
		// The weights are integers: their sum is exact in any order, and
		// so equal to Add's one observation at a time.
		sum, w := t.Sum, 0
		for i := range obs {
			sum += obs[i].Score
			w += layerWeight(obs[i].Bits, m)
		}
		t.N += len(obs)
		t.Sum = sum
		t.Weighted += float64(w)
		return
	}
	sum := t.Sum
	for i := range obs {
		sum += obs[i].Score
	}
	t.N += len(obs)
	t.Sum = sum
}

// layerWeight returns Σ over layers l < m of (m-l)·g_l, g_l bit l of g:
// m·|g| minus Σ l·g_l, whose terms are read off one masked popcount per
// bit of l (indexBits), instead of a loop over the layers.
func layerWeight(g uint64, m int) int {
	if m < 64 {
		g &= 1<<m - 1
	}
	w := m * bits.OnesCount64(g)
	for k, mask := range indexBits {
		w -= bits.OnesCount64(g&mask) << k
	}
	return w
}

// indexBits[k] has bit l set when bit k of l is set.
var indexBits = [6]uint64{0xAAAAAAAAAAAAAAAA, 0xCCCCCCCCCCCCCCCC, 0xF0F0F0F0F0F0F0F0, 0xFF00FF00FF00FF00, 0xFFFF0000FFFF0000, 0xFFFFFFFF00000000}

// grow makes room for slots slots of radix colours.
func (t *Tally) grow(slots, radix int) {
	if radix > t.radix {
		t.radix = radix
	}
	if need := slots * maxRadix; len(t.counts) < need {
		t.counts = append(t.counts, make([]int, need-len(t.counts))...)
	}
	if slots > t.foldSlots {
		folds := make([]int, watermark.PayloadFolds*slots*maxRadix)
		for f := 0; f < watermark.PayloadFolds && t.foldSlots > 0; f++ {
			copy(folds[f*slots*maxRadix:], t.folds[f*t.foldSlots*maxRadix:(f+1)*t.foldSlots*maxRadix])
		}
		t.folds, t.foldSlots = folds, slots
	}
}

// FoldCount returns the payload count of colour in slot among the tuples
// of fold f (0 outside the tally).
func (t *Tally) FoldCount(f, slot, colour int) int {
	if f < 0 || f >= watermark.PayloadFolds || slot < 0 || slot >= t.foldSlots || colour < 0 || colour >= maxRadix {
		return 0
	}
	return t.folds[(f*t.foldSlots+slot)*maxRadix+colour]
}

// WithoutFolds returns a copy of t without its fold counts, as a tally
// written before they existed reads: the payload null then falls back to
// the tests that need only the slot counts (payload-max-exact where every
// slot is small, else payload-max-bonferroni). For comparisons.
func (t *Tally) WithoutFolds() Tally {
	c := t.Clone()
	c.unsplit = c.unsplit || len(c.counts) > 0
	return c
}

// Split reports whether the tally's payload counts are split by fold, so
// that the zero-bit fold test applies: true unless some counts were read
// from JSON without "fold_counts".
func (t *Tally) Split() bool { return !t.unsplit }

// Count returns the payload count of colour in slot (0 outside the tally).
func (t *Tally) Count(slot, colour int) int {
	if colour < 0 || colour >= maxRadix || slot < 0 {
		return 0
	}
	if i := slot*maxRadix + colour; i < len(t.counts) {
		return t.counts[i]
	}
	return 0
}

// Slots returns how many payload slots the tally holds counts for.
func (t *Tally) Slots() int { return len(t.counts) / maxRadix }

// AddTally adds another tally of the same scheme.
func (t *Tally) AddTally(o *Tally) {
	t.N += o.N
	t.Sum += o.Sum
	t.Weighted += o.Weighted
	t.unsplit = t.unsplit || o.unsplit
	if len(o.counts) > 0 {
		t.grow(o.Slots(), o.radix)
		for i, v := range o.counts {
			t.counts[i] += v
		}
		for f := 0; f < watermark.PayloadFolds && o.foldSlots > 0; f++ {
			for s := 0; s < o.foldSlots; s++ {
				for c := 0; c < maxRadix; c++ {
					t.folds[(f*t.foldSlots+s)*maxRadix+c] += o.folds[(f*o.foldSlots+s)*maxRadix+c]
				}
			}
		}
	}
}

// Reset empties the tally, keeping its buffer.
func (t *Tally) Reset() {
	clear(t.counts)
	t.counts = t.counts[:0]
	clear(t.folds)
	t.N, t.Sum, t.Weighted, t.radix, t.unsplit = 0, 0, 0, 0, false
}

// Clone returns an independent copy.
func (t *Tally) Clone() Tally {
	c := *t
	c.counts = append([]int(nil), t.counts...)
	c.folds = append([]int(nil), t.folds...)
	return c
}

// tallyJSON is the JSON form of a Tally.
type tallyJSON struct {
	N        int       `json:"n"`
	Sum      float64   `json:"sum"`
	Weighted float64   `json:"weighted"`
	Counts   [][]int   `json:"counts,omitempty"`
	Folds    [][][]int `json:"fold_counts,omitempty"`
}

// MarshalJSON writes the tally with its payload counts as [slot][colour].
func (t Tally) MarshalJSON() ([]byte, error) {
	j := tallyJSON{N: t.N, Sum: t.Sum, Weighted: t.Weighted}
	for s := 0; s < t.Slots(); s++ {
		j.Counts = append(j.Counts, append([]int(nil), t.counts[s*maxRadix:s*maxRadix+t.radix]...))
	}
	if len(j.Counts) > 0 && !t.unsplit {
		j.Folds = make([][][]int, watermark.PayloadFolds)
		for f := range j.Folds {
			for s := 0; s < t.Slots(); s++ {
				row := make([]int, t.radix)
				for c := range row {
					row[c] = t.FoldCount(f, s, c)
				}
				j.Folds[f] = append(j.Folds[f], row)
			}
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes (and the zero-padded 64×16
// counts that earlier versions wrote).
func (t *Tally) UnmarshalJSON(b []byte) error {
	var j tallyJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*t = Tally{N: j.N, Sum: j.Sum, Weighted: j.Weighted}
	if len(j.Counts) > maxSlots {
		return fmt.Errorf("tally: %d payload slots (at most %d)", len(j.Counts), maxSlots)
	}
	radix := 0
	for s, row := range j.Counts {
		if len(row) > maxRadix {
			return fmt.Errorf("tally: slot %d has %d colours (at most %d)", s, len(row), maxRadix)
		}
		radix = max(radix, len(row))
	}
	if len(j.Counts) > 0 {
		t.grow(len(j.Counts), radix)
		for s, row := range j.Counts {
			for c, v := range row {
				if v < 0 {
					return fmt.Errorf("tally: negative count in slot %d", s)
				}
				t.counts[s*maxRadix+c] = v
			}
		}
	}
	return t.readFolds(j)
}

// readFolds fills the fold counts from j, checking that they add up to the
// counts; without them the tally is unsplit (when it holds any count).
func (t *Tally) readFolds(j tallyJSON) error {
	if j.Folds == nil {
		for _, v := range t.counts {
			if v > 0 {
				t.unsplit = true
			}
		}
		return nil
	}
	if len(j.Folds) != watermark.PayloadFolds {
		return fmt.Errorf("tally: %d folds of payload counts (want %d)", len(j.Folds), watermark.PayloadFolds)
	}
	sum := make([]int, len(t.counts))
	for f, fold := range j.Folds {
		if len(fold) != len(j.Counts) {
			return fmt.Errorf("tally: fold %d has %d slots, the counts %d", f, len(fold), len(j.Counts))
		}
		for s, row := range fold {
			if len(row) > maxRadix {
				return fmt.Errorf("tally: fold %d slot %d has %d colours (at most %d)", f, s, len(row), maxRadix)
			}
			for c, v := range row {
				if v < 0 {
					return fmt.Errorf("tally: negative count in fold %d slot %d", f, s)
				}
				t.folds[(f*t.foldSlots+s)*maxRadix+c] = v
				sum[s*maxRadix+c] += v
			}
		}
	}
	for i, v := range sum {
		if v != t.counts[i] {
			return fmt.Errorf("tally: fold counts of slot %d colour %d add up to %d, the count is %d", i/maxRadix, i%maxRadix, v, t.counts[i])
		}
	}
	return nil
}
