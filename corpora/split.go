package corpora

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Reading one JSON Lines file in byte ranges, in parallel, with the same
// documents and diagnostics as ReadFile gives for the whole file.
//
// A range [start, end) owns every line that starts in it: from the first
// line start at or after start through the last line starting before end
// (read to its end, past end). The document IDs and locations of JSON
// Lines name line numbers ("line 12"), which a reader starting at a byte
// offset cannot know, and a file read without fields given takes its text
// field from its first record that has one of the AutoFields; IndexJSONL
// reads the file once (counting newlines, at memory speed) to record both,
// and ReadJSONLRange starts from them. What depends on the whole file (the
// cap on diagnostics shown, "empty", the error of a file whose records
// give no document) is rebuilt from the ranges by MergeJSONLRanges.

// JSONLIndex is the index of a plain (uncompressed) JSON Lines file that
// ReadJSONLRange reads in byte ranges.
type JSONLIndex struct {
	Size  int64 `json:"size"`  // the file's size when indexed
	Block int64 `json:"block"` // the grid of Starts
	// Starts[i] is the first line start at or after byte i*Block (Size if
	// none) and Lines[i] its line number, from 1.
	Starts []int64 `json:"starts"`
	Lines  []int   `json:"lines"`
	// Decided is the start of the line whose record chose the text field
	// Field among AutoFields, or -1 when the fields are given.
	Decided int64  `json:"decided"`
	Field   string `json:"field,omitempty"`
}

// IndexJSONL indexes path for reading in ranges on a grid of block bytes.
// It returns nil (and no error) when the file is not to be split: it is
// not a plain JSON Lines file as ReadFile would read it (compressed,
// another format, standard input, not a regular file), it is at most one
// block long, or (without fields given) no record of its first block
// decides the text field. An error is one of reading the file, which
// ReadFile would meet too.
func (r *Reader) IndexJSONL(ctx context.Context, path string, block int64) (*JSONLIndex, error) {
	if path == "-" || block < sniffSize {
		return nil, nil
	}
	info, err := checkInput(path)
	if err != nil || info.Size() <= block {
		return nil, nil
	}
	format := r.opts.Format
	if format == "auto" {
		format = extFormat(path)
	}
	if format != "jsonl" && format != "json" && format != "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, sniffSize)
	if _, err := io.ReadFull(f, head); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	comp := DetectCompression(head)
	if comp != NoCompression || r.contentFormat(path, format, comp, head) != "jsonl" {
		return nil, nil
	}
	idx := &JSONLIndex{Size: info.Size(), Block: block, Decided: -1}
	if r.fields == nil {
		// The lines of the first block, as jsonlLines reads them.
		raw := &countingReader{r: bufio.NewReaderSize(checkedReader{ctx, io.NewSectionReader(f, 0, idx.Size)}, 1<<16)}
		br := bufio.NewReaderSize(raw, 1<<16)
		var buf []byte
		for {
			pos := raw.n - int64(br.Buffered())
			if pos >= block {
				return nil, nil
			}
			line, tooLong, err := readLimitedLine(br, r.opts.MaxRecord, &buf)
			if !tooLong && len(bytes.TrimSpace(line)) > 0 {
				if fl, ok := r.autoField(line); ok {
					idx.Decided, idx.Field = pos, fl.name
					break
				}
			}
			if err == io.EOF {
				return nil, nil
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	// Line k+1 starts after the k-th newline.
	idx.Starts, idx.Lines = append(idx.Starts, 0), append(idx.Lines, 1)
	next, off, newlines := block, int64(0), 0
	in := checkedReader{ctx, io.NewSectionReader(f, 0, idx.Size)}
	buf := make([]byte, 1<<20)
	for {
		n, err := in.Read(buf)
		chunk := buf[:n]
		for base := off; ; {
			i := bytes.IndexByte(chunk, '\n')
			if i < 0 {
				break
			}
			newlines++
			start := base + int64(i) + 1
			for next <= start && next < idx.Size {
				idx.Starts, idx.Lines = append(idx.Starts, start), append(idx.Lines, newlines+1)
				next += block
			}
			chunk, base = chunk[i+1:], start
		}
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if off != idx.Size {
		return nil, fmt.Errorf("%s: changed while it was indexed (%d bytes, then %d)", path, idx.Size, off)
	}
	for ; next < idx.Size; next += block { // no line starts at or after next
		idx.Starts, idx.Lines = append(idx.Starts, idx.Size), append(idx.Lines, newlines+1)
	}
	return idx, nil
}

// RangeStats is what reading one range of a file saw: its counts (Bytes
// are the bytes of the lines it owns), where it started, and the key paths
// of its first records without text, for MergeJSONLRanges.
type RangeStats struct {
	FileStats
	Start      int64      `json:"start"`
	KeySamples [][]string `json:"key_samples,omitempty"`
}

// ReadJSONLRange reads the lines of path, indexed by IndexJSONL, that
// start in a range from start on, as ReadFile reads them: the same
// documents (IDs, locations, text) and diagnostics. Before each line it
// calls claim with the line's start offset, and stops when claim returns
// false: claim ends the range (for a range [start, end), claim is pos <
// end; a splittable DoFn's tracker claims it). Of its diagnostics, the
// first MaxDiagnostics are passed to diag and the rest counted; the
// file's cap and last diagnostic are applied over all its ranges by the
// caller (see MergeJSONLRanges). It returns an error when the rest of the
// range cannot be read, or the file is not as indexed.
func (r *Reader) ReadJSONLRange(ctx context.Context, path string, idx *JSONLIndex, start int64, claim func(int64) bool, emit func(Document) error, diag func(Diagnostic)) (RangeStats, error) {
	rs := RangeStats{FileStats: FileStats{Format: "jsonl"}, Start: start}
	if err := ctx.Err(); err != nil {
		return rs, err
	}
	info, err := checkInput(path)
	if err != nil {
		return rs, err
	}
	if info.Size() != idx.Size || idx.Block <= 0 || len(idx.Starts) == 0 || len(idx.Starts) != len(idx.Lines) {
		return rs, fmt.Errorf("%s: not as indexed (%d bytes, indexed at %d)", path, info.Size(), idx.Size)
	}
	g := min(max(start, 0)/idx.Block, int64(len(idx.Starts)-1))
	pos, lineNo := idx.Starts[g], idx.Lines[g]
	f, err := os.Open(path)
	if err != nil {
		return rs, err
	}
	defer f.Close()
	if _, err := f.Seek(pos, io.SeekStart); err != nil {
		return rs, fmt.Errorf("%s: %w", path, err)
	}
	raw := &countingReader{r: bufio.NewReaderSize(f, 1<<16)}
	br := bufio.NewReaderSize(checkedReader{ctx, raw}, 1<<16)
	at := func() int64 { return pos + raw.n - int64(br.Buffered()) }
	for at() < start { // lines starting before the range
		if err := skipLine(br); err == io.EOF {
			break
		} else if err != nil {
			return rs, fmt.Errorf("%s: %w", path, err)
		}
		lineNo++
	}
	first := at()
	c := r.newFileCtx(ctx, path, emit, r.limitDiagnostics(&rs.FileStats, diag), &rs.FileStats, raw)
	if r.fields == nil && idx.Decided >= 0 && first > idx.Decided {
		// The field the file's first records chose; a range from before
		// them decides it again from the same records.
		i := slices.IndexFunc(r.auto, func(f field) bool { return f.name == idx.Field })
		if i < 0 {
			return rs, fmt.Errorf("%s: indexed with an unknown field %q", path, idx.Field)
		}
		c.fields, rs.Field = []field{r.auto[i]}, idx.Field
	}
	last, stopped := first, false
	err = c.jsonlLines(br, lineNo, func() bool {
		last = at()
		stopped = !claim(last)
		return !stopped
	})
	if !stopped {
		last = at() // the end of the file
	}
	rs.Bytes, rs.KeySamples = last-first, c.samples
	if err != nil {
		if errors.Is(err, errStop) {
			return rs, ctx.Err()
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return rs, err
		}
		return rs, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// skipLine reads through the next newline (or to the end of input).
func skipLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if err != bufio.ErrBufferFull {
			return err
		}
	}
}

// DiagnosticLimit is how many diagnostics of one input are shown (< 0: all).
func (r *Reader) DiagnosticLimit() int { return r.opts.MaxDiagnostics }

// MergeJSONLRanges returns the stats and the error ReadFile gives for a
// file read in ranges by ReadJSONLRange, from those ranges' stats (which
// cover the file: every line once) in the order of their starts. The
// file's diagnostics are the ranges' shown ones in that order, cut to the
// first DiagnosticLimit, and then, if stats.ErrorsNotShown > 0,
// MoreErrors(path, stats).
func (r *Reader) MergeJSONLRanges(path string, parts []RangeStats) (FileStats, error) {
	st := FileStats{Format: "jsonl", Skipped: "empty"}
	var samples [][]string
	for _, p := range parts {
		st.Bytes += p.Bytes
		st.Records += p.Records
		st.Documents += p.Documents
		st.Diagnostics += p.Diagnostics
		st.NoText += p.NoText
		if p.Skipped != "empty" {
			st.Skipped = ""
		}
		if st.Field == "" {
			st.Field = p.Field
		}
		samples = append(samples, p.KeySamples...)
	}
	if limit := r.opts.MaxDiagnostics; limit >= 0 && st.Diagnostics > limit {
		st.ErrorsNotShown = st.Diagnostics - limit
	}
	c := &fileCtx{r: r, path: path, st: &st, fields: r.fields, samples: samples[:min(len(samples), maxKeySamples)]}
	if c.fields == nil && st.Field != "" {
		if i := slices.IndexFunc(r.auto, func(f field) bool { return f.name == st.Field }); i >= 0 {
			c.fields = []field{r.auto[i]}
		}
	}
	if err := c.noDocuments(nil); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}
