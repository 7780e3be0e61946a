package tmbeam

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/tracemark/tracemark/scan"
)

func TestTupleBatchesMergeExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Observations are a function of the fingerprint, as in the pipeline.
	obsOf := func(fp uint64) tupleObs {
		return tupleObs{FP: fp, Score: math.Float64bits(float64(fp % 2)), Bits: fp >> 7, Slot: uint8(fp >> 3), Colour: uint8(fp >> 11)}
	}
	want := map[uint64]bool{}
	codec, err := newBatchCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	var tb tupleBuffers
	tb.buckets, tb.codec = map[int][]tupleObs{}, codec
	var batches []tupleBatch
	keys := map[int]bool{}
	for round := 0; round < 3; round++ {
		for i := 0; i < 5000; i++ {
			fp := rng.Uint64N(3000) * 0x9e3779b97f4a7c15 // repeats within and across rounds
			want[fp] = true
			b := bucketKey(1, fp, 4)
			tb.buckets[b] = append(tb.buckets[b], obsOf(fp))
		}
		tb.flush(func(k int, b tupleBatch) {
			if k>>4 != 1 {
				t.Fatalf("bucket %d not of key 1", k)
			}
			keys[k] = true
			batches = append(batches, b)
		})
	}
	if len(keys) != 16 {
		t.Fatalf("%d buckets used, want 16", len(keys))
	}
	var all []tupleObs
	for _, b := range batches {
		if all, err = codec.decodeTuples(all, b); err != nil {
			t.Fatal(err)
		}
	}
	all = sortUnique(all)
	if len(all) != len(want) {
		t.Fatalf("%d distinct after the merge, want %d", len(all), len(want))
	}
	for i, o := range all {
		if !want[o.FP] || o != obsOf(o.FP) || (i > 0 && all[i-1].FP >= o.FP) {
			t.Fatalf("merged tuple %d: %+v", i, o)
		}
	}
	if _, err := codec.decodeTuples(nil, tupleBatch{codec.seal(make([]byte, tupleSize+1))}); err == nil {
		t.Fatal("a batch of a wrong size decoded")
	}
	if _, err := codec.decodeTuples(nil, tupleBatch{[]byte("not zstd")}); err == nil {
		t.Fatal("a corrupt batch decoded")
	}
}

func TestRecordBatchRoundTrip(t *testing.T) {
	q := 0.25
	recs := []Record{
		{File: "a.jsonl", Ord: 0, Tokens: 17, Doc: &scan.Doc{Type: "doc", File: "a.jsonl", ID: "x", PValue: 0.5, Log10P: math.Log10(0.5), QValue: &q, Matched: []string{}}},
		{File: "a.jsonl", Ord: 1, Diag: &scan.Diagnostic{Type: "error", File: "a.jsonl", Location: "line 2", Message: "bad"}},
		{File: "b/é.txt", Ord: 300, Tokens: 1 << 20, Doc: &scan.Doc{Type: "doc", ID: "b", Detected: true}},
		{File: "c.jsonl", Part: 1 << 40, Ord: 7, Diag: &scan.Diagnostic{Type: "error", File: "c.jsonl", Location: "line 9", Message: "bad"}},
		{File: "c.jsonl", Part: 1 << 40, Ord: 8, Range: &rangeTail{Diagnostics: 12}},
	}
	codec, err := newBatchCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	var rb recordBuffers
	rb.shards, rb.codec = make([][]byte, 2), codec
	for i, r := range recs {
		if err := rb.add(i%2, r); err != nil {
			t.Fatal(err)
		}
	}
	var got []Record
	rb.flush(func(_ int, b recBatch) {
		var err error
		if got, err = codec.decodeRecords(got, b); err != nil {
			t.Fatal(err)
		}
	})
	want := []Record{recs[0], recs[2], recs[4], recs[1], recs[3]} // shard 0, then shard 1
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if rb.size != 0 || len(rb.shards[0]) != 0 {
		t.Fatal("buffers not emptied by flush")
	}
	if _, err := codec.decodeRecords(nil, recBatch{[]byte("not zstd")}); err == nil {
		t.Fatal("a corrupt batch decoded")
	}
	if err := rb.add(0, Record{File: "c"}); err == nil {
		t.Fatal("a record without document or error was accepted")
	}
}
