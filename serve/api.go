package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"unicode/utf8"
)

// apiError is an error in OpenAI's shape, with its HTTP status.
type apiError struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
	// RetryAfter, in whole seconds, is sent as the Retry-After header when
	// positive.
	RetryAfter int `json:"-"`
}

func (e *apiError) Error() string { return e.Message }

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Error types, as OpenAI names them.
const (
	typeInvalidRequest = "invalid_request_error"
	typeAuthentication = "authentication_error"
	typeRateLimit      = "rate_limit_exceeded"
	typeServer         = "server_error"
	typeOverloaded     = "service_unavailable"
)

func invalid(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Param: strPtr(param), Message: fmt.Sprintf(format, args...)}
}

// writeError writes e as {"error": {...}} with its status.
func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]*apiError{"error": e})
}

// streamOptions is the request's stream_options.
type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// tracemarkOptions is the request's "tracemark" object: the watermark
// opt-out, honoured only for trusted credentials.
type tracemarkOptions struct {
	Watermark *bool `json:"watermark"`
}

// commonParams are the sampling parameters both endpoints share. Unknown
// fields are ignored, as OpenAI's API does.
type commonParams struct {
	Model               string            `json:"model"`
	MaxTokens           *int64            `json:"max_tokens"`
	MaxCompletionTokens *int64            `json:"max_completion_tokens"`
	Temperature         *float64          `json:"temperature"`
	TopP                *float64          `json:"top_p"`
	Seed                *int64            `json:"seed"`
	Stop                json.RawMessage   `json:"stop"`
	N                   *int64            `json:"n"`
	Stream              bool              `json:"stream"`
	StreamOptions       *streamOptions    `json:"stream_options"`
	Tracemark           *tracemarkOptions `json:"tracemark"`
}

type chatRequest struct {
	commonParams
	Messages []rawMessage `json:"messages"`
}

type rawMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type completionRequest struct {
	commonParams
	Prompt json.RawMessage `json:"prompt"`
}

// decodeJSON decodes body into v, turning decoding errors into 400s that
// name the field.
func decodeJSON(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("", "the request body is empty; expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			field := strings.TrimPrefix(te.Field, "commonParams.")
			return invalid(field, "invalid type for '%s': expected %s, got a JSON %s", field, jsonKind(te.Type.String()), te.Value)
		case errors.As(err, &se):
			return invalid("", "the request body is not valid JSON (byte %d: %v)", se.Offset, se)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return invalid("", "the request body is not valid JSON (it ends early)")
		default:
			return invalid("", "the request body is not valid JSON: %v", err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("", "the request body holds more than one JSON value")
	}
	return nil
}

// jsonKind names a Go type the way an API user thinks of it.
func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.Contains(goType, "int"):
		return "an integer"
	case strings.Contains(goType, "float"):
		return "a number"
	case goType == "string" || goType == "*string":
		return "a string"
	case goType == "bool" || goType == "*bool":
		return "a boolean"
	}
	return "an object"
}

// Limits bound what one request may ask for.
type Limits struct {
	// MaxTokens is the largest max_tokens a request may ask for.
	MaxTokens int
	// MaxN is the largest n.
	MaxN int
	// MaxPromptTokens bounds a prompt after the chat template.
	MaxPromptTokens int
	// MaxStop is the number of stop sequences allowed (OpenAI: 4).
	MaxStop int
}

// params are a request's validated sampling parameters.
type params struct {
	maxTokens    int
	temperature  float64
	topP         float64
	seed         uint64
	seeded       bool
	stop         []string
	n            int
	stream       bool
	includeUsage bool
	optOut       bool // the request asked for no watermark
}

// validate checks the common parameters; defaultMax is the endpoint's
// max_tokens default.
func (c *commonParams) validate(lim Limits, defaultMax int) (params, *apiError) {
	p := params{maxTokens: defaultMax, temperature: 1, topP: 1, n: 1, stream: c.Stream}
	mt, name := c.MaxTokens, "max_tokens"
	if c.MaxCompletionTokens != nil {
		mt, name = c.MaxCompletionTokens, "max_completion_tokens"
	}
	if mt != nil {
		switch {
		case *mt < 1:
			return p, invalid(name, "'%s' must be at least 1, got %d", name, *mt)
		case *mt > int64(lim.MaxTokens):
			return p, invalid(name, "'%s' is too large: %d; this server allows at most %d", name, *mt, lim.MaxTokens)
		}
		p.maxTokens = int(*mt)
	}
	if c.Temperature != nil {
		t := *c.Temperature
		if !(t >= 0 && t <= 2) {
			return p, invalid("temperature", "'temperature' must be between 0 and 2, got %v", t)
		}
		p.temperature = t
	}
	if c.TopP != nil {
		t := *c.TopP
		if !(t >= 0 && t <= 1) {
			return p, invalid("top_p", "'top_p' must be between 0 and 1, got %v", t)
		}
		p.topP = t
	}
	if c.N != nil {
		if *c.N < 1 || *c.N > int64(lim.MaxN) {
			return p, invalid("n", "'n' must be between 1 and %d, got %d", lim.MaxN, *c.N)
		}
		p.n = int(*c.N)
	}
	if c.Seed != nil {
		p.seed, p.seeded = uint64(*c.Seed), true
	}
	stop, err := parseStop(c.Stop, lim.MaxStop)
	if err != nil {
		return p, err
	}
	p.stop = stop
	if c.StreamOptions != nil {
		if !c.Stream {
			return p, invalid("stream_options", "'stream_options' is only allowed when 'stream' is true")
		}
		p.includeUsage = c.StreamOptions.IncludeUsage
	}
	if c.Tracemark != nil && c.Tracemark.Watermark != nil && !*c.Tracemark.Watermark {
		p.optOut = true
	}
	return p, nil
}

// parseStop reads "stop": null, a string or an array of strings.
func parseStop(raw json.RawMessage, max int) ([]string, *apiError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("stop", "'stop' must be a string or an array of strings")
	}
	if len(list) > max {
		return nil, invalid("stop", "'stop' holds %d sequences; at most %d are allowed", len(list), max)
	}
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// chatMessages turns the request's messages into template input.
func chatMessages(raw []rawMessage) ([]Message, *apiError) {
	if len(raw) == 0 {
		return nil, invalid("messages", "'messages' must be a non-empty array")
	}
	out := make([]Message, 0, len(raw))
	for i, m := range raw {
		param := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool", "function":
		case "":
			return nil, invalid(param+".role", "'%s.role' is missing", param)
		default:
			return nil, invalid(param+".role", "'%s.role' must be one of system, developer, user, assistant, tool; got %q", param, clip(m.Role))
		}
		text, err := messageText(m.Content, param)
		if err != nil {
			return nil, err
		}
		out = append(out, Message{Role: m.Role, Content: text})
	}
	return out, nil
}

// messageText reads a message's content: null, a string, or an array of
// {"type":"text","text":...} parts (joined with newlines).
func messageText(raw json.RawMessage, param string) (string, *apiError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", invalid(param+".content", "'%s.content' must be a string or an array of content parts", param)
	}
	texts := make([]string, 0, len(parts))
	for j, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return "", invalid(fmt.Sprintf("%s.content[%d]", param, j), "'%s.content[%d]': only text parts are supported (type %q)", param, j, clip(p.Type))
		}
		texts = append(texts, *p.Text)
	}
	return strings.Join(texts, "\n"), nil
}

// completionPrompts reads "prompt": a string, an array of strings, an
// array of token IDs or an array of token-ID arrays. Strings are returned
// in texts; token arrays in ids (exactly one of the two is non-nil).
func completionPrompts(raw json.RawMessage) (texts []string, ids [][]uint32, err *apiError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, invalid("prompt", "'prompt' is required")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil, nil
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil && len(ss) > 0 {
		return ss, nil, nil
	}
	var one []int64
	if json.Unmarshal(raw, &one) == nil && len(one) > 0 {
		p, err := tokenIDs(one, "prompt")
		return nil, [][]uint32{p}, err
	}
	var many [][]int64
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		for i, m := range many {
			p, err := tokenIDs(m, fmt.Sprintf("prompt[%d]", i))
			if err != nil {
				return nil, nil, err
			}
			ids = append(ids, p)
		}
		return nil, ids, nil
	}
	return nil, nil, invalid("prompt", "'prompt' must be a string, a non-empty array of strings, an array of token IDs or an array of token-ID arrays")
}

func tokenIDs(xs []int64, param string) ([]uint32, *apiError) {
	out := make([]uint32, len(xs))
	for i, x := range xs {
		if x < 0 || x > math.MaxUint32 {
			return nil, invalid(param, "'%s' holds token ID %d, out of range", param, x)
		}
		out[i] = uint32(x)
	}
	return out, nil
}

// clip shortens a user-supplied string for an error message.
func clip(s string) string {
	if len(s) <= 40 {
		return s
	}
	cut := 40
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// Response shapes (OpenAI's).

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type chatMessageOut struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type chatChoice struct {
	Index        int            `json:"index"`
	Message      chatMessageOut `json:"message"`
	Logprobs     *struct{}      `json:"logprobs"`
	FinishReason string         `json:"finish_reason"`
}

type chatResponse struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	Choices           []chatChoice `json:"choices"`
	Usage             usage        `json:"usage"`
	SystemFingerprint string       `json:"system_fingerprint"`
}

type delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type chatChunkChoice struct {
	Index        int       `json:"index"`
	Delta        delta     `json:"delta"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type chatChunk struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	Created           int64             `json:"created"`
	Model             string            `json:"model"`
	SystemFingerprint string            `json:"system_fingerprint"`
	Choices           []chatChunkChoice `json:"choices"`
	Usage             *usage            `json:"usage,omitempty"`
}

type completionChoice struct {
	Text         string    `json:"text"`
	Index        int       `json:"index"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type completionResponse struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	SystemFingerprint string             `json:"system_fingerprint"`
	Choices           []completionChoice `json:"choices"`
	Usage             *usage             `json:"usage,omitempty"`
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}
