package tmbeam

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/watermark"
)

// TestPrismRerunIdentical runs the pipeline twice on the same corpus (a KGW
// and a Gumbel key, normalization, a role filter) with the same dedup key
// into two outputs, the second time with the inputs listed file by file in
// reverse order and the pooled test's buckets tallied in 3 groups instead
// of 8, and checks that the outputs are the same files with the same bytes
// (summary.json apart from its seconds, with the Gumbel key's float sum):
// a job retried, or rerun after a failure, writes what the first run
// wrote, whatever order the runner reads the inputs and delivers the
// buckets' tallies in.
func TestPrismRerunIdentical(t *testing.T) {
	work := t.TempDir()
	sch, tok, keyPath := testKey(t, work)
	dir := writeCorpus(t, sch, tok)
	sch2, keyPath2 := writeKey(t, work, "k2.key", watermark.DefaultGumbel(), 5)
	writeChat(t, dir, sch, sch2, tok)
	ctx := context.Background()
	walked, err := corpora.Walk(ctx, []string{dir}, corpora.WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reversed := slices.Clone(walked.Files)
	slices.Reverse(reversed)
	cfg := Config{KeyPaths: []string{keyPath, keyPath2}, Normalize: true, FDR: 0.1, DedupKey: detect.DedupKey{0x1357, 0x2468},
		Read: corpora.ReadOptions{Format: "auto", IDField: "id", Split: "paragraphs", Role: "assistant"}}
	run := func(name string, inputs []string, groups int) string {
		out := filepath.Join(work, name)
		p, s := beam.NewPipelineWithRoot()
		if err := Build(ctx, s, Options{Config: cfg, Inputs: inputs, Output: out, Shards: 3, QCap: 1, TallyGroups: groups}); err != nil {
			t.Fatal(err)
		}
		if _, err := prism.Execute(ctx, p); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := run("first", []string{dir}, 0), run("second", reversed, 3)
	names := func(out string) []string {
		es, err := os.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, e := range es {
			ns = append(ns, e.Name())
		}
		return ns
	}
	na, nb := names(a), names(b)
	// A shard no input hashed to has no records and no file.
	if !slices.Equal(na, nb) || !slices.Contains(na, "summary.json") || !slices.Contains(na, "files.jsonl") || len(na) < 3 {
		t.Fatalf("outputs %v and %v: want the same shards, files.jsonl and summary.json", na, nb)
	}
	docs := 0
	for _, n := range na {
		da, db := readFile(t, filepath.Join(a, n)), readFile(t, filepath.Join(b, n))
		if n == "summary.json" {
			da, db = withoutSeconds(t, da), withoutSeconds(t, db)
		} else {
			docs += bytes.Count([]byte(da), []byte(`"type":"doc"`))
		}
		if da != db {
			t.Errorf("%s differs between the runs:\n%s\n---\n%s", n, da, db)
		}
	}
	if docs < 100 {
		t.Errorf("fixture: %d documents in the shards", docs)
	}
	t.Logf("%d output files, %d documents, byte-identical", len(na), docs)
}

// withoutSeconds returns a summary record with its run time removed.
func withoutSeconds(t *testing.T, summary string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(summary), &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["seconds"]; !ok {
		t.Fatalf("summary without seconds: %s", summary)
	}
	delete(m, "seconds")
	out, _ := json.Marshal(m)
	return string(out)
}
