package tokenize

import (
	"context"
	"runtime"
	"sync"
	"unsafe"
)

// minParallelPart is the smallest part of a text AppendEncodeParallel gives
// a goroutine: below it the goroutines cost more than they save.
const minParallelPart = 1 << 20

// addedTokenMatcher is implemented by tokenizers that may match added
// tokens inside text (package hf); their literals are not covered by
// CutPoint's rule, so such text is not cut.
type addedTokenMatcher interface{ AddedTokens() bool }

// AppendEncodeParallel appends the tokens of text to dst, as
// tok.AppendEncode does, encoding parts of text on up to workers goroutines
// (0 means GOMAXPROCS). Text is cut only where CutPoint allows, so the
// tokens are exactly AppendEncode's, in order, whatever workers is; text
// without such a place, shorter than a few megabytes, or a tokenizer that
// matches added tokens in text, is encoded whole. It stops early with
// ctx's error if ctx is cancelled.
func AppendEncodeParallel(ctx context.Context, tok Tokenizer, dst []uint32, text string, workers int) ([]uint32, error) {
	parts := cutParts(tok, text, workers, minParallelPart)
	if len(parts) == 1 {
		if err := ctx.Err(); err != nil {
			return dst, err
		}
		return tok.AppendEncode(dst, text)
	}
	ids := make([][]uint32, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for k, p := range parts {
		wg.Go(func() {
			if errs[k] = ctx.Err(); errs[k] == nil {
				ids[k], errs[k] = tok.AppendEncode(make([]uint32, 0, len(p)/3), p)
			}
		})
	}
	wg.Wait()
	for k := range parts {
		if errs[k] != nil {
			return dst, errs[k]
		}
		dst = append(dst, ids[k]...)
	}
	return dst, nil
}

// counter is implemented by tokenizers that count tokens without storing
// them (Encoder).
type counter interface{ Count(text string) int }

// CountParallel returns the number of tokens of text, as
// len(tok.AppendEncode(nil, text)), cutting text as AppendEncodeParallel
// does and counting without keeping the tokens where tok allows.
func CountParallel(ctx context.Context, tok Tokenizer, text string, workers int) (int, error) {
	if l, ok := tok.(*lazyEncoder); ok {
		e, err := l.get()
		if err != nil {
			return 0, err
		}
		tok = e
	}
	parts := cutParts(tok, text, workers, minParallelPart)
	counts := make([]int, len(parts))
	errs := make([]error, len(parts))
	count := func(k int) {
		if errs[k] = ctx.Err(); errs[k] != nil {
			return
		}
		if c, ok := tok.(counter); ok {
			counts[k] = c.Count(parts[k])
			return
		}
		var ids []uint32
		ids, errs[k] = tok.AppendEncode(nil, parts[k])
		counts[k] = len(ids)
	}
	if len(parts) == 1 {
		count(0)
	} else {
		var wg sync.WaitGroup
		for k := range parts {
			wg.Go(func() { count(k) })
		}
		wg.Wait()
	}
	n := 0
	for k := range parts {
		if errs[k] != nil {
			return 0, errs[k]
		}
		n += counts[k]
	}
	return n, nil
}

// cutParts cuts text into up to workers parts of at least minPart bytes,
// each cut the CutPoint nearest below an even share of the text.
func cutParts(tok Tokenizer, text string, workers, minPart int) []string {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if a, ok := tok.(addedTokenMatcher); ok && a.AddedTokens() {
		workers = 1
	}
	workers = min(workers, len(text)/minPart)
	if workers <= 1 {
		return []string{text}
	}
	b := unsafe.Slice(unsafe.StringData(text), len(text))
	var parts []string
	start := 0
	for k := 1; k < workers; k++ {
		target := k * len(text) / workers
		if target <= start+minPart/2 {
			continue
		}
		// CutPoint looks only at the bytes around a place, so a place it
		// finds in text[start:target] is one in text.
		i := CutPoint(b[start:target])
		if i < 0 {
			continue
		}
		parts = append(parts, text[start:start+i])
		start += i
	}
	return append(parts, text[start:])
}
