//go:build !unix

package watermark

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs here") }
