package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
)

// Errors of FirstFile.
var (
	ErrIsDir  = errors.New("is a directory")
	ErrNoFile = errors.New("not a regular file")
)

// TooLargeError is FirstFile's answer for a file over its limit.
type TooLargeError struct{ Size, Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%d bytes, more than the %d read", e.Size, e.Limit)
}

// FirstFile reads the first regular file of a tar stream (what a backend's
// GetArchive of one file yields), at most limit bytes of it.
func FirstFile(r io.Reader, limit int64) ([]byte, error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, ErrNoFile
			}
			return nil, err
		}
		switch h.Typeflag {
		case tar.TypeReg:
		case tar.TypeDir:
			return nil, ErrIsDir
		default:
			continue
		}
		if h.Size > limit {
			return nil, &TooLargeError{Size: h.Size, Limit: limit}
		}
		return io.ReadAll(io.LimitReader(tr, limit))
	}
}
