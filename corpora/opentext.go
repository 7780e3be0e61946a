package corpora

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrBinary is wrapped by OpenText's error for content that is not text.
var ErrBinary = errors.New("binary content, not text")

// OpenText opens path ("-" is stdin) for reading as plain text: it refuses
// directories and special files (FIFOs, sockets, devices) before opening
// them, undoes gzip, zstd, xz or bzip2 compression found by magic bytes,
// and returns an error wrapping ErrBinary, naming the path, when the
// (decompressed) first 8 KiB is not text (see looksBinary: NUL bytes,
// mostly invalid UTF-8, or a PNG, ZIP, tar, ELF, PDF, Parquet, ...
// signature). Reads fail with ctx's error once ctx is done.
func OpenText(ctx context.Context, path string, stdin io.Reader) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if path != "-" {
		if _, err := checkInput(path); err != nil {
			return nil, err
		}
	}
	in, err := openInput(ctx, path, stdin)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(in.r, 1<<16)
	head, err := br.Peek(sniffSize)
	if err != nil && err != io.EOF && len(head) == 0 {
		in.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if why, bin := looksBinary(head); bin {
		in.Close()
		what := ""
		if in.compression != NoCompression {
			what = " (after " + string(in.compression) + " decompression)"
		}
		return nil, fmt.Errorf("%s: %w%s: %s", path, ErrBinary, what, why)
	}
	return &textReader{ctx: ctx, r: br, in: in}, nil
}

// textReader is OpenText's reader: the decompressed bytes, checking ctx.
type textReader struct {
	ctx context.Context
	r   io.Reader
	in  *input
}

func (t *textReader) Read(p []byte) (int, error) {
	if err := t.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		if t.in.compression != NoCompression && errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("truncated %s stream after %d compressed bytes: %w", t.in.compression, t.in.raw.n, err)
		}
		err = fmt.Errorf("%s: %w", t.in.name, err)
	}
	return n, err
}

func (t *textReader) Close() error { return t.in.Close() }
