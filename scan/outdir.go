package scan

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/watermark"
)

// An output directory (scan --out DIR) holds, for every finished input
// file, its records, its distinct tuples per key and a completion marker:
//
//	DIR/scan.json                     the scan's keys (IDs, SPECs, null models), tokenizer and dedup key
//	DIR/<name>.records.jsonl.zst      begin, doc, error and end records (doc records without q-values)
//	DIR/<name>.tuples.<k>.zst         the file's distinct tuples under key k: fingerprint, observation and first document
//	DIR/<name>.done                   the file's summary, written last: the file is finished
//
// A rerun skips the files with a .done marker (resume after a crash), and
// Merge folds all finished files into the corpus summary. Tuples are
// deduplicated within a file when written and across files when merged, so
// the pooled test counts each tuple of the corpus once, as one run does.
//
// Format version 2 (manifestVersion) stores with each tuple the ordinal of
// the input's first document that holds it (tuples are written on the
// order stage, in input order), so that Merge can score documents in
// DocDedupCorpus mode: a tuple counts in its first document unless an
// earlier input held it. Version 1 tuple files lack the ordinal; Merge
// reads them in DocDedupDocument mode only, and a scan does not resume
// into them.

// manifestVersion is the output directory format written by this version.
const manifestVersion = 2

// tupleRecord is the size of one tuple in a tuple file of a version
// (fingerprint, score, bits, slot, colour; version 2 adds the document
// ordinal).
func tupleRecord(version int) int {
	if version >= 2 {
		return 30
	}
	return 26
}

// dirManifest is DIR/scan.json.
type dirManifest struct {
	Version   int             `json:"version"`
	DedupKey  detect.DedupKey `json:"dedup_key"` // random, independent of the watermark keys, not secret
	Tokenizer string          `json:"tokenizer"`
	Keys      []manifestKey   `json:"keys"`
	// Read is how the inputs were read: documents cut another way are
	// other documents, so they belong to another scan.
	Read corpora.ReadOptions `json:"read"`
}

// identity is the manifest's fingerprint: a hash of everything that makes
// two scans' files comparable (dedup key, keys, schemes, tokenizer, read
// options). Every .done marker records it, so that Merge can refuse files
// that another scan wrote.
func (m dirManifest) identity() string {
	b, _ := json.Marshal(m)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// manifestKey records a key by its public ID and canonical SPEC: the SPEC
// alone gives the null model (watermark.ParseSpec(...).Null()), so the
// directory never stores Go enum values.
type manifestKey struct {
	KeyID  string `json:"key_id"`
	Scheme string `json:"scheme"`
}

// doneMarker is DIR/<name>.done.
type doneMarker struct {
	File string `json:"file"`
	Name string `json:"name"`
	// Manifest is the identity of the scan.json the file was scanned under.
	Manifest string    `json:"manifest"`
	End      FileEvent `json:"end"`
	Docs     int       `json:"documents"`
	Tuples   []int     `json:"tuples"` // distinct tuples written per key
	Tokens   int64     `json:"tokens"`
	Seconds  float64   `json:"seconds"` // the order stage's time on this input
	// Files lists the input's other files in DIR with their size and
	// SHA-256, checked before they are used.
	Files map[string]fileSum `json:"files"`
	dir   string             // where the marker was found
}

// fileSum is the size and SHA-256 of one file of an output directory.
type fileSum struct {
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// sumFile returns the size and SHA-256 of path.
func sumFile(path string) (fileSum, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileSum{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fileSum{}, fmt.Errorf("%s: %w", path, err)
	}
	return fileSum{Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// readDone reads the .done marker of the input stem name in dir and checks
// that it belongs to the manifest with identity id and that every file it
// lists is there, whole.
func readDone(dir, name, id string) (doneMarker, error) {
	path := filepath.Join(dir, name+".done")
	var d doneMarker
	b, err := os.ReadFile(path)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("%s: %w", path, err)
	}
	d.dir = dir
	if d.Manifest == "" {
		return d, fmt.Errorf("%s names no manifest (written by an older tracemark): it cannot be shown to belong to %s; scan the input again", path, filepath.Join(dir, "scan.json"))
	}
	if d.Manifest != id {
		return d, fmt.Errorf("%s belongs to another scan (manifest %s, not %s of %s): it was scanned with another dedup key, keys, tokenizer or read options and copied in; remove it (and its other files) or give the scans one shared scan.json", path, d.Manifest, id, filepath.Join(dir, "scan.json"))
	}
	if d.Name != name || len(d.Files) == 0 {
		return d, fmt.Errorf("%s: marker of %q lists no files", path, d.Name)
	}
	for f, want := range d.Files {
		got, err := sumFile(filepath.Join(dir, f))
		if err != nil {
			return d, fmt.Errorf("%s: %w", path, err)
		}
		if got != want {
			return d, fmt.Errorf("%s: %s is not the file that was written (%d bytes, sha256 %s; the marker says %d bytes, %s)", path, filepath.Join(dir, f), got.Bytes, got.SHA256, want.Bytes, want.SHA256)
		}
	}
	return d, nil
}

// outputName is the stem of an input's files in DIR: its base name made
// safe, and a hash of its path.
func outputName(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	sum := sha256.Sum256([]byte(abs))
	base := unsafeChars.ReplaceAllString(filepath.Base(path), "_")
	if len(base) > 60 {
		base = base[:60]
	}
	return base + "-" + hex.EncodeToString(sum[:6])
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// outDir is an output directory as a scan writes it. It is the scan's
// tupleObserver, writing each input's distinct tuples per key from the
// score stage, and its results store, writing each input's records and,
// last, its .done marker from the order stage; at the end it merges the
// whole directory, inputs finished by earlier runs included.
type outDir struct {
	dir    string
	key    detect.DedupKey // the directory's, so that fingerprints agree across runs
	id     string          // the manifest's identity
	last   time.Time       // when the order stage finished the previous input
	keys   int
	merge  MergeOptions
	copies obsCopies
	mu     sync.Mutex
	open   map[int]*fileOut // by input index
	cur    *fileOut         // the input the order stage is at
	lock   *os.File         // DIR/.lock, flocked while the scan runs
}

// lockDir takes an exclusive flock on dir/.lock, so that two scans never
// write one directory at once; the lock goes with the process.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another scan is writing %s (%s is locked)", dir, path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// openOutDir creates dir with its manifest for this scanner's keys, or
// checks that the manifest already there names the same keys and tokenizer
// and takes its dedup key.
func (s *Scanner) openOutDir(dir string) (*outDir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	d := &outDir{dir: dir, key: s.key, keys: len(s.cfg.Schemes), open: map[int]*fileOut{},
		merge: MergeOptions{Alpha: s.cfg.Alpha, FDR: s.cfg.FDR, DocDedup: s.cfg.DocDedup}, lock: lock}
	ok := false
	defer func() {
		if !ok {
			d.unlock()
		}
	}()
	d.last = time.Now()
	m := dirManifest{Version: manifestVersion, DedupKey: s.key, Tokenizer: s.cfg.Tokenizer.Name(), Read: s.cfg.Read}
	for _, sch := range s.cfg.Schemes {
		m.Keys = append(m.Keys, manifestKey{KeyID: sch.KeyID(), Scheme: sch.Spec()})
	}
	path := filepath.Join(dir, "scan.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b, _ := json.MarshalIndent(m, "", "  ")
		d.id = m.identity()
		if err := writeAtomic(path, append(b, '\n')); err != nil {
			return nil, err
		}
		ok = true
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	var old dirManifest
	if err := json.Unmarshal(data, &old); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if old.Version != manifestVersion {
		return nil, fmt.Errorf("%s was written by another version of tracemark (output format %d, not %d): use a new directory (merge still reads it)", dir, old.Version, manifestVersion)
	}
	if !sameReadOptions(old.Read, m.Read) {
		return nil, fmt.Errorf("%s was made with other read options (format, field, split, ...): use a new directory", dir)
	}
	if old.Tokenizer != m.Tokenizer || len(old.Keys) != len(m.Keys) {
		return nil, fmt.Errorf("%s was made with other keys or another tokenizer: use a new directory", dir)
	}
	for i := range old.Keys {
		if old.Keys[i].KeyID != m.Keys[i].KeyID || old.Keys[i].Scheme != m.Keys[i].Scheme {
			return nil, fmt.Errorf("%s was made with key %s (%s), not %s (%s): use a new directory", dir, old.Keys[i].KeyID, old.Keys[i].Scheme, m.Keys[i].KeyID, m.Keys[i].Scheme)
		}
	}
	d.key, d.id = old.DedupKey, old.identity()
	ok = true
	return d, nil
}

// unlock releases the directory's lock.
func (d *outDir) unlock() {
	if d.lock != nil {
		d.lock.Close()
		d.lock = nil
	}
}

// unfinished returns the files without a .done marker in the directory
// ("-" always), and how many were left out.
// An input whose marker is there but whose files are missing or damaged
// is read again.
//
// An input listed twice (the same absolute path, hence the same files in
// the directory) is scanned once.
func (d *outDir) unfinished(files []string) (todo []string, resumed int) {
	seen := map[string]bool{}
	for _, f := range files {
		if f != "-" {
			name := outputName(f)
			if seen[name] {
				continue
			}
			seen[name] = true
		}
		if f != "-" && finished(d.dir, f, d.id) {
			resumed++
			continue
		}
		todo = append(todo, f)
	}
	return todo, resumed
}

// fileOut returns the output of input file i, creating it on first use.
func (d *outDir) fileOut(i int, path string) (*fileOut, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fo, ok := d.open[i]; ok {
		return fo, nil
	}
	fo, err := newFileOut(d.dir, path, d.keys, d.key, d.id)
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	d.open[i] = fo
	return fo, nil
}

// observe keeps a copy of document j's observations under key k for the
// order stage, which writes them.
func (d *outDir) observe(j *job, k int, obs []watermark.Observation) error {
	d.copies.keep(j, k, d.keys, obs)
	return nil
}

// ordered writes the tuples of document j, in input order, that are new to
// its input's tuple files, with the document's ordinal in the input.
func (d *outDir) ordered(j *job) {
	fo := d.cur
	if fo == nil || fo.err != nil {
		d.copies.release(j)
		return
	}
	for k, obs := range j.obs {
		if err := fo.add(k, d.key, obs, uint32(fo.docs)); err != nil {
			fo.err = fmt.Errorf("output directory: %s: %w", fo.name, err)
			break
		}
	}
	d.copies.release(j)
}

// Begin starts the records of input ev.Index.
func (d *outDir) Begin(ev FileEvent) error {
	fo, err := d.fileOut(ev.Index, ev.File)
	if err != nil {
		return err
	}
	d.cur = fo
	return d.write(&ev)
}

// Doc writes a document record (without q-value) of the current input.
func (d *outDir) Doc(doc Doc) error {
	if d.cur != nil && d.cur.err != nil {
		return d.cur.err
	}
	if d.cur != nil {
		d.cur.docs++
		d.cur.tokens += int64(doc.Tokens)
	}
	return d.write(&doc)
}

// Diagnostic writes an error record of the current input.
func (d *outDir) Diagnostic(x Diagnostic) error { return d.write(&x) }

// End writes the current input's end record, closes its outputs and writes
// its .done marker.
func (d *outDir) End(ev FileEvent) error {
	fo := d.cur
	if fo == nil {
		return fmt.Errorf("output directory: internal error: end of %s without begin", ev.File)
	}
	d.cur = nil
	d.mu.Lock()
	delete(d.open, ev.Index)
	d.mu.Unlock()
	if fo.err != nil {
		return fo.err
	}
	if err := fo.records.write(ev); err != nil {
		return fmt.Errorf("output directory: %s: %w", fo.name, err)
	}
	now := time.Now()
	fo.seconds = now.Sub(d.last).Seconds()
	d.last = now
	if err := fo.finish(ev.File, ev); err != nil {
		return fmt.Errorf("output directory: %s: %w", fo.name, err)
	}
	return nil
}

// write writes one record of the current input.
func (d *outDir) write(v any) error {
	if d.cur == nil {
		return errors.New("output directory: internal error: record outside an input")
	}
	if err := d.cur.records.write(v); err != nil {
		return fmt.Errorf("output directory: %s: %w", d.cur.name, err)
	}
	return nil
}

// finish merges the whole directory into the records and summary sent to
// sink; the summary's tokens and seconds are those of every input, summed
// over the runs that scanned them.
func (d *outDir) finish(_ Summary, _ time.Time, sink Sink) (Summary, error) {
	return Merge([]string{d.dir}, d.merge, sink)
}

// close closes the outputs of inputs left unfinished by an error, without
// their .done markers: a rerun reads those inputs again.
func (d *outDir) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, fo := range d.open {
		fo.abort()
		delete(d.open, i)
	}
	d.unlock()
}

// finished reports whether an input already has its .done marker, of
// this manifest, with its files whole. A marker that fails the check is
// removed, so that the input is read again.
func finished(dir, path, id string) bool {
	name := outputName(path)
	if _, err := readDone(dir, name, id); err != nil {
		os.Remove(filepath.Join(dir, name+".done"))
		return false
	}
	return true
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// fileOut writes one input's tuples (per key) and records.
type fileOut struct {
	mu      sync.Mutex
	dir     string
	name    string
	sets    []*detect.TupleSet
	files   []*os.File
	zws     []*zstd.Encoder
	bws     []*bufio.Writer
	counts  []int
	records *recordWriter
	err     error // the first error writing tuples (seen by the next record)
	docs    int
	tokens  int64
	seconds float64
	id      string   // the manifest's identity
	final   []string // the files' names in DIR; they are written as name + partialSuffix
	buf     [30]byte
}

// partialSuffix marks a file of an output directory still being written:
// it is renamed to its final name just before the .done marker is written,
// so that a crash never leaves a damaged file under a final name.
const partialSuffix = ".partial"

func newFileOut(dir, path string, keys int, key detect.DedupKey, id string) (*fileOut, error) {
	fo := &fileOut{dir: dir, name: outputName(path), id: id}
	os.Remove(filepath.Join(dir, fo.name+".done"))
	for k := 0; k < keys; k++ {
		name := fmt.Sprintf("%s.tuples.%d.zst", fo.name, k)
		fo.final = append(fo.final, name)
		f, err := os.Create(filepath.Join(dir, name+partialSuffix))
		if err != nil {
			fo.abort()
			return nil, err
		}
		zw, _ := zstd.NewWriter(f, zstd.WithEncoderConcurrency(1))
		fo.files, fo.zws = append(fo.files, f), append(fo.zws, zw)
		fo.bws = append(fo.bws, bufio.NewWriterSize(zw, 1<<16))
		fo.sets = append(fo.sets, detect.NewTupleSet(key, 4<<20, 32<<20))
		fo.counts = append(fo.counts, 0)
	}
	fo.final = append(fo.final, fo.name+".records.jsonl.zst")
	rw, err := newRecordWriter(filepath.Join(dir, fo.name+".records.jsonl.zst"+partialSuffix))
	if err != nil {
		fo.abort()
		return nil, err
	}
	fo.records = rw
	return fo, nil
}

// add writes the tuples of one document, the doc-th of the input, that are
// new to the file.
func (fo *fileOut) add(k int, key detect.DedupKey, obs []watermark.Observation, doc uint32) error {
	fo.mu.Lock()
	defer fo.mu.Unlock()
	for _, o := range obs {
		if !fo.sets[k].Add(o.Tuple) {
			continue
		}
		b := fo.buf[:]
		binary.LittleEndian.PutUint64(b[0:], key.Fingerprint(o.Tuple))
		binary.LittleEndian.PutUint64(b[8:], math.Float64bits(o.Score))
		binary.LittleEndian.PutUint64(b[16:], o.Bits)
		b[24], b[25] = o.Slot, o.Colour
		binary.LittleEndian.PutUint32(b[26:], doc)
		if _, err := fo.bws[k].Write(b); err != nil {
			return err
		}
		fo.counts[k]++
	}
	return nil
}

// finish closes the file's outputs and writes its .done marker last.
func (fo *fileOut) finish(path string, end FileEvent) error {
	for k := range fo.bws {
		if err := fo.bws[k].Flush(); err != nil {
			return err
		}
		if err := fo.zws[k].Close(); err != nil {
			return err
		}
		if err := fo.files[k].Close(); err != nil {
			return err
		}
	}
	if err := fo.records.close(); err != nil {
		return err
	}
	m := doneMarker{File: path, Name: fo.name, Manifest: fo.id, End: end, Docs: fo.docs, Tuples: fo.counts,
		Tokens: fo.tokens, Seconds: fo.seconds, Files: map[string]fileSum{}}
	for _, name := range fo.final {
		p := filepath.Join(fo.dir, name)
		if err := os.Rename(p+partialSuffix, p); err != nil {
			return err
		}
		sum, err := sumFile(p)
		if err != nil {
			return err
		}
		m.Files[name] = sum
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return writeAtomic(filepath.Join(fo.dir, fo.name+".done"), append(b, '\n'))
}

// abort closes the files of an unfinished output.
func (fo *fileOut) abort() {
	for _, f := range fo.files {
		f.Close()
	}
	if fo.records != nil {
		fo.records.f.Close()
	}
}

// recordWriter writes zstd-compressed JSON lines.
type recordWriter struct {
	f   *os.File
	zw  *zstd.Encoder
	bw  *bufio.Writer
	enc *json.Encoder
}

func newRecordWriter(path string) (*recordWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	zw, _ := zstd.NewWriter(f, zstd.WithEncoderConcurrency(1))
	bw := bufio.NewWriterSize(zw, 1<<16)
	return &recordWriter{f: f, zw: zw, bw: bw, enc: json.NewEncoder(bw)}, nil
}

func (w *recordWriter) write(v any) error { return w.enc.Encode(v) }

func (w *recordWriter) close() error {
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if err := w.zw.Close(); err != nil {
		return err
	}
	return w.f.Close()
}

// MergeOptions configure Merge.
type MergeOptions struct {
	Alpha float64 // 0: detect.DefaultAlpha
	FDR   float64
	// MaxExact bounds the tuples held in memory at once; the tuple files are
	// read in as many hash-partitioned passes as needed. 0: 8 M.
	MaxExact int
	// DocDedup is the mode of the per-document tests (default
	// DocDedupDocument; with DocDedupCorpus the inputs count in Merge's
	// order, by path).
	DocDedup DocDedup
}

// Merge folds every finished file of one or more output directories into
// one corpus result, sending the records (with q-values over all
// documents) and the summary to sink, exactly as one scan over all the
// files would.
//
// The directories must share one manifest (scan.json: the same dedup key,
// keys, tokenizer and read options), as when scan.json was made once and
// copied to every machine before it scanned: tuples are stored only as
// fingerprints under the manifest's dedup key, so directories with
// different dedup keys cannot be deduplicated exactly, and Merge refuses
// them. Merge also refuses a finished file whose .done marker names
// another manifest or whose files do not match the marker. An input
// finished in several directories (the same path) is counted once if its
// files are identical, and refused otherwise. Inputs without a .done
// marker (left unfinished by a crash) are left out and counted in
// Summary.Unfinished.
func Merge(dirs []string, opts MergeOptions, sink Sink) (Summary, error) {
	if opts.Alpha == 0 {
		opts.Alpha = detect.DefaultAlpha
	}
	if opts.MaxExact <= 0 {
		opts.MaxExact = 8 << 20
	}
	if len(dirs) == 0 {
		return Summary{}, errors.New("merge: no directory")
	}
	mode, err := ParseDocDedup(string(opts.DocDedup))
	if err != nil {
		return Summary{}, fmt.Errorf("merge: %w", err)
	}
	var m dirManifest
	var id, first string
	for i, dir := range dirs {
		path := filepath.Join(dir, "scan.json")
		data, err := os.ReadFile(path)
		if err != nil {
			return Summary{}, fmt.Errorf("merge: %w", err)
		}
		var mi dirManifest
		if err := json.Unmarshal(data, &mi); err != nil || mi.Version < 1 || mi.Version > manifestVersion || len(mi.Keys) == 0 {
			return Summary{}, fmt.Errorf("merge: %s is not a tracemark scan manifest", path)
		}
		if i == 0 {
			m, id, first = mi, mi.identity(), path
			continue
		}
		if mi.identity() != id {
			return Summary{}, fmt.Errorf("merge: %s differs from %s (dedup key, keys, tokenizer or read options): "+
				"tuples are stored only as fingerprints under each directory's own dedup key, so directories scanned "+
				"under different manifests cannot be deduplicated exactly; make scan.json once and copy it into every "+
				"directory before scanning", path, first)
		}
	}
	if mode == DocDedupCorpus && m.Version < 2 {
		return Summary{}, fmt.Errorf("merge: %s was written in output format %d, whose tuple files do not say which document first held each tuple: "+
			"corpus-disjoint document tests cannot be computed from it; merge it in document dedup mode, or scan again", first, m.Version)
	}
	var done []doneMarker
	byName := map[string]int{}
	unfinished := 0
	for _, dir := range dirs {
		marks, err := filepath.Glob(filepath.Join(dir, "*.done"))
		if err != nil {
			return Summary{}, fmt.Errorf("merge: %s: %w", dir, err)
		}
		names := map[string]bool{}
		for _, p := range marks {
			name := strings.TrimSuffix(filepath.Base(p), ".done")
			names[name] = true
			d, err := readDone(dir, name, id)
			if err != nil {
				return Summary{}, fmt.Errorf("merge: %w", err)
			}
			if j, dup := byName[name]; dup {
				// The same path finished twice under one manifest: the
				// same input if its records are identical (tuple files are
				// written in scoring order, so only their counts compare).
				rec := d.Name + ".records.jsonl.zst"
				if done[j].Files[rec] != d.Files[rec] || !slices.Equal(done[j].Tuples, d.Tuples) {
					return Summary{}, fmt.Errorf("merge: %s was finished in both %s and %s with different results: merge one of them", d.File, done[j].dir, dir)
				}
				continue
			}
			byName[name] = len(done)
			done = append(done, d)
		}
		unfinished += countUnfinished(dir, names)
	}
	sort.Slice(done, func(i, j int) bool { return done[i].File < done[j].File })

	sum := Summary{Type: "summary", Alpha: opts.Alpha, FDR: opts.FDR, Tokenizer: m.Tokenizer, Files: len(done), Unfinished: unfinished}
	for _, d := range done {
		sum.Tokens += d.Tokens
		sum.Seconds += d.Seconds
	}
	sum.DocDedup = mode
	var corpus *corpusMerge
	if mode == DocDedupCorpus {
		if corpus, err = newCorpusMerge(m, opts.Alpha); err != nil {
			return sum, fmt.Errorf("merge: %s: %w", first, err)
		}
	}
	// Pass 1: document p-values, for the q-values.
	var log10p []float64
	for _, d := range done {
		if corpus != nil {
			ev, err := corpus.file(d)
			if err != nil {
				return sum, err
			}
			for _, e := range ev {
				log10p = append(log10p, e.Log10P)
			}
			continue
		}
		err := readRecords(filepath.Join(d.dir, d.Name+".records.jsonl.zst"), func(rec spilled) error {
			if rec.Doc != nil {
				log10p = append(log10p, rec.Doc.Log10P)
			}
			return nil
		})
		if err != nil {
			return sum, err
		}
	}
	// Pass 2: records with q-values, in file order (in corpus mode with the
	// documents' evidence computed again, as in pass 1).
	rp := newReplayer(log10p, opts.FDR, sink, &sum, true)
	if corpus != nil {
		corpus.reset()
	}
	for _, d := range done {
		var ev []detect.MultiResult
		if corpus != nil {
			if ev, err = corpus.file(d); err != nil {
				return sum, err
			}
		}
		i := 0
		err := readRecords(filepath.Join(d.dir, d.Name+".records.jsonl.zst"), func(rec spilled) error {
			if rec.Doc != nil && corpus != nil {
				if i >= len(ev) {
					return fmt.Errorf("merge: %s holds more document records than its marker's %d", d.Name, d.Docs)
				}
				rec.Doc.setEvidence(ev[i])
				rec.Doc.DocDedup = DocDedupCorpus
				i++
			}
			// The begin record was written before the input was read: its
			// format comes from the end record in the .done marker.
			return rp.record(rec, d.End.FileStats)
		})
		if err != nil {
			return sum, err
		}
		if corpus != nil && i != len(ev) {
			return sum, fmt.Errorf("merge: %s holds %d document records, its marker %d", d.Name, i, d.Docs)
		}
	}
	sum.Documents = len(log10p)
	// The pooled test: each tuple of the corpus once, in hash-partitioned
	// passes that each hold at most MaxExact tuples.
	var pooled []detect.Result
	for k, key := range m.Keys {
		cfg, err := watermark.ParseSpec(key.Scheme)
		if err != nil {
			return sum, fmt.Errorf("merge: %s: key %s: %w", first, key.KeyID, err)
		}
		null := cfg.Null()
		total := 0
		for _, d := range done {
			if k < len(d.Tuples) {
				total += d.Tuples[k]
			}
		}
		passes := uint64(max(1, (total+opts.MaxExact-1)/opts.MaxExact))
		var t detect.Tally
		for p := uint64(0); p < passes; p++ {
			seen := map[uint64]struct{}{}
			for _, d := range done {
				err := readTuples(filepath.Join(d.dir, fmt.Sprintf("%s.tuples.%d.zst", d.Name, k)), m.Version, func(fp uint64, o watermark.Observation, _ uint32) error {
					if fp%passes != p {
						return nil
					}
					if _, dup := seen[fp]; !dup {
						seen[fp] = struct{}{}
						t.Add(null, o)
					}
					return nil
				})
				if err != nil {
					return sum, err
				}
			}
		}
		r := detect.Evaluate(cfg, key.KeyID, &t, opts.Alpha)
		sum.PerKey = append(sum.PerKey, keyPooled(r, true, t))
		pooled = append(pooled, r)
	}
	fillPooled(&sum, pooled, opts.Alpha)
	return sum, sink.Summary(sum)
}

// keyPooled is the summary record of one key's pooled test.
func keyPooled(r detect.Result, exact bool, t detect.Tally) KeyPooled {
	kp := KeyPooled{KeyID: r.KeyID, Scheme: r.Scheme, PValue: r.PValue, Log10P: r.Log10P, Scored: r.Scored,
		Score: r.Score, Test: r.Test, Payload: r.Payload, DedupExact: exact, Tally: t}
	if r.PayloadLog10P != nil {
		kp.PayloadLog10P = *r.PayloadLog10P
	}
	return kp
}

// fillPooled combines the keys' pooled tests (detect.Combine: Holm over
// keys, one tie rule) into the summary.
func fillPooled(sum *Summary, results []detect.Result, alpha float64) {
	c := detect.Combine(results, alpha)
	for i := range sum.PerKey {
		sum.PerKey[i].AdjustedLog10P = c.PerKey[i].AdjustedLog10
	}
	sum.PooledLog10P = c.Log10P
	sum.PooledPValue = math.Pow(10, sum.PooledLog10P)
	sum.PooledKeyID = c.KeyID
	sum.Detected = c.Detected
	sum.Correction = "across documents: Benjamini–Hochberg q-values"
	if len(sum.PerKey) > 1 {
		sum.Correction = "per document: Holm over keys; across documents: Benjamini–Hochberg q-values; pooled: Holm over keys"
	}
}

// openZstd opens a zstd-compressed file of an output directory; close
// releases both.
func openZstd(path string) (r *bufio.Reader, close func(), err error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("merge: %w", err)
	}
	zr, err := zstd.NewReader(file, zstd.WithDecoderConcurrency(1))
	if err != nil {
		file.Close()
		return nil, nil, fmt.Errorf("merge: %s: %w", path, err)
	}
	return bufio.NewReaderSize(zr, 1<<16), func() { zr.Close(); file.Close() }, nil
}

func readRecords(path string, f func(spilled) error) error {
	br, closeAll, err := openZstd(path)
	if err != nil {
		return err
	}
	defer closeAll()
	dec := json.NewDecoder(br)
	for {
		var rec spilled
		// Records are written with their own type envelope; read them back.
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("merge: %s: %w", path, err)
		}
		var head struct{ Type string }
		json.Unmarshal(raw, &head)
		switch head.Type {
		case "doc":
			rec.Doc = new(Doc)
			err = json.Unmarshal(raw, rec.Doc)
		case "error":
			rec.Diag = new(Diagnostic)
			err = json.Unmarshal(raw, rec.Diag)
		default:
			rec.File = new(FileEvent)
			err = json.Unmarshal(raw, rec.File)
		}
		if err != nil {
			return fmt.Errorf("merge: %s: %w", path, err)
		}
		if err := f(rec); err != nil {
			return err
		}
	}
}

func readTuples(path string, version int, f func(fp uint64, o watermark.Observation, doc uint32) error) error {
	br, closeAll, err := openZstd(path)
	if err != nil {
		return err
	}
	defer closeAll()
	var buf [30]byte
	b := buf[:tupleRecord(version)]
	for {
		if _, err := io.ReadFull(br, b); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("merge: %s: truncated tuple file: %w", path, err)
		}
		o := watermark.Observation{
			Score:  math.Float64frombits(binary.LittleEndian.Uint64(b[8:])),
			Bits:   binary.LittleEndian.Uint64(b[16:]),
			Slot:   b[24],
			Colour: b[25],
		}
		var doc uint32
		if len(b) >= 30 {
			doc = binary.LittleEndian.Uint32(b[26:])
		}
		if err := f(binary.LittleEndian.Uint64(b[0:]), o, doc); err != nil {
			return fmt.Errorf("merge: %s: %w", path, err)
		}
	}
}

// corpusMerge computes the DocDedupCorpus evidence of merged inputs, in
// Merge's order: a tuple of an input's tuple file counts in the document
// the file names as its first unless an earlier input held it, exactly as
// the order stage of one scan over the inputs in that order does it
// (detect.CorpusDocs over the same dedup key). It holds one seen set per
// key and one tally per document of the current input.
type corpusMerge struct {
	version int
	key     detect.DedupKey
	alpha   float64
	keys    []manifestKey
	cfgs    []watermark.Config
	seen    []*detect.CorpusSeen
	tallies [][]detect.Tally // [key][document of the current input]
}

func newCorpusMerge(m dirManifest, alpha float64) (*corpusMerge, error) {
	c := &corpusMerge{version: m.Version, key: m.DedupKey, alpha: alpha, keys: m.Keys}
	for _, k := range m.Keys {
		cfg, err := watermark.ParseSpec(k.Scheme)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.KeyID, err)
		}
		c.cfgs = append(c.cfgs, cfg)
	}
	c.tallies = make([][]detect.Tally, len(m.Keys))
	c.reset()
	return c, nil
}

// reset forgets every input seen, to start again from the first.
func (c *corpusMerge) reset() {
	c.seen = c.seen[:0]
	for range c.keys {
		c.seen = append(c.seen, detect.NewCorpusSeen(c.key, 0, 0))
	}
}

// file returns the evidence of each document of input d, which must come
// after every input given before (since reset).
func (c *corpusMerge) file(d doneMarker) ([]detect.MultiResult, error) {
	for k := range c.keys {
		ts := c.tallies[k][:0]
		for i := 0; i < d.Docs; i++ {
			ts = append(ts, detect.Tally{})
		}
		c.tallies[k] = ts
		null := c.cfgs[k].Null()
		path := filepath.Join(d.dir, fmt.Sprintf("%s.tuples.%d.zst", d.Name, k))
		err := readTuples(path, c.version, func(fp uint64, o watermark.Observation, doc uint32) error {
			if int(doc) >= len(ts) {
				return fmt.Errorf("a tuple of document %d, but the input has %d documents", doc, len(ts))
			}
			if c.seen[k].KeepFingerprint(fp) {
				ts[doc].Add(null, o)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]detect.MultiResult, d.Docs)
	results := make([]detect.Result, len(c.keys))
	for i := range out {
		for k, key := range c.keys {
			results[k] = detect.Evaluate(c.cfgs[k], key.KeyID, &c.tallies[k][i], c.alpha)
		}
		out[i] = detect.Combine(results, c.alpha)
	}
	return out, nil
}

// countUnfinished counts the inputs of dir with files but no .done marker
// among finished: inputs a crash (or a scan still running) left
// unfinished.
func countUnfinished(dir string, finished map[string]bool) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	stems := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		var stem string
		if i := strings.Index(name, ".records.jsonl.zst"); i > 0 {
			stem = name[:i]
		} else if i := strings.Index(name, ".tuples."); i > 0 {
			stem = name[:i]
		} else {
			continue
		}
		if !finished[stem] {
			stems[stem] = true
		}
	}
	return len(stems)
}

// sameReadOptions compares read options as the manifest records them (its
// JSON), so that a nil and an empty field list are the same.
func sameReadOptions(a, b corpora.ReadOptions) bool {
	if len(a.Fields) == 0 {
		a.Fields = nil
	}
	if len(b.Fields) == 0 {
		b.Fields = nil
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
