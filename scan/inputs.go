package scan

import (
	"context"

	"github.com/tracemark/tracemark/corpora"
)

// ExpandInputs turns paths, directories (recursively, in name order),
// globs and "-" into the list of files to read, with corpora.Walk's
// defaults: symbolic links followed, hidden entries and special files left
// out. A directory that cannot be read stays in the list, so that reading
// it reports the error. Use corpora.Walk for filters and the counts of
// what was left out.
func ExpandInputs(paths []string) ([]string, error) {
	res, err := corpora.Walk(context.Background(), paths, corpora.WalkOptions{})
	return res.Files, err
}
