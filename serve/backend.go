package serve

import (
	"fmt"
	"strings"

	"github.com/tracemark/tracemark/generate"
	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/tokenize"
)

// Message is one chat message as the backend's chat template sees it: the
// role ("system", "developer", "user", "assistant", "tool") and the text
// content (array content parts are joined first).
type Message struct {
	Role    string
	Content string
}

// Backend is a model the server can serve. Implementations are safe for
// concurrent use; NewModel gives each generation its own model state.
type Backend interface {
	// ID is the model name clients pass as "model" and /v1/models lists.
	ID() string
	// Tokenizer is the tokenizer the model's token IDs belong to; the
	// watermark key must be made for it.
	Tokenizer() tokenize.Tokenizer
	// NewModel returns the model for one generation (one goroutine).
	NewModel() generate.Model
	// ChatPrompt renders chat messages into the prompt text the model
	// continues (the chat template).
	ChatPrompt(msgs []Message) string
	// Settings are the decoding settings before a request's temperature
	// and top_p replace theirs (top-k and min-p stay the backend's).
	Settings() generate.Settings
}

// NgramBackend serves a tracemark n-gram model (the built-in one, or one
// made by `tracemark ngram train`) over o200k_base.
type NgramBackend struct {
	name  string
	model *ngram.Model
	tok   tokenize.Tokenizer
}

// NewNgramBackend returns a backend named name for model, whose token IDs
// must be o200k_base's regular tokens (ngram.BuiltinVocab of them).
func NewNgramBackend(name string, model *ngram.Model) (*NgramBackend, error) {
	if name == "" {
		return nil, fmt.Errorf("serve: n-gram backend needs a model name")
	}
	if v := model.VocabSize(); v != ngram.BuiltinVocab {
		return nil, fmt.Errorf("serve: n-gram model %s has a vocabulary of %d tokens, not %s's %d", name, v, ngram.BuiltinTokenizer, ngram.BuiltinVocab)
	}
	tok, err := tokenize.Get(ngram.BuiltinTokenizer)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return &NgramBackend{name: name, model: model, tok: tok}, nil
}

// ID returns the model name.
func (b *NgramBackend) ID() string { return b.name }

// Tokenizer returns o200k_base.
func (b *NgramBackend) Tokenizer() tokenize.Tokenizer { return b.tok }

// NewModel returns a fresh n-gram session (its own top-k buffers).
func (b *NgramBackend) NewModel() generate.Model { return b.model.NewSession() }

// Settings returns tracemark generate's defaults: top-k 40 (the n-gram
// model's fast path), top-p 0.95, temperature 1.
func (b *NgramBackend) Settings() generate.Settings { return generate.DefaultSettings() }

// ChatPrompt is the n-gram backend's chat template (docs/serve.md): every
// message becomes a paragraph "Role: content" (the role capitalized, then
// a blank line), and the prompt ends with "Assistant:" for the model to
// continue. An n-gram model has no notion of turns; the template only
// makes the served prompt well defined, so that the served-output log
// records exactly the tokens the model saw.
func (b *NgramBackend) ChatPrompt(msgs []Message) string { return NgramChatPrompt(msgs) }

// NgramChatPrompt renders messages with the n-gram backend's template.
func NgramChatPrompt(msgs []Message) string {
	var sb strings.Builder
	for _, m := range msgs {
		role := m.Role
		if role != "" {
			role = strings.ToUpper(role[:1]) + role[1:]
		}
		sb.WriteString(role)
		sb.WriteString(": ")
		sb.WriteString(m.Content)
		sb.WriteString("\n\n")
	}
	sb.WriteString("Assistant:")
	return sb.String()
}
