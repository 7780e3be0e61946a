package corpora

import (
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
	if strings.Contains(c.r.opts.Field, "[]") {
		return c.parquetRepeated(pf, id.ColumnIndex, hasID)
	}
	text, ok := pf.Schema().Lookup(strings.Split(c.r.opts.Field, ".")...)
	if !ok || text.MaxRepetitionLevel > 0 {
		return fmt.Errorf("no flat column %q (columns: %s)", c.r.opts.Field, parquetColumns(pf))
	}
	row := int64(0)
	for g, rg := range pf.RowGroups() {
		ids, err := c.parquetIDs(rg, id.ColumnIndex, hasID)
		if err != nil {
			return fmt.Errorf("row group %d: %w", g, err)
		}
		i := 0
		err = readColumn(rg.ColumnChunks()[text.ColumnIndex], func(v parquet.Value) error {
			r := row + int64(i)
			i++
			c.st.Records++
			if v.IsNull() {
				return nil
			}
			return c.send(Document{ID: rowID(c.path, ids, r-row, r), Location: "row " + strconv.FormatInt(r, 10), Text: string(v.ByteArray())})
		})
		if err != nil {
			if errors.Is(err, errStop) {
				return err
			}
			return fmt.Errorf("row group %d: %w", g, err)
		}
		row += rg.NumRows()
	}
	return nil
}

func parquetColumns(pf *parquet.File) string {
	var cols []string
	for _, p := range pf.Schema().Columns() {
		cols = append(cols, strings.Join(p, "."))
	}
	return strings.Join(cols, ", ")
}

// parquetIDs reads a row group's ID column (flat), if there is one.
func (c *fileCtx) parquetIDs(rg parquet.RowGroup, col int, has bool) ([]string, error) {
	if !has {
		return nil, nil
	}
	var ids []string
	err := readColumn(rg.ColumnChunks()[col], func(v parquet.Value) error {
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
// whose sibling role (or from) field matches --role, one document per row.
func (c *fileCtx) parquetRepeated(pf *parquet.File, idCol int, hasID bool) error {
	var keys []string
	for _, s := range c.r.field {
		keys = append(keys, s.key)
	}
	textCol, ok := parquetLeaf(pf, keys)
	if !ok {
		return fmt.Errorf("no column %q (columns: %s)", c.r.opts.Field, parquetColumns(pf))
	}
	roleCol, hasRole := -1, false
	if c.r.roles != nil {
		parent := keys[:len(keys)-1]
		for _, name := range []string{"role", "from"} {
			if col, ok := parquetLeaf(pf, append(append([]string{}, parent...), name)); ok {
				roleCol, hasRole = col, true
				break
			}
		}
		if !hasRole {
			return fmt.Errorf("role filter: no role or from column next to %q", c.r.opts.Field)
		}
	}
	row := int64(0)
	for g, rg := range pf.RowGroups() {
		ids, err := c.parquetIDs(rg, idCol, hasID)
		if err != nil {
			return fmt.Errorf("row group %d: %w", g, err)
		}
		type cell struct {
			text  string
			null  bool
			first bool // repetition level 0: a new row starts
		}
		var texts []cell
		var roles []string
		if err := readColumn(rg.ColumnChunks()[textCol], func(v parquet.Value) error {
			texts = append(texts, cell{text: string(v.ByteArray()), null: v.IsNull(), first: v.RepetitionLevel() == 0})
			return nil
		}); err != nil {
			return fmt.Errorf("row group %d: %w", g, err)
		}
		if hasRole {
			if err := readColumn(rg.ColumnChunks()[roleCol], func(v parquet.Value) error {
				roles = append(roles, strings.ToLower(string(v.ByteArray())))
				return nil
			}); err != nil {
				return fmt.Errorf("row group %d: %w", g, err)
			}
			if len(roles) != len(texts) {
				return fmt.Errorf("row group %d: role and text columns are not aligned (%d and %d values)", g, len(roles), len(texts))
			}
		}
		var parts []string
		r := row - 1
		flush := func() error {
			if r < row {
				return nil
			}
			c.st.Records++
			text := strings.Join(parts, "\n\n")
			parts = parts[:0]
			return c.send(Document{ID: rowID(c.path, ids, r-row, r), Location: "row " + strconv.FormatInt(r, 10), Text: text})
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
		if err := flush(); err != nil {
			return err
		}
		row += rg.NumRows()
	}
	return nil
}

// readColumn calls f with every value of a column chunk, page by page.
func readColumn(chunk parquet.ColumnChunk, f func(parquet.Value) error) error {
	pages := chunk.Pages()
	defer pages.Close()
	buf := make([]parquet.Value, 256)
	for {
		page, err := pages.ReadPage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		values := page.Values()
		for {
			n, err := values.ReadValues(buf)
			for _, v := range buf[:n] {
				if ferr := f(v); ferr != nil {
					parquet.Release(page)
					return ferr
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				parquet.Release(page)
				return err
			}
		}
		parquet.Release(page)
	}
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
