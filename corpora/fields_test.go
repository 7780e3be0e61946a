package corpora_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/tracemark/tracemark/corpora"
)

func chatJSONL(n int, key string) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		line, _ := json.Marshal(map[string]any{"id": fmt.Sprint("c", i), key: []map[string]string{
			{"role": "user", "content": fmt.Sprint("question ", i)}, {"role": "assistant", "content": fmt.Sprint("answer number ", i)}}})
		b.Write(append(line, '\n'))
	}
	return b.Bytes()
}

// A field that matches nothing is an error naming the keys found, never a
// silent 0 documents; records without text are counted.
func TestFieldMatchingNothingIsAnError(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "chat.jsonl", chatJSONL(5, "conversation"))
	_, _, st, err := collect(t, path, corpora.ReadOptions{Fields: []string{"text"}})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "conversation[].content") || !strings.Contains(err.Error(), "conversation[].role") || st.NoText != 5 {
		t.Errorf("jsonl: %v, %+v", err, st)
	}
	// Some records with text, some without: counted, not an error.
	mixed := append(chatJSONL(2, "conversation"), []byte(`{"text":"hello there"}`+"\n")...)
	docs, _, st, err := collect(t, write(t, dir, "mixed.jsonl", mixed), corpora.ReadOptions{Fields: []string{"text"}})
	if err != nil || len(docs) != 1 || st.NoText != 2 || st.Field != "text" {
		t.Errorf("mixed: %v, %d docs, %+v", err, len(docs), st)
	}
	// A role filter that keeps no turn.
	_, _, _, err = collect(t, path, corpora.ReadOptions{Fields: []string{"conversation[].content"}, Role: "system"})
	if err == nil || !strings.Contains(err.Error(), "no documents") {
		t.Errorf("role: %v", err)
	}
	// JSON arrays and CSV too.
	arr, _ := json.Marshal([]map[string]string{{"body": "a"}, {"body": "b"}})
	if _, _, _, err := collect(t, write(t, dir, "a.json", arr), corpora.ReadOptions{Fields: []string{"text"}}); err == nil || !strings.Contains(err.Error(), "keys found: body") {
		t.Errorf("json: %v", err)
	}
	if _, _, _, err := collect(t, write(t, dir, "a.csv", []byte("id,text\n1,\n2,\n")), corpora.ReadOptions{}); err == nil || !strings.Contains(err.Error(), "no documents") {
		t.Errorf("csv with empty cells: %v", err)
	}
}

// Without a field, each file's first record that has one of the common
// fields decides, and the file's stats say which.
func TestFieldAutoDetected(t *testing.T) {
	dir := t.TempDir()
	for key, want := range map[string]string{"conversation": "conversation[].content", "messages": "messages[].content"} {
		docs, diags, st, err := collect(t, write(t, dir, key+".jsonl", chatJSONL(4, key)), corpora.ReadOptions{Role: "assistant"})
		if err != nil || len(diags) != 0 || len(docs) != 4 || st.Field != want || docs[2].Text != "answer number 2" {
			t.Errorf("%s: %v %v %d docs %+v", key, err, diags, len(docs), st)
		}
	}
	body := `{"id":1,"meta":{}}` + "\n" + `{"id":2,"raw_content":"first"}` + "\n" + `{"id":3,"raw_content":"second","text":"not this"}` + "\n"
	docs, _, st, err := collect(t, write(t, dir, "rc.jsonl", []byte(body)), corpora.ReadOptions{})
	if err != nil || len(docs) != 2 || docs[1].Text != "second" || st.Field != "raw_content" || st.NoText != 1 {
		t.Errorf("raw_content: %v %d docs %+v", err, len(docs), st)
	}
	sg, _ := json.Marshal([]map[string]any{{"conversations": []map[string]string{{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}}}})
	if docs, _, st, err := collect(t, write(t, dir, "sg.json", sg), corpora.ReadOptions{Role: "assistant"}); err != nil || len(docs) != 1 || docs[0].Text != "a" || st.Field != "conversations[].value" {
		t.Errorf("sharegpt: %v %+v %+v", err, docs, st)
	}
	if docs, _, st, err := collect(t, write(t, dir, "c.csv", []byte("id,content\n1,hello\n")), corpora.ReadOptions{}); err != nil || len(docs) != 1 || st.Field != "content" {
		t.Errorf("csv: %v %+v", err, st)
	}
	// No known field at all: an error listing what is there.
	if _, _, _, err := collect(t, write(t, dir, "none.jsonl", []byte(`{"prompt":"p","meta":{"lang":"en"}}`+"\n")), corpora.ReadOptions{}); err == nil || !strings.Contains(err.Error(), "keys found: prompt, meta.lang") {
		t.Errorf("none: %v", err)
	}
}

// Several fields: documents from each.
func TestSeveralFields(t *testing.T) {
	body := `{"id":"a","question":"why?","answer":"because"}` + "\n" + `{"id":"b","answer":"only this"}` + "\n"
	docs, _, st, err := collect(t, write(t, t.TempDir(), "qa.jsonl", []byte(body)), corpora.ReadOptions{Fields: []string{"question", "answer"}})
	if err != nil || len(docs) != 3 || st.Field != "question, answer" {
		t.Fatalf("%v %+v %+v", err, docs, st)
	}
	if docs[0].ID != "a#question" || docs[1].ID != "a#answer" || docs[1].Text != "because" || docs[2].ID != "b#answer" || !strings.Contains(docs[1].Location, "answer") {
		t.Errorf("%+v", docs)
	}
	// The old single Field still works.
	docs, _, _, _ = collect(t, write(t, t.TempDir(), "qa.jsonl", []byte(body)), corpora.ReadOptions{Field: "answer"})
	if len(docs) != 2 || docs[0].ID != "a" {
		t.Errorf("Field: %+v", docs)
	}
}

// Parquet: the same, with logical paths (conversation[].content), not
// physical column names (conversation.list.element.content).
func TestParquetFieldSelection(t *testing.T) {
	rows := []lmsysRow{{ID: "c0", Conversation: []chatTurn{{"user", "q"}, {"assistant", "the answer"}}}}
	var b bytes.Buffer
	w := parquet.NewGenericWriter[lmsysRow](&b)
	w.Write(rows)
	w.Close()
	dir := t.TempDir()
	path := write(t, dir, "lmsys.parquet", b.Bytes())
	_, _, _, err := collect(t, path, corpora.ReadOptions{Fields: []string{"text"}})
	if err == nil || !strings.Contains(err.Error(), "conversation[].content") || strings.Contains(err.Error(), "list.element") {
		t.Errorf("missing: %v", err)
	}
	docs, _, st, err := collect(t, path, corpora.ReadOptions{Role: "assistant", IDField: "conversation_id"})
	if err != nil || len(docs) != 1 || docs[0].Text != "the answer" || st.Field != "conversation[].content" {
		t.Errorf("auto: %v %+v %+v", err, docs, st)
	}
	_, _, st, err = collect(t, path, corpora.ReadOptions{Fields: []string{"conversation[].content"}, Role: "system"})
	if err == nil || st.NoText != 1 {
		t.Errorf("no turn of the role: %v %+v", err, st)
	}
	fw := []fineWebRow{{ID: "a", Text: "one", URL: "u"}, {ID: "b", Text: "", URL: "v"}}
	b.Reset()
	w2 := parquet.NewGenericWriter[fineWebRow](&b)
	w2.Write(fw)
	w2.Close()
	docs, _, st, err = collect(t, write(t, dir, "fw.parquet", b.Bytes()), corpora.ReadOptions{Fields: []string{"text", "url"}})
	if err != nil || len(docs) != 3 || st.NoText != 1 || st.Records != 2 {
		t.Errorf("several: %v %d docs %+v", err, len(docs), st)
	}
}
