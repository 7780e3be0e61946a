package probe

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Inputs names what a probe read.
type Inputs struct {
	Endpoint      string   `json:"endpoint"` // without user information
	Model         string   `json:"model"`
	API           API      `json:"api"`
	PromptsFile   string   `json:"prompts_file"`
	PromptsSHA256 string   `json:"prompts_sha256"`
	PromptsBytes  int64    `json:"prompts_bytes"`
	ServedLogs    []string `json:"served_logs"`
	Dir           string   `json:"dir"`
	Tokenizer     string   `json:"tokenizer"`
	KeyIDs        []string `json:"key_ids"`
	Schemes       []string `json:"schemes"`
}

// Options are the probe's settings.
type Options struct {
	MaxTokens          int      `json:"max_tokens"`
	Temperature        *float64 `json:"temperature,omitempty"`
	Seed               *int64   `json:"seed,omitempty"`
	BudgetTokens       int64    `json:"budget_tokens"`
	Concurrency        int      `json:"concurrency"`
	MaxAttempts        int      `json:"max_attempts"`
	TimeoutSec         float64  `json:"timeout_seconds"`
	Alpha              float64  `json:"alpha"`
	APIKeyGiven        bool     `json:"api_key_given"`
	AllowIncompleteLog bool     `json:"allow_incomplete_log"`
}

// Result is everything a probe did and found: inputs, options, the
// prompts file's bad lines, the collection counts and failures, and the
// test's statistics. It is what an evidence file records.
type Result struct {
	Inputs         Inputs      `json:"inputs"`
	Options        Options     `json:"options"`
	Prompts        int         `json:"prompts"`
	DuplicateLines int         `json:"duplicate_prompt_lines"`
	BadPromptLines []LineError `json:"bad_prompt_lines"`
	Collection     Collection  `json:"collection"`
	// Test is nil when nothing could be tested.
	Test     *TestResult `json:"test"`
	Started  time.Time   `json:"started"`
	Finished time.Time   `json:"finished"`
}

// Run collects the answers (Collect) and tests them (Test). A Collect
// error that stopped sending (a cancelled ctx) still tests what was
// stored, and Run returns that error too. A directory without answers
// is ErrNoAnswers.
func Run(ctx context.Context, cfg Config, ps Prompts, promptsFile string, tc TestConfig) (Result, error) {
	res := Result{Started: time.Now().UTC(), Prompts: len(ps.Prompts), DuplicateLines: ps.Duplicates,
		BadPromptLines: append([]LineError{}, ps.Bad...)}
	res.Inputs = Inputs{Endpoint: RedactURL(cfg.Endpoint), Model: cfg.Model, API: cfg.API, PromptsFile: promptsFile,
		PromptsSHA256: ps.SHA256, PromptsBytes: ps.Bytes, ServedLogs: append([]string{}, tc.ServedLogs...), Dir: cfg.Dir}
	if tc.Tokenizer != nil {
		res.Inputs.Tokenizer = tc.Tokenizer.Name()
	}
	for _, s := range tc.Schemes {
		res.Inputs.KeyIDs = append(res.Inputs.KeyIDs, s.KeyID())
		res.Inputs.Schemes = append(res.Inputs.Schemes, s.Spec())
	}
	col, cerr := Collect(ctx, cfg, ps.Prompts)
	_ = cfg.defaults()
	res.Inputs.API = cfg.API
	res.Options = Options{MaxTokens: cfg.MaxTokens, Temperature: cfg.Temperature, Seed: cfg.Seed, BudgetTokens: cfg.BudgetTokens,
		Concurrency: cfg.Concurrency, MaxAttempts: cfg.MaxAttempts, TimeoutSec: cfg.Timeout.Seconds(), Alpha: tc.Alpha,
		APIKeyGiven: cfg.APIKey != "", AllowIncompleteLog: tc.AllowIncompleteLog}
	res.Collection = col
	defer func() { res.Finished = time.Now().UTC() }()
	if cerr != nil && ctx.Err() == nil {
		res.Finished = time.Now().UTC()
		return res, cerr
	}
	tc.Prompts = ps.Prompts
	tctx := ctx
	if ctx.Err() != nil {
		// Cancelled while sending: still test what is stored, briefly.
		var cancel context.CancelFunc
		tctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
	}
	tr, err := Test(tctx, cfg.Dir, tc)
	if err != nil && !errors.Is(err, ErrNoAnswers) {
		return res, err
	}
	if err == nil {
		res.Test = &tr
		res.Options.Alpha = tr.Alpha
	}
	if err != nil {
		if col.Sent > 0 || len(col.Failed) > 0 {
			return res, fmt.Errorf("%w: %d prompts sent, %d failed", err, col.Sent, len(col.Failed))
		}
		return res, err
	}
	return res, cerr
}
