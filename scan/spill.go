package scan

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// defaultSpillMemory is how many records wait in memory for the q-values
// before the scan moves them to a temporary file: about 16 MB of records,
// so that small and medium scans never touch the disk (and skip the JSON
// round trip) while memory stays bounded on any corpus.
const defaultSpillMemory = 1 << 16

// spillBuffer holds the records of a scan, in order, until the q-values
// are known: in memory up to limit records, then in a temporary JSON Lines
// file in dir.
type spillBuffer struct {
	dir   string
	limit int
	mem   []spilled
	file  *os.File
	w     *bufio.Writer
	enc   *json.Encoder
}

// add appends a record; it copies what rec points to.
func (b *spillBuffer) add(rec spilled) error {
	if b.file == nil {
		if len(b.mem) < b.limit {
			b.mem = append(b.mem, rec.clone())
			return nil
		}
		if err := b.toDisk(); err != nil {
			return err
		}
	}
	if err := b.enc.Encode(rec); err != nil {
		return fmt.Errorf("spill file: %w", err)
	}
	return nil
}

// toDisk moves the records held in memory to a new spill file.
func (b *spillBuffer) toDisk() error {
	f, err := os.CreateTemp(b.dir, spillPattern)
	if err != nil {
		return fmt.Errorf("spill file: %w", err)
	}
	// Held while the scan runs, so that removeStaleSpills never takes a
	// live scan's file.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("spill file %s: %w", f.Name(), err)
	}
	b.file = f
	b.w = bufio.NewWriterSize(f, 1<<20)
	b.enc = json.NewEncoder(b.w)
	for _, r := range b.mem {
		if err := b.enc.Encode(r); err != nil {
			return fmt.Errorf("spill file %s: %w", f.Name(), err)
		}
	}
	b.mem = nil
	return nil
}

// spillPattern names spill files: a scan killed before it removes its
// spill file (kill -9) leaves one behind, and the next scan recognises it.
const spillPattern = "tracemark-scan-*.jsonl"

// staleSpillAge is how old a spill file must be (since its last write) for
// removeStaleSpills to remove it.
const staleSpillAge = time.Hour

// removeStaleSpills removes the spill files in dir ("" = os.TempDir) that
// no live scan holds (each scan holds an flock on its spill file) and that
// were last written more than staleSpillAge ago. It is best effort: a file
// it cannot examine stays.
func removeStaleSpills(dir string) {
	if dir == "" {
		dir = os.TempDir()
	}
	matches, _ := filepath.Glob(filepath.Join(dir, spillPattern))
	for _, m := range matches {
		st, err := os.Stat(m)
		if err != nil || !st.Mode().IsRegular() || time.Since(st.ModTime()) < staleSpillAge {
			continue
		}
		f, err := os.Open(m)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.Remove(m)
		}
		f.Close()
	}
}

// replay calls f on every record, in the order they were added.
func (b *spillBuffer) replay(f func(spilled) error) error {
	if b.file == nil {
		for _, r := range b.mem {
			if err := f(r); err != nil {
				return err
			}
		}
		return nil
	}
	if err := b.w.Flush(); err != nil {
		return fmt.Errorf("spill file %s: %w", b.file.Name(), err)
	}
	if _, err := b.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spill file %s: %w", b.file.Name(), err)
	}
	dec := json.NewDecoder(bufio.NewReaderSize(b.file, 1<<20))
	for {
		var rec spilled
		if err := dec.Decode(&rec); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read spill file %s: %w", b.file.Name(), err)
		}
		if err := f(rec); err != nil {
			return err
		}
	}
}

// close removes the spill file, if any.
func (b *spillBuffer) close() {
	if b.file != nil {
		b.file.Close()
		os.Remove(b.file.Name())
	}
}

// clone returns a copy of rec that shares nothing mutable with it.
func (rec spilled) clone() spilled {
	if rec.Doc != nil {
		d := *rec.Doc
		d.Matched = append([]string{}, d.Matched...)
		rec.Doc = &d
	}
	if rec.Diag != nil {
		d := *rec.Diag
		rec.Diag = &d
	}
	if rec.File != nil {
		f := *rec.File
		rec.File = &f
	}
	return rec
}
