//go:build !linux

package bigbuf

func mapAnonymous(int) ([]byte, bool) { return nil, false }

func unmap([]byte) {}
