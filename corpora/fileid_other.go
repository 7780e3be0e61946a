//go:build !unix

package corpora

import (
	"io/fs"
	"path/filepath"
)

// fileIdentity names the file at path by its absolute path with symbolic
// links resolved (the system gives no device and inode here).
func fileIdentity(path string, _ fs.FileInfo) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	abs, _ := filepath.Abs(path)
	return abs
}
