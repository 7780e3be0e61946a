package corpora

import (
	"context"
	"io"
	"os"
	"sync"
)

// ctxReadSize is the most a ctxReader reads from its source at once.
const ctxReadSize = 1 << 16

// ctxReader makes reads of a source that may block forever (standard
// input: a pipe, a FIFO, a terminal, a socket) end with ctx's error as
// soon as ctx is done. Each Read is handed to one goroutine that performs
// the blocking read into the reader's own buffer; Read waits for it or for
// ctx, whichever comes first, and copies the bytes out.
//
// This leaves the file descriptor as it is: making it non-blocking to use
// deadlines would change the open file description that the shell and
// the other processes of a pipeline share with us (a terminal left
// non-blocking breaks the user's shell after we exit, even after kill -9),
// and reading it with poll(2) would be Unix-only and racy when another
// process reads the same pipe. The cost is one hand-off and one copy per
// read of up to 64 KiB, and after a cancellation the goroutine stays in
// the blocked read until it returns (for a command, until the process
// exits); what it reads then is dropped, and the reader keeps returning
// ctx's error.
type ctxReader struct {
	ctx   context.Context
	src   io.Reader
	buf   []byte
	req   chan int
	resp  chan ctxReadResult
	err   error // sticky: the source's error, or ctx's
	start sync.Once
	close sync.Once
}

type ctxReadResult struct {
	n   int
	err error
}

// newCtxReader returns r itself when reads of it cannot block (a regular
// file), else a ctxReader.
func newCtxReader(ctx context.Context, r io.Reader) io.Reader {
	if f, ok := r.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			return r
		}
	}
	return &ctxReader{ctx: ctx, src: r}
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.start.Do(func() {
		c.buf = make([]byte, ctxReadSize)
		c.req = make(chan int)
		c.resp = make(chan ctxReadResult, 1) // a late result never blocks the goroutine
		go c.loop()
	})
	c.req <- min(len(p), len(c.buf))
	select {
	case res := <-c.resp:
		copy(p, c.buf[:res.n])
		if res.err != nil {
			c.err = res.err
		}
		return res.n, res.err
	case <-c.ctx.Done():
		c.err = c.ctx.Err()
		return 0, c.err
	}
}

// loop performs the reads asked for on req until req is closed.
func (c *ctxReader) loop() {
	for n := range c.req {
		m, err := c.src.Read(c.buf[:n])
		c.resp <- ctxReadResult{m, err}
	}
}

// Close ends the reading goroutine (once a read in progress returns); it
// does not close the source.
func (c *ctxReader) Close() error {
	c.start.Do(func() {}) // never started: nothing to end
	c.close.Do(func() {
		if c.req != nil {
			close(c.req)
		}
		if c.err == nil {
			c.err = os.ErrClosed
		}
	})
	return nil
}

// checkedReader returns ctx's error instead of reading once ctx is done.
// ReadFile reads every input's decompressed bytes through one, so that a
// record that never ends (an 8 GB line, an unclosed CSV quote, a huge
// WARC header or JSON element, all read and dropped in buffer-sized
// steps) stops within one 64 KiB read of a cancellation.
type checkedReader struct {
	ctx context.Context
	r   io.Reader
}

func (c checkedReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
