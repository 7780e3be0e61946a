package corpora

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// WalkOptions configure how Walk expands input paths into files.
type WalkOptions struct {
	// Globs filter the files met in directory walks, ripgrep-like: a file
	// is kept if it matches one of the include patterns (all files, when
	// there are none) and none of the exclude patterns, which start with
	// "!". A pattern without "/" is matched against the file's name, one
	// with "/" against its path relative to the directory walked; "**"
	// matches any number of directories. An exclude pattern that matches a
	// directory prunes it; one ending in "/" matches directories only.
	// Files named explicitly are never filtered.
	Globs []string
	// Exclude are more exclude patterns, written without the "!".
	Exclude []string
	// Hidden also walks into hidden files and directories (names starting
	// with "."), which are otherwise left out and counted.
	Hidden bool
}

// WalkSkips counts what a walk left out, by reason.
type WalkSkips struct {
	Hidden      int `json:"hidden,omitempty"`          // hidden files and directories (WalkOptions.Hidden)
	Excluded    int `json:"excluded,omitempty"`        // files and directories filtered out by a glob
	Special     int `json:"special,omitempty"`         // FIFOs, sockets, devices met in a walk
	BrokenLinks int `json:"broken_symlinks,omitempty"` // symbolic links to nothing (or to a loop)
	Loops       int `json:"symlink_loops,omitempty"`   // directories reached again (a symlink loop or a second link)
	Duplicates  int `json:"duplicates,omitempty"`      // files already listed under another path
}

// Total is the number of entries left out.
func (s WalkSkips) Total() int {
	return s.Hidden + s.Excluded + s.Special + s.BrokenLinks + s.Loops + s.Duplicates
}

// String describes the counts, e.g. "2 hidden, 1 special file".
func (s WalkSkips) String() string {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(s.Hidden, "hidden")
	add(s.Excluded, "excluded by a glob")
	add(s.Special, "special files (FIFO, socket, device)")
	add(s.BrokenLinks, "broken symbolic links")
	add(s.Loops, "directories already visited (symlink loops)")
	add(s.Duplicates, "files already listed under another path")
	return strings.Join(parts, ", ")
}

// WalkResult is what Walk found.
type WalkResult struct {
	// Files are the inputs to read, in order: explicit paths as given,
	// directories' files in name order. A directory that could not be read
	// is listed too, so that reading it reports the error in its place.
	Files []string
	// Errors are the directories that could not be read (also in Files).
	Errors []Diagnostic
	// Skipped counts what was left out.
	Skipped WalkSkips
}

// globFilter is a parsed set of include and exclude patterns.
type globFilter struct {
	include, exclude []globPattern
}

type globPattern struct {
	pattern string
	path    bool // matched against the relative path, not the name
	dirOnly bool
}

func parseGlobs(globs, exclude []string) (globFilter, error) {
	var f globFilter
	add := func(p string, neg bool) error {
		orig := p
		if strings.HasPrefix(p, "!") {
			p, neg = p[1:], true
		}
		g := globPattern{}
		if strings.HasSuffix(p, "/") {
			p, g.dirOnly = strings.TrimRight(p, "/"), true
		}
		p = filepath.ToSlash(p)
		g.path = strings.Contains(p, "/")
		g.pattern = strings.TrimPrefix(p, "/")
		if g.pattern == "" || !doublestar.ValidatePattern(g.pattern) {
			return fmt.Errorf("bad glob pattern %q", orig)
		}
		if neg {
			f.exclude = append(f.exclude, g)
		} else {
			f.include = append(f.include, g)
		}
		return nil
	}
	for _, p := range globs {
		if err := add(p, false); err != nil {
			return f, err
		}
	}
	for _, p := range exclude {
		if err := add(p, true); err != nil {
			return f, err
		}
	}
	return f, nil
}

func (g globPattern) match(rel string, dir bool) bool {
	if g.dirOnly && !dir {
		return false
	}
	subject := rel
	if !g.path {
		subject = rel[strings.LastIndexByte(rel, '/')+1:]
	}
	ok, _ := doublestar.Match(g.pattern, subject)
	return ok
}

// keep reports whether the entry at rel (slash-separated, relative to the
// walk's root) passes the filter. Includes apply to files only.
func (f globFilter) keep(rel string, dir bool) bool {
	for _, g := range f.exclude {
		if g.match(rel, dir) {
			return false
		}
	}
	if dir || len(f.include) == 0 {
		return true
	}
	for _, g := range f.include {
		if g.match(rel, false) {
			return true
		}
	}
	return false
}

// walker is the state of one Walk.
type walker struct {
	ctx    context.Context
	opts   WalkOptions
	filter globFilter
	res    *WalkResult
	dirs   map[string]bool // visited directories by file identity
	files  map[string]bool // listed files by file identity
	// readDir is os.ReadDir (tests make it fail: root reads any directory).
	readDir func(string) ([]fs.DirEntry, error)
}

// Walk expands paths into the files to read: "-" (standard input) and
// files are kept as they are, globs (with *, ? or [) are expanded,
// directories are walked recursively in name order. In walks, symbolic
// links to files and directories are followed (a directory reached twice,
// as in a symlink loop, is walked once), special files (FIFOs, sockets,
// devices) are left out, and so are hidden entries unless opts.Hidden;
// everything left out is counted in the result's Skipped. A directory that
// cannot be read is one error in the result, and the walk goes on. Walk
// fails only for a bad glob pattern, a glob that matches nothing, or ctx's
// cancellation.
func Walk(ctx context.Context, paths []string, opts WalkOptions) (WalkResult, error) {
	return walk(ctx, paths, opts, os.ReadDir)
}

func walk(ctx context.Context, paths []string, opts WalkOptions, readDir func(string) ([]fs.DirEntry, error)) (WalkResult, error) {
	res := WalkResult{}
	filter, err := parseGlobs(opts.Globs, opts.Exclude)
	if err != nil {
		return res, err
	}
	w := &walker{ctx: ctx, opts: opts, filter: filter, res: &res, dirs: map[string]bool{}, files: map[string]bool{}, readDir: readDir}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if p == "-" {
			res.Files = append(res.Files, p)
			continue
		}
		matches := []string{p}
		if strings.ContainsAny(p, "*?[") {
			if _, err := os.Lstat(p); err != nil { // a file may be named "a[1].txt"
				m, err := filepath.Glob(p)
				if err != nil {
					return res, fmt.Errorf("glob %q: %w", p, err)
				}
				if len(m) == 0 {
					return res, fmt.Errorf("glob %q matches no file", p)
				}
				matches = m
			}
		}
		for _, m := range matches {
			st, err := os.Stat(m)
			if err != nil || !st.IsDir() {
				// Missing files, special files and the like are
				// reported when read.
				if err == nil && st.Mode().IsRegular() && w.seenFile(m, st) {
					res.Skipped.Duplicates++
					continue
				}
				res.Files = append(res.Files, m)
				continue
			}
			var files []string
			if err := w.dir(m, "", st, &files); err != nil {
				return res, err
			}
			sort.Strings(files)
			res.Files = append(res.Files, files...)
		}
	}
	return res, nil
}

// seenFile reports whether the file st (at path) was listed before, and
// remembers it.
func (w *walker) seenFile(path string, st fs.FileInfo) bool {
	id := fileIdentity(path, st)
	if w.files[id] {
		return true
	}
	w.files[id] = true
	return false
}

// dir walks the directory at path (rel from the walk's root; st is its
// Stat), appending the files it holds to files.
func (w *walker) dir(path, rel string, st fs.FileInfo, files *[]string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	id := fileIdentity(path, st)
	if w.dirs[id] {
		w.res.Skipped.Loops++
		return nil
	}
	w.dirs[id] = true
	entries, err := w.readDir(path)
	if err != nil {
		// What was read before the error is walked; the directory is
		// listed so that reading it reports the error.
		w.res.Errors = append(w.res.Errors, Diagnostic{Source: path, Err: fmt.Errorf("directory not read: %w", err)})
		*files = append(*files, path)
	}
	for _, e := range entries {
		name := e.Name()
		child := filepath.Join(path, name)
		childRel := name
		if rel != "" {
			childRel = rel + "/" + name
		}
		if !w.opts.Hidden && strings.HasPrefix(name, ".") {
			w.res.Skipped.Hidden++
			continue
		}
		mode := e.Type()
		var info fs.FileInfo
		if mode&fs.ModeSymlink != 0 || mode.IsDir() || mode.IsRegular() {
			// Stat follows symbolic links; for the rest it gives the
			// identity used against loops and duplicates.
			info, err = os.Stat(child)
			if err != nil {
				if mode&fs.ModeSymlink != 0 {
					w.res.Skipped.BrokenLinks++
					continue
				}
				// Vanished or unreadable: listed, so that reading it
				// reports why.
				*files = append(*files, child)
				continue
			}
			mode = info.Mode().Type()
		}
		switch {
		case mode.IsDir():
			if !w.filter.keep(childRel, true) {
				w.res.Skipped.Excluded++
				continue
			}
			if err := w.dir(child, childRel, info, files); err != nil {
				return err
			}
		case mode.IsRegular():
			if !w.filter.keep(childRel, false) {
				w.res.Skipped.Excluded++
				continue
			}
			if w.seenFile(child, info) {
				w.res.Skipped.Duplicates++
				continue
			}
			*files = append(*files, child)
		default:
			w.res.Skipped.Special++
		}
	}
	return nil
}

// errDirectory is returned for a directory given to ReadFile.
var errDirectory = errors.New("is a directory (directories are expanded by Walk)")

// ErrNotRegular is wrapped by the errors for inputs that are special files
// (FIFOs, sockets, devices): they are refused before they are opened, so
// that a FIFO cannot block and a device cannot be read forever.
var ErrNotRegular = errors.New("not a regular file")
