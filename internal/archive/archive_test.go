package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
)

func tarOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// entries reads back what Check let through.
func entries(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("re-encoded stream: %v", err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = string(b)
	}
}

func TestCheck(t *testing.T) {
	good := tarOf(t, map[string]string{"a.txt": "hello", "dir/b.txt": "world"})
	tests := []struct {
		name    string
		body    []byte
		invalid bool
	}{
		{"tar", good, false},
		{"gzip tar", gz(good), false},
		{"empty tar", tarOf(t, nil), false},
		{"empty body", nil, true},
		{"not a tar", []byte(strings.Repeat("this is not a tar archive ", 100)), true},
		{"truncated", tarOf(t, map[string]string{"big": strings.Repeat("x", 5000)})[:3000], true},
		{"corrupt gzip", gz(good)[:40], true},
		{"short garbage", []byte("xyz"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Check(bytes.NewReader(tt.body))
			got := map[string]string{}
			if !tt.invalid {
				got = entries(t, s)
			} else {
				io.Copy(io.Discard, s)
			}
			err := s.Err()
			if tt.invalid != (err != nil) || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("Err() = %v, want invalid=%v", err, tt.invalid)
			}
			if !tt.invalid && tt.name == "tar" && (got["a.txt"] != "hello" || got["dir/b.txt"] != "world") {
				t.Errorf("entries %v", got)
			}
		})
	}
}

// TestReaderGoneIsNotInvalid: a backend that stops reading does not make
// the upload malformed.
func TestReaderGoneIsNotInvalid(t *testing.T) {
	s := Check(bytes.NewReader(tarOf(t, map[string]string{"big": strings.Repeat("x", 1<<20)})))
	buf := make([]byte, 10)
	s.Read(buf)
	s.Close()
	if err := s.Err(); err != nil {
		t.Errorf("Err() = %v after the reader left", err)
	}
}

// TestBodyErrorIsNotInvalid: the upload's own read error (a body over its
// limit) is passed on, not called a malformed archive.
func TestBodyErrorIsNotInvalid(t *testing.T) {
	boom := errors.New("body too large")
	s := Check(io.MultiReader(bytes.NewReader(tarOf(t, map[string]string{"a": "b"})[:600]), errReader{boom}))
	_, err := io.Copy(io.Discard, s)
	if !errors.Is(err, boom) || s.Err() != nil {
		t.Errorf("read err %v, Err() %v", err, s.Err())
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func FuzzCheck(f *testing.F) {
	f.Add(tarOf(f, map[string]string{"a": "b"}))
	f.Add(gz(tarOf(f, map[string]string{"x/y": "z"})))
	f.Add([]byte{})
	f.Add([]byte("BZh9garbage"))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := Check(bytes.NewReader(body))
		out, err := io.ReadAll(s)
		cerr := s.Err()
		if (err != nil) != (cerr != nil) {
			t.Fatalf("stream error %v but Err() %v", err, cerr)
		}
		if cerr == nil {
			// What passes is a well-formed tar.
			tr := tar.NewReader(bytes.NewReader(out))
			for {
				if _, err := tr.Next(); err == io.EOF {
					break
				} else if err != nil {
					t.Fatalf("passed a malformed tar: %v", err)
				}
				io.Copy(io.Discard, tr)
			}
		}
	})
}
