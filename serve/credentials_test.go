package serve

import (
	"errors"
	mathbits "math/bits"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCredentialsFormsAndErrors(t *testing.T) {
	h1, h2 := HashAPIKey("k1"), HashAPIKey("k2")
	doc := `{"customers":[{"id":"A","key_sha256":"` + h1 + `","payload":"1"},{"id":"B","key_sha256":"` + h2 + `","trusted":true,"requests_per_minute":5}]}`
	lines := "# comment\n{\"id\":\"A\",\"key_sha256\":\"" + h1 + "\"}\n\n{\"id\":\"B\",\"key_sha256\":\"" + h2 + "\",\"trusted\":true}\n"
	for name, data := range map[string]string{"document": doc, "lines": lines} {
		c, err := ParseCredentials([]byte(data), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a, ok := c.Lookup("k1"); !ok || a.ID != "A" {
			t.Fatalf("%s: k1 -> %+v %v", name, a, ok)
		}
		if b, ok := c.Lookup("k2"); !ok || !b.Trusted {
			t.Fatalf("%s: k2 -> %+v", name, b)
		}
		if _, ok := c.Lookup("k3"); ok {
			t.Fatalf("%s: unknown key found", name)
		}
	}
	for name, data := range map[string]string{
		"duplicate id":      `{"customers":[{"id":"A","key_sha256":"` + h1 + `"},{"id":"A","key_sha256":"` + h2 + `"}]}`,
		"duplicate key":     `{"customers":[{"id":"A","key_sha256":"` + h1 + `"},{"id":"B","key_sha256":"` + h1 + `"}]}`,
		"duplicate payload": `{"customers":[{"id":"A","key_sha256":"` + h1 + `","payload":"0x1"},{"id":"B","key_sha256":"` + h2 + `","payload":"01"}]}`,
		"bad hash":          `{"customers":[{"id":"A","key_sha256":"abc"}]}`,
		"uppercase hash":    `{"customers":[{"id":"A","key_sha256":"` + strings.ToUpper(h1) + `"}]}`,
		"bad id":            `{"customers":[{"id":"a b","key_sha256":"` + h1 + `"}]}`,
		"bad payload":       `{"customers":[{"id":"A","key_sha256":"` + h1 + `","payload":"xyz"}]}`,
		"misspelt field":    `{"customers":[{"id":"A","key_sha256":"` + h1 + `","trustd":true}]}`,
		"bad limit":         `{"customers":[{"id":"A","key_sha256":"` + h1 + `","tokens_per_minute":-7}]}`,
		"broken line":       "{\"id\":\"A\",\"key_sha256\":\"" + h1 + "\"}\n{nope\n",
	} {
		_, err := ParseCredentials([]byte(data), "c.json")
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), "c.json") {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
	_, err := ParseCredentials([]byte("{\"id\":\"A\",\"key_sha256\":\""+h1+"\"}\n{nope\n"), "c.json")
	if !strings.Contains(err.Error(), "c.json:2") {
		t.Errorf("error does not name the line: %v", err)
	}
}

func TestAddCustomerAndFileMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "creds.jsonl")
	key1, e1, err := AddCustomer(path, Customer{ID: "alpha"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	key2, e2, err := AddCustomer(path, Customer{ID: "beta", Trusted: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	v1, ok1, _ := e1.PayloadValue()
	v2, ok2, _ := e2.PayloadValue()
	if !ok1 || !ok2 || v1 == 0 || v1 == v2 || v1>>DefaultPayloadBits != 0 || v2>>DefaultPayloadBits != 0 ||
		!strings.HasPrefix(key1, APIKeyPrefix) || key1 == key2 {
		t.Fatalf("entries %+v %+v", e1, e2)
	}
	// Random payloads are far apart: two 32-bit ones chosen for distance
	// differ in well over a few bits.
	if d := mathbits.OnesCount64(v1 ^ v2); d < 8 {
		t.Fatalf("payloads %x and %x differ in %d bits", v1, v2, d)
	}
	if _, _, err := AddCustomer(path, Customer{ID: "beta"}, 0); err == nil {
		t.Fatal("second customer beta accepted")
	}
	if _, _, err := AddCustomer(path, Customer{ID: "gamma", Payload: e2.Payload}, 0); err == nil {
		t.Fatal("duplicate payload accepted")
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), key1) || strings.Contains(string(data), key2) {
		t.Fatal("the credentials file holds an API key")
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %o", st.Mode().Perm())
	}
	c, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := c.Lookup(key2); !ok || b.ID != "beta" || !b.Trusted {
		t.Fatalf("beta: %+v %v", b, ok)
	}
	os.Chmod(path, 0o640)
	if _, err := LoadCredentials(path); !errors.Is(err, ErrLooseCredentials) {
		t.Fatalf("mode 0640 loaded: %v", err)
	}
	if _, err := LoadCredentials(dir); err == nil {
		t.Fatal("a directory loaded as credentials")
	}
}

func FuzzParseCredentials(f *testing.F) {
	h := HashAPIKey("k")
	f.Add([]byte(`{"customers":[{"id":"A","key_sha256":"` + h + `","payload":"1"}]}`))
	f.Add([]byte("{\"id\":\"A\",\"key_sha256\":\"" + h + "\"}\n# c\n"))
	f.Add([]byte(`{"customers":null}`))
	f.Add([]byte("\xff\xfe{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCredentials(data, "fuzz")
		if err != nil {
			return
		}
		// What parses re-encodes to what parses the same.
		again, err := ParseCredentials(c.encode(), "again")
		if err != nil || len(again.customers) != len(c.customers) {
			t.Fatalf("re-encoded credentials: %v", err)
		}
	})
}
