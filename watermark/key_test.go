package watermark

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func testKey(t testing.TB, seed byte) *Key {
	t.Helper()
	var s [SecretSize]byte
	for i := range s {
		s[i] = seed + byte(i)
	}
	cfg, err := ParseSpec(DefaultSpec)
	if err != nil {
		t.Fatal(err)
	}
	return NewKey(s, cfg, DefaultTokenizer, time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
}

// secretForms returns the spellings of a key's secret that must never leak.
func secretForms(k *Key) []string {
	return []string{
		base64.StdEncoding.EncodeToString(k.secret[:]),
		base64.RawStdEncoding.EncodeToString(k.secret[:]),
		hex.EncodeToString(k.secret[:]),
		fmt.Sprint(k.secret[:]),
	}
}

func TestKeyFileRoundTripAndMode(t *testing.T) {
	k, err := GenerateKey(DefaultKGW(), DefaultTokenizer)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "k.json")
	if err := k.WriteKeyFile(path, false); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	got, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.secret != k.secret || got.ID() != k.ID() || got.Scheme != k.Scheme ||
		got.Tokenizer != k.Tokenizer || !got.Created.Equal(k.Created) {
		t.Errorf("round trip changed the key: %v -> %v", k, got)
	}
	// A key for a tokenizer.json records its file hash, and keeps it.
	k.TokenizerSHA256 = strings.Repeat("0123456789abcdef", 4)
	got, err = ParseKeyFile(k.EncodeKeyFile())
	if err != nil || got.TokenizerSHA256 != k.TokenizerSHA256 {
		t.Errorf("tokenizer hash round trip: %q, %v", got.TokenizerSHA256, err)
	}
	if j, _ := json.Marshal(k); !strings.Contains(string(j), `"tokenizer_sha256":"`+k.TokenizerSHA256+`"`) {
		t.Errorf("key JSON lacks the tokenizer hash: %s", j)
	}
	k.TokenizerSHA256 = ""
	if strings.Contains(string(k.EncodeKeyFile()), "tokenizer_sha256") {
		t.Error("a built-in tokenizer's key file records a file hash")
	}
	var fields map[string]any
	if err := json.Unmarshal(k.EncodeKeyFile(), &fields); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"version", "id", "secret", "scheme", "tokenizer", "created"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("key file lacks %q", f)
		}
	}
	// Refuses to overwrite, unless asked; overwriting resets the mode.
	if err := k.WriteKeyFile(path, false); !errors.Is(err, ErrKeyExists) {
		t.Errorf("overwrite without force: %v", err)
	}
	os.Chmod(path, 0o644)
	if err := k.WriteKeyFile(path, true); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("forced overwrite left mode %v", st.Mode().Perm())
	}
}

func TestLoadKeyFromEnvironment(t *testing.T) {
	k := testKey(t, 7)
	t.Setenv(KeyEnv, string(k.EncodeKeyFile()))
	got, err := LoadKey("")
	if err != nil || got.ID() != k.ID() {
		t.Fatalf("LoadKey from env: %v, %v", got, err)
	}
	t.Setenv(KeyEnv, "{")
	if _, err := LoadKey(""); err == nil || !strings.Contains(err.Error(), KeyEnv) {
		t.Errorf("bad env key error should name %s: %v", KeyEnv, err)
	}
	t.Setenv(KeyEnv, "")
	// The library says what is missing; the CLI adds how to pass a key
	// (its flags), tested in cmd/tracemark.
	if _, err := LoadKey(""); !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), KeyEnv) || strings.Contains(err.Error(), "--") {
		t.Errorf("missing key error should say which source is missing and name no flag: %v", err)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	k := testKey(t, 1)
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, k))
	}
	j, _ := json.Marshal(k)
	outs = append(outs, string(j), k.String())
	wrapped := struct{ K *Key }{k}
	outs = append(outs, fmt.Sprintf("%+v", wrapped))
	for _, out := range outs {
		for _, s := range secretForms(k) {
			if strings.Contains(out, s) {
				t.Fatalf("secret printed: %q", out)
			}
		}
		if !strings.Contains(out, k.ID()) {
			t.Errorf("output %q does not name the key ID", out)
		}
	}
}

func TestParseKeyFileErrors(t *testing.T) {
	k := testKey(t, 3)
	good := string(k.EncodeKeyFile())
	secret := base64.StdEncoding.EncodeToString(k.secret[:])
	cases := map[string]string{
		"":          "not a JSON object",
		"{":         "not a JSON object",
		"[1,2]":     "wrong type",
		"{}":        "version 0",
		good + "{}": "data after",
		strings.Replace(good, `"version": 1`, `"version": 2`, 1):                                                                              "version 2",
		strings.Replace(good, secret, secret[:20], 1):                                                                                         "32 bytes",
		strings.Replace(good, secret, "!!"+secret[2:], 1):                                                                                     "32 bytes",
		strings.Replace(good, k.ID(), "0000000000000000", 1):                                                                                  "does not match",
		strings.Replace(good, DefaultSpec, "kgw:gamma=7", 1):                                                                                  "gamma must be",
		strings.Replace(good, `"o200k_base"`, `""`, 1):                                                                                        "no tokenizer",
		strings.Replace(good, `"2026-11-28T00:00:00Z"`, `"yesterday"`, 1):                                                                     "RFC 3339",
		strings.Replace(good, `"version": 1`, `"version": "1"`, 1):                                                                            "wrong type",
		strings.Replace(good, `"tokenizer": "o200k_base"`, `"tokenizer": "o200k_base", "tokenizer_sha256": "ABC"`, 1):                         "tokenizer_sha256",
		strings.Replace(good, `"tokenizer": "o200k_base"`, `"tokenizer": "o200k_base", "tokenizer_sha256": "`+strings.Repeat("A", 64)+`"`, 1): "tokenizer_sha256",
	}
	for in, want := range cases {
		_, err := ParseKeyFile([]byte(in))
		if err == nil {
			t.Errorf("accepted %q", in)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
		for _, s := range secretForms(k) {
			if strings.Contains(err.Error(), s) || strings.Contains(err.Error(), secret[2:20]) {
				t.Errorf("error leaks the secret: %q", err)
			}
		}
	}
	if _, err := LoadKey(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file error should name the file: %v", err)
	}
}

func FuzzParseKeyFile(f *testing.F) {
	k := testKey(f, 9)
	f.Add(k.EncodeKeyFile())
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"secret":"AAAA","id":"x"}`))
	f.Add(testEngineKey(f, 42).EncodeKeyFile())
	f.Add([]byte(`{"version":1,"engine_key":["18446744073709551616"],"id":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseKeyFile(data)
		if err != nil {
			return
		}
		// Whatever parses must survive a round trip unchanged.
		again, err := ParseKeyFile(got.EncodeKeyFile())
		if err != nil || again.secret != got.secret || again.Scheme.String() != got.Scheme.String() ||
			again.ID() != got.ID() || !slices.Equal(again.engine, got.engine) || again.IsEngine() != got.IsEngine() ||
			again.TokenizerSHA256 != got.TokenizerSHA256 || again.Tokenizer != got.Tokenizer {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

// TestLoadKeysFilesDirectoriesAndSymlinks: LoadKeys reads key files and
// directories, follows symbolic links to key files (a Kubernetes Secret
// mount is all links into a hidden "..data" directory), skips hidden
// entries, keeps each key once, and its errors name no command-line flag.
func TestLoadKeysFilesDirectoriesAndSymlinks(t *testing.T) {
	dir := t.TempDir()
	a, b := testKey(t, 1), testKey(t, 2)
	data := filepath.Join(dir, "mount", "..2026_12_01")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteKeyFile(filepath.Join(data, "a.key"), false); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteKeyFile(filepath.Join(data, "b.key"), false); err != nil {
		t.Fatal(err)
	}
	mount := filepath.Join(dir, "mount")
	if err := os.Symlink("..2026_12_01", filepath.Join(mount, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.key", "b.key"} {
		if err := os.Symlink(filepath.Join("..data", n), filepath.Join(mount, n)); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := LoadKeys([]string{mount, filepath.Join(data, "a.key")})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID() != a.ID() || keys[1].ID() != b.ID() {
		t.Fatalf("loaded %v, want %s and %s once each", keys, a.ID(), b.ID())
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o700)
	if _, err := LoadKeys([]string{empty}); err == nil || !strings.Contains(err.Error(), "holds no key files") {
		t.Errorf("empty directory: %v", err)
	}
	t.Setenv(KeyEnv, "")
	_, err = LoadKeys(nil)
	if !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v", err)
	}
	err = a.WriteKeyFile(filepath.Join(data, "a.key"), false)
	for _, e := range []error{err, ErrNoKey} {
		if e == nil || strings.Contains(e.Error(), "--") {
			t.Errorf("library error names a flag: %v", e)
		}
	}
}

// TestLoadKeyRefusesWhatIsNotAKeyFile: special files and huge files are
// refused before reading (a FIFO would block, /dev/urandom never ends), an
// environment variable holding a path says so, and a file others can read
// is reported as loose.
func TestLoadKeyRefusesWhatIsNotAKeyFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadKey("/dev/urandom"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("/dev/urandom: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err == nil {
		if _, err := LoadKey(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO: %v", err)
		}
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, MaxKeyFileSize+1), 0o600)
	if _, err := LoadKey(big); err == nil || !strings.Contains(err.Error(), "more than a key file") {
		t.Errorf("huge file: %v", err)
	}
	k := testKey(t, 3)
	path := filepath.Join(dir, "k.key")
	if err := k.WriteKeyFile(path, false); err != nil {
		t.Fatal(err)
	}
	t.Setenv(KeyEnv, path)
	if _, err := LoadKey(""); err == nil || !strings.Contains(err.Error(), "holds a file path") {
		t.Errorf("path in $%s: %v", KeyEnv, err)
	}
	got, err := LoadKey(path)
	if err != nil || got.LooseMode() || got.Source() != path {
		t.Errorf("0600 key: %v loose=%v source=%q", err, got.LooseMode(), got.Source())
	}
	os.Chmod(path, 0o644)
	if got, _ := LoadKey(path); !got.LooseMode() {
		t.Error("0644 key file not reported as loose")
	}
}

// TestWriteKeyFileOverwriteReplacesASymlink: overwriting replaces a
// symbolic link at the path, never its target.
func TestWriteKeyFileOverwriteReplacesASymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("not a key"), 0o644)
	link := filepath.Join(dir, "link.key")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	k := testKey(t, 4)
	if err := k.WriteKeyFile(link, false); !errors.Is(err, ErrKeyExists) {
		t.Errorf("existing symlink without overwrite: %v", err)
	}
	if err := k.WriteKeyFile(link, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "not a key" {
		t.Errorf("symlink target changed: %q", b)
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o644 {
		t.Errorf("symlink target chmodded to %v", st.Mode().Perm())
	}
	if st, _ := os.Lstat(link); st.Mode()&os.ModeSymlink != 0 || st.Mode().Perm() != 0o600 {
		t.Errorf("link.key is %v, want a 0600 regular file", st.Mode())
	}
	if got, err := LoadKey(link); err != nil || got.ID() != k.ID() {
		t.Errorf("reload: %v", err)
	}
}
