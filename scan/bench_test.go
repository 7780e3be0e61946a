package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// gutenbergJSONL writes the built-in books as a .jsonl.zst corpus of
// paragraph-sized documents (about 2 kB each) and returns its path and the
// documents' texts.
func gutenbergJSONL(b *testing.B) (string, []string) {
	books, err := refcorpus.Gutenberg()
	if err != nil {
		b.Fatal(err)
	}
	var texts []string
	for _, book := range books {
		var cur strings.Builder
		for _, p := range strings.Split(book.Text, "\n\n") {
			cur.WriteString(p)
			cur.WriteString("\n\n")
			if cur.Len() > 2000 {
				texts = append(texts, cur.String())
				cur.Reset()
			}
		}
		if cur.Len() > 0 {
			texts = append(texts, cur.String())
		}
	}
	var raw bytes.Buffer
	for i, t := range texts {
		line, _ := json.Marshal(map[string]string{"id": fmt.Sprint(i), "text": t, "source": "gutenberg"})
		raw.Write(append(line, '\n'))
	}
	var z bytes.Buffer
	w, _ := zstd.NewWriter(&z)
	w.Write(raw.Bytes())
	w.Close()
	path := filepath.Join(b.TempDir(), "gutenberg.jsonl.zst")
	if err := os.WriteFile(path, z.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return path, texts
}

// scanBenchCorpus is the corpus, tokenizer and scheme of the scan
// benchmarks.
type scanBenchCorpus struct {
	path      string
	texts     []string
	textBytes int
	tok       tokenize.Tokenizer
	scheme    watermark.Scheme
}

func newScanBenchCorpus(b *testing.B) scanBenchCorpus {
	c := scanBenchCorpus{}
	c.path, c.texts = gutenbergJSONL(b)
	for _, t := range c.texts {
		c.textBytes += len(t)
	}
	var err error
	if c.tok, err = tokenize.Get(tokenize.Default); err != nil {
		b.Fatal(err)
	}
	if c.scheme, err = watermark.NewKGW(newKey(9), watermark.DefaultKGW()); err != nil {
		b.Fatal(err)
	}
	return c
}

type nullSink struct{}

func (nullSink) Begin(FileEvent) error       { return nil }
func (nullSink) Doc(Doc) error               { return nil }
func (nullSink) Diagnostic(Diagnostic) error { return nil }
func (nullSink) End(FileEvent) error         { return nil }
func (nullSink) Summary(Summary) error       { return nil }

// BenchmarkScan compares, in one run on the built-in books as .jsonl.zst:
// tokenization alone (one goroutine, texts already in memory), tokenization
// and per-document detection in memory (the work every scan must do), the
// scanner with one worker, and with two. Reported: MB/s of text for each, the
// single-worker scan against tokenization alone and against in-memory
// detection (what reading, decompression, JSON, ordering, q-values and the
// pooled test add), and two workers against one.
func BenchmarkScan(b *testing.B) {
	c := newScanBenchCorpus(b)
	path, texts, textBytes, tok, scheme := c.path, c.texts, c.textBytes, c.tok, c.scheme
	scanOnce := func(workers int) time.Duration {
		s, err := New(Config{Schemes: []watermark.Scheme{scheme}, Tokenizer: tok, Workers: workers})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		sum, err := s.Run(context.Background(), []string{path}, nullSink{})
		if err != nil || sum.Documents != len(texts) {
			b.Fatalf("scan: %v, %d docs", err, sum.Documents)
		}
		return time.Since(t0)
	}
	det, err := detect.New(scheme, detect.Options{Tokenizer: tok.Name()})
	if err != nil {
		b.Fatal(err)
	}
	var tTok, tDet, t1, t2 time.Duration
	var ids []uint32
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		for _, t := range texts {
			ids, _ = tok.AppendEncode(ids[:0], t)
		}
		tTok += time.Since(t0)
		t0 = time.Now()
		for _, t := range texts {
			ids, _ = tok.AppendEncode(ids[:0], t)
			det.Tokens(ids)
		}
		tDet += time.Since(t0)
		t1 += scanOnce(1)
		t2 += scanOnce(2)
	}
	mb := float64(textBytes) * float64(b.N) / 1e6
	b.ReportMetric(mb/tTok.Seconds(), "tokenize-MB/s")
	b.ReportMetric(mb/t1.Seconds(), "scan1-MB/s")
	b.ReportMetric(mb/t2.Seconds(), "scan2-MB/s")
	b.ReportMetric(mb/tDet.Seconds(), "detect-MB/s")
	b.ReportMetric(tTok.Seconds()/t1.Seconds(), "scan1/tokenize")
	b.ReportMetric(tDet.Seconds()/t1.Seconds(), "scan1/detect")
	b.ReportMetric(t1.Seconds()/t2.Seconds(), "scan2/scan1")
}

// BenchmarkScanWorkers runs the scanner alone, with 1 and 2 workers, on the
// corpus of BenchmarkScan: the one to profile (-cpuprofile) for where a
// scan's time goes.
func BenchmarkScanWorkers(b *testing.B) {
	c := newScanBenchCorpus(b)
	path, texts, textBytes, tok, scheme := c.path, c.texts, c.textBytes, c.tok, c.scheme
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("j=%d", workers), func(b *testing.B) {
			b.SetBytes(int64(textBytes))
			for i := 0; i < b.N; i++ {
				s, err := New(Config{Schemes: []watermark.Scheme{scheme}, Tokenizer: tok, Workers: workers})
				if err != nil {
					b.Fatal(err)
				}
				sum, err := s.Run(context.Background(), []string{path}, nullSink{})
				if err != nil || sum.Documents != len(texts) {
					b.Fatalf("scan: %v, %d docs", err, sum.Documents)
				}
			}
		})
	}
}
