package main

import (
	"errors"
	"io"
)

// copyGrowing is io.Copy with a buffer that starts small and grows to 32 KiB
// once a read fills it: a session's stdin waits, idle, for most of its life.
func copyGrowing(dst io.Writer, src io.Reader) error {
	buf := make([]byte, 4<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
			if n == len(buf) && len(buf) < 32<<10 {
				buf = make([]byte, 32<<10)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
