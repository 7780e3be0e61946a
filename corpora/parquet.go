package corpora

import (
	"bytes"
	"context"
	le "encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// parquetFile reads a Parquet file (FineWeb, LMSYS-Chat and most dataset
// releases): only the text column (and the role and ID columns) are read,
// row group by row group, page by page. The text column is a flat string
// column named by --field (dotted for nested groups, e.g. meta.body), or a
// field of a list of structs such as conversation[].content. Parquet needs
// random access, so it cannot come from standard input or a compressed
// stream (Parquet compresses its pages itself). parquet-go panics on some
// malformed files: every call into it is guarded, and a panic becomes an
// error naming the file. Its allocations are bounded here by checking the
// footer length and the column chunk sizes against the file size first; a
// corrupted page header can still make it allocate up to 256 MB (its own
// cap) for a moment before it reports the error.
func (c *fileCtx) parquetFile() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed Parquet file (the reader failed: %v)", p)
		}
	}()
	if c.path == "-" {
		return errors.New("Parquet cannot be read from standard input (it needs random access)")
	}
	f, err := os.Open(c.path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := checkParquetFooter(f, st.Size()); err != nil {
		return err
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return fmt.Errorf("not a readable Parquet file: %w", err)
	}
	// Column chunks that claim more bytes than the file holds would make
	// the library allocate that much: refuse them.
	for g, rg := range pf.Metadata().RowGroups {
		for _, col := range rg.Columns {
			if m := col.MetaData; m.TotalCompressedSize < 0 || m.TotalCompressedSize > st.Size() || m.DataPageOffset < 0 || m.DataPageOffset > st.Size() {
				return fmt.Errorf("malformed Parquet file: row group %d has a column chunk of %d bytes at offset %d in a file of %d bytes", g, m.TotalCompressedSize, m.DataPageOffset, st.Size())
			}
		}
	}
	c.st.Bytes = st.Size()
	id, hasID := pf.Schema().Lookup(strings.Split(c.r.opts.IDField, ".")...)
	hasID = hasID && id.MaxRepetitionLevel == 0
	cols, err := c.parquetFields(pf)
	if err != nil {
		return err
	}
	row := int64(0)
	for g, rg := range pf.RowGroups() {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if err := c.parquetRowGroup(g, rg, row, cols, id.ColumnIndex, hasID); err != nil {
			return err
		}
		row += rg.NumRows()
	}
	return c.noDocuments(parquetPaths(pf))
}

// pqField is a text field resolved to its Parquet columns.
type pqField struct {
	name     string
	col      int
	repeated bool // inside a repeated group: one document per row
	roleCol  int  // the sibling role (or from) column; -1 without a role filter
}

// parquetFields resolves the text fields (or detects one of AutoFields) to
// columns. Fields are logical paths: conversation[].content, meta.body.
func (c *fileCtx) parquetFields(pf *parquet.File) ([]pqField, error) {
	resolve := func(f field) (pqField, error) {
		var keys []string
		for _, s := range f.path {
			keys = append(keys, s.key)
		}
		out := pqField{name: f.name, roleCol: -1}
		if !strings.Contains(f.name, "[]") {
			leaf, ok := pf.Schema().Lookup(keys...)
			if !ok || leaf.MaxRepetitionLevel > 0 {
				return out, fmt.Errorf("no column %q (columns: %s)", f.name, strings.Join(parquetPaths(pf), ", "))
			}
			out.col = leaf.ColumnIndex
			return out, nil
		}
		col, ok := parquetLeaf(pf, keys)
		if !ok {
			return out, fmt.Errorf("no column %q (columns: %s)", f.name, strings.Join(parquetPaths(pf), ", "))
		}
		out.col, out.repeated = col, true
		if c.r.roles != nil {
			parent := keys[:len(keys)-1]
			for _, name := range []string{"role", "from"} {
				if col, ok := parquetLeaf(pf, append(append([]string{}, parent...), name)); ok {
					out.roleCol = col
					break
				}
			}
			if out.roleCol < 0 {
				return out, fmt.Errorf("role filter: no role or from column next to %q", f.name)
			}
		}
		return out, nil
	}
	if c.fields == nil {
		for _, f := range c.r.auto {
			if col, err := resolve(f); err == nil {
				c.fields, c.st.Field = []field{f}, f.name
				return []pqField{col}, nil
			}
		}
		return nil, fmt.Errorf("no column of the fields %s (columns: %s)", strings.Join(AutoFields(), ", "), strings.Join(parquetPaths(pf), ", "))
	}
	var cols []pqField
	for _, f := range c.fields {
		col, err := resolve(f)
		if err != nil {
			return nil, err
		}
		cols = append(cols, col)
	}
	return cols, nil
}

// parquetPaths lists a file's columns as field paths, without the groups
// that writers put around list elements: conversation[].content, not
// conversation.list.element.content.
func parquetPaths(pf *parquet.File) []string {
	var out []string
	var walk func(n parquet.Node, prefix string)
	walk = func(n parquet.Node, prefix string) {
		for _, f := range n.Fields() {
			p := prefix
			if name := f.Name(); !listWrappers[name] || prefix == "" {
				if p != "" {
					p += "."
				}
				p += name
			}
			if f.Repeated() && !strings.HasSuffix(p, "[]") {
				p += "[]"
			}
			if f.Leaf() {
				out = append(out, p)
			} else {
				walk(f, p)
			}
		}
	}
	walk(pf.Schema(), "")
	return out
}

// parquetRowGroup reads the text fields of one row group (its first row is
// row). A bad page of a flat text column whose chunk has a page index
// (an OffsetIndex: where each page starts and its first row) is one
// diagnostic counting that page's rows as lost (FileStats.LostRows), and
// reading resumes at the next page. Otherwise (no page index, a bad last
// page, a column inside a repeated group, whose pages are read whole, or
// the library failing) the rest of the column chunk is lost, one
// diagnostic counting its rows, and reading goes on at the next row
// group: without the index the next page's place is only in the bad
// page's header. What was read of a flat column before the bad page is
// kept.
func (c *fileCtx) parquetRowGroup(g int, rg parquet.RowGroup, row int64, cols []pqField, idCol int, hasID bool) (err error) {
	var done int64 // rows of the current column read
	var first bool // the current column is the first: rows are counted once
	var name string
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed Parquet file (the reader failed: %v)", p)
		}
		if err == nil || errors.Is(err, errStop) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		lost := rg.NumRows() - done
		if first {
			c.st.Records += int(lost)
		}
		c.st.LostRows += lost
		c.diag(Diagnostic{c.path, fmt.Sprintf("row group %d (rows %d to %d)", g, row, row+rg.NumRows()-1),
			fmt.Errorf("column %s: %w; %d of its %d rows lost", name, err, lost, rg.NumRows())})
		err = nil
	}()
	first, name = true, cols[0].name
	ids, err := c.parquetIDs(rg, idCol, hasID)
	if err != nil {
		ids = nil // IDs from the row numbers instead
	}
	for k, col := range cols {
		first, name, done = k == 0, col.name, 0
		if col.repeated {
			err = c.parquetRepeated(rg, row, col, ids, first, &done)
		} else {
			err = c.parquetFlat(rg, row, col, ids, first, &done)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parquetFlat reads a flat text column: one document per non-empty value.
// It counts the rows read in *done.
func (c *fileCtx) parquetFlat(rg parquet.RowGroup, row int64, col pqField, ids []string, first bool, done *int64) error {
	skip := func(firstRow, lost int64, err error) {
		*done += lost
		if first {
			c.st.Records += int(lost)
		}
		c.st.LostRows += lost
		c.diag(Diagnostic{c.path, fmt.Sprintf("rows %d to %d", row+firstRow, row+firstRow+lost-1),
			fmt.Errorf("column %s: bad page: %w; its %d rows lost, reading goes on at the next page", col.name, err, lost)})
	}
	return readColumnResuming(rg.ColumnChunks()[col.col], skip, func(v parquet.Value) error {
		r := row + *done
		*done++
		if first {
			c.st.Records++
		}
		text := v.ByteArray()
		if v.IsNull() || len(bytes.TrimSpace(text)) == 0 {
			c.noText(nil)
			return nil
		}
		return c.sendTexts([]fieldText{{col.name, string(text)}}, rowID(c.path, ids, r-row, r), "row "+strconv.FormatInt(r, 10))
	})
}

// parquetIDs reads a row group's ID column (flat), if there is one.
func (c *fileCtx) parquetIDs(rg parquet.RowGroup, col int, has bool) ([]string, error) {
	if !has {
		return nil, nil
	}
	var ids []string
	skip := func(_, lost int64, _ error) { // rows without an ID: named by row number
		ids = append(ids, make([]string, lost)...)
	}
	err := readColumnResuming(rg.ColumnChunks()[col], skip, func(v parquet.Value) error {
		ids = append(ids, v.String())
		return nil
	})
	return ids, err
}

func rowID(path string, ids []string, i, row int64) string {
	if i < int64(len(ids)) && ids[i] != "" {
		return ids[i]
	}
	return path + ":row " + strconv.FormatInt(row, 10)
}

// listWrappers are the group names Parquet writers put around list
// elements (LIST annotation: "list"/"element"; older writers: "bag",
// "array", "item", "array_element").
var listWrappers = map[string]bool{"list": true, "element": true, "item": true, "array": true, "bag": true, "array_element": true}

// parquetLeaf finds the leaf column whose path, without list wrappers,
// is keys.
func parquetLeaf(pf *parquet.File, keys []string) (int, bool) {
	for i, p := range pf.Schema().Columns() {
		var clean []string
		for _, k := range p {
			if !listWrappers[k] {
				clean = append(clean, k)
			}
		}
		if strings.Join(clean, ".") == strings.Join(keys, ".") {
			return i, true
		}
	}
	return 0, false
}

// parquetRepeated reads a text field inside a repeated group (chat turns,
// e.g. conversation[].content of LMSYS-Chat or WildChat), keeping the turns
// whose sibling role (or from) field matches the role, one document per
// row. The column chunk is read whole before rows are emitted (counted in
// *done).
func (c *fileCtx) parquetRepeated(rg parquet.RowGroup, row int64, col pqField, ids []string, first bool, done *int64) error {
	type cell struct {
		text  string
		null  bool
		first bool // repetition level 0: a new row starts
	}
	var texts []cell
	var roles []string
	if err := readColumn(rg.ColumnChunks()[col.col], func(v parquet.Value) error {
		texts = append(texts, cell{text: string(v.ByteArray()), null: v.IsNull(), first: v.RepetitionLevel() == 0})
		return nil
	}); err != nil {
		return err
	}
	hasRole := col.roleCol >= 0
	if hasRole {
		if err := readColumn(rg.ColumnChunks()[col.roleCol], func(v parquet.Value) error {
			roles = append(roles, strings.ToLower(string(v.ByteArray())))
			return nil
		}); err != nil {
			return err
		}
		if len(roles) != len(texts) {
			return fmt.Errorf("role and text columns are not aligned (%d and %d values)", len(roles), len(texts))
		}
	}
	var parts []string
	r := row - 1
	flush := func() error {
		if r < row {
			return nil
		}
		*done++
		if first {
			c.st.Records++
		}
		text := strings.Join(parts, "\n\n")
		parts = parts[:0]
		if strings.TrimSpace(text) == "" {
			c.noText(nil)
			return nil
		}
		return c.sendTexts([]fieldText{{col.name, text}}, rowID(c.path, ids, r-row, r), "row "+strconv.FormatInt(r, 10))
	}
	for i, t := range texts {
		if t.first {
			if err := flush(); err != nil {
				return err
			}
			r++
		}
		if t.null || (hasRole && !slices.Contains(c.r.roles, roles[i])) {
			continue
		}
		parts = append(parts, t.text)
	}
	return flush()
}

// readColumn calls f with every value of a column chunk, page by page.
func readColumn(chunk parquet.ColumnChunk, f func(parquet.Value) error) error {
	return readColumnResuming(chunk, nil, f)
}

// readColumnResuming is readColumn for a flat column (one value a row)
// that, with skip set, goes on after a bad data page when the chunk has a
// valid page index: skip is told the bad page's first row (within the
// chunk), its rows not read (those after the values f was given) and the
// error, and reading resumes at the next page. Without skip, a page
// index, or a next page, the error is returned.
func readColumnResuming(chunk parquet.ColumnChunk, skip func(firstRow, lost int64, err error), f func(parquet.Value) error) error {
	pages := chunk.Pages()
	defer pages.Close()
	buf := make([]parquet.Value, 256)
	var index parquet.OffsetIndex // loaded at the first bad page
	page := 0                     // data pages met
	var rows int64                // values given to f
	for ; ; page++ {
		err := readPage(pages, buf, f, &rows)
		if err == io.EOF {
			return nil
		}
		if err == nil {
			continue
		}
		if errors.Is(err, errStop) || skip == nil {
			return err
		}
		if index == nil {
			if index = pageIndex(chunk); index == nil {
				return err
			}
		}
		next := page + 1
		if next >= index.NumPages() || index.FirstRowIndex(page) > rows || index.FirstRowIndex(next) < rows {
			return err // the last page, or the index does not match what was read
		}
		lost := index.FirstRowIndex(next) - rows
		if serr := pages.SeekToRow(index.FirstRowIndex(next)); serr != nil {
			return err
		}
		skip(rows, lost, err)
		rows += lost
	}
}

// readPage reads one page and gives its values to f, counting them in
// *rows. It returns io.EOF after the last page, and an error from f
// wrapped in errStop.
func readPage(pages parquet.Pages, buf []parquet.Value, f func(parquet.Value) error, rows *int64) error {
	page, err := pages.ReadPage()
	if err != nil {
		return err
	}
	defer parquet.Release(page)
	values := page.Values()
	for {
		n, err := values.ReadValues(buf)
		for _, v := range buf[:n] {
			*rows++
			if ferr := f(v); ferr != nil {
				if errors.Is(ferr, errStop) {
					return ferr
				}
				return fmt.Errorf("%w: %w", errStop, ferr)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// pageIndex returns a column chunk's offset index if it has one that is
// consistent: pages one after another in the chunk's bytes, first rows
// increasing from 0. An index that is missing, unreadable or inconsistent
// gives nil: then no page is skipped to.
func pageIndex(chunk parquet.ColumnChunk) (index parquet.OffsetIndex) {
	defer func() {
		if recover() != nil {
			index = nil
		}
	}()
	fc, ok := chunk.(*parquet.FileColumnChunk)
	if !ok {
		return nil
	}
	idx, err := fc.OffsetIndex()
	if err != nil || idx == nil || idx.NumPages() == 0 || idx.FirstRowIndex(0) != 0 {
		return nil
	}
	for i := 1; i < idx.NumPages(); i++ {
		if idx.FirstRowIndex(i) <= idx.FirstRowIndex(i-1) || idx.FirstRowIndex(i) >= chunk.NumValues() ||
			idx.CompressedPageSize(i-1) <= 0 || idx.Offset(i) != idx.Offset(i-1)+idx.CompressedPageSize(i-1) {
			return nil
		}
	}
	return idx
}

// maxParquetFooter bounds the file metadata read from a Parquet footer.
const maxParquetFooter = 64 << 20

// checkParquetFooter validates the magic bytes and the footer length before
// the library reads (and allocates) the footer: a corrupted length would
// otherwise make it allocate up to 4 GB.
func checkParquetFooter(f io.ReaderAt, size int64) error {
	if size < 12 {
		return fmt.Errorf("not a Parquet file (%d bytes)", size)
	}
	var head [4]byte
	var tail [8]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return err
	}
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return err
	}
	if string(head[:]) != "PAR1" || string(tail[4:]) != "PAR1" {
		return errors.New("not a Parquet file (no PAR1 magic at both ends)")
	}
	n := int64(le.LittleEndian.Uint32(tail[:4]))
	if n <= 0 || n > size-12 || n > maxParquetFooter {
		return fmt.Errorf("malformed Parquet file: footer length %d in a file of %d bytes", n, size)
	}
	return nil
}
