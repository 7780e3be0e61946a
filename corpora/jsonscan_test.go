package corpora

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzObjectKey checks the allocation-free scanner against encoding/json:
// the same inputs are valid objects, and the same value is found.
func FuzzObjectKey(f *testing.F) {
	for _, s := range []string{`{"text":"hi","id":3}`, `{"a":{"text":[1,{"b":null}]},"text":"x\u00e9"}`, `{"text":"a"`, `[1]`, `{"te\u0078t":"escaped key"}`, `{"text":tru}`, `{} `, `{"x":1,}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m map[string]json.RawMessage
		stdErr := json.Unmarshal(b, &m)
		isObject := stdErr == nil && m != nil
		v, err := objectKey(b, "text")
		if isObject != (err == nil) {
			t.Fatalf("%q: encoding/json says object=%v (%v), scanner says %v", b, isObject, stdErr, err)
		}
		if err != nil {
			return
		}
		want, ok := m["text"]
		if ok != (v != nil) || (ok && !bytes.Equal(bytes.TrimSpace(want), v)) {
			// encoding/json keeps the last duplicate key; the scanner the first.
			if bytes.Count(b, []byte(`"text"`)) < 2 {
				t.Fatalf("%q: value %q, encoding/json %q", b, v, want)
			}
		}
	})
}

func TestObjectKeyAllocatesNothing(t *testing.T) {
	line := []byte(`{"id":"x","meta":{"a":[1,2,{"b":"c"}]},"text":"some text here","z":null}`)
	if a := testing.AllocsPerRun(100, func() { objectKey(line, "text") }); a != 0 {
		t.Errorf("%v allocations", a)
	}
}
