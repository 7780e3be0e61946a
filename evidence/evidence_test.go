package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// testKey is a fixed tracemark key.
func testKey(b byte) *watermark.Key {
	var s [watermark.SecretSize]byte
	for i := range s {
		s[i] = b + byte(i)
	}
	return watermark.NewKey(s, watermark.DefaultKGW(), "o200k_base", time.Time{})
}

// watermarked returns tokens sampled under key's scheme from a toy model.
func watermarked(t testing.TB, key *watermark.Key, n int) []uint32 {
	t.Helper()
	scheme, err := watermark.NewKGW(key, watermark.DefaultKGW())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	tokens := []uint32{1, 2, 3, 4}
	ids, logits := make([]uint32, 40), make([]float32, 40)
	for len(tokens) < n {
		for i := range ids {
			ids[i], logits[i] = uint32(rng.IntN(200000)), float32(rng.NormFloat64())
		}
		next, _ := scheme.SampleLogits(tokens, ids, logits, rng)
		tokens = append(tokens, next)
	}
	return tokens
}

// build makes an evidence file for one input file under key and returns
// it with the input's path.
func build(t testing.TB, key *watermark.Key) (*File, string) {
	t.Helper()
	dir := t.TempDir()
	tokens := watermarked(t, key, 300)
	input := filepath.Join(dir, "answer.json")
	raw, _ := json.Marshal(tokens)
	if err := os.WriteFile(input, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	scheme, _ := watermark.NewKGW(key, watermark.DefaultKGW())
	d, err := detect.New(scheme, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(KindDetect, []string{"tracemark", "detect", "--ids", "--key", "k.key", input})
	if err := b.AddInputFile(input); err != nil {
		t.Fatal(err)
	}
	if err := b.AddKey(key, scheme.Spec()); err != nil {
		t.Fatal(err)
	}
	b.SetOptions(Options{Alpha: detect.DefaultAlpha, Dedup: "tuple", IDs: true})
	if err := b.AddText(input, []detect.Result{d.Tokens(tokens)}, 0); err != nil {
		t.Fatal(err)
	}
	return b.File(), input
}

func signed(t testing.TB, f *File, priv ed25519.PrivateKey) []byte {
	t.Helper()
	if err := SignFile(f, priv, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	data, err := Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func fixedSigner() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
}

func TestSignVerifyRoundTrip(t *testing.T) {
	priv := fixedSigner()
	f, _ := build(t, testKey(1))
	data := signed(t, f, priv)
	got, checks, err := VerifySignature(data, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if Failed(checks) || len(checks) != 3 {
		t.Fatalf("checks %+v", checks)
	}
	for _, c := range checks {
		if c.Status != Pass {
			t.Errorf("%s: %s %s", c.What, c.Status, c.Detail)
		}
	}
	if got.Statistics[0].PValue != f.Statistics[0].PValue || !got.Statistics[0].Detected {
		t.Errorf("statistic not kept: %+v", got.Statistics[0])
	}
	// Unpinned: the signer is not checked, not passed.
	_, checks, _ = VerifySignature(data, nil)
	if checks[1].Status != NotChecked || Failed(checks) {
		t.Errorf("unpinned signer: %+v", checks)
	}
	// Another signer's public key fails.
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	_, checks, _ = VerifySignature(data, other.Public().(ed25519.PublicKey))
	if !Failed(checks) || checks[1].Status != Fail {
		t.Errorf("wrong signer passed: %+v", checks)
	}
	// Re-indenting or reordering members does not change the canonical form.
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	compact, _ := json.Marshal(m)
	if _, checks, _ = VerifySignature(compact, nil); Failed(checks) {
		t.Errorf("re-encoded file fails: %+v", checks)
	}
}

// edit changes a signed file's JSON with f and re-encodes it.
func edit(t *testing.T, data []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTamperingFails(t *testing.T) {
	priv := fixedSigner()
	f, _ := build(t, testKey(1))
	data := signed(t, f, priv)
	pub := priv.Public().(ed25519.PublicKey)
	get := func(m map[string]any, path ...any) map[string]any {
		var cur any = m
		for _, p := range path {
			switch p := p.(type) {
			case string:
				cur = cur.(map[string]any)[p]
			case int:
				cur = cur.([]any)[p]
			}
		}
		return cur.(map[string]any)
	}
	cases := []struct {
		name, want string
		edit       func(m map[string]any)
	}{
		{"statistic", `member "statistics" changed`, func(m map[string]any) { get(m, "statistics", 0)["log10_p"] = json.Number("-3.5") }},
		{"per-key p-value", `member "statistics" changed`, func(m map[string]any) { get(m, "statistics", 0, "per_key", 0)["p_value"] = json.Number("0.5") }},
		{"input hash", `member "inputs" changed`, func(m map[string]any) {
			get(m, "inputs", 0)["sha256"] = strings.Repeat("0", 64)
		}},
		{"key id", `member "keys" changed`, func(m map[string]any) { get(m, "keys", 0)["key_id"] = "0123456789abcdef" }},
		{"command", `member "command" changed`, func(m map[string]any) { m["command"] = []any{"tracemark", "detect", "other.txt"} }},
		{"added field", `member "note" added`, func(m map[string]any) { m["note"] = "added later" }},
		{"removed field", `member "seeds" removed`, func(m map[string]any) { delete(m, "seeds") }},
		{"nested added field", `member "options" changed`, func(m map[string]any) { get(m, "options")["extra"] = true }},
		{"signature bytes", "signature value does not verify", func(m map[string]any) {
			v, _ := base64.StdEncoding.DecodeString(get(m, "signature")["value"].(string))
			v[5] ^= 1
			get(m, "signature")["value"] = base64.StdEncoding.EncodeToString(v)
		}},
		{"signed digest", "signature value does not verify", func(m map[string]any) {
			get(m, "signature")["content_sha256"] = strings.Repeat("a", 64)
		}},
		{"field in signature block", "signature value does not verify", func(m map[string]any) { get(m, "signature")["x"] = 1 }},
		{"unsigned", "not signed", func(m map[string]any) { delete(m, "signature") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, checks, err := VerifySignature(edit(t, data, tc.edit), pub)
			if err != nil {
				t.Fatal(err)
			}
			if !Failed(checks) {
				t.Fatalf("tampered file passed: %+v", checks)
			}
			var msgs []string
			for _, c := range checks {
				if c.Status == Fail {
					msgs = append(msgs, c.Detail)
				}
			}
			if joined := strings.Join(msgs, " | "); !strings.Contains(joined, tc.want) {
				t.Errorf("failure %q does not say %q", joined, tc.want)
			}
		})
	}
}

func TestParseRefusesDuplicateMembers(t *testing.T) {
	f, _ := build(t, testKey(1))
	data := signed(t, f, fixedSigner())
	dup := bytes.Replace(data, []byte(`"kind": "detect",`), []byte(`"kind": "detect", "kind": "scan",`), 1)
	if _, _, err := VerifySignature(dup, nil); err == nil {
		t.Fatal("a file with a duplicate member was read")
	}
}

func TestCheckInputs(t *testing.T) {
	f, input := build(t, testKey(1))
	if c := CheckInputs(f); len(c) != 1 || c[0].Status != Pass {
		t.Fatalf("unchanged input: %+v", c)
	}
	if err := os.WriteFile(input, []byte("[1,2,3]"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := CheckInputs(f); c[0].Status != Fail || !strings.Contains(c[0].Detail, "recorded") {
		t.Fatalf("changed input: %+v", c)
	}
	os.Remove(input)
	if c := CheckInputs(f); c[0].Status != NotChecked || !strings.Contains(c[0].Detail, "not present") {
		t.Fatalf("missing input: %+v", c)
	}
}

func TestKeyCommitment(t *testing.T) {
	key := testKey(1)
	f, _ := build(t, key)
	if c := CheckKeys(f, []*watermark.Key{key}); len(c) != 1 || c[0].Status != Pass {
		t.Fatalf("right key: %+v", c)
	}
	wrong := testKey(2)
	c := CheckKeys(f, []*watermark.Key{wrong})
	if !Failed(c) {
		t.Fatalf("wrong key passed: %+v", c)
	}
	if c[0].Status != NotChecked {
		t.Errorf("undisclosed committed key: %+v", c[0])
	}
	// A commitment to another secret under the same ID (a forged file)
	// does not open.
	kc := f.Keys[0]
	other, _ := Commit(wrong, kc.Scheme)
	kc.Commitment = other.Commitment
	if err := CheckKey(kc, key); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Errorf("forged commitment: %v", err)
	}
	// Engine keys commit to their words.
	ek := watermark.NewEngineKey([]uint64{42, 1 << 63}, watermark.DefaultKGW(), "o200k_base", time.Time{})
	ekc, err := Commit(ek, "vllm-gumbel")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckKey(ekc, ek); err != nil {
		t.Error(err)
	}
	ek2 := watermark.NewEngineKey([]uint64{43, 1 << 63}, watermark.DefaultKGW(), "o200k_base", time.Time{})
	ekc.KeyID = ek2.ID()
	if err := CheckKey(ekc, ek2); err == nil {
		t.Error("another engine key opened the commitment")
	}
	// Two commitments to one key differ (hiding: fresh nonces).
	a, _ := Commit(key, "s")
	b, _ := Commit(key, "s")
	if a.Commitment == b.Commitment || a.Nonce == b.Nonce {
		t.Error("commitments repeat")
	}
}

// TestCommitmentVector pins the commitment's definition (docs/evidence.md)
// against an independent computation with crypto/sha256 of the documented
// byte string.
func TestCommitmentVector(t *testing.T) {
	key := testKey(1)
	kc, _ := Commit(key, "s")
	nonce, _ := hex.DecodeString(kc.Nonce)
	var msg []byte
	msg = append(msg, "tracemark/evidence/v1/key-commitment"...)
	msg = append(msg, "secret"...)
	msg = append(msg, 0)
	msg = append(msg, nonce...)
	for i := 0; i < 32; i++ {
		msg = append(msg, 1+byte(i))
	}
	if got := sha256hex(msg); got != kc.Commitment {
		t.Errorf("commitment %s, documented construction gives %s", kc.Commitment, got)
	}
}

func sha256hex(b []byte) string {
	var c [32]byte
	h := sha256.New()
	h.Write(b)
	copy(c[:], h.Sum(nil))
	return hex.EncodeToString(c[:])
}

func TestNoSecretInFile(t *testing.T) {
	key := testKey(1)
	f, _ := build(t, key)
	data := signed(t, f, fixedSigner())
	secret := key.AppendSecretBytes(nil)
	for _, form := range []string{base64.StdEncoding.EncodeToString(secret), base64.RawURLEncoding.EncodeToString(secret),
		hex.EncodeToString(secret), string(secret)} {
		if bytes.Contains(data, []byte(form)) {
			t.Fatalf("the key's secret appears in the evidence file")
		}
	}
	priv := fixedSigner()
	for _, form := range []string{base64.StdEncoding.EncodeToString(priv.Seed()), hex.EncodeToString(priv.Seed())} {
		if bytes.Contains(data, []byte(form)) {
			t.Fatalf("the signing key appears in the evidence file")
		}
	}
}

func TestCompare(t *testing.T) {
	key := testKey(1)
	f, _ := build(t, key)
	g := *f
	g.Statistics = append([]Statistic(nil), f.Statistics...)
	if Failed(Compare(f, &g)) {
		t.Fatalf("equal evidence differs: %+v", Compare(f, &g))
	}
	g.Statistics[0].PerKey = append([]KeyStatistic(nil), f.Statistics[0].PerKey...)
	g.Statistics[0].PerKey[0].Score++
	c := Compare(f, &g)
	if !Failed(c) || !strings.Contains(c[0].Detail, "[0].per_key[0].score: recorded") {
		t.Fatalf("changed score: %+v", c)
	}
}

func TestKeyFiles(t *testing.T) {
	priv, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	pemPriv, _ := EncodePrivateKey(priv)
	back, err := ParsePrivateKey(pemPriv)
	if err != nil || !back.Equal(priv) {
		t.Fatalf("private key round trip: %v", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	pemPub, _ := EncodePublicKey(pub)
	for _, form := range [][]byte{pemPub, []byte(base64.StdEncoding.EncodeToString(pub) + "\n")} {
		got, err := ParsePublicKey(form)
		if err != nil || !got.Equal(pub) {
			t.Errorf("public key %q: %v", form, err)
		}
	}
	if _, err := ParsePrivateKey(pemPub); err == nil {
		t.Error("a public key parsed as a private key")
	}
	if _, err := ParsePrivateKey([]byte("junk")); err == nil || strings.Contains(err.Error(), "junk") {
		t.Errorf("bad private key: %v", err)
	}
}

func TestTokenizerHash(t *testing.T) {
	tok, err := tokenize.Get("cl100k_base")
	if err != nil {
		t.Fatal(err)
	}
	h, err := TokenizerHash(tok)
	if err != nil {
		t.Fatal(err)
	}
	if h.VocabSize != 100256 || len(h.VocabSHA256) != 64 {
		t.Errorf("cl100k_base: %+v", h)
	}
	tok2, _ := tokenize.Get("r50k_base")
	h2, _ := TokenizerHash(tok2)
	if h2.VocabSHA256 == h.VocabSHA256 {
		t.Error("two vocabularies hash alike")
	}
}

func FuzzParse(f *testing.F) {
	fl, _ := build(f, testKey(1))
	data := signed(f, fl, fixedSigner())
	f.Add(data)
	f.Add([]byte(`{"format":"tracemark-evidence","version":1}`))
	f.Add([]byte(`{"format":"tracemark-evidence","version":1,"signature":{"value":"AA=="}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"a":1,"a":2}`))
	pub := fixedSigner().Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, b []byte) {
		file, checks, err := VerifySignature(b, pub)
		if err != nil {
			return
		}
		if file == nil || len(checks) == 0 {
			t.Fatal("no file or no checks without an error")
		}
		if !Failed(checks) {
			// A passing file is signed over exactly its content.
			c, err := ContentSHA256(b)
			if err != nil || file.Signature == nil || c != file.Signature.ContentSHA256 {
				t.Fatalf("a file verified whose content is not the signed content: %v", err)
			}
		}
		_ = CheckKeys(file, []*watermark.Key{testKey(1)})
	})
}
