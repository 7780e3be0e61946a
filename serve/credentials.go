package serve

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathbits "math/bits"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Customer is one entry of the credentials file: the SHA-256 of an API key
// and what the key's holder may do.
type Customer struct {
	// ID names the customer in the served-output log.
	ID string `json:"id"`
	// KeySHA256 is the lowercase hex SHA-256 of the bearer API key (the
	// key itself is never stored).
	KeySHA256 string `json:"key_sha256"`
	// Trusted customers may switch the watermark off per request.
	Trusted bool `json:"trusted,omitempty"`
	// RequestsPerMinute and TokensPerMinute limit the customer (0: the
	// server's defaults; -1: unlimited).
	RequestsPerMinute int `json:"requests_per_minute,omitempty"`
	TokensPerMinute   int `json:"tokens_per_minute,omitempty"`
	// Payload is the customer's fingerprint, in hex: the value a payload
	// scheme embeds in every completion the customer receives. Unique per
	// file; required when the server's scheme carries a payload.
	Payload string `json:"payload,omitempty"`
}

// PayloadValue parses Payload; ok is false when it is empty.
func (c *Customer) PayloadValue() (v uint64, ok bool, err error) {
	if c.Payload == "" {
		return 0, false, nil
	}
	v, err = strconv.ParseUint(strings.TrimPrefix(strings.ToLower(c.Payload), "0x"), 16, 64)
	if err != nil {
		return 0, false, fmt.Errorf("payload %q is not a hexadecimal number of at most 64 bits", clip(c.Payload))
	}
	return v, true, nil
}

// Credentials is a parsed credentials file.
type Credentials struct {
	customers []Customer
	byHash    map[[32]byte]int
	// lines: true when the file is JSON lines (one entry per line), false
	// for the {"customers": [...]} document form.
	lines bool
}

// Customers returns the entries in file order.
func (c *Credentials) Customers() []Customer { return append([]Customer(nil), c.customers...) }

// Lookup returns the customer whose key is apiKey.
func (c *Credentials) Lookup(apiKey string) (Customer, bool) {
	i, ok := c.byHash[sha256.Sum256([]byte(apiKey))]
	if !ok {
		return Customer{}, false
	}
	return c.customers[i], true
}

// HashAPIKey returns the hex SHA-256 of an API key, as the credentials
// file stores it.
func HashAPIKey(apiKey string) string {
	h := sha256.Sum256([]byte(apiKey))
	return hex.EncodeToString(h[:])
}

// APIKeyPrefix starts every API key NewAPIKey makes.
const APIKeyPrefix = "tm-"

// NewAPIKey returns a fresh random API key (256 bits).
func NewAPIKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("serve: random API key: %w", err)
	}
	return APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// MaxCredentialsBytes bounds a credentials file.
const MaxCredentialsBytes = 64 << 20

var customerIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$`)

// ErrLooseCredentials is returned for a credentials file that users other
// than its owner may read or write.
var ErrLooseCredentials = errors.New("credentials file can be read or written by other users (chmod 600 it)")

// LoadCredentials reads a credentials file. It must be a regular file of
// mode 0600 or stricter (no group or other bits), at most
// MaxCredentialsBytes long.
func LoadCredentials(path string) (*Credentials, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	switch {
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("credentials %s: not a regular file", path)
	case st.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("credentials %s (mode %04o): %w", path, st.Mode().Perm(), ErrLooseCredentials)
	case st.Size() > MaxCredentialsBytes:
		return nil, fmt.Errorf("credentials %s: %d bytes, more than %d", path, st.Size(), MaxCredentialsBytes)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxCredentialsBytes+1))
	if err != nil {
		return nil, fmt.Errorf("credentials %s: %w", path, err)
	}
	if len(data) > MaxCredentialsBytes {
		return nil, fmt.Errorf("credentials %s: more than %d bytes", path, MaxCredentialsBytes)
	}
	return ParseCredentials(data, path)
}

// ParseCredentials parses a credentials file's contents, naming it name in
// errors: either one JSON object {"customers": [entries]} or JSON lines
// (one entry per line; blank lines and lines starting with # are
// skipped). Every entry needs a valid, unique id and a unique key_sha256
// (64 hex digits); payloads, where given, must be unique hex numbers.
// Unknown fields are errors (a misspelt "trusted" must not pass silently).
func ParseCredentials(data []byte, name string) (*Credentials, error) {
	c := &Credentials{byHash: map[[32]byte]int{}}
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("{")) && isDocument(trimmed) {
		var doc struct {
			Customers []Customer `json:"customers"`
		}
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			return nil, fmt.Errorf("credentials %s: %w", name, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("credentials %s: more than one JSON value after the customers object", name)
		}
		for i, e := range doc.Customers {
			if err := c.add(e); err != nil {
				return nil, fmt.Errorf("credentials %s: customers[%d]: %w", name, i, err)
			}
		}
		return c, nil
	}
	c.lines = true
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var e Customer
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("credentials %s:%d: %w", name, i+1, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("credentials %s:%d: more than one JSON value on the line", name, i+1)
		}
		if err := c.add(e); err != nil {
			return nil, fmt.Errorf("credentials %s:%d: %w", name, i+1, err)
		}
	}
	return c, nil
}

// isDocument reports whether data is one JSON object with a "customers"
// member (the document form) rather than a first JSON line.
func isDocument(data []byte) bool {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return false
	}
	_, ok := probe["customers"]
	return ok
}

func (c *Credentials) add(e Customer) error {
	if !customerIDPattern.MatchString(e.ID) {
		return fmt.Errorf("customer id %q: 1-128 characters of letters, digits and ._@:+- (starting with a letter or digit)", clip(e.ID))
	}
	h, err := hex.DecodeString(e.KeySHA256)
	if err != nil || len(h) != sha256.Size || strings.ToLower(e.KeySHA256) != e.KeySHA256 {
		return fmt.Errorf("customer %s: key_sha256 must be 64 lowercase hex digits (the SHA-256 of the API key)", e.ID)
	}
	if e.RequestsPerMinute < -1 || e.TokensPerMinute < -1 {
		return fmt.Errorf("customer %s: rate limits must be -1 (unlimited), 0 (server default) or positive", e.ID)
	}
	pv, hasPayload, err := e.PayloadValue()
	if err != nil {
		return fmt.Errorf("customer %s: %w", e.ID, err)
	}
	for _, o := range c.customers {
		if o.ID == e.ID {
			return fmt.Errorf("customer id %s appears twice", e.ID)
		}
		if hasPayload {
			if ov, ok, _ := o.PayloadValue(); ok && ov == pv {
				return fmt.Errorf("customers %s and %s have the same payload %x: a payload must identify one customer", o.ID, e.ID, pv)
			}
		}
	}
	var key [32]byte
	copy(key[:], h)
	if j, dup := c.byHash[key]; dup {
		return fmt.Errorf("customers %s and %s have the same API key hash", c.customers[j].ID, e.ID)
	}
	c.byHash[key] = len(c.customers)
	c.customers = append(c.customers, e)
	return nil
}

// encode renders the credentials in their file's form.
func (c *Credentials) encode() []byte {
	var buf bytes.Buffer
	if c.lines {
		for _, e := range c.customers {
			b, _ := json.Marshal(e)
			buf.Write(b)
			buf.WriteByte('\n')
		}
		return buf.Bytes()
	}
	b, _ := json.MarshalIndent(struct {
		Customers []Customer `json:"customers"`
	}{c.customers}, "", "  ")
	buf.Write(b)
	buf.WriteByte('\n')
	return buf.Bytes()
}

// DefaultPayloadBits is the width of the payloads AddCustomer draws: the
// payload width of the default payload scheme (kgw:payload_bits=32).
const DefaultPayloadBits = 32

// payloadDraws is how many random candidates NewPayload compares.
const payloadDraws = 256

// NewPayload draws a random payload of bits bits (1 to 64), not zero and
// unused, far from the customers' payloads: of payloadDraws random
// candidates, the one whose smallest Hamming distance to an existing
// payload is largest. Attribution tells two customers apart only by the
// payload slots in which their symbols differ, so payloads that differ
// in few bits (1, 2, 3, ...) are nearly indistinguishable in a student
// model's output.
func (c *Credentials) NewPayload(bits int) (uint64, error) {
	if bits < 1 || bits > 64 {
		return 0, fmt.Errorf("payload width %d bits: want 1 to 64", bits)
	}
	var used []uint64
	for _, e := range c.customers {
		if v, ok, _ := e.PayloadValue(); ok {
			used = append(used, v)
		}
	}
	mask := ^uint64(0)
	if bits < 64 {
		mask = 1<<uint(bits) - 1
	}
	best, bestDist := uint64(0), -1
	var b [8]byte
	for range payloadDraws {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("drawing a payload: %w", err)
		}
		v := binary.LittleEndian.Uint64(b[:]) & mask
		if v == 0 {
			continue
		}
		d := bits + 1
		for _, u := range used {
			d = min(d, mathbits.OnesCount64(u^v))
		}
		if d > bestDist {
			best, bestDist = v, d
		}
	}
	if bestDist <= 0 {
		return 0, fmt.Errorf("no unused %d-bit payload found: the payload space is too small for %d customers", bits, len(used))
	}
	return best, nil
}

// AddCustomer adds a customer with a fresh random API key to the
// credentials file at path (created, mode 0600, if missing; written
// atomically otherwise) and returns the key, which is stored nowhere:
// only its SHA-256 is. e.KeySHA256 is filled in; an empty e.Payload gets
// a random payloadBits-bit value far from the other customers'
// (NewPayload; 0: DefaultPayloadBits).
func AddCustomer(path string, e Customer, payloadBits int) (apiKey string, entry Customer, err error) {
	creds := &Credentials{byHash: map[[32]byte]int{}}
	if _, serr := os.Stat(path); serr == nil {
		if creds, err = LoadCredentials(path); err != nil {
			return "", e, err
		}
	} else if !errors.Is(serr, os.ErrNotExist) {
		return "", e, fmt.Errorf("credentials: %w", serr)
	}
	if apiKey, err = NewAPIKey(); err != nil {
		return "", e, err
	}
	e.KeySHA256 = HashAPIKey(apiKey)
	if e.Payload == "" {
		if payloadBits == 0 {
			payloadBits = DefaultPayloadBits
		}
		v, err := creds.NewPayload(payloadBits)
		if err != nil {
			return "", e, fmt.Errorf("credentials %s: %w", path, err)
		}
		e.Payload = strconv.FormatUint(v, 16)
	}
	if err := creds.add(e); err != nil {
		return "", e, fmt.Errorf("credentials %s: %w", path, err)
	}
	if err := writeAtomic(path, creds.encode()); err != nil {
		return "", e, err
	}
	return apiKey, e, nil
}

// writeAtomic writes data to path with mode 0600 via a temporary file in
// the same directory and a rename.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".credentials-*")
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("credentials: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("credentials: writing %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("credentials: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}
