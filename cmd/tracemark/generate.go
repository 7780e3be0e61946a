package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strconv"
	"strings"

	"github.com/tracemark/tracemark/generate"
	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/watermark"
	"github.com/urfave/cli/v2"
)

// samplingFlags are the decoding flags shared by generate and demo.
func samplingFlags() []cli.Flag {
	d := generate.DefaultSettings()
	return []cli.Flag{
		&cli.IntFlag{Name: "max-tokens", Value: 200, Usage: "tokens to generate"},
		&cli.Float64Flag{Name: "temperature", Value: d.Temperature, Usage: "sampling temperature; 0 is greedy decoding"},
		&cli.IntFlag{Name: "top-k", Value: d.TopK, Usage: "keep the K most probable tokens (0: all)"},
		&cli.Float64Flag{Name: "top-p", Value: d.TopP, Usage: "nucleus sampling: keep the most probable tokens up to mass P (1: off)"},
		&cli.Float64Flag{Name: "min-p", Value: d.MinP, Usage: "drop tokens below P times the most probable one's probability (0: off)"},
	}
}

func settingsFrom(c *cli.Context) (generate.Settings, int, error) {
	s := generate.Settings{
		Temperature: c.Float64("temperature"),
		TopK:        c.Int("top-k"),
		TopP:        c.Float64("top-p"),
		MinP:        c.Float64("min-p"),
	}
	if err := s.Validate(); err != nil {
		return s, 0, err
	}
	n := c.Int("max-tokens")
	if n < 1 {
		return s, 0, fmt.Errorf("--max-tokens must be >= 1, got %d", n)
	}
	return s, n, nil
}

// newRNG returns the PCG generator tracemark uses for a seed.
func newRNG(seed uint64) *mrand.Rand { return mrand.New(mrand.NewPCG(seed, 0x7472616365)) }

func generateCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "generate",
		Usage: "generate text with the built-in model, watermarked with a key",
		UsageText: "tracemark generate [--key KEYFILE] [--scheme SPEC] [--payload HEX] [--prompt TEXT] [--max-tokens N]\n" +
			"    [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--seed N] [--no-watermark] [--json]\n\n" +
			"Prints the completion (not the prompt). The same seed gives the same output. The model is\n" +
			"tracemark's built-in n-gram model (trained and cached on first use, no download).",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "key", Aliases: []string{"k"}, Usage: "key `FILE` (default: $TRACEMARK_KEY); not needed with --no-watermark"},
			&cli.StringFlag{Name: "scheme", Usage: "scheme `SPEC` (default: the key's)"},
			&cli.StringFlag{Name: "prompt", Usage: "text to continue"},
			&cli.Uint64Flag{Name: "seed", Usage: "random seed (default: a random one, shown by --json)"},
			&cli.BoolFlag{Name: "no-watermark", Usage: "generate without the watermark"},
			&cli.StringFlag{Name: "payload", Usage: "payload to embed, in `HEX` (e.g. a customer ID), for schemes with payload_bits"},
			&cli.BoolFlag{Name: "json", Usage: "print a JSON object with the text, token IDs, scheme, key ID and seed"},
		}, samplingFlags()...),
		Action: func(c *cli.Context) error { return runGenerate(c, e) },
	}
}

// generation is the JSON output of generate.
type generation struct {
	Text         string            `json:"text"`
	Tokens       []uint32          `json:"tokens"`
	PromptTokens int               `json:"prompt_tokens"`
	ExtraTokens  int               `json:"extra_tokens"`
	Watermarked  bool              `json:"watermarked"`
	Scheme       string            `json:"scheme,omitempty"`
	Payload      string            `json:"payload,omitempty"`
	KeyID        string            `json:"key_id,omitempty"`
	Seed         uint64            `json:"seed,string"` // a string: seeds use all 64 bits, beyond JSON's exact 2^53
	Tokenizer    string            `json:"tokenizer"`
	Model        string            `json:"model"`
	Settings     generate.Settings `json:"settings"`
}

// markFor loads the key and scheme a command marks with, and sets the
// payload (--payload HEX) of a scheme that carries one.
func markFor(c *cli.Context, e *env) (watermark.Scheme, error) {
	key, err := loadKey(c, e, c.String("key"))
	if err != nil {
		return nil, err
	}
	if key.Tokenizer != ngram.BuiltinTokenizer {
		return nil, fmt.Errorf("key %s is for tokenizer %s; the built-in model speaks %s", key.ID(), key.Tokenizer, ngram.BuiltinTokenizer)
	}
	cfg := key.Scheme
	if s := c.String("scheme"); s != "" {
		if cfg, err = watermark.ParseSpec(s); err != nil {
			return nil, err
		}
	}
	scheme, err := watermark.NewScheme(key, cfg)
	if err != nil {
		return nil, err
	}
	return withPayload(scheme, c.String("payload"))
}

// withPayload sets a hex payload on a scheme that carries one. A payload
// scheme needs an explicit payload (--payload 0 included): embedding 0 by
// default would mark every customer's text alike.
func withPayload(s watermark.Scheme, hex string) (watermark.Scheme, error) {
	k, carries := watermark.CarriesPayload(s)
	switch {
	case hex == "" && carries:
		return nil, fmt.Errorf("scheme %s carries a %d-bit payload: pass --payload HEX (the customer ID to embed; --payload 0 to embed 0)", s.Spec(), k.PayloadBits())
	case hex == "":
		return s, nil
	case !carries:
		return nil, fmt.Errorf("--payload: scheme %s carries no payload (use e.g. kgw:payload_bits=32)", s.Spec())
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(hex), "0x"), 16, 64)
	if err != nil {
		return nil, fmt.Errorf("--payload %q: not a hexadecimal number of at most 64 bits", hex)
	}
	return k.WithPayload(v)
}

func runGenerate(c *cli.Context, e *env) error {
	if c.NArg() > 0 {
		return fmt.Errorf("generate takes no arguments (got %q); use --prompt", c.Args().First())
	}
	set, maxTokens, err := settingsFrom(c)
	if err != nil {
		return err
	}
	var mark watermark.Scheme
	if !c.Bool("no-watermark") {
		if mark, err = markFor(c, e); err != nil {
			return err
		}
	}
	seed := c.Uint64("seed")
	if !c.IsSet("seed") {
		var b [8]byte
		rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	model, tok, err := builtinWithTokenizer(c.Context, e)
	if err != nil {
		return err
	}
	prompt, err := tok.AppendEncode(nil, c.String("prompt"))
	if err != nil {
		return err
	}
	var wm generate.Watermark
	if mark != nil {
		wm = mark
	}
	sampler, err := generate.NewSampler(model.NewSession(), wm, set)
	if err != nil {
		return err
	}
	out, err := sampler.Complete(c.Context, tok, prompt, maxTokens, newRNG(seed))
	if errors.Is(err, watermark.ErrGreedyUnmarkable) {
		return fmt.Errorf("scheme %s: %w", mark.Spec(), err)
	}
	if err != nil {
		return err
	}
	if !c.Bool("json") {
		_, err = fmt.Fprintln(e.stdout, out.Text)
		return err
	}
	g := generation{
		Text: out.Text, Tokens: out.Tokens, PromptTokens: len(prompt), ExtraTokens: out.Extra,
		Watermarked: mark != nil, Seed: seed, Tokenizer: tok.Name(), Model: builtinModelName, Settings: set,
	}
	if mark != nil {
		g.Scheme, g.KeyID = mark.Spec(), mark.KeyID()
		if k, ok := watermark.CarriesPayload(mark); ok {
			if p, set := k.Payload(); set {
				g.Payload = strconv.FormatUint(p, 16)
			}
		}
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(g)
}

func perplexityCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "perplexity",
		Usage:     "score text under the built-in model (lower is more typical of its training books)",
		UsageText: "tracemark perplexity [--json] FILE|-...",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print one JSON object per input"}},
		Action: func(c *cli.Context) error {
			model, tok, err := builtinWithTokenizer(c.Context, e)
			if err != nil {
				return err
			}
			inputs := c.Args().Slice()
			if len(inputs) == 0 {
				inputs = []string{"-"}
			}
			failed := false
			for _, name := range inputs {
				display, data, err := readInput(c.Context, e, name)
				if err == nil {
					var ids []uint32
					if ids, err = tok.AppendEncode(nil, string(data)); err == nil {
						ppl, n := model.Perplexity(ids, 0)
						// No scored token: the perplexity is undefined,
						// printed as null (JSON has no NaN), not an error.
						var value any = ppl
						if n == 0 || math.IsNaN(ppl) || math.IsInf(ppl, 0) {
							value = nil
						}
						switch {
						case c.Bool("json"):
							err = json.NewEncoder(e.stdout).Encode(map[string]any{
								"input": display, "perplexity": value, "tokens": n, "tokenizer": tok.Name(), "model": builtinModelName})
						case value == nil:
							_, err = fmt.Fprintf(e.stdout, "%s: perplexity undefined (%d tokens to score)\n", display, n)
						default:
							_, err = fmt.Fprintf(e.stdout, "%s: perplexity %.2f over %d tokens\n", display, ppl, n)
						}
					}
				}
				if err != nil {
					failed = true
					fmt.Fprintf(e.stderr, "tracemark: %v\n", err)
				}
			}
			if failed {
				return exitCode(exitError)
			}
			return nil
		},
	}
}
