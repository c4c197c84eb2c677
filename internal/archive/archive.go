// Package archive checks tar uploads on their way to a backend: the stream
// is parsed and re-encoded as it passes, so a malformed upload is reported
// as the client's mistake (HTTP 400) instead of a runtime's extraction
// failure. gzip and bzip2 compressed tars are accepted, as Docker accepts
// them.
package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// ErrInvalid marks an upload that is not a readable tar archive.
var ErrInvalid = errors.New("invalid archive")

// Stream is a checked tar stream: read it like the upload; Err reports, once
// the stream has been read or closed, what was wrong with the upload.
type Stream struct {
	pr   *io.PipeReader
	done chan struct{}
	err  error
}

// Check starts checking r. The returned stream yields a plain tar of the
// same entries; it ends early with an error when r is malformed.
func Check(r io.Reader) *Stream {
	pr, pw := io.Pipe()
	s := &Stream{pr: pr, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = copyTar(pw, r)
		pw.CloseWithError(s.err)
	}()
	return s
}

func (s *Stream) Read(p []byte) (int, error) { return s.pr.Read(p) }

// Close stops the check (the reader went away).
func (s *Stream) Close() error { return s.pr.Close() }

// Err waits for the check to end and returns the upload's fault (wrapping
// ErrInvalid), or nil. A stream its reader closed early is not at fault.
func (s *Stream) Err() error {
	s.pr.Close()
	<-s.done
	if errors.Is(s.err, ErrInvalid) {
		return s.err
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// srcReader remembers the upload's own read error (a body over its
// limit, a client gone): that is not a malformed archive.
type srcReader struct {
	r   io.Reader
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

func copyTar(w io.Writer, r io.Reader) error {
	src := &srcReader{r: r}
	err := parse(w, src)
	if src.err != nil {
		return src.err
	}
	return err
}

func parse(w io.Writer, r io.Reader) error {
	br := bufio.NewReader(r)
	head, _ := br.Peek(3)
	var src io.Reader = br
	switch {
	case len(head) == 0:
		return invalid("the body is empty")
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return invalid("gzip: %v", err)
		}
		defer zr.Close()
		src = zr
	case bytes.HasPrefix(head, []byte("BZh")):
		src = bzip2.NewReader(br)
	}
	tr := tar.NewReader(src)
	tw := tar.NewWriter(w)
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			if n == 0 && !allZero(br) {
				return invalid("not a tar archive")
			}
			break
		}
		if err != nil {
			if n == 0 {
				return invalid("not a tar archive (%v)", err)
			}
			return invalid("entry %d: %v", n+1, err)
		}
		if hdr.Name == "" {
			return invalid("entry %d has no name", n+1)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			if errors.Is(err, io.ErrClosedPipe) {
				return err // the backend stopped reading
			}
			return invalid("entry %d (%s): %v", n+1, hdr.Name, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			if errors.Is(err, io.ErrClosedPipe) {
				return err // the backend stopped reading
			}
			return invalid("entry %d (%s): %v", n+1, hdr.Name, err)
		}
	}
	return tw.Close()
}

// allZero reports whether what is left of r is zero bytes only (the end
// blocks of an empty tar), without reading more than a few blocks.
func allZero(r io.Reader) bool {
	b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	return len(bytes.Trim(b, "\x00")) == 0
}
