package tokenize_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/tokenize"
)

// benchTexts returns prose (Opticks) and code (the net/http package source).
func benchTexts(b *testing.B) map[string]string {
	op, err := refcorpus.Opticks()
	if err != nil {
		b.Fatal(err)
	}
	var code strings.Builder
	files, _ := filepath.Glob(filepath.Join(runtime.GOROOT(), "src", "net", "http", "*.go"))
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		code.Write(src)
	}
	return map[string]string{"prose": op.Text, "code": code.String()}
}

// BenchmarkEncode compares the fast Encoder with tiktoken-go, on the same
// texts in one run: the ratio of their ns/op is the speed-up. Throughput is
// reported in MB/s (SetBytes) and tokens/s.
func BenchmarkEncode(b *testing.B) {
	texts := benchTexts(b)
	for _, kind := range []string{"prose", "code"} {
		text := texts[kind]
		for _, impl := range []string{"", tokenize.ReferencePrefix} {
			for _, enc := range []string{"o200k_base", "cl100k_base"} {
				tok, err := tokenize.Get(impl + enc)
				if err != nil {
					b.Fatal(err)
				}
				name := "fast"
				if impl != "" {
					name = "tiktoken-go"
				}
				b.Run("text="+kind+"/enc="+enc+"/impl="+name, func(b *testing.B) {
					ids, _ := tok.AppendEncode(nil, text)
					b.SetBytes(int64(len(text)))
					b.ReportAllocs()
					b.ResetTimer()
					for b.Loop() {
						ids, _ = tok.AppendEncode(ids[:0], text)
					}
					b.ReportMetric(float64(len(ids))*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
				})
			}
		}
	}
}
