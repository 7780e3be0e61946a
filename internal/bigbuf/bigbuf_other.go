//go:build !linux

package bigbuf

import "os"

func mapAnonymous(int) ([]byte, bool) { return nil, false }

func unmap([]byte) {}

func mapFile(*os.File, int) ([]byte, bool) { return nil, false }
