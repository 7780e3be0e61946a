package corpora

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// parquetFile reads a Parquet file (FineWeb, LMSYS-Chat and most dataset
// releases): only the text column and the ID column are read, row group by
// row group, page by page. The text column must be a flat (non-repeated)
// string column named by --field (dotted for nested groups, e.g.
// meta.body); repeated chat columns are not supported yet. Parquet needs
// random access, so it cannot come from standard input or a compressed
// stream (Parquet compresses its pages itself). parquet-go panics on some
// malformed files: every call into it is guarded, and a panic becomes an
// error naming the file.
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
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return fmt.Errorf("not a readable Parquet file: %w", err)
	}
	c.st.Bytes = st.Size()
	if strings.Contains(c.r.opts.Field, "[]") {
		return fmt.Errorf("field %q: repeated (list) columns are not supported for Parquet yet; use a flat string column", c.r.opts.Field)
	}
	text, ok := pf.Schema().Lookup(strings.Split(c.r.opts.Field, ".")...)
	if !ok || text.MaxRepetitionLevel > 0 {
		var cols []string
		for _, p := range pf.Schema().Columns() {
			cols = append(cols, strings.Join(p, "."))
		}
		return fmt.Errorf("no flat column %q (columns: %s)", c.r.opts.Field, strings.Join(cols, ", "))
	}
	id, hasID := pf.Schema().Lookup(strings.Split(c.r.opts.IDField, ".")...)
	hasID = hasID && id.MaxRepetitionLevel == 0
	row := int64(0)
	for g, rg := range pf.RowGroups() {
		var ids []string
		if hasID {
			if err := readColumn(rg.ColumnChunks()[id.ColumnIndex], func(v parquet.Value) error {
				ids = append(ids, v.String())
				return nil
			}); err != nil {
				return fmt.Errorf("row group %d, column %s: %w", g, c.r.opts.IDField, err)
			}
		}
		i := 0
		err := readColumn(rg.ColumnChunks()[text.ColumnIndex], func(v parquet.Value) error {
			r := row + int64(i)
			docID := c.path + ":row " + strconv.FormatInt(r, 10)
			if i < len(ids) && ids[i] != "" {
				docID = ids[i]
			}
			i++
			c.st.Records++
			if v.IsNull() {
				return nil
			}
			return c.send(Document{ID: docID, Location: "row " + strconv.FormatInt(r, 10), Text: string(v.ByteArray())})
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
