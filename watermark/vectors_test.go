package watermark

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the current implementation")

const vectorsPath = "testdata/vectors.json"

// vectors is the JSON test-vector file described in docs/SPEC.md. 64-bit
// values are 16 lower-case hex digits (big-endian reading of the number).
type vectors struct {
	PRFVersion string       `json:"prf_version"`
	Mix64      []mixVector  `json:"mix64"`
	Keys       []keyVectors `json:"keys"`
}

type mixVector struct {
	In  string `json:"in"`
	Out string `json:"out"`
}

type keyVectors struct {
	Secret        string            `json:"secret"`
	KeyID         string            `json:"key_id"`
	Subkeys       map[string]string `json:"subkeys"`
	TokenHashes   []tokenValue      `json:"token_hashes"`
	Anchors       []tokenValue      `json:"anchors"`
	LeftHashSeeds []contextSeedVec  `json:"lefthash_seeds"`
	GreenValues   []greenValue      `json:"green_values"`
	Sequences     []sequence        `json:"sequences"`
}

type tokenValue struct {
	Token uint32 `json:"token"`
	Value string `json:"value"`
}

type contextSeedVec struct {
	Context []uint32 `json:"context"`
	Seed    string   `json:"seed"`
}

type greenValue struct {
	Seed  string `json:"seed"`
	Token uint32 `json:"token"`
	Value string `json:"value"`
}

type sequence struct {
	Spec    string   `json:"spec"`
	Payload string   `json:"payload,omitempty"` // kgw with payload_bits: the embedded payload, hex
	Tokens  []uint32 `json:"tokens"`
	Seeds   []string `json:"seeds"`
	Values  []string `json:"values"`            // the raw keyed value of each scored token
	Green   []bool   `json:"green,omitempty"`   // kgw: favoured (with a payload: colour == symbol of slot)
	Slots   []int    `json:"slots,omitempty"`   // kgw with payload_bits
	Colours []int    `json:"colours,omitempty"` // kgw with payload_bits
	Folds   []int    `json:"folds,omitempty"`   // kgw with payload_bits: the tuple's fold
	Scores  []string `json:"scores,omitempty"`  // gumbel: -ln(1-r), as %.17g
	GBits   []string `json:"g_bits,omitempty"`  // tournament: g-values, bit l = layer l
}

func hex64(x uint64) string { return fmt.Sprintf("%016x", x) }

var vectorDomains = []string{"kgw/context", "kgw/token", "kgw/anchor", "kgw/green", "kgw/slot",
	"gumbel/context", "gumbel/uniform", "tournament/context", "tournament/g"}

// computeVectors evaluates every function of the spec on fixed inputs.
func computeVectors(t *testing.T) vectors {
	v := vectors{PRFVersion: PRFVersion}
	for _, in := range []uint64{0, 1, golden, 0xffffffffffffffff, 0x0123456789abcdef} {
		v.Mix64 = append(v.Mix64, mixVector{hex64(in), hex64(mix64(in))})
	}
	secrets := [][SecretSize]byte{{}, sha256.Sum256([]byte("tracemark test vector key 2"))}
	for i := range secrets[0] {
		secrets[0][i] = byte(i)
	}
	tokens := []uint32{0, 1, 13, 255, 256, 65535, 65536, 199998, 200018, 4294967295}
	seq := []uint32{976, 6286, 382, 261, 6000, 328, 290, 4569, 13, 976, 6286, 382, 261, 6000, 0, 200018}
	for _, s := range secrets {
		key := NewKey(s, DefaultKGW(), DefaultTokenizer, time.Time{})
		kv := keyVectors{Secret: hex.EncodeToString(s[:]), KeyID: key.ID(), Subkeys: map[string]string{}}
		for _, d := range vectorDomains {
			sk := deriveSubkey(&s, d)
			kv.Subkeys[d] = hex.EncodeToString(sk[:])
		}
		kgw := mustKGW(t, key, DefaultSpec)
		for _, tok := range tokens {
			kv.TokenHashes = append(kv.TokenHashes, tokenValue{tok, hex64(kgw.token.hashToken(tok))})
			kv.Anchors = append(kv.Anchors, tokenValue{tok, hex64(mix64(kgw.anchor + spread(tok)))})
		}
		for _, ctx := range [][]uint32{{}, {0}, {976}, {976, 6286}, {976, 6286, 382, 261}, seq[:8]} {
			kv.LeftHashSeeds = append(kv.LeftHashSeeds, contextSeedVec{ctx, hex64(kgw.leftSeed(ctx))})
		}
		for _, seed := range []uint64{0, 0x0123456789abcdef} {
			for _, tok := range tokens[:4] {
				kv.GreenValues = append(kv.GreenValues, greenValue{hex64(seed), tok, hex64(mix64((seed ^ kgw.green) + spread(tok)))})
			}
		}
		for _, spec := range []string{DefaultSpec, "kgw:gamma=0.5,delta=2,h=1,seeding=lefthash", "kgw:gamma=0.25,delta=2,h=0,seeding=lefthash",
			"kgw:gamma=0.1,delta=1,h=2,seeding=selfhash", "kgw:h=4,payload_bits=32,radix=4", "kgw:h=2,seeding=lefthash,payload_bits=12,radix=8",
			"gumbel:h=4", "gumbel:h=1", "tournament:m=30,h=4", "tournament:m=64,h=2"} {
			kv.Sequences = append(kv.Sequences, sequenceVector(t, key, spec, seq))
		}
		v.Keys = append(v.Keys, kv)
	}
	return v
}

// sequenceVector scores seq under spec and records every keyed value.
func sequenceVector(t *testing.T, key *Key, spec string, seq []uint32) sequence {
	cfg, err := ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	sq := sequence{Spec: spec, Tokens: seq, Seeds: []string{}, Values: []string{}}
	switch c := cfg.(type) {
	case KGWConfig:
		k, _ := NewKGW(key, c)
		if c.PayloadBits > 0 {
			p, _ := k.WithPayload(0xC0FFEE7 & (1<<c.PayloadBits - 1))
			k = p.(*KGW)
			sq.Payload = fmt.Sprintf("%x", k.payload)
		}
		for i, o := range k.AppendObservations(nil, seq) {
			t := seq[k.ContextWidth()+i]
			sq.Seeds = append(sq.Seeds, hex64(o.Tuple.Seed))
			sq.Values = append(sq.Values, hex64(k.mixed(o.Tuple.Seed, t)))
			sq.Green = append(sq.Green, k.isGreen(o.Tuple.Seed, t))
			if c.PayloadBits > 0 {
				sq.Slots = append(sq.Slots, int(o.Slot))
				sq.Colours = append(sq.Colours, int(o.Colour))
				sq.Folds = append(sq.Folds, int(o.Bits))
			}
		}
	case GumbelConfig:
		g, _ := NewGumbel(key, c)
		for i, o := range g.AppendObservations(nil, seq) {
			t := seq[c.H+i]
			sq.Seeds = append(sq.Seeds, hex64(o.Tuple.Seed))
			sq.Values = append(sq.Values, hex64(mix64((o.Tuple.Seed^g.uniform)+spread(t))))
			sq.Scores = append(sq.Scores, fmt.Sprintf("%.17g", o.Score))
		}
	case TournamentConfig:
		tn, _ := NewTournament(key, c)
		for i, o := range tn.AppendObservations(nil, seq) {
			t := seq[c.H+i]
			sq.Seeds = append(sq.Seeds, hex64(o.Tuple.Seed))
			sq.Values = append(sq.Values, hex64(mix64((o.Tuple.Seed^tn.g)+spread(t))))
			sq.GBits = append(sq.GBits, hex64(o.Bits))
		}
	}
	return sq
}

// TestVectors checks the implementation against the committed vectors, so
// any change to the keyed functions is caught. Run with -update to rewrite
// them after an intended change (which must also bump PRFVersion).
func TestVectors(t *testing.T) {
	got := computeVectors(t)
	if *update {
		b, _ := json.MarshalIndent(got, "", " ")
		if err := os.WriteFile(vectorsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var want vectors
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("%s: %v", vectorsPath, err)
	}
	if len(want.Keys) == 0 || len(want.Keys[0].Sequences) == 0 {
		t.Fatalf("%s holds no vectors", vectorsPath)
	}
	if !reflect.DeepEqual(got, want) {
		gb, _ := json.MarshalIndent(got, "", " ")
		wb, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("implementation disagrees with %s\n got: %.2000s\nwant: %.2000s", vectorsPath, gb, wb)
	}
}
