// Package serve is tracemark's OpenAI-compatible HTTP server: it serves a
// language model (the built-in n-gram model, an n-gram model file, or any
// Backend) through /v1/chat/completions, /v1/completions (both with
// server-sent-event streaming) and /v1/models, watermarks every completion
// with the server's key (with a payload scheme, the payload is the
// customer's fingerprint), authenticates customers from a credentials file
// of API-key hashes, rate-limits them, and logs every response to the
// served-output log (package serve/servelog) before its first byte is sent.
//
// Nothing is ever served unlogged: a completion is generated in full,
// logged, and only then sent (streamed responses are cut into chunks after
// the fact). If the log cannot be written the server answers 503.
//
// docs/serve.md documents the API, the credentials file, the chat template,
// the limits and the opt-out policy.
package serve

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tracemark/tracemark/generate"
	"github.com/tracemark/tracemark/serve/servelog"
	"github.com/tracemark/tracemark/watermark"
)

// Config configures a Server. Zero values take the defaults named.
type Config struct {
	// Backends are the models served, by ID (at least one).
	Backends []Backend
	// Scheme is the watermark, bound to the server's key; nil serves
	// unwatermarked text (a whole-server choice, as for a test's "rival").
	// A payload scheme needs a credentials file whose every customer has a
	// payload.
	Scheme watermark.Scheme
	// CredentialsPath is the credentials file (LoadCredentials); "" serves
	// everyone as the customer "anonymous", without authentication.
	CredentialsPath string
	// Log is the served-output log. Serve closes it when it returns.
	Log *servelog.Writer
	// Limits bound one request (defaults: max_tokens 4096, n 16, prompt
	// 32768 tokens, 4 stop sequences).
	Limits Limits
	// DefaultMaxTokens is max_tokens when a chat request gives none
	// (default 256; the n-gram model never ends on its own). Completions
	// default to 16, as OpenAI's legacy endpoint does.
	DefaultMaxTokens int
	// MaxBodyBytes bounds a request body (default 4 MiB); larger: 413.
	MaxBodyBytes int64
	// MaxConcurrent bounds the generations running at once (default
	// GOMAXPROCS); MaxQueue bounds those waiting (default 64; negative: no
	// queue; a full queue is a 503); QueueTimeout bounds the wait (default 10 s).
	MaxConcurrent int
	MaxQueue      int
	QueueTimeout  time.Duration
	// GenerationTimeout bounds one request's generation (default 60 s).
	GenerationTimeout time.Duration
	// RequestsPerMinute and TokensPerMinute are the customers' default rate
	// limits (0: unlimited); a credentials entry may set its own.
	RequestsPerMinute int
	TokensPerMinute   int
	// ReadHeaderTimeout bounds reading a request's headers (slow clients;
	// default 10 s); ReadTimeout the whole request (default 60 s);
	// IdleTimeout a kept-alive connection (default 120 s);
	// ShutdownTimeout the wait for in-flight requests on shutdown (default
	// 60 s).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration
	// ErrorLog receives server-side problems (never secrets); nil: discard.
	ErrorLog *log.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Anonymous is the customer ID of requests to a server without a
// credentials file.
const Anonymous = "anonymous"

// customerMark is a customer's watermark: the server's scheme with the
// customer's payload set.
type customerMark struct {
	scheme  watermark.Scheme
	payload string // hex, "" without a payload scheme
}

// customers is one loaded credentials file with each customer's mark.
type customers struct {
	creds *Credentials // nil: anonymous mode
	marks map[string]customerMark
}

// Server serves the API. Create it with New.
type Server struct {
	cfg      Config
	backends map[string]Backend
	order    []string
	state    atomic.Pointer[customers]
	limiter  *limiter
	slots    chan struct{}
	waiting  atomic.Int64
	reloadMu sync.Mutex
	handler  http.Handler
	started  int64
}

// New checks cfg, loads the credentials and returns a Server.
func New(cfg Config) (*Server, error) {
	if len(cfg.Backends) == 0 {
		return nil, errors.New("serve: no backend")
	}
	if cfg.Log == nil {
		return nil, errors.New("serve: no served-output log")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Limits.MaxTokens, 4096)
	def(&cfg.Limits.MaxN, 16)
	def(&cfg.Limits.MaxPromptTokens, 32768)
	def(&cfg.Limits.MaxStop, 4)
	def(&cfg.DefaultMaxTokens, 256)
	cfg.DefaultMaxTokens = min(cfg.DefaultMaxTokens, cfg.Limits.MaxTokens)
	def(&cfg.MaxConcurrent, runtime.GOMAXPROCS(0))
	switch {
	case cfg.MaxQueue == 0:
		cfg.MaxQueue = 64
	case cfg.MaxQueue < 0:
		cfg.MaxQueue = 0
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur(&cfg.QueueTimeout, 10*time.Second)
	defDur(&cfg.GenerationTimeout, 60*time.Second)
	defDur(&cfg.ReadHeaderTimeout, 10*time.Second)
	defDur(&cfg.ReadTimeout, 60*time.Second)
	defDur(&cfg.IdleTimeout, 120*time.Second)
	defDur(&cfg.ShutdownTimeout, 60*time.Second)
	if cfg.ErrorLog == nil {
		cfg.ErrorLog = log.New(io.Discard, "", 0)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, backends: map[string]Backend{}, limiter: newLimiter(), slots: make(chan struct{}, cfg.MaxConcurrent)}
	for _, b := range cfg.Backends {
		id := b.ID()
		if _, dup := s.backends[id]; dup {
			return nil, fmt.Errorf("serve: two backends named %q", id)
		}
		if err := b.Settings().Validate(); err != nil {
			return nil, fmt.Errorf("serve: backend %s: %w", id, err)
		}
		s.backends[id] = b
		s.order = append(s.order, id)
	}
	if err := s.ReloadCredentials(); err != nil {
		return nil, err
	}
	s.started = cfg.Now().Unix()
	s.handler = s.routes()
	return s, nil
}

// ReloadCredentials rereads the credentials file (the CLI calls it on
// SIGHUP). On error the customers loaded before stay in force.
func (s *Server) ReloadCredentials() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	st, err := s.loadCustomers()
	if err != nil {
		return err
	}
	s.state.Store(st)
	return nil
}

func (s *Server) loadCustomers() (*customers, error) {
	st := &customers{marks: map[string]customerMark{}}
	pay, carries := watermark.CarriesPayload(s.cfg.Scheme)
	if s.cfg.Scheme == nil {
		carries = false
	}
	if s.cfg.CredentialsPath == "" {
		if carries {
			return nil, fmt.Errorf("serve: scheme %s carries a customer payload: it needs a credentials file whose customers have payloads", s.cfg.Scheme.Spec())
		}
		st.marks[Anonymous] = customerMark{scheme: s.cfg.Scheme}
		return st, nil
	}
	creds, err := LoadCredentials(s.cfg.CredentialsPath)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	st.creds = creds
	for _, c := range creds.customers {
		m := customerMark{scheme: s.cfg.Scheme}
		if carries {
			v, ok, err := c.PayloadValue()
			if err != nil {
				return nil, fmt.Errorf("serve: credentials %s: customer %s: %w", s.cfg.CredentialsPath, c.ID, err)
			}
			if !ok {
				return nil, fmt.Errorf("serve: credentials %s: customer %s has no payload, and scheme %s embeds one in every completion", s.cfg.CredentialsPath, c.ID, s.cfg.Scheme.Spec())
			}
			p, err := pay.WithPayload(v)
			if err != nil {
				return nil, fmt.Errorf("serve: credentials %s: customer %s: %w", s.cfg.CredentialsPath, c.ID, err)
			}
			m = customerMark{scheme: p, payload: strconv.FormatUint(v, 16)}
		}
		st.marks[c.ID] = m
	}
	return st, nil
}

// Handler returns the server's HTTP handler (for httptest or a mux of
// one's own; Serve uses it with its timeouts).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx is cancelled, then shuts down gracefully:
// it stops accepting, lets in-flight requests finish (up to
// ShutdownTimeout, then closes their connections), and closes the
// served-output log. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          s.cfg.ErrorLog,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		if err != nil {
			srv.Close()
			err = fmt.Errorf("serve: shutdown: %w", err)
		}
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if cerr := s.cfg.Log.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", s.only(http.MethodPost, s.chat))
	mux.HandleFunc("/v1/completions", s.only(http.MethodPost, s.completions))
	mux.HandleFunc("/v1/models", s.only(http.MethodGet, s.models))
	mux.HandleFunc("/v1/models/", s.only(http.MethodGet, s.model))
	mux.HandleFunc("/healthz", s.only(http.MethodGet, s.healthz))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest,
			Message: fmt.Sprintf("unknown URL: %s %s", r.Method, clip(r.URL.Path)), Code: strPtr("unknown_url")})
	})
	return mux
}

// only restricts a handler to one method (HEAD too for GET).
func (s *Server) only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Type: typeInvalidRequest,
				Message: fmt.Sprintf("method %s is not allowed for %s; use %s", r.Method, r.URL.Path, method), Code: strPtr("method_not_allowed")})
			return
		}
		h(w, r)
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	status, code := "ok", http.StatusOK
	if s.cfg.Log.Err() != nil {
		status, code = "log failed: refusing completions", http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "log_records": s.cfg.Log.Lines(),
		"generating": len(s.slots), "waiting": s.waiting.Load()})
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	if _, e := s.authenticate(r); e != nil {
		writeError(w, e)
		return
	}
	list := make([]modelObject, 0, len(s.order))
	for _, id := range s.order {
		list = append(list, modelObject{ID: id, Object: "model", Created: s.started, OwnedBy: "tracemark"})
	}
	writeJSON(w, map[string]any{"object": "list", "data": list})
}

func (s *Server) model(w http.ResponseWriter, r *http.Request) {
	if _, e := s.authenticate(r); e != nil {
		writeError(w, e)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/v1/models/")
	if _, ok := s.backends[id]; !ok {
		writeError(w, modelNotFound(id))
		return
	}
	writeJSON(w, modelObject{ID: id, Object: "model", Created: s.started, OwnedBy: "tracemark"})
}

func modelNotFound(id string) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest, Param: strPtr("model"), Code: strPtr("model_not_found"),
		Message: fmt.Sprintf("The model '%s' does not exist or you do not have access to it.", clip(id))}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// caller is an authenticated request's customer.
type caller struct {
	id      string
	trusted bool
	rates   rates
	mark    customerMark
}

// authenticate maps the bearer API key to a customer.
func (s *Server) authenticate(r *http.Request) (caller, *apiError) {
	st := s.state.Load()
	if st.creds == nil {
		return caller{id: Anonymous, rates: rates{s.cfg.RequestsPerMinute, s.cfg.TokensPerMinute}, mark: st.marks[Anonymous]}, nil
	}
	h := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
		return caller{}, &apiError{Status: http.StatusUnauthorized, Type: typeInvalidRequest, Code: strPtr("missing_api_key"),
			Message: "You didn't provide an API key. Send it in the Authorization header: 'Authorization: Bearer YOUR_KEY'."}
	}
	c, ok := st.creds.Lookup(strings.TrimSpace(key))
	if !ok {
		return caller{}, &apiError{Status: http.StatusUnauthorized, Type: typeInvalidRequest, Code: strPtr("invalid_api_key"),
			Message: "Incorrect API key provided."}
	}
	rt := rates{rpm: c.RequestsPerMinute, tpm: c.TokensPerMinute}
	if rt.rpm == 0 {
		rt.rpm = s.cfg.RequestsPerMinute
	}
	if rt.tpm == 0 {
		rt.tpm = s.cfg.TokensPerMinute
	}
	return caller{id: c.ID, trusted: c.Trusted, rates: rt, mark: st.marks[c.ID]}, nil
}

// readBody reads the request body under the size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	tooLarge := &apiError{Status: http.StatusRequestEntityTooLarge, Type: typeInvalidRequest, Code: strPtr("request_too_large"),
		Message: fmt.Sprintf("the request body is larger than this server's limit of %d bytes", s.cfg.MaxBodyBytes)}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, tooLarge
		}
		return nil, invalid("", "reading the request body: %v", err)
	}
	return body, nil
}

// job is one validated generation request.
type job struct {
	endpoint string // servelog endpoint name
	idPrefix string
	backend  Backend
	prompts  [][]uint32
	params   params
	who      caller
}

// decodeRequest authenticates r, reads its body within the size limit and
// decodes it into req: the start of every completion request.
func (s *Server) decodeRequest(w http.ResponseWriter, r *http.Request, req any) (caller, *apiError) {
	who, e := s.authenticate(r)
	if e != nil {
		return who, e
	}
	body, e := s.readBody(w, r)
	if e != nil {
		return who, e
	}
	return who, decodeJSON(body, req)
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	who, e := s.decodeRequest(w, r, &req)
	if e != nil {
		writeError(w, e)
		return
	}
	b, e := s.backendFor(req.Model)
	if e != nil {
		writeError(w, e)
		return
	}
	p, e := req.validate(s.cfg.Limits, s.cfg.DefaultMaxTokens)
	if e != nil {
		writeError(w, e)
		return
	}
	msgs, e := chatMessages(req.Messages)
	if e != nil {
		writeError(w, e)
		return
	}
	prompt, err := b.Tokenizer().AppendEncode(nil, b.ChatPrompt(msgs))
	if err != nil {
		writeError(w, invalid("messages", "the messages cannot be tokenized: %v", err))
		return
	}
	s.run(w, r, job{endpoint: "chat.completions", idPrefix: "chatcmpl-", backend: b, prompts: [][]uint32{prompt}, params: p, who: who})
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	who, e := s.decodeRequest(w, r, &req)
	if e != nil {
		writeError(w, e)
		return
	}
	b, e := s.backendFor(req.Model)
	if e != nil {
		writeError(w, e)
		return
	}
	p, e := req.validate(s.cfg.Limits, min(16, s.cfg.Limits.MaxTokens))
	if e != nil {
		writeError(w, e)
		return
	}
	texts, ids, e := completionPrompts(req.Prompt)
	if e != nil {
		writeError(w, e)
		return
	}
	if len(texts)+len(ids) > s.cfg.Limits.MaxN {
		writeError(w, invalid("prompt", "'prompt' holds %d prompts; at most %d are allowed", len(texts)+len(ids), s.cfg.Limits.MaxN))
		return
	}
	vocab := b.NewModel().VocabSize()
	for i, p := range ids {
		for _, t := range p {
			if int(t) >= vocab {
				writeError(w, invalid("prompt", "prompt %d holds token ID %d; the model's vocabulary has %d tokens", i, t, vocab))
				return
			}
		}
	}
	for _, t := range texts {
		p, err := b.Tokenizer().AppendEncode(nil, t)
		if err != nil {
			writeError(w, invalid("prompt", "the prompt cannot be tokenized: %v", err))
			return
		}
		ids = append(ids, p)
	}
	s.run(w, r, job{endpoint: "completions", idPrefix: "cmpl-", backend: b, prompts: ids, params: p, who: who})
}

func (s *Server) backendFor(model string) (Backend, *apiError) {
	if model == "" {
		return nil, invalid("model", "you must provide a model parameter")
	}
	b, ok := s.backends[model]
	if !ok {
		return nil, modelNotFound(model)
	}
	return b, nil
}

func overloaded(msg string) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Type: typeOverloaded, Message: msg, RetryAfter: 1, Code: strPtr("overloaded")}
}

// logUnavailable is the answer while the served-output log cannot be
// written.
var logUnavailable = &apiError{Status: http.StatusServiceUnavailable, Type: typeServer, Code: strPtr("log_unavailable"),
	Message: "The server cannot record responses right now and serves none until it can. Please retry later."}

// run generates, logs and sends one request's completions.
func (s *Server) run(w http.ResponseWriter, r *http.Request, j job) {
	p := j.params
	promptTokens := 0
	for i, pr := range j.prompts {
		if len(pr) > s.cfg.Limits.MaxPromptTokens {
			writeError(w, &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Param: strPtr("messages"), Code: strPtr("context_length_exceeded"),
				Message: fmt.Sprintf("prompt %d is %d tokens long; this server accepts at most %d", i, len(pr), s.cfg.Limits.MaxPromptTokens)})
			return
		}
		promptTokens += len(pr)
	}
	estimate := promptTokens + len(j.prompts)*p.n*p.maxTokens
	if ok, wait, tooLarge := s.limiter.take(j.who.id, j.who.rates, estimate, s.cfg.Now()); !ok {
		msg := fmt.Sprintf("Rate limit reached for customer %s. Please retry after %d s.", j.who.id, retrySeconds(wait))
		if tooLarge {
			msg = fmt.Sprintf("Request too large for customer %s: it may use up to %d tokens, more than the limit of %d tokens per minute. Lower max_tokens or n.", j.who.id, estimate, j.who.rates.tpm)
		}
		writeError(w, &apiError{Status: http.StatusTooManyRequests, Type: typeRateLimit, Code: strPtr("rate_limit_exceeded"), Message: msg, RetryAfter: retrySeconds(wait)})
		return
	}
	used := 0
	defer func() { s.limiter.refund(j.who.id, j.who.rates, estimate-used) }()
	if s.cfg.Log.Err() != nil {
		writeError(w, logUnavailable)
		return
	}
	release, e := s.acquire(r.Context())
	if e != nil {
		writeError(w, e)
		return
	}
	results, records, e := s.generate(r.Context(), j)
	release()
	if e != nil {
		if e.Status != 0 {
			writeError(w, e)
		}
		return
	}
	for i := range records {
		if err := s.cfg.Log.Write(records[i]); err != nil {
			s.cfg.ErrorLog.Printf("tracemark serve: %v", err)
			writeError(w, logUnavailable)
			return
		}
	}
	completion := 0
	for _, cs := range results {
		for _, c := range cs {
			completion += len(c.tokens)
		}
	}
	used = promptTokens + completion
	u := usage{PromptTokens: promptTokens, CompletionTokens: completion, TotalTokens: promptTokens + completion}
	id := records[0].RequestID
	w.Header().Set("X-Request-Id", id)
	created := records[0].Time.Unix()
	model := j.backend.ID()
	fp := "tracemark"
	if j.endpoint == "chat.completions" {
		if p.stream {
			s.streamChat(w, id, created, model, fp, results[0], p.includeUsage, u)
			return
		}
		resp := chatResponse{ID: id, Object: "chat.completion", Created: created, Model: model, Usage: u, SystemFingerprint: fp}
		for i, c := range results[0] {
			resp.Choices = append(resp.Choices, chatChoice{Index: i, Message: chatMessageOut{Role: "assistant", Content: c.text}, FinishReason: c.finish})
		}
		writeJSON(w, resp)
		return
	}
	if p.stream {
		s.streamCompletions(w, id, created, model, fp, results, p.includeUsage, u)
		return
	}
	resp := completionResponse{ID: id, Object: "text_completion", Created: created, Model: model, SystemFingerprint: fp, Usage: &u}
	for pi, cs := range results {
		for ci, c := range cs {
			fin := c.finish
			resp.Choices = append(resp.Choices, completionChoice{Text: c.text, Index: pi*p.n + ci, FinishReason: &fin})
		}
	}
	writeJSON(w, resp)
}

// acquire waits for a generation slot, within the queue bound and
// timeout.
func (s *Server) acquire(ctx context.Context) (func(), *apiError) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	default:
	}
	if s.waiting.Add(1) > int64(s.cfg.MaxQueue) {
		s.waiting.Add(-1)
		return nil, overloaded("The server is overloaded (all generation slots busy and the queue full). Please retry.")
	}
	defer s.waiting.Add(-1)
	t := time.NewTimer(s.cfg.QueueTimeout)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-t.C:
		return nil, overloaded("The server is overloaded (timed out waiting for a generation slot). Please retry.")
	case <-ctx.Done():
		return nil, &apiError{} // the client is gone: nothing to answer
	}
}

// generate runs every choice of every prompt and makes the log records.
// An apiError with Status 0 means the client went away.
func (s *Server) generate(ctx context.Context, j job) ([][]choice, []servelog.Record, *apiError) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.GenerationTimeout)
	defer cancel()
	p := j.params
	mark := j.who.mark
	watermarked := mark.scheme != nil
	if watermarked && p.optOut && j.who.trusted {
		watermarked = false
	}
	set := j.backend.Settings()
	set.Temperature, set.TopP = p.temperature, p.topP
	if p.topP == 0 {
		set.TopK, set.TopP = 1, 1
	}
	var wm generate.Watermark
	if watermarked {
		wm = mark.scheme
	}
	g, err := newGenerator(j.backend, wm, set)
	if err != nil {
		return nil, nil, &apiError{Status: http.StatusInternalServerError, Type: typeServer, Message: "the sampler could not be set up"}
	}
	seed := p.seed
	if !p.seeded {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	rng := mrand.New(mrand.NewPCG(seed, 0x7472616365))
	id := j.idPrefix + randomID()
	now := s.cfg.Log.Now()
	results := make([][]choice, len(j.prompts))
	records := make([]servelog.Record, len(j.prompts))
	for pi, prompt := range j.prompts {
		rec := servelog.Record{RequestID: id, Time: now, Customer: j.who.id, Model: j.backend.ID(), Endpoint: j.endpoint,
			Watermarked: watermarked, Tokenizer: j.backend.Tokenizer().Name(), PromptTokens: prompt}
		if watermarked {
			rec.KeyID, rec.Scheme, rec.Payload = mark.scheme.KeyID(), mark.scheme.Spec(), mark.payload
		}
		for range p.n {
			c, err := g.run(ctx, prompt, p.maxTokens, p.stop, rng)
			switch {
			case err == nil:
			case errors.Is(err, watermark.ErrGreedyUnmarkable):
				return nil, nil, invalid("temperature", "temperature 0 (greedy decoding) cannot carry this server's watermark (%s); use a temperature above 0", mark.scheme.Spec())
			case errors.Is(err, context.DeadlineExceeded):
				return nil, nil, &apiError{Status: http.StatusServiceUnavailable, Type: typeServer, Code: strPtr("timeout"), RetryAfter: 1,
					Message: fmt.Sprintf("generation took longer than this server's limit of %s; lower max_tokens or n", s.cfg.GenerationTimeout)}
			case ctx.Err() != nil:
				return nil, nil, &apiError{}
			default:
				s.cfg.ErrorLog.Printf("tracemark serve: request %s: generation failed: %v", id, err)
				return nil, nil, &apiError{Status: http.StatusInternalServerError, Type: typeServer, Message: "generation failed"}
			}
			results[pi] = append(results[pi], c)
			rec.Completions = append(rec.Completions, c.tokens)
		}
		records[pi] = rec
	}
	return results, records, nil
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sse writes server-sent events, flushing each.
type sse struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

func newSSE(w http.ResponseWriter) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return &sse{w: w, rc: http.NewResponseController(w)}
}

func (e *sse) send(v any) {
	if e.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		e.err = err
		return
	}
	if _, e.err = fmt.Fprintf(e.w, "data: %s\n\n", b); e.err == nil {
		e.err = e.rc.Flush()
	}
}

func (e *sse) done() {
	if e.err == nil {
		if _, e.err = io.WriteString(e.w, "data: [DONE]\n\n"); e.err == nil {
			e.err = e.rc.Flush()
		}
	}
}

func (s *Server) streamChat(w http.ResponseWriter, id string, created int64, model, fp string, cs []choice, includeUsage bool, u usage) {
	out := newSSE(w)
	chunk := func(choices []chatChunkChoice) chatChunk {
		return chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model, SystemFingerprint: fp, Choices: choices}
	}
	for i, c := range cs {
		empty := ""
		out.send(chunk([]chatChunkChoice{{Index: i, Delta: delta{Role: "assistant", Content: &empty}}}))
		for _, piece := range c.pieces() {
			out.send(chunk([]chatChunkChoice{{Index: i, Delta: delta{Content: &piece}}}))
		}
		fin := c.finish
		out.send(chunk([]chatChunkChoice{{Index: i, Delta: delta{}, FinishReason: &fin}}))
	}
	if includeUsage {
		last := chunk([]chatChunkChoice{})
		last.Usage = &u
		out.send(last)
	}
	out.done()
}

func (s *Server) streamCompletions(w http.ResponseWriter, id string, created int64, model, fp string, results [][]choice, includeUsage bool, u usage) {
	out := newSSE(w)
	chunk := func(choices []completionChoice) completionResponse {
		return completionResponse{ID: id, Object: "text_completion", Created: created, Model: model, SystemFingerprint: fp, Choices: choices}
	}
	n := len(results[0])
	for pi, cs := range results {
		for ci, c := range cs {
			idx := pi*n + ci
			for _, piece := range c.pieces() {
				out.send(chunk([]completionChoice{{Text: piece, Index: idx}}))
			}
			fin := c.finish
			out.send(chunk([]completionChoice{{Text: "", Index: idx, FinishReason: &fin}}))
		}
	}
	if includeUsage {
		last := chunk([]completionChoice{})
		last.Usage = &u
		out.send(last)
	}
	out.done()
}
