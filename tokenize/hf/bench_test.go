package hf_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tracemark/tracemark/internal/threadcpu"
	"github.com/tracemark/tracemark/tokenize/hf"
	"github.com/tracemark/tracemark/tokenize/pretokenize"
)

// BenchmarkEncode compares, in one run, each known tokenizer with its
// hand-written pre-tokenizers and the same tokenizer.json with every split
// pattern wrapped in (?:...), which no scanner recognizes, so that regexp2
// runs them: the ratio of ns/op is the scanners' speed-up. cpu-ns/op is
// the encoding thread's CPU time per op, which on a loaded machine leaves
// out the time it waited for a core.
func BenchmarkEncode(b *testing.B) {
	op, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "testdata", "Isaac.Newton-Opticks.txt"))
	if err != nil {
		b.Fatal(err)
	}
	text := string(op)
	for _, name := range []string{"llama3", "qwen3", "deepseek-v3", "gpt2", "mistral-nemo"} {
		path := knownFile(b, name)
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, impl := range []string{"scanner", "regexp2"} {
			src := data
			if impl == "regexp2" {
				src = wrapPatterns(b, data)
			}
			tok, err := hf.Load(src, name, hf.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if impl == "regexp2" && len(tok.Fallbacks()) == 0 {
				b.Fatalf("%s: no pattern falls back", name)
			}
			b.Run("tok="+name+"/impl="+impl, func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				ids, _ := tok.AppendEncode(nil, text)
				b.SetBytes(int64(len(text)))
				b.ReportAllocs()
				cpu := threadcpu.Now()
				for b.Loop() {
					ids, _ = tok.AppendEncode(ids[:0], text)
				}
				b.ReportMetric(float64(threadcpu.Now()-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// wrapPatterns rewrites a tokenizer.json so that each Split regex is
// (?:REGEX), and a ByteLevel pre-tokenizer with use_regex gets an explicit
// Split with the wrapped GPT-2 pattern instead.
func wrapPatterns(t testing.TB, data []byte) []byte {
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	gpt2 := "(?:" + pretokenize.Regexes[pretokenize.GPT2] + ")"
	var walk func(v any) any
	walk = func(v any) any {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		switch m["type"] {
		case "Split":
			p := m["pattern"].(map[string]any)
			p["Regex"] = "(?:" + p["Regex"].(string) + ")"
		case "ByteLevel":
			if u, ok := m["use_regex"].(bool); !ok || u {
				m["use_regex"] = false
				return map[string]any{"type": "Sequence", "pretokenizers": []any{
					map[string]any{"type": "Split", "pattern": map[string]any{"Regex": gpt2}, "behavior": "Isolated", "invert": false}, m}}
			}
		case "Sequence":
			if ps, ok := m["pretokenizers"].([]any); ok {
				for k := range ps {
					ps[k] = walk(ps[k])
				}
			}
		}
		return m
	}
	f["pre_tokenizer"] = walk(f["pre_tokenizer"])
	out, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
