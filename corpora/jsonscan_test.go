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

// FuzzJSONString checks jsonString against encoding/json on string
// literals: the same literals are valid, and they decode to the same text.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\nb\t\"q\"\\"`, `"\u00e9\u4e2d"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`,
		`"\ude00\ud83d"`, `"\ud83d\u0041"`, `"\ud83d\ud83d\ude00"`, "\"bad\xffutf8\"", "\"ctl\x01\"", `"\x"`, `"\u12"`, `"\"`, `"a"b"`,
		`"\/"`, `"\b\f\r"`, `"\uD83D\uDE00"`, "\"\xef\xbf\xbd\"", `""`, `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := jsonString(b)
		if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
			if ok {
				t.Fatalf("%q: not a string literal, accepted as %q", b, got)
			}
			return
		}
		var want string
		err := json.Unmarshal(b, &want)
		if (err == nil) != ok {
			t.Fatalf("%q: encoding/json error %v, jsonString ok=%v", b, err, ok)
		}
		if ok && got != want {
			t.Fatalf("%q: jsonString %q, encoding/json %q", b, got, want)
		}
	})
}
