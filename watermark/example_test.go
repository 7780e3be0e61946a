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
