package watermark_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tracemark/tracemark/watermark"
)

func exampleKey() *watermark.Key {
	var secret [watermark.SecretSize]byte // use watermark.GenerateKey for a real key
	return watermark.NewKey(secret, watermark.DefaultKGW(), "o200k_base", time.Time{})
}

func ExampleParseSpec() {
	c, err := watermark.ParseSpec("kgw:delta=4,h=1,seeding=lefthash")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c)
	_, err = watermark.ParseSpec("kgw:gamma=1.5")
	fmt.Println(err)
	// Output:
	// kgw:gamma=0.25,delta=4,h=1,seeding=lefthash
	// scheme spec "kgw:gamma=1.5": gamma must be in (0, 1), got 1.5
}

// A serving stack that samples itself biases the full logits vector in
// place before its own softmax, once per generated token.
func ExampleKGW_BiasLogits() {
	scheme, _ := watermark.NewKGW(exampleKey(), watermark.DefaultKGW())
	context := []uint32{791, 3938, 374, 6437} // the tokens generated so far
	logits := make([]float32, 8)              // a real model has ~200,019
	scheme.BiasLogits(context, logits)
	fmt.Println(logits)
	// Output: [0 0 0 2 0 0 0 0]
}

// A stack that has already applied temperature and top-k hands over its
// candidates; one uniform number from a seeded source makes it reproducible.
func ExampleKGW_SampleLogits() {
	scheme, _ := watermark.NewKGW(exampleKey(), watermark.DefaultKGW())
	context := []uint32{791, 3938, 374, 6437}
	ids := []uint32{1000, 2000, 3000, 4000}
	logits := []float32{1.5, 1.2, 0.3, -0.5}
	rng := rand.New(rand.NewPCG(1, 2))
	next, err := scheme.SampleLogits(context, ids, logits, rng)
	fmt.Println(next, err)
	// Output: 3000 <nil>
}

// Any SPEC string binds to a key the same way; the bound scheme's embedding
// side samples and its observation side is what detection reads. The
// null model comes from the parameters alone.
func ExampleConfig_Bind() {
	for _, spec := range []string{"kgw", "gumbel:h=2", "tournament:m=20"} {
		cfg, err := watermark.ParseSpec(spec)
		if err != nil {
			fmt.Println(err)
			return
		}
		scheme, err := cfg.Bind(exampleKey())
		if err != nil {
			fmt.Println(err)
			return
		}
		ctx := []uint32{791, 3938, 374, 6437}
		next, _ := scheme.SampleLogits(ctx, []uint32{10, 20, 30}, []float32{0.5, 0.2, 0.1}, rand.New(rand.NewPCG(1, 1)))
		obs := scheme.AppendObservations(nil, append(ctx, next))
		fmt.Printf("%s: null %s, observations: %d\n", scheme.Spec(), cfg.Null().Kind, len(obs))
	}
	// Output:
	// kgw:gamma=0.25,delta=2,h=4,seeding=selfhash: null binomial, observations: 1
	// gumbel:h=2: null gamma, observations: 3
	// tournament:m=20,h=4: null binomial, observations: 1
}

// A payload scheme carries a per-customer fingerprint: RandomPayload draws
// one (like a new customer ID); WithPayload sets a known one.
func ExampleRandomPayload() {
	cfg, _ := watermark.ParseSpec("kgw:payload_bits=16")
	scheme, _ := cfg.Bind(exampleKey())
	marked, id, err := watermark.RandomPayload(scheme, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := watermark.CarriesPayload(marked)
	got, set := p.Payload()
	fmt.Printf("%d-bit payload %#x set=%v (%#x)\n", p.PayloadBits(), id, set, got)
	// Output: 16-bit payload 0x35e6 set=true (0x35e6)
}
