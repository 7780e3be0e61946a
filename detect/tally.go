package detect

import (
	"encoding/json"
	"fmt"

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
}

// Add counts one observation under the scheme's null model.
func (t *Tally) Add(null watermark.Null, o watermark.Observation) {
	t.N++
	switch {
	case null.Kind == watermark.PayloadNull:
		t.grow(null.Slots, null.Radix)
		t.counts[int(o.Slot)*maxRadix+int(o.Colour)]++
	case null.Trials > 1:
		t.Sum += o.Score
		m := null.Trials
		for l := 0; l < m; l++ {
			t.Weighted += float64(m-l) * float64(o.Bits>>l&1)
		}
	default:
		t.Sum += o.Score
	}
}

// grow makes room for slots slots of radix colours.
func (t *Tally) grow(slots, radix int) {
	if radix > t.radix {
		t.radix = radix
	}
	if need := slots * maxRadix; len(t.counts) < need {
		t.counts = append(t.counts, make([]int, need-len(t.counts))...)
	}
}

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
	if len(o.counts) > 0 {
		t.grow(o.Slots(), o.radix)
		for i, v := range o.counts {
			t.counts[i] += v
		}
	}
}

// Reset empties the tally, keeping its buffer.
func (t *Tally) Reset() {
	clear(t.counts)
	t.counts = t.counts[:0]
	t.N, t.Sum, t.Weighted, t.radix = 0, 0, 0, 0
}

// Clone returns an independent copy.
func (t *Tally) Clone() Tally {
	c := *t
	c.counts = append([]int(nil), t.counts...)
	return c
}

// tallyJSON is the JSON form of a Tally.
type tallyJSON struct {
	N        int     `json:"n"`
	Sum      float64 `json:"sum"`
	Weighted float64 `json:"weighted"`
	Counts   [][]int `json:"counts,omitempty"`
}

// MarshalJSON writes the tally with its payload counts as [slot][colour].
func (t Tally) MarshalJSON() ([]byte, error) {
	j := tallyJSON{N: t.N, Sum: t.Sum, Weighted: t.Weighted}
	for s := 0; s < t.Slots(); s++ {
		j.Counts = append(j.Counts, append([]int(nil), t.counts[s*maxRadix:s*maxRadix+t.radix]...))
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
	return nil
}
