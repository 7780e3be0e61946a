// Package corpora is the scanner's reading side: it opens files and
// standard input, undoes their compression (gzip, zstd, bzip2, xz), reads
// their formats (plain text, JSON Lines, JSON arrays, CSV/TSV, WARC/WET,
// Parquet) and turns their records into Documents, reporting bad input as
// Diagnostics that name the file and place. It never computes statistics.
//
// The reference corpora of human writing used by benchmarks and tests live
// in internal/refcorpus, which imports this package for Document.
package corpora

// Document is one unit of text with where it came from.
type Document struct {
	ID       string // the record's own identifier, else derived from its place
	Source   string // file path ("-" for standard input)
	Location string // where in the file: "line 12", "record 3 at byte 4096", ...
	Text     string
	// InputOffset is how many bytes of the (possibly compressed) input had
	// been read when the document was emitted, for progress displays.
	InputOffset int64 `json:"-"`
}
