package corpora_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/tracemark/tracemark/corpora"
)

// TestParquetMutationsStayBounded reads 2,200 randomly corrupted Parquet
// files in one process: none may take long or grow the heap (a corrupted
// footer length once made the library allocate gigabytes).
func TestParquetMutationsStayBounded(t *testing.T) {
	var b bytes.Buffer
	w := parquet.NewGenericWriter[fineWebRow](&b)
	w.Write([]fineWebRow{{ID: "a", Text: "hello"}, {ID: "b", Text: "world"}})
	w.Close()
	seed := b.Bytes()
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	var ms runtime.MemStats
	runtime.GC() // the garbage of earlier tests is not this test's heap
	for i := 0; i < 2200; i++ {
		data := append([]byte(nil), seed...)
		for k := 0; k < 1+rng.IntN(4); k++ {
			data[rng.IntN(len(data))] = byte(rng.Uint32())
		}
		path := filepath.Join(dir, "f.parquet")
		os.WriteFile(path, data, 0o644)
		t0 := time.Now()
		r, _ := corpora.NewReader(corpora.ReadOptions{})
		_, err := r.ReadFile(context.Background(), path, func(corpora.Document) error { return nil }, func(corpora.Diagnostic) {})
		runtime.ReadMemStats(&ms)
		if d := time.Since(t0); d > time.Second || ms.HeapAlloc > 256<<20 {
			t.Fatalf("corrupted file %d: %v, heap %d MB (err %v)", i, d, ms.HeapAlloc>>20, err)
		}
	}
}
