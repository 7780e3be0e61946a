package corpora

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A small allocation-free JSON scanner for the reader's hot path: it finds
// the value of one key in an object, or the elements of an array, while
// checking that the whole value is well-formed JSON. Only the strings that
// become documents are decoded (and allocated).

var errJSON = errors.New("invalid JSON")

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxDepth = 512

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"',
// and whether it holds escapes.
func skipString(b []byte, i int) (int, bool, error) {
	escaped := false
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(b) {
				return 0, false, errJSON
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return 0, false, errJSON
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, false, errJSON
					}
				}
				i += 4
			default:
				return 0, false, errJSON
			}
		case c < 0x20:
			return 0, false, errJSON
		}
	}
	return 0, false, errJSON
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if depth > maxDepth || i >= len(b) {
		return 0, errJSON
	}
	switch c := b[i]; {
	case c == '"':
		j, _, err := skipString(b, i)
		return j, err
	case c == '{':
		return skipContainer(b, i, '}', depth)
	case c == '[':
		return skipContainer(b, i, ']', depth)
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		if j == i || !json.Valid(b[i:j]) {
			return 0, errJSON
		}
		return j, nil
	}
}

// skipContainer skips an object or array, checking its members.
func skipContainer(b []byte, i int, end byte, depth int) (int, error) {
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == end {
		return i + 1, nil
	}
	for {
		var err error
		if end == '}' {
			if i >= len(b) || b[i] != '"' {
				return 0, errJSON
			}
			if i, _, err = skipString(b, i); err != nil {
				return 0, err
			}
			i = skipWS(b, i)
			if i >= len(b) || b[i] != ':' {
				return 0, errJSON
			}
			i = skipWS(b, i+1)
		}
		if i, err = skipValue(b, i, depth+1); err != nil {
			return 0, err
		}
		i = skipWS(b, i)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipWS(b, i+1)
		case i < len(b) && b[i] == end:
			return i + 1, nil
		default:
			return 0, errJSON
		}
	}
}

// objectKey returns the value of key in the JSON object b (nil if absent),
// after checking that all of b is one well-formed object.
func objectKey(b []byte, key string) ([]byte, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errNotObject
	}
	var found []byte
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil, trailing(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, errJSON
		}
		ks := i
		j, escaped, err := skipString(b, i)
		if err != nil {
			return nil, err
		}
		k := b[ks+1 : j-1]
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return nil, errJSON
		}
		i = skipWS(b, i+1)
		vs := i
		if i, err = skipValue(b, i, 1); err != nil {
			return nil, err
		}
		if found == nil && keyIs(k, escaped, key) {
			found = b[vs:i]
		}
		i = skipWS(b, i)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipWS(b, i+1)
		case i < len(b) && b[i] == '}':
			return found, trailing(b, i+1)
		default:
			return nil, errJSON
		}
	}
}

var errNotObject = errors.New("not an object")

func trailing(b []byte, i int) error {
	if skipWS(b, i) != len(b) {
		return errJSON
	}
	return nil
}

func keyIs(k []byte, escaped bool, key string) bool {
	if !escaped {
		return string(k) == key
	}
	var s string
	quoted := make([]byte, 0, len(k)+2)
	quoted = append(append(append(quoted, '"'), k...), '"')
	return json.Unmarshal(quoted, &s) == nil && s == key
}

// arrayElements calls f with each element of the JSON array b.
func arrayElements(b []byte, f func([]byte) error) error {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return errors.New("not an array")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return nil
	}
	for {
		vs := i
		var err error
		if i, err = skipValue(b, i, 1); err != nil {
			return err
		}
		if err := f(b[vs:i]); err != nil {
			return err
		}
		i = skipWS(b, i)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipWS(b, i+1)
		case i < len(b) && b[i] == ']':
			return nil
		default:
			return errJSON
		}
	}
}

// jsonString decodes a JSON string literal (quotes included) exactly as
// encoding/json does, without its separate validation pass: escapes
// (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate pairs joined, a lone
// surrogate becomes U+FFFD), invalid UTF-8 bytes become U+FFFD, and a raw
// control character, a bad escape or an unescaped quote makes it invalid
// (false). Plain strings are copied directly. FuzzJSONString checks it
// against encoding/json.
func jsonString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	var sb strings.Builder
	for i := 0; i < len(inner); {
		// A run of bytes that need no unescaping is copied whole when it is
		// valid UTF-8 (almost always), rune by rune otherwise.
		j := i
		for j < len(inner) && inner[j] != '\\' && inner[j] != '"' && inner[j] >= 0x20 {
			j++
		}
		if run := inner[i:j]; utf8.Valid(run) {
			if len(run) == len(inner) {
				return string(inner), true // nothing to unescape: one copy
			}
			sb.Grow(len(inner) - i)
			sb.Write(run)
		} else {
			for len(run) > 0 {
				r, size := utf8.DecodeRune(run)
				if r == utf8.RuneError && size == 1 {
					sb.WriteRune(utf8.RuneError)
				} else {
					sb.Write(run[:size])
				}
				run = run[size:]
			}
		}
		i = j
		if i == len(inner) {
			break
		}
		if inner[i] != '\\' || i+1 >= len(inner) { // a bare quote or control character
			return "", false
		}
		i++
		switch inner[i] {
		case '"', '\\', '/':
			sb.WriteByte(inner[i])
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r, ok := hex4(inner[i+1:])
			if !ok {
				return "", false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// A high surrogate followed by an escaped low one is a
				// pair; anything else leaves U+FFFD and is read on.
				if i+6 < len(inner) && inner[i+1] == '\\' && inner[i+2] == 'u' {
					if r2, ok := hex4(inner[i+3:]); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							sb.WriteRune(dec)
							i += 7
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			sb.WriteRune(r)
		default:
			return "", false
		}
		i++
	}
	return sb.String(), true
}

// hex4 decodes the 4 hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// objectEach calls f with each key (decoded) and value of the JSON object
// b; it stops at the first syntax error.
func objectEach(b []byte, f func(key string, value []byte)) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i = skipWS(b, i+1)
	for i < len(b) && b[i] == '"' {
		j, escaped, err := skipString(b, i)
		if err != nil {
			return
		}
		key := string(b[i+1 : j-1])
		if escaped {
			key, _ = jsonString(b[i:j])
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return
		}
		i = skipWS(b, i+1)
		vs := i
		if i, err = skipValue(b, i, 1); err != nil {
			return
		}
		f(key, b[vs:i])
		i = skipWS(b, i)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i = skipWS(b, i+1)
	}
}
