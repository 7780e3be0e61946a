package evidence_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/evidence"
	"github.com/tracemark/tracemark/watermark"
)

// A front end (detect, scan, probe, ...) builds the evidence of its run
// from the records detect computed, signs it and writes it; anyone can
// check the signature and, once the key is disclosed, its commitment.
func ExampleBuilder() {
	var secret [watermark.SecretSize]byte // use watermark.LoadKey for a real key
	key := watermark.NewKey(secret, watermark.DefaultKGW(), "o200k_base", time.Time{})
	scheme, _ := watermark.NewKGW(key, watermark.DefaultKGW())
	d, _ := detect.New(scheme, detect.Options{})
	answer := []uint32{791, 1917, 374, 264, 2678, 13, 578, 4062, 315, 279, 3363, 374, 2307}

	b := evidence.NewBuilder(evidence.KindProbe, []string{"tracemark", "probe", "--out", "answers"})
	b.AddInput("answers/0001.json", []byte(`{"choices":[]}`)) // the stored raw answer
	_ = b.AddKey(key, scheme.Spec())
	b.SetOptions(evidence.Options{Alpha: detect.DefaultAlpha, Dedup: "tuple", PooledDedup: "corpus-tuple"})
	_ = b.AddText("answers/0001.json", []detect.Result{d.Tokens(answer)}, detect.DefaultAlpha)
	f := b.File()

	signer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)) // evidence.GenerateSigningKey
	_ = evidence.SignFile(f, signer, time.Now())
	data, _ := evidence.Marshal(f)

	_, checks, _ := evidence.VerifySignature(data, signer.Public().(ed25519.PublicKey))
	for _, c := range checks {
		fmt.Println(c.What, c.Status)
	}
	parsed, _ := evidence.Parse(data)
	fmt.Println(evidence.CheckKeys(parsed, []*watermark.Key{key})[0].Status)
	// Output:
	// signature pass
	// signer pass
	// content pass
	// pass
}

// A commitment hides the key until it is disclosed; then it binds it.
func ExampleCommit() {
	var secret [watermark.SecretSize]byte
	secret[0] = 7
	key := watermark.NewKey(secret, watermark.DefaultKGW(), "o200k_base", time.Time{})
	kc, _ := evidence.Commit(key, key.Scheme.String())
	fmt.Println(evidence.CheckKey(kc, key) == nil)

	var other [watermark.SecretSize]byte
	wrong := watermark.NewKey(other, watermark.DefaultKGW(), "o200k_base", time.Time{})
	fmt.Println(evidence.CheckKey(kc, wrong) == nil)
	// Output:
	// true
	// false
}
