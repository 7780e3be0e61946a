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
	LeftHashSeeds []contextSeed     `json:"lefthash_seeds"`
	GreenValues   []greenValue      `json:"green_values"`
	Sequences     []sequence        `json:"sequences"`
}

type tokenValue struct {
	Token uint32 `json:"token"`
	Value string `json:"value"`
}

type contextSeed struct {
	Context []uint32 `json:"context"`
	Seed    string   `json:"seed"`
}

type greenValue struct {
	Seed  string `json:"seed"`
	Token uint32 `json:"token"`
	Value string `json:"value"`
}

type sequence struct {
	Spec   string   `json:"spec"`
	Tokens []uint32 `json:"tokens"`
	Seeds  []string `json:"seeds"`
	Green  []bool   `json:"green"`
}

func hex64(x uint64) string { return fmt.Sprintf("%016x", x) }

var vectorDomains = []string{"kgw/context", "kgw/token", "kgw/anchor", "kgw/green"}

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
			kv.LeftHashSeeds = append(kv.LeftHashSeeds, contextSeed{ctx, hex64(kgw.leftSeed(ctx))})
		}
		for _, seed := range []uint64{0, 0x0123456789abcdef} {
			for _, tok := range tokens[:4] {
				kv.GreenValues = append(kv.GreenValues, greenValue{hex64(seed), tok, hex64(mix64((seed ^ kgw.green) + spread(tok)))})
			}
		}
		for _, spec := range []string{DefaultSpec, "kgw:gamma=0.5,delta=2,h=1,seeding=lefthash", "kgw:gamma=0.25,delta=2,h=0,seeding=lefthash", "kgw:gamma=0.1,delta=1,h=2,seeding=selfhash"} {
			sc := mustKGW(t, key, spec)
			sq := sequence{Spec: spec, Tokens: seq, Seeds: []string{}, Green: []bool{}}
			for _, o := range sc.AppendObservations(nil, seq) {
				sq.Seeds = append(sq.Seeds, hex64(o.Tuple.Seed))
				sq.Green = append(sq.Green, o.Green)
			}
			kv.Sequences = append(kv.Sequences, sq)
		}
		v.Keys = append(v.Keys, kv)
	}
	return v
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
