package corpora

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Compression names a container compression, detected by magic bytes.
type Compression string

// Known compressions.
const (
	NoCompression Compression = ""
	Gzip          Compression = "gzip"
	Zstd          Compression = "zstd"
	Bzip2         Compression = "bzip2"
	XZ            Compression = "xz"
)

// DetectCompression names the compression whose magic bytes start head.
func DetectCompression(head []byte) Compression {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return Gzip
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd
	case bytes.HasPrefix(head, []byte("BZh")):
		return Bzip2
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return XZ
	}
	return NoCompression
}

// compressionExts are the file name endings stripped before the format is
// guessed from the extension.
var compressionExts = []string{".gz", ".gzip", ".zst", ".zstd", ".bz2", ".xz"}

// baseName strips compression extensions from a file name.
func baseName(name string) string {
	lower := strings.ToLower(name)
	for changed := true; changed; {
		changed = false
		for _, ext := range compressionExts {
			if strings.HasSuffix(lower, ext) {
				lower = strings.TrimSuffix(lower, ext)
				changed = true
			}
		}
	}
	return lower
}

// countingReader counts the bytes read through it; it is a ByteReader so
// that decompressors read exactly what they need from it.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// input is an opened, decompressed input.
type input struct {
	name        string
	raw         *countingReader // the compressed bytes, counted
	r           io.Reader       // the decompressed bytes
	compression Compression
	size        int64 // compressed size if known, else -1
	closers     []io.Closer
}

func (in *input) Close() error {
	var first error
	for i := len(in.closers) - 1; i >= 0; i-- {
		if err := in.closers[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// openInput opens path ("-" is stdin) and decompresses it by magic bytes.
// Reads of stdin end with ctx's error once ctx is done, even when blocked
// (a pipe or a terminal that never delivers: see ctxReader).
func openInput(ctx context.Context, path string, stdin io.Reader) (*input, error) {
	in := &input{name: path, size: -1}
	var f io.Reader
	if path == "-" {
		f = newCtxReader(ctx, stdin)
		if c, ok := f.(*ctxReader); ok { // not stdin itself: it stays open
			in.closers = append(in.closers, c)
		}
	} else {
		file, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		if st, err := file.Stat(); err == nil {
			if st.IsDir() {
				file.Close()
				return nil, fmt.Errorf("%s: is a directory", path)
			}
			in.size = st.Size()
		}
		in.closers = append(in.closers, file)
		f = file
	}
	in.raw = &countingReader{r: bufio.NewReaderSize(f, 1<<16)}
	head, _ := in.raw.r.Peek(8)
	in.compression = DetectCompression(head)
	var err error
	switch in.compression {
	case Gzip:
		var z *gzip.Reader
		z, err = gzip.NewReader(in.raw)
		if err == nil {
			in.r = z
			in.closers = append(in.closers, z)
		}
	case Zstd:
		var z *zstd.Decoder
		z, err = zstd.NewReader(in.raw, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<30))
		if err == nil {
			in.r = z
			in.closers = append(in.closers, closerFunc(func() error { z.Close(); return nil }))
		}
	case Bzip2:
		in.r = bzip2.NewReader(in.raw)
	case XZ:
		in.r, err = xz.NewReader(in.raw)
	default:
		in.r = in.raw
	}
	if err != nil {
		in.Close()
		return nil, fmt.Errorf("%s: %s stream: %w", path, in.compression, err)
	}
	return in, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
