package detect

import (
	"math/rand/v2"
	"testing"

	"github.com/tracemark/tracemark/watermark"
)

// TestStreamMatchesTokens: a text fed to a Stream in parts of any sizes
// gives the result Detector.Tokens gives for the whole, for every scheme,
// with and without exclusions.
func TestStreamMatchesTokens(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	for _, spec := range []string{watermark.DefaultSpec, "kgw:h=1,seeding=lefthash", "kgw:h=0", "gumbel:h=4", "tournament:m=30,h=3", "kgw:payload_bits=16"} {
		s := anyScheme(t, randomKey(rng), spec)
		text := generate(s, 900, rng)
		text = append(text, text[100:300]...) // repeats across parts
		for _, withExclude := range []bool{false, true} {
			opts := Options{}
			if withExclude {
				ex := NewNgramSet(s.ContextWidth()+1, NewDedupKey())
				ex.AddText(text[:150])
				opts.Exclude = ex
			}
			d, err := New(s, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := d.Tokens(text)
			for _, part := range []int{1, 3, 7, 64, 1000, 5000} {
				st := d.NewStream(NewDedupKey())
				for i := 0; i < len(text); i += part {
					st.Add(text[i:min(i+part, len(text))])
				}
				got := st.Result()
				if got.Log10P != want.Log10P || got.Scored != want.Scored || got.Duplicates != want.Duplicates ||
					got.Excluded != want.Excluded || got.Tokens != want.Tokens || got.Payload != want.Payload || !st.Exact() {
					t.Errorf("%s exclude=%v parts of %d: scored %d dups %d excl %d log10p %v; want %d %d %d %v",
						spec, withExclude, part, got.Scored, got.Duplicates, got.Excluded, got.Log10P, want.Scored, want.Duplicates, want.Excluded, want.Log10P)
				}
			}
		}
	}
}

// TestStreamAllocatesNothingPerPart: in steady state adding a part
// allocates nothing.
func TestStreamAllocatesNothingPerPart(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	s := anyScheme(t, randomKey(rng), watermark.DefaultSpec)
	d, _ := New(s, Options{})
	st := d.NewStream(NewDedupKey())
	part := generate(nil, 200, rng)
	st.Add(part)
	if a := testing.AllocsPerRun(50, func() { st.Add(part) }); a != 0 {
		t.Errorf("Stream.Add allocates %v times per part", a)
	}
}
