package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// API is the OpenAI API a probe talks to.
type API string

const (
	// Chat is POST {endpoint}/chat/completions with "messages".
	Chat API = "chat"
	// Completions is POST {endpoint}/completions with "prompt".
	Completions API = "completions"
)

// ParseAPI parses "chat" or "completions" ("" is Chat).
func ParseAPI(s string) (API, error) {
	switch API(s) {
	case "", Chat:
		return Chat, nil
	case Completions:
		return Completions, nil
	}
	return "", fmt.Errorf("probe: unknown API %q (chat or completions)", s)
}

func (a API) path() string {
	if a == Completions {
		return "/completions"
	}
	return "/chat/completions"
}

// FailureKind names why a request failed.
type FailureKind string

// The failure kinds, as the summary names them.
const (
	FailTimeout     FailureKind = "timeout"       // no complete answer within the timeout
	FailConnection  FailureKind = "connection"    // refused, reset, DNS, TLS...
	FailTruncated   FailureKind = "truncated"     // the body ended early (connection closed mid-body)
	FailNonJSON     FailureKind = "non_json"      // a body that is not JSON
	FailHTML        FailureKind = "html"          // an HTML page (a proxy's or gateway's error page)
	FailRateLimited FailureKind = "rate_limited"  // HTTP 429
	FailServer      FailureKind = "server_error"  // HTTP 5xx
	FailClient      FailureKind = "client_error"  // HTTP 4xx other than 408 and 429 (not retried)
	FailErrorBody   FailureKind = "error_body"    // HTTP 200 whose body is an error object
	FailNoChoices   FailureKind = "empty_choices" // HTTP 200 without choices
	FailBadShape    FailureKind = "bad_response"  // JSON that is no completion (no text in a choice)
	FailCanceled    FailureKind = "canceled"      // the run was cancelled while the request was in flight
)

// attemptError is one failed attempt.
type attemptError struct {
	kind       FailureKind
	status     int
	msg        string
	retryable  bool
	retryAfter time.Duration
}

func (e *attemptError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("%s (HTTP %d): %s", e.kind, e.status, e.msg)
	}
	return fmt.Sprintf("%s: %s", e.kind, e.msg)
}

// reply is a successful answer.
type reply struct {
	status           int
	body             []byte
	id               string
	texts            []string
	finish           []string
	completionTokens int
	usageReported    bool
}

// client sends one prompt, with retries.
type client struct {
	cfg    *Config
	http   *http.Client
	url    string
	redact func(string) string
}

// maxBody bounds a response body.
const maxBody = 32 << 20

func (c *client) requestBody(p *Prompt) ([]byte, error) {
	body := map[string]any{"model": c.cfg.Model}
	if c.cfg.API == Chat {
		msgs := p.Messages
		if msgs == nil {
			msgs = []Message{{Role: "user", Content: p.Prompt}}
		}
		body["messages"] = msgs
	} else {
		body["prompt"] = p.Prompt
	}
	if c.cfg.MaxTokens > 0 {
		body["max_tokens"] = c.cfg.MaxTokens
	}
	if c.cfg.Temperature != nil {
		body["temperature"] = *c.cfg.Temperature
	}
	if c.cfg.Seed != nil {
		body["seed"] = *c.cfg.Seed
	}
	return json.Marshal(body)
}

// send sends p until it is answered, a permanent failure, MaxAttempts
// attempts, or ctx ends. before is called before every attempt (the
// journal's intent). It returns the reply or the last attempt's error, and
// the number of attempts made.
func (c *client) send(ctx context.Context, p *Prompt, before func(attempt int) error) (*reply, int, error) {
	body, err := c.requestBody(p)
	if err != nil {
		return nil, 0, fmt.Errorf("probe: encoding request: %w", err)
	}
	var last *attemptError
	n := 0
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, n, err
		}
		if err := before(attempt); err != nil {
			return nil, n, err
		}
		n = attempt
		r, aerr := c.attempt(ctx, body)
		if aerr == nil {
			return r, n, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, n, err
		}
		last = aerr
		if !aerr.retryable || attempt == c.cfg.MaxAttempts {
			break
		}
		if err := sleep(ctx, c.backoff(attempt, aerr.retryAfter)); err != nil {
			return nil, n, err
		}
	}
	return nil, n, last
}

// backoff is the wait after failed attempt n: exponential (BaseBackoff ·
// 2^(n-1), at most MaxBackoff) with equal jitter (half fixed, half
// uniform), and at least the server's Retry-After (at most MaxRetryAfter).
func (c *client) backoff(n int, retryAfter time.Duration) time.Duration {
	d := c.cfg.BaseBackoff
	for i := 1; i < n && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	if d > 0 {
		d = d/2 + rand.N(d/2+1)
	}
	if retryAfter > 0 {
		d = max(d, min(retryAfter, c.cfg.MaxRetryAfter))
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// attempt makes one request. A nil error means a usable answer.
func (c *client) attempt(ctx context.Context, body []byte) (*reply, *attemptError) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, &attemptError{kind: FailConnection, msg: c.redact(err.Error())}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(actx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		e := c.transportError(actx, err)
		if e.kind == FailConnection {
			e.kind = FailTruncated
			e.msg = fmt.Sprintf("body cut after %d bytes: %s", len(data), e.msg)
		}
		e.status = resp.StatusCode
		return nil, e
	}
	if len(data) > maxBody {
		return nil, &attemptError{kind: FailBadShape, status: resp.StatusCode, msg: fmt.Sprintf("body longer than %d bytes", maxBody)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, c.statusError(resp, data)
	}
	return c.parse(resp, data)
}

// transportError classifies an error of the request or body read.
func (c *client) transportError(actx context.Context, err error) *attemptError {
	var ne net.Error
	switch {
	case errors.Is(actx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &attemptError{kind: FailTimeout, retryable: true, msg: fmt.Sprintf("no complete answer within %s", c.cfg.Timeout)}
	case errors.Is(err, context.Canceled):
		return &attemptError{kind: FailCanceled, msg: "cancelled"}
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	return &attemptError{kind: FailConnection, retryable: true, msg: c.redact(msg)}
}

// statusError describes a non-200 answer.
func (c *client) statusError(resp *http.Response, data []byte) *attemptError {
	e := &attemptError{status: resp.StatusCode, msg: c.describeBody(resp, data)}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests:
		e.kind, e.retryable = FailRateLimited, true
		e.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case code >= 500:
		e.kind, e.retryable = FailServer, true
		e.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case code == http.StatusRequestTimeout:
		e.kind, e.retryable = FailTimeout, true
	default:
		e.kind = FailClient
	}
	return e
}

// describeBody returns a short description of an error body: the
// OpenAI-shaped error's message, else the start of the text.
func (c *client) describeBody(resp *http.Response, data []byte) string {
	var j struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &j) == nil && len(j.Error) > 0 {
		return c.redact(errorMessage(j.Error))
	}
	if isHTML(resp, data) {
		return "an HTML page: " + c.redact(snippet(htmlTitle(data), 120))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "empty body"
	}
	return c.redact(snippet(string(data), 200))
}

// errorMessage returns the "message" of an OpenAI error object (or the
// error value itself when it is a string).
func errorMessage(raw json.RawMessage) string {
	var obj struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    any    `json:"code"`
	}
	if json.Unmarshal(raw, &obj) == nil && (obj.Message != "" || obj.Type != "") {
		if obj.Type != "" {
			return snippet(obj.Type+": "+obj.Message, 300)
		}
		return snippet(obj.Message, 300)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return snippet(s, 300)
	}
	return snippet(string(raw), 300)
}

func isHTML(resp *http.Response, data []byte) bool {
	if strings.HasPrefix(strings.ToLower(resp.Header.Get("Content-Type")), "text/html") {
		return true
	}
	t := bytes.TrimSpace(data)
	return len(t) > 0 && t[0] == '<'
}

func htmlTitle(data []byte) string {
	low := bytes.ToLower(data)
	if i := bytes.Index(low, []byte("<title>")); i >= 0 {
		rest := data[i+7:]
		if j := bytes.Index(bytes.ToLower(rest), []byte("</title>")); j >= 0 {
			return strings.TrimSpace(string(rest[:j]))
		}
	}
	return strings.TrimSpace(string(data))
}

// snippet returns the first n runes of s with control characters as
// spaces.
func snippet(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	i := 0
	for _, r := range s {
		if i == n {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) {
			r = ' '
		}
		b.WriteRune(r)
		i++
	}
	return b.String()
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date (0
// if absent or unreadable).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 || s > 1e7 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now))
	}
	return 0
}

// parse reads a 200 answer.
func (c *client) parse(resp *http.Response, data []byte) (*reply, *attemptError) {
	bad := func(kind FailureKind, retry bool, msg string) (*reply, *attemptError) {
		return nil, &attemptError{kind: kind, status: resp.StatusCode, retryable: retry, msg: msg}
	}
	if !json.Valid(data) {
		if isHTML(resp, data) {
			return bad(FailHTML, true, "an HTML page instead of JSON: "+c.redact(snippet(htmlTitle(data), 120)))
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return bad(FailNonJSON, true, "empty body")
		}
		return bad(FailNonJSON, true, "not JSON: "+c.redact(snippet(string(data), 120)))
	}
	var j struct {
		ID      string          `json:"id"`
		Error   json.RawMessage `json:"error"`
		Choices *[]struct {
			Index   int     `json:"index"`
			Text    *string `json:"text"`
			Message *struct {
				Content *string `json:"content"`
			} `json:"message"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Usage *struct {
			CompletionTokens *int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		return bad(FailBadShape, true, "not a completion object: "+c.redact(err.Error()))
	}
	if len(j.Error) > 0 && string(j.Error) != "null" {
		return bad(FailErrorBody, true, "an error object in a 200 answer: "+c.redact(errorMessage(j.Error)))
	}
	if j.Choices == nil || len(*j.Choices) == 0 {
		return bad(FailNoChoices, false, "the answer has no choices")
	}
	r := &reply{status: resp.StatusCode, body: data, id: j.ID}
	for i, ch := range *j.Choices {
		var text *string
		switch {
		case ch.Message != nil && ch.Message.Content != nil:
			text = ch.Message.Content
		case ch.Text != nil:
			text = ch.Text
		case ch.Message != nil:
			empty := "" // a chat message with null content (e.g. a refusal or a tool call)
			text = &empty
		default:
			return bad(FailBadShape, false, fmt.Sprintf("choice %d has neither message.content nor text", i))
		}
		r.texts = append(r.texts, *text)
		fr := ""
		if ch.FinishReason != nil {
			fr = *ch.FinishReason
		}
		r.finish = append(r.finish, fr)
	}
	if j.Usage != nil && j.Usage.CompletionTokens != nil && *j.Usage.CompletionTokens >= 0 {
		r.completionTokens, r.usageReported = *j.Usage.CompletionTokens, true
	}
	return r, nil
}
