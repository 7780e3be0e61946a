// Package probe queries a suspect model through its OpenAI-compatible API
// and tests the answers for a watermark.
//
// Collect sends a file of prompts (chat or completions API) with bounded
// concurrency, retries with exponential backoff and jitter (honouring
// Retry-After), a token budget and context cancellation, and keeps every
// answer's raw response in an output directory that makes reruns resume:
// a prompt with a stored answer is never sent again. Test pools the
// answers into a JSONL corpus that tracemark scan also reads, and runs
// scan's pooled test over them with cross-answer dedup, excluding the
// (h+1)-grams of the prompts (and of the prompts of a served-output log);
// with a payload scheme it decodes the payload and, given the
// served-output log, tests each customer's fingerprint with its own exact
// p-value. Run does both and returns a Result holding every input,
// option and statistic.
package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tracemark/tracemark/tokenize"
)

// Config configures the collection of answers.
type Config struct {
	// Endpoint is the API's base URL, with its version path, as OpenAI
	// clients take it (e.g. https://api.example.com/v1); the API's path
	// (/chat/completions or /completions) is appended.
	Endpoint string
	// Model is the "model" of every request.
	Model string
	// API is Chat (default) or Completions.
	API API
	// APIKey is sent as a bearer token. It is never stored, printed or put
	// in an error (any echo of it in a response is replaced by
	// "[redacted]" before the response is stored).
	APIKey string
	// MaxTokens is the requests' max_tokens (0: not sent).
	MaxTokens int
	// Temperature and Seed are sent when set.
	Temperature *float64
	Seed        *int64
	// BudgetTokens, when > 0, stops sending new prompts once the stored
	// answers (of this and earlier runs) hold this many completion tokens
	// (usage.completion_tokens, else counted with Tokenizer). Requests in
	// flight then still finish: the total can exceed the budget by at most
	// Concurrency-1 answers.
	BudgetTokens int64
	// Concurrency is the number of requests in flight (0: 4).
	Concurrency int
	// MaxAttempts bounds the attempts per prompt (0: 6).
	MaxAttempts int
	// Timeout bounds one attempt, body included (0: 2 minutes).
	Timeout time.Duration
	// BaseBackoff is the first retry's wait before jitter (0: 1 s);
	// MaxBackoff caps the exponential wait (0: 1 minute); MaxRetryAfter
	// caps the wait a server's Retry-After asks for (0: 5 minutes).
	BaseBackoff, MaxBackoff, MaxRetryAfter time.Duration
	// Dir is the output directory (required).
	Dir string
	// Tokenizer counts completion tokens of answers without usage (nil:
	// such answers count 0 towards the budget, and are counted in
	// Collection.UncountedAnswers).
	Tokenizer tokenize.Tokenizer
	// HTTPClient is used for requests (nil: a client with no overall
	// timeout; Timeout bounds each attempt).
	HTTPClient *http.Client
	// Progress, if set, is called after each prompt is answered or given
	// up on, from the worker that sent it.
	Progress func(Event)
	// Offline sends nothing: Collect only counts the stored answers (the
	// prompts without one are NotSent) and leaves Dir as it is (damaged
	// answers stay), so that the stored answers can be tested again, under
	// other keys or to verify an evidence file.
	Offline bool
}

// Event reports one finished prompt.
type Event struct {
	ID       string
	Answered bool
	Failure  *Failure
	// Answered so far (all runs) and completion tokens so far.
	TotalAnswered    int
	CompletionTokens int64
}

// Failure is a prompt that got no answer in this run.
type Failure struct {
	ID       string      `json:"id"`
	Line     int         `json:"line"`
	Name     string      `json:"name,omitempty"`
	Kind     FailureKind `json:"kind"`
	Status   int         `json:"status,omitempty"`
	Attempts int         `json:"attempts"`
	Message  string      `json:"message"`
}

// Collection counts what Collect did.
type Collection struct {
	// Prompts is the number of distinct prompts given.
	Prompts int `json:"prompts"`
	// AlreadyAnswered were answered in earlier runs (not sent again).
	AlreadyAnswered int `json:"already_answered"`
	// Interrupted prompts had a request in flight when an earlier run
	// stopped (an intent in the journal, no answer): sent again in this
	// run. The server may have answered the earlier request too.
	Interrupted int `json:"interrupted"`
	// Damaged counts stored answers that failed their check (a file
	// missing or changed): removed and sent again.
	Damaged int `json:"damaged"`
	// Sent is the number of prompts sent in this run; Requests the HTTP
	// attempts made; Answered the answers stored in this run.
	Sent     int `json:"sent"`
	Requests int `json:"requests"`
	Answered int `json:"answered"`
	// TotalAnswered is the number of stored answers (all runs).
	TotalAnswered int `json:"total_answered"`
	// Failed lists the prompts that got no answer in this run, and why.
	Failed []Failure `json:"failed"`
	// FailedByKind counts Failed by kind.
	FailedByKind map[FailureKind]int `json:"failed_by_kind"`
	// NotSent prompts were not sent: the budget was reached or the run was
	// cancelled first.
	NotSent int `json:"not_sent"`
	// BudgetReached is true once the budget stopped the sending.
	BudgetReached bool `json:"budget_reached"`
	// Canceled is true if the context ended the run.
	Canceled bool `json:"canceled"`
	// CompletionTokens sums the stored answers' completion tokens.
	CompletionTokens int64 `json:"completion_tokens"`
	// CountedAnswers had no usage: their tokens were counted with the
	// tokenizer; UncountedAnswers had no usage and no tokenizer.
	CountedAnswers   int `json:"counted_answers"`
	UncountedAnswers int `json:"uncounted_answers"`
}

// Manifest is DIR/probe.json: what every answer in the directory was asked
// with. A rerun with other settings is refused.
type Manifest struct {
	Version     int      `json:"version"`
	Endpoint    string   `json:"endpoint"`
	Model       string   `json:"model"`
	API         API      `json:"api"`
	MaxTokens   int      `json:"max_tokens"`
	Temperature *float64 `json:"temperature,omitempty"`
	Seed        *int64   `json:"seed,omitempty"`
	Created     string   `json:"created"`
}

// Answer is DIR/answers/<id>.json: one stored answer, written after its
// raw response (<id>.response.json) and the proof that it is complete.
type Answer struct {
	ID       string    `json:"id"`
	Name     string    `json:"name,omitempty"`
	Line     int       `json:"line"`
	Prompt   string    `json:"prompt,omitempty"`
	Messages []Message `json:"messages,omitempty"`
	Time     time.Time `json:"time"`
	Attempts int       `json:"attempts"`
	Status   int       `json:"status"`
	// ResponseID is the response's "id".
	ResponseID string `json:"response_id"`
	// Texts are the choices' texts (message.content or text), by index.
	Texts         []string `json:"texts"`
	FinishReasons []string `json:"finish_reasons"`
	// CompletionTokens is usage.completion_tokens (UsageReported), else
	// counted with the probe's tokenizer (-1: not counted).
	CompletionTokens int  `json:"completion_tokens"`
	UsageReported    bool `json:"usage_reported"`
	// ResponseSHA256 and ResponseBytes identify the raw response file.
	ResponseSHA256 string `json:"response_sha256"`
	ResponseBytes  int    `json:"response_bytes"`
	// Redacted is true if the API key was found in the response and
	// replaced by "[redacted]" before it was stored.
	Redacted bool `json:"redacted,omitempty"`
}

// manifestVersion is the directory format.
const manifestVersion = 1

func (c *Config) defaults() error {
	if c.Endpoint == "" || c.Model == "" || c.Dir == "" {
		return errors.New("probe: endpoint, model and output directory are required")
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("probe: endpoint %q is not an http(s) URL", RedactURL(c.Endpoint))
	}
	api, err := ParseAPI(string(c.API))
	if err != nil {
		return err
	}
	c.API = api
	if c.MaxTokens < 0 || c.BudgetTokens < 0 || c.Concurrency < 0 || c.MaxAttempts < 0 {
		return errors.New("probe: max tokens, budget, concurrency and attempts must not be negative")
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 6
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Minute
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 5 * time.Minute
	}
	return nil
}

// RedactURL returns u without user information (a password in the URL).
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparseable URL)"
	}
	if p.User != nil {
		p.User = url.User("redacted")
	}
	return p.String()
}

func (c *Config) manifest() Manifest {
	return Manifest{Version: manifestVersion, Endpoint: RedactURL(c.Endpoint), Model: c.Model, API: c.API,
		MaxTokens: c.MaxTokens, Temperature: c.Temperature, Seed: c.Seed}
}

// redactor replaces the API key in s.
func (c *Config) redactor() func(string) string {
	key := c.APIKey
	return func(s string) string {
		if key == "" {
			return s
		}
		return strings.ReplaceAll(s, key, "[redacted]")
	}
}

// openDir creates or checks the output directory's manifest.
func openDir(cfg *Config) error {
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "answers"), 0o700); err != nil {
		return fmt.Errorf("probe: output directory: %w", err)
	}
	path := filepath.Join(cfg.Dir, "probe.json")
	want := cfg.manifest()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		want.Created = time.Now().UTC().Format(time.RFC3339)
		b, _ := json.MarshalIndent(want, "", "  ")
		return writeAtomic(path, append(b, '\n'))
	}
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	var have Manifest
	if err := json.Unmarshal(data, &have); err != nil {
		return fmt.Errorf("probe: %s is not a probe manifest: %w", path, err)
	}
	have.Created = ""
	if have.Version != manifestVersion {
		return fmt.Errorf("probe: %s has format %d, this version writes %d: use a new directory", path, have.Version, manifestVersion)
	}
	hb, _ := json.Marshal(have)
	wb, _ := json.Marshal(want)
	if string(hb) != string(wb) {
		return fmt.Errorf("probe: %s holds answers asked with other settings (%s; now %s): use a new directory", path, hb, wb)
	}
	return nil
}

// ReadManifest reads DIR/probe.json.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	data, err := os.ReadFile(filepath.Join(dir, "probe.json"))
	if err != nil {
		return m, fmt.Errorf("probe: %w", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("probe: %s: %w", filepath.Join(dir, "probe.json"), err)
	}
	return m, nil
}

// writeAtomic writes data to path through a temporary file, synced and
// renamed, so path is never seen half-written.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("probe: writing %s: %w", path, err)
	}
	return nil
}

// journal appends events to DIR/journal.jsonl, syncing each.
type journal struct {
	mu sync.Mutex
	f  *os.File
}

type journalEvent struct {
	Time    time.Time   `json:"time"`
	Event   string      `json:"event"` // intent, answer, failed
	ID      string      `json:"id"`
	Attempt int         `json:"attempt,omitempty"`
	Kind    FailureKind `json:"kind,omitempty"`
	Error   string      `json:"error,omitempty"`
}

func openJournal(dir string) (*journal, error) {
	path := filepath.Join(dir, "journal.jsonl")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("probe: journal: %w", err)
	}
	// A line torn by a crash is ended, so the next event starts a line.
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			if _, err := f.Write([]byte("\n")); err != nil {
				f.Close()
				return nil, fmt.Errorf("probe: journal: %w", err)
			}
		}
	}
	return &journal{f: f}, nil
}

func (j *journal) write(ev journalEvent) error {
	ev.Time = time.Now().UTC()
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("probe: journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("probe: journal: %w", err)
	}
	return nil
}

func (j *journal) close() error { return j.f.Close() }

// readJournal returns the last event of every prompt ID (a torn last line
// is skipped).
func readJournal(dir string) (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "journal.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("probe: journal: %w", err)
	}
	last := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		var ev journalEvent
		if json.Unmarshal([]byte(line), &ev) == nil && ev.ID != "" {
			last[ev.ID] = ev.Event
		}
	}
	return last, nil
}

// LoadAnswers reads the stored answers of dir, checking each against its
// raw response file. Answers that fail the check are returned in damaged
// (their IDs), not in answers.
func LoadAnswers(dir string) (answers []Answer, damaged []string, err error) {
	entries, err := os.ReadDir(filepath.Join(dir, "answers"))
	if err != nil {
		return nil, nil, fmt.Errorf("probe: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".response.json") {
			continue
		}
		id := strings.TrimSuffix(n, ".json")
		a, ok := loadAnswer(dir, id)
		if !ok {
			damaged = append(damaged, id)
			continue
		}
		answers = append(answers, a)
	}
	sort.Slice(answers, func(i, j int) bool {
		if answers[i].Line != answers[j].Line {
			return answers[i].Line < answers[j].Line
		}
		return answers[i].ID < answers[j].ID
	})
	return answers, damaged, nil
}

func loadAnswer(dir, id string) (Answer, bool) {
	var a Answer
	data, err := os.ReadFile(filepath.Join(dir, "answers", id+".json"))
	if err != nil || json.Unmarshal(data, &a) != nil || a.ID != id {
		return a, false
	}
	raw, err := os.ReadFile(filepath.Join(dir, "answers", id+".response.json"))
	if err != nil || len(raw) != a.ResponseBytes {
		return a, false
	}
	sum := sha256.Sum256(raw)
	return a, hex.EncodeToString(sum[:]) == a.ResponseSHA256
}

// Collect sends every prompt of ps that has no stored answer in cfg.Dir
// and stores the answers. Failed prompts are listed in the Collection, not
// returned as errors; the error is for what stops the run (the directory,
// the journal, a cancelled ctx — then the Collection says what was done).
func Collect(ctx context.Context, cfg Config, ps []Prompt) (Collection, error) {
	col := Collection{Prompts: len(ps), FailedByKind: map[FailureKind]int{}, Failed: []Failure{}}
	if err := cfg.defaults(); err != nil {
		return col, err
	}
	if cfg.Offline {
		if _, err := os.Stat(filepath.Join(cfg.Dir, "probe.json")); err != nil {
			return col, fmt.Errorf("probe: offline: %s is not a probe directory: %w", cfg.Dir, err)
		}
	}
	if err := openDir(&cfg); err != nil {
		return col, err
	}
	stored, damaged, err := LoadAnswers(cfg.Dir)
	if err != nil {
		return col, err
	}
	col.Damaged = len(damaged)
	if cfg.Offline {
		var tokens int64
		have := map[string]bool{}
		for _, a := range stored {
			have[a.ID] = true
			tokens += int64(max(0, a.CompletionTokens))
		}
		for i := range ps {
			if have[ps[i].ID] {
				col.AlreadyAnswered++
			} else {
				col.NotSent++
			}
		}
		col.TotalAnswered, col.CompletionTokens = len(stored), tokens
		return col, nil
	}
	for _, id := range damaged {
		os.Remove(filepath.Join(cfg.Dir, "answers", id+".json"))
	}
	last, err := readJournal(cfg.Dir)
	if err != nil {
		return col, err
	}
	have := map[string]bool{}
	var tokens atomic.Int64
	for _, a := range stored {
		have[a.ID] = true
		tokens.Add(int64(max(0, a.CompletionTokens)))
	}
	col.TotalAnswered = len(stored)
	var todo []*Prompt
	for i := range ps {
		p := &ps[i]
		if have[p.ID] {
			col.AlreadyAnswered++
			continue
		}
		if last[p.ID] == "intent" {
			col.Interrupted++
		}
		todo = append(todo, p)
	}
	j, err := openJournal(cfg.Dir)
	if err != nil {
		return col, err
	}
	defer j.close()
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	cl := &client{cfg: &cfg, http: hc, url: strings.TrimRight(cfg.Endpoint, "/") + cfg.API.path(), redact: cfg.redactor()}

	var mu sync.Mutex // guards col
	var fatal error
	jobs := make(chan *Prompt)
	// free holds a token per idle worker: the dispatcher takes one before
	// it checks the budget, so the check sees every finished answer and
	// the budget is overshot by at most Concurrency-1 answers.
	free := make(chan struct{}, cfg.Concurrency)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < min(cfg.Concurrency, max(1, len(todo))); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				ev, err := collectOne(ctx, &cfg, cl, j, p, &tokens)
				mu.Lock()
				col.Sent++
				col.Requests += ev.requests
				switch {
				case err != nil:
					if fatal == nil && !errors.Is(err, context.Canceled) {
						fatal = err
						cancel()
					}
					col.NotSent++ // in flight when the run stopped: no answer
					col.Sent--
				case ev.failure != nil:
					col.Failed = append(col.Failed, *ev.failure)
					col.FailedByKind[ev.failure.Kind]++
				default:
					col.Answered++
					col.TotalAnswered++
					switch {
					case ev.answer.UsageReported:
					case ev.answer.CompletionTokens >= 0:
						col.CountedAnswers++
					default:
						col.UncountedAnswers++
					}
				}
				e := Event{ID: p.ID, Answered: err == nil && ev.failure == nil, Failure: ev.failure,
					TotalAnswered: col.TotalAnswered, CompletionTokens: tokens.Load()}
				mu.Unlock()
				if cfg.Progress != nil && err == nil {
					cfg.Progress(e)
				}
				<-free
			}
		}()
	}
	sent := 0
dispatch:
	for _, p := range todo {
		select {
		case free <- struct{}{}:
		case <-ctx.Done():
			break dispatch
		}
		if cfg.BudgetTokens > 0 && tokens.Load() >= cfg.BudgetTokens {
			mu.Lock()
			col.BudgetReached = true
			mu.Unlock()
			break
		}
		select {
		case jobs <- p:
			sent++
		case <-ctx.Done():
			<-free
			break dispatch
		}
	}
	close(jobs)
	wg.Wait()
	col.NotSent += len(todo) - sent
	col.CompletionTokens = tokens.Load()
	sort.Slice(col.Failed, func(a, b int) bool { return col.Failed[a].Line < col.Failed[b].Line })
	if fatal != nil {
		return col, fatal
	}
	if err := ctx.Err(); err != nil {
		col.Canceled = true
		return col, fmt.Errorf("probe: %w", err)
	}
	return col, nil
}

type oneResult struct {
	requests int
	failure  *Failure
	answer   *Answer
}

// collectOne sends one prompt and stores its answer, or describes its
// failure. An error means the run must stop (ctx ended, or the directory
// cannot be written).
func collectOne(ctx context.Context, cfg *Config, cl *client, j *journal, p *Prompt, tokens *atomic.Int64) (oneResult, error) {
	var res oneResult
	r, attempts, err := cl.send(ctx, p, func(attempt int) error {
		return j.write(journalEvent{Event: "intent", ID: p.ID, Attempt: attempt})
	})
	res.requests = attempts
	var ae *attemptError
	switch {
	case err == nil:
	case errors.As(err, &ae):
		res.failure = &Failure{ID: p.ID, Line: p.Line, Name: p.Name, Kind: ae.kind, Status: ae.status, Attempts: attempts, Message: ae.msg}
		if jerr := j.write(journalEvent{Event: "failed", ID: p.ID, Kind: ae.kind, Error: ae.msg}); jerr != nil {
			return res, jerr
		}
		return res, nil
	default:
		return res, err
	}
	a, err := store(cfg, p, r, attempts)
	if err != nil {
		return res, err
	}
	tokens.Add(int64(max(0, a.CompletionTokens)))
	res.answer = &a
	return res, j.write(journalEvent{Event: "answer", ID: p.ID})
}

// store writes the raw response, then the answer record (the commit).
func store(cfg *Config, p *Prompt, r *reply, attempts int) (Answer, error) {
	body := r.body
	redacted := false
	if cfg.APIKey != "" && strings.Contains(string(body), cfg.APIKey) {
		body, redacted = []byte(strings.ReplaceAll(string(body), cfg.APIKey, "[redacted]")), true
	}
	red := cfg.redactor()
	a := Answer{ID: p.ID, Name: p.Name, Line: p.Line, Prompt: p.Prompt, Messages: p.Messages, Time: time.Now().UTC(),
		Attempts: attempts, Status: r.status, ResponseID: red(r.id), FinishReasons: r.finish,
		CompletionTokens: r.completionTokens, UsageReported: r.usageReported, ResponseBytes: len(body), Redacted: redacted}
	for _, t := range r.texts {
		a.Texts = append(a.Texts, red(t))
	}
	if !r.usageReported {
		a.CompletionTokens = -1
		if cfg.Tokenizer != nil {
			n := 0
			for _, t := range a.Texts {
				ids, _ := cfg.Tokenizer.AppendEncode(nil, t)
				n += len(ids)
			}
			a.CompletionTokens = n
		}
	}
	sum := sha256.Sum256(body)
	a.ResponseSHA256 = hex.EncodeToString(sum[:])
	base := filepath.Join(cfg.Dir, "answers", p.ID)
	if err := writeAtomic(base+".response.json", body); err != nil {
		return a, err
	}
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return a, fmt.Errorf("probe: %w", err)
	}
	return a, writeAtomic(base+".json", append(b, '\n'))
}
