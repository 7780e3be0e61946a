package probe

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Message is one chat message of a prompt.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Prompt is one prompt to send: either a text (Prompt) or a list of chat
// messages (Messages). A text prompt sent to the chat API becomes one user
// message.
type Prompt struct {
	// ID is the prompt's key in the output directory: a hash of what is
	// sent (see PromptID), so that reordering or extending the prompts file
	// never sends a prompt twice.
	ID string `json:"id"`
	// Name is the "id" field of a JSON line, if any (for the reader).
	Name string `json:"name,omitempty"`
	// Line is the line of the prompts file (1-based).
	Line     int       `json:"line"`
	Prompt   string    `json:"prompt,omitempty"`
	Messages []Message `json:"messages,omitempty"`
}

// Texts returns the prompt's texts: the prompt, or every message's content.
func (p *Prompt) Texts() []string {
	if p.Messages == nil {
		return []string{p.Prompt}
	}
	out := make([]string, 0, len(p.Messages))
	for _, m := range p.Messages {
		out = append(out, m.Content)
	}
	return out
}

// LineError is a line of the prompts file that was not read as a prompt.
type LineError struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// Error implements error.
func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Message) }

// Prompts is what ReadPrompts read.
type Prompts struct {
	// Prompts are the distinct prompts, in file order.
	Prompts []Prompt
	// Duplicates counts lines that repeat an earlier prompt (same ID); each
	// is sent once.
	Duplicates int
	// Bad lists the lines that are no prompt (bad JSON, no prompt field,
	// invalid UTF-8); they are not sent.
	Bad []LineError
	// SHA256 is the hex SHA-256 of the file's bytes.
	SHA256 string
	// Bytes is the file's size.
	Bytes int64
}

// maxPromptLine bounds one line of the prompts file.
const maxPromptLine = 16 << 20

// ReadPrompts reads a prompts file: one prompt per line. A line whose
// first non-space character is '{' is a JSON object with a string "prompt"
// or an array "messages" of {"role", "content"} objects, and optionally a
// string "id" (kept as Prompt.Name); any other line is the prompt's text,
// verbatim. Blank lines are skipped. Bad lines are returned in
// Prompts.Bad, naming their line; reading goes on.
//
// For the chat API (chat true) a text prompt is one user message; for the
// completions API a line with "messages" is bad.
func ReadPrompts(r io.Reader, chat bool) (Prompts, error) {
	var out Prompts
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(r, h)}
	br := bufio.NewReaderSize(cr, 64<<10)
	seen := map[string]bool{}
	for line := 1; ; line++ {
		b, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, errLineTooLong) {
				out.Bad = append(out.Bad, LineError{Line: line, Message: fmt.Sprintf("line longer than %d bytes", maxPromptLine)})
				continue
			}
			return out, fmt.Errorf("prompts: line %d: %w", line, err)
		}
		if len(bytes.TrimSpace(b)) > 0 {
			p, perr := parsePromptLine(b, chat)
			if perr != nil {
				out.Bad = append(out.Bad, LineError{Line: line, Message: perr.Error()})
			} else {
				p.Line = line
				p.ID = PromptID(chat, &p)
				if seen[p.ID] {
					out.Duplicates++
				} else {
					seen[p.ID] = true
					out.Prompts = append(out.Prompts, p)
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	out.SHA256, out.Bytes = hex.EncodeToString(h.Sum(nil)), cr.n
	return out, nil
}

var errLineTooLong = errors.New("line too long")

// readLine reads one line without its end (\n or \r\n); a line longer than
// maxPromptLine is consumed and reported as errLineTooLong.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(frag) > maxPromptLine+2 {
				tooLong, line = true, nil
			} else {
				line = append(line, frag...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return nil, errLineTooLong
		}
		return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")), err
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func parsePromptLine(b []byte, chat bool) (Prompt, error) {
	if !utf8.Valid(b) {
		return Prompt{}, errors.New("invalid UTF-8")
	}
	t := bytes.TrimSpace(b)
	if t[0] != '{' {
		return Prompt{Prompt: string(b)}, nil
	}
	var j struct {
		ID       *json.RawMessage `json:"id"`
		Prompt   *string          `json:"prompt"`
		Messages []Message        `json:"messages"`
	}
	if err := json.Unmarshal(t, &j); err != nil {
		return Prompt{}, fmt.Errorf("not a JSON prompt object: %w", err)
	}
	var p Prompt
	if j.ID != nil {
		var s string
		if err := json.Unmarshal(*j.ID, &s); err != nil {
			p.Name = strings.TrimSpace(string(*j.ID))
		} else {
			p.Name = s
		}
	}
	switch {
	case j.Prompt != nil && j.Messages != nil:
		return Prompt{}, errors.New(`both "prompt" and "messages"`)
	case j.Prompt != nil:
		if *j.Prompt == "" {
			return Prompt{}, errors.New(`empty "prompt"`)
		}
		p.Prompt = *j.Prompt
	case len(j.Messages) > 0:
		if !chat {
			return Prompt{}, errors.New(`"messages" needs the chat API (the completions API takes "prompt")`)
		}
		for i, m := range j.Messages {
			if m.Role == "" {
				return Prompt{}, fmt.Errorf("message %d has no role", i)
			}
		}
		p.Messages = j.Messages
	default:
		return Prompt{}, errors.New(`no "prompt" string or "messages" array`)
	}
	return p, nil
}

// PromptID is the hex SHA-256 (first 16 bytes) of what is sent for p:
// the API (chat or completions) and the prompt or messages. Two lines that
// send the same thing share an ID.
func PromptID(chat bool, p *Prompt) string {
	h := sha256.New()
	if chat {
		msgs := p.Messages
		if msgs == nil {
			msgs = []Message{{Role: "user", Content: p.Prompt}}
		}
		b, _ := json.Marshal(msgs)
		h.Write([]byte("chat\x00"))
		h.Write(b)
	} else {
		h.Write([]byte("completions\x00"))
		h.Write([]byte(p.Prompt))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
