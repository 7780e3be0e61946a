//go:build unix

package corpora

import (
	"io/fs"
	"path/filepath"
	"strconv"
	"syscall"
)

// fileIdentity names the file st describes: its device and inode, so that
// two paths to one file (symbolic or hard links) are known as one.
func fileIdentity(path string, st fs.FileInfo) string {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return strconv.FormatUint(uint64(s.Dev), 10) + ":" + strconv.FormatUint(uint64(s.Ino), 10)
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	abs, _ := filepath.Abs(path)
	return abs
}
