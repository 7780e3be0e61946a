package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	ev "github.com/tracemark/tracemark/evidence"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/probe"
	"github.com/urfave/cli/v2"
)

func probeCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "probe",
		Usage: "query a suspect model's OpenAI-compatible API with prompts and test its answers for the watermark",
		UsageText: "tracemark probe --endpoint URL --model NAME --prompts FILE --key KEYFILE --out DIR [--api chat|completions]\n" +
			"    [--api-key-env VAR] [--max-tokens N] [--budget-tokens N] [--concurrency C] [--exclude-from LOG]...\n" +
			"    [--exclude-ngrams FILE] [--json]\n\n" +
			"Sends every prompt of FILE (one per line; a JSON line {\"prompt\": ...} or {\"messages\": [...]}) that has\n" +
			"no stored answer in DIR, with retries and backoff, stores each raw answer in DIR (a rerun resumes and\n" +
			"never sends an answered prompt again), then runs the pooled test over all answers with cross-answer\n" +
			"dedup, excluding the (h+1)-grams of the prompts and of the prompts of the served-output log(s).\n" +
			"With a payload scheme it decodes the payload and, given --exclude-from LOG, tests each customer's\n" +
			"fingerprint. The API key is read from the environment variable --api-key-env names, never argv.\n" +
			"Exit codes: 0 the watermark was found, 1 not found, 2 errors (nothing answered, failed prompts\n" +
			"unless --soft-errors-ok).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "endpoint", Usage: "API base `URL` with its version path, e.g. https://api.example.com/v1"},
			&cli.StringFlag{Name: "model", Usage: "model `NAME` of every request"},
			&cli.StringFlag{Name: "prompts", Usage: "prompts `FILE`: one prompt per line, or JSON lines with prompt or messages"},
			&cli.StringFlag{Name: "api", Value: "chat", Usage: "`API`: chat (POST /chat/completions) or completions (POST /completions)"},
			&cli.StringFlag{Name: "api-key-env", Usage: "environment variable `VAR` holding the endpoint's API key (sent as a bearer token)"},
			&cli.StringSliceFlag{Name: "key", Aliases: []string{"k"}, Usage: "watermark key `FILE` or directory of key files; repeatable (default: $TRACEMARK_KEY)"},
			&cli.StringFlag{Name: "scheme", Usage: "scheme `SPEC` (default: each key's)"},
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer `NAME` (default: the key's)"},
			tokenizerMismatchOK(),
			normalizeFlag(),
			&cli.IntFlag{Name: "max-tokens", Value: 256, Usage: "max_tokens of every request (0: not sent)"},
			&cli.Float64Flag{Name: "temperature", Usage: "temperature of every request (default: not sent)"},
			&cli.Int64Flag{Name: "seed", Usage: "seed of every request (default: not sent)"},
			&cli.Int64Flag{Name: "budget-tokens", Usage: "stop sending once the stored answers hold `N` completion tokens (0: no budget)"},
			&cli.IntFlag{Name: "concurrency", Aliases: []string{"c"}, Value: 4, Usage: "requests in flight"},
			&cli.IntFlag{Name: "max-attempts", Value: 6, Usage: "attempts per prompt (retries on 429, 5xx, timeouts, connection errors, bad bodies)"},
			&cli.DurationFlag{Name: "timeout", Value: probeDefaultTimeout, Usage: "time limit of one attempt, body included"},
			&cli.StringFlag{Name: "out", Usage: "answer `DIR` (created; a rerun resumes)"},
			&cli.StringSliceFlag{Name: "exclude-from", Usage: "served-output `LOG` (directory or file): its prompt_tokens are excluded and its payloads name the customers; repeatable"},
			&cli.StringFlag{Name: "exclude-ngrams", Usage: "text `FILE` (e.g. an earlier probe's prompts): none of its lines' (h+1)-grams is scored, as in scan"},
			&cli.BoolFlag{Name: "allow-incomplete-log", Usage: "accept a served-output log with bad lines or truncated files"},
			&cli.Float64Flag{Name: "alpha", Value: detect.DefaultAlpha, Usage: "significance level of the pooled test and the customer tests"},
			&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: 0, Usage: "scoring workers (0: all cores)"},
			&cli.BoolFlag{Name: "json", Usage: "print the whole result as one JSON object"},
			&cli.BoolFlag{Name: "soft-errors-ok", Usage: "failed prompts and bad prompt lines do not make the exit code 2"},
			&cli.BoolFlag{Name: "offline", Usage: "send nothing: test the answers stored in --out DIR only (under other keys; evidence verify)"},
		},
		Action: func(c *cli.Context) error { return runProbe(c, e) },
	}
}

const probeDefaultTimeout = 2 * time.Minute

func runProbe(c *cli.Context, e *env) error {
	for _, f := range []string{"endpoint", "model", "prompts", "out"} {
		if c.String(f) == "" {
			return fmt.Errorf("probe: --%s is required", f)
		}
	}
	if a := c.Float64("alpha"); !(a > 0 && a < 1) {
		return fmt.Errorf("--alpha: alpha must be in (0, 1), got %v", a)
	}
	api, err := probe.ParseAPI(c.String("api"))
	if err != nil {
		return fmt.Errorf("--api: %q is not an API (chat or completions)", c.String("api"))
	}
	var apiKey string
	if v := c.String("api-key-env"); v != "" {
		apiKey = os.Getenv(v)
		if apiKey == "" {
			return fmt.Errorf("--api-key-env: the environment variable %s is not set or empty", v)
		}
	}
	schemes, tok, err := keysFor(c, e)
	if err != nil {
		return err
	}
	evr, err := newEvidenceRun(c, e, ev.KindProbe, schemes, tok)
	if err != nil {
		return err
	}
	display, data, err := readInput(c.Context, e, c.String("prompts"))
	if err != nil {
		return fmt.Errorf("--prompts: %w", err)
	}
	ps, err := probe.ReadPrompts(strings.NewReader(string(data)), api == probe.Chat)
	if err != nil {
		return fmt.Errorf("--prompts %s: %w", display, err)
	}
	for _, b := range ps.Bad {
		fmt.Fprintf(e.stderr, "tracemark: %s:%d: not sent: %s\n", display, b.Line, b.Message)
	}
	if len(ps.Prompts) == 0 {
		return fmt.Errorf("probe: %s holds no prompt", display)
	}
	cfg := probe.Config{Endpoint: c.String("endpoint"), Model: c.String("model"), API: api, APIKey: apiKey,
		MaxTokens: c.Int("max-tokens"), BudgetTokens: c.Int64("budget-tokens"), Concurrency: c.Int("concurrency"),
		MaxAttempts: c.Int("max-attempts"), Timeout: c.Duration("timeout"), Dir: c.String("out"), Tokenizer: tok, Offline: c.Bool("offline")}
	if c.IsSet("temperature") {
		t := c.Float64("temperature")
		cfg.Temperature = &t
	}
	if c.IsSet("seed") {
		s := c.Int64("seed")
		cfg.Seed = &s
	}
	var extra []string
	if f := c.String("exclude-ngrams"); f != "" {
		_, data, err := readInput(c.Context, e, f)
		if err != nil {
			return fmt.Errorf("--exclude-ngrams: %w", err)
		}
		extra = strings.Split(string(data), "\n")
	}
	tc := probe.TestConfig{ExcludeTexts: extra, Schemes: schemes, Tokenizer: tok, Alpha: c.Float64("alpha"), Workers: c.Int("jobs"),
		ServedLogs: c.StringSlice("exclude-from"), AllowIncompleteLog: c.Bool("allow-incomplete-log")}
	res, runErr := probe.Run(c.Context, cfg, ps, display, tc)
	out := bufio.NewWriter(e.stdout)
	if c.Bool("json") {
		enc := json.NewEncoder(out)
		enc.Encode(probeJSON{Type: "probe", Result: res, Error: errString(runErr)})
	} else {
		printProbe(out, res)
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if runErr != nil {
		if errors.Is(runErr, probe.ErrNoAnswers) {
			return fmt.Errorf("%w: no verdict", runErr)
		}
		return runErr
	}
	if err := evr.probeEvidence(c.String("prompts"), c.StringSlice("exclude-from"), c.String("exclude-ngrams"), res); err != nil {
		return fmt.Errorf("--evidence: %w", err)
	}
	if err := evr.write(e); err != nil {
		return err
	}
	switch {
	case (len(res.Collection.Failed) > 0 || len(res.BadPromptLines) > 0 || res.Test.Summary.Errors > 0) && !c.Bool("soft-errors-ok"):
		return exitCode(exitError)
	case res.Test.Detected:
		return nil
	default:
		return exitCode(exitNotFound)
	}
}

type probeJSON struct {
	Type string `json:"type"`
	probe.Result
	Error string `json:"error,omitempty"`
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// maxFailuresShown bounds the failed prompts listed in the summary.
const maxFailuresShown = 50

func printProbe(w io.Writer, r probe.Result) {
	col := r.Collection
	fmt.Fprintf(w, "probe %s model %s (%s API): %d prompts; %d answered before, %d sent now, %d answered, %d failed, %d not sent; %d answers stored, %d completion tokens\n",
		r.Inputs.Endpoint, r.Inputs.Model, r.Inputs.API, r.Prompts, col.AlreadyAnswered, col.Sent, col.Answered, len(col.Failed), col.NotSent, col.TotalAnswered, col.CompletionTokens)
	if r.DuplicateLines > 0 || len(r.BadPromptLines) > 0 {
		fmt.Fprintf(w, "prompts file: %d duplicate lines (sent once), %d bad lines (not sent)\n", r.DuplicateLines, len(r.BadPromptLines))
	}
	if col.Interrupted > 0 {
		fmt.Fprintf(w, "%d prompts were in flight when an earlier run stopped and were sent again (the server may have answered them twice)\n", col.Interrupted)
	}
	if col.Damaged > 0 {
		fmt.Fprintf(w, "%d stored answers failed their check and were asked again\n", col.Damaged)
	}
	if col.BudgetReached {
		fmt.Fprintf(w, "the budget of %d completion tokens was reached: %d prompts not sent\n", r.Options.BudgetTokens, col.NotSent)
	}
	if col.CountedAnswers > 0 || col.UncountedAnswers > 0 {
		fmt.Fprintf(w, "%d answers without usage (tokens counted with %s), %d not counted\n", col.CountedAnswers, r.Inputs.Tokenizer, col.UncountedAnswers)
	}
	if len(col.Failed) > 0 {
		var kinds []string
		for k, n := range col.FailedByKind {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
		fmt.Fprintf(w, "failed prompts (%s):\n", strings.Join(sorted(kinds), ", "))
		for i, f := range col.Failed {
			if i == maxFailuresShown {
				fmt.Fprintf(w, "  ... and %d more (--json lists all)\n", len(col.Failed)-i)
				break
			}
			fmt.Fprintf(w, "  line %d (%s): %s after %d attempts: %s\n", f.Line, f.ID, f.Kind, f.Attempts, f.Message)
		}
	}
	t := r.Test
	if t == nil {
		fmt.Fprintln(w, "nothing was answered: no test, no verdict")
		return
	}
	fmt.Fprintf(w, "tested %d answers (%d documents, %d empty choices), %d tokens; excluded %d distinct (h+1)-grams: %s\n",
		t.Answers, t.Documents, t.EmptyChoices, t.Summary.Tokens, t.Exclusion.Ngrams, t.Exclusion.What)
	for _, k := range t.Keys {
		verdict := "not detected"
		if k.Detected {
			verdict = "WATERMARKED"
		}
		fmt.Fprintf(w, "pooled test, key %s (%s): %s, p=%s (log10 p %.2f, Holm over keys %.2f), %d distinct tuples, %s test\n",
			k.KeyID, k.Scheme, verdict, fmtP(k.PValue, k.Log10P), k.Log10P, k.AdjustedLog10P, k.Scored, k.Test)
		if k.Payload != "" {
			fmt.Fprintf(w, "  decoded payload %s (log10 p %.2f)\n", k.Payload, k.PayloadLog10P)
		}
		for _, ct := range k.Customers {
			mark := "not identified"
			if ct.Identified {
				mark = "IDENTIFIED"
			}
			fmt.Fprintf(w, "  customer %s (payload %s): %s, log10 p %.2f (adjusted %.2f; %d/%d tuples match in %d slots, 1/%d by chance)\n",
				strings.Join(ct.Customers, ","), ct.Payload, mark, ct.Log10P, ct.AdjustedLog10P, ct.Matches, ct.Trials, ct.Slots, ct.Colours)
		}
	}
}

func fmtP(p, log10p float64) string {
	if p == 0 || math.IsInf(log10p, 0) || log10p < -300 {
		return fmt.Sprintf("1e%.1f", log10p)
	}
	return fmt.Sprintf("%.3g", p)
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}
