package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/generate"
	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
	"github.com/urfave/cli/v2"
)

//go:embed prompts.txt
var demoPromptText string

// demoPrompts returns the bundled demo prompts, one per line.
func demoPrompts() []string {
	var out []string
	for _, l := range strings.Split(demoPromptText, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func demoCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "the whole loop: make a throwaway key, generate marked and unmarked text, detect all of it",
		UsageText: "tracemark demo [--scheme SPEC] [--max-tokens N] [--seed N] [--alpha A] [-j N] [sampling flags]\n\n" +
			"Generates a watermarked and an unwatermarked completion for each of 25 bundled prompts with the\n" +
			"built-in n-gram model, detects every completion from its text, and prints a table and a summary.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "scheme", Value: watermark.DefaultSpec, Usage: "scheme `SPEC`"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "first random seed (prompt i uses seed+i)"},
			&cli.Float64Flag{Name: "alpha", Value: detect.DefaultAlpha, Usage: "significance level"},
			&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: runtime.NumCPU(), Usage: "parallel workers"},
		}, samplingFlags()...),
		Action: func(c *cli.Context) error { return runDemo(c, e) },
	}
}

// demoRow is one generated and detected completion.
type demoRow struct {
	prompt      string
	marked      bool
	tokens      int
	res         detect.Result
	toDetection int // tokens needed to reach p <= alpha, -1 if never
	perplexity  float64
}

func runDemo(c *cli.Context, e *env) error {
	set, maxTokens, err := settingsFrom(c)
	if err != nil {
		return err
	}
	cfg, err := watermark.ParseSpec(c.String("scheme"))
	if err != nil {
		return err
	}
	alpha := c.Float64("alpha")
	if !(alpha > 0 && alpha < 1) {
		return fmt.Errorf("--alpha must be in (0, 1), got %v", alpha)
	}
	key, err := watermark.GenerateKey(cfg, ngram.BuiltinTokenizer)
	if err != nil {
		return err
	}
	scheme, err := watermark.NewScheme(key, cfg)
	if err != nil {
		return err
	}
	payload := ""
	if _, ok := watermark.CarriesPayload(scheme); ok {
		// A random payload, like a customer ID.
		var v uint64
		if scheme, v, err = watermark.RandomPayload(scheme, newRNG(c.Uint64("seed"))); err != nil {
			return err
		}
		payload = strconv.FormatUint(v, 16)
	}
	model, tok, err := builtinWithTokenizer(c.Context, e)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "throwaway key %s, scheme %s, alpha %g\nmodel: %s\n", key.ID(), scheme.Spec(), alpha, builtinModelName)
	if payload != "" {
		fmt.Fprintf(e.stdout, "embedded payload: %s\n", payload)
	}
	fmt.Fprintln(e.stdout)

	prompts := demoPrompts()
	rows := make([]demoRow, 2*len(prompts))
	// The first worker error cancels the others and the producer, so a
	// failing worker ends the command with its error instead of leaving the
	// producer blocked.
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	jobs := make(chan int)
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < max(1, c.Int("jobs")); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := demoWorker(ctx, c, model, scheme, tok, set, maxTokens, alpha, prompts, rows, jobs); err != nil {
				once.Do(func() { firstErr = err })
				cancel()
			}
		}()
	}
produce:
	for i := range rows {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break produce
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		if errors.Is(firstErr, watermark.ErrGreedyUnmarkable) {
			return fmt.Errorf("scheme %s: %w", scheme.Spec(), firstErr)
		}
		return firstErr
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	printDemo(e, rows, alpha)
	if payload != "" {
		decoded, claimed := 0, 0
		for _, r := range rows {
			if r.marked && r.res.Payload == payload {
				decoded++
				if r.res.PayloadClaimed {
					claimed++
				}
			}
		}
		falseClaims := 0
		for _, r := range rows {
			if !r.marked && r.res.PayloadClaimed {
				falseClaims++
			}
		}
		fmt.Fprintf(e.stdout, "payload: decoded exactly in %d/%d watermarked completions, claimed (p <= alpha) in %d; claimed in %d unwatermarked\n",
			decoded, len(rows)/2, claimed, falseClaims)
	}
	return nil
}

// demoWorker generates and detects the rows it receives: row 2i is prompt
// i watermarked, row 2i+1 unwatermarked, both with seed+i.
func demoWorker(ctx context.Context, c *cli.Context, model *ngram.Model, scheme watermark.Scheme, tok tokenize.Tokenizer, set generate.Settings,
	maxTokens int, alpha float64, prompts []string, rows []demoRow, jobs <-chan int) error {
	session := model.NewSession()
	marked, err := generate.NewSampler(session, scheme, set)
	if err != nil {
		return err
	}
	plain, err := generate.NewSampler(session, nil, set)
	if err != nil {
		return err
	}
	det, err := detect.New(scheme, detect.Options{Alpha: alpha, Tokenizer: tok.Name()})
	if err != nil {
		return err
	}
	for i := range jobs {
		p := prompts[i/2]
		prompt, err := tok.AppendEncode(nil, p)
		if err != nil {
			return err
		}
		sampler := marked
		if i%2 == 1 {
			sampler = plain
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err := sampler.Complete(ctx, tok, prompt, maxTokens, newRNG(c.Uint64("seed")+uint64(i/2)))
		if err != nil {
			return err
		}
		// Detect from the text, as anyone holding only the text would.
		ids, err := tok.AppendEncode(nil, out.Text)
		if err != nil {
			return err
		}
		ppl, _ := model.Perplexity(append(prompt, out.Tokens...), len(prompt))
		rows[i] = demoRow{prompt: p, marked: i%2 == 0, tokens: len(ids), res: det.Tokens(ids),
			toDetection: det.TokensToDetection(ids), perplexity: ppl}
	}
	return nil
}

func printDemo(e *env, rows []demoRow, alpha float64) {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tprompt\twatermark\ttokens\tscored\tp-value\tverdict\ttokens to detect\t")
	for i, r := range rows {
		kind, verdict, need := "no", "not detected", "-"
		if r.marked {
			kind = "yes"
		}
		if r.res.Detected {
			verdict = "DETECTED"
		}
		if r.toDetection > 0 {
			need = fmt.Sprint(r.toDetection)
		}
		prompt := r.prompt
		if len(prompt) > 34 {
			prompt = prompt[:33] + "…"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t\n", i/2+1, prompt, kind, r.tokens, r.res.Scored, formatP(r.res), verdict, need)
	}
	tw.Flush()
	fmt.Fprintln(e.stdout)
	for _, marked := range []bool{true, false} {
		var n, found int
		var needs, ppls, logps []float64
		for _, r := range rows {
			if r.marked != marked {
				continue
			}
			n++
			if r.res.Detected {
				found++
			}
			if r.toDetection > 0 {
				needs = append(needs, float64(r.toDetection))
			}
			ppls = append(ppls, r.perplexity)
			logps = append(logps, r.res.Log10P)
		}
		name := "unwatermarked"
		if marked {
			name = "watermarked  "
		}
		fmt.Fprintf(e.stdout, "%s %2d/%d detected at alpha %g (%.0f%%); median log10 p %.1f; median perplexity %.1f",
			name, found, n, alpha, 100*float64(found)/float64(n), median(logps), median(ppls))
		if marked && len(needs) > 0 {
			fmt.Fprintf(e.stdout, "; median %.0f tokens to detection", median(needs))
		}
		fmt.Fprintln(e.stdout)
	}
}

func formatP(r detect.Result) string {
	if r.PValue == 0 {
		return fmt.Sprintf("1e%.0f", math.Floor(r.Log10P))
	}
	return fmt.Sprintf("%.2g", r.PValue)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
