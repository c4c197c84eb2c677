package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"testing"
)

func tarEntries(t testing.TB, hs ...tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hs {
		body := h.Linkname // the body of a regular file, for brevity
		if h.Typeflag == tar.TypeReg {
			h.Linkname, h.Size = "", int64(len(body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(body))
		}
	}
	tw.Close()
	return b.Bytes()
}

func TestFirstFile(t *testing.T) {
	reg := func(name, body string) tar.Header {
		return tar.Header{Name: name, Linkname: body, Mode: 0o644, Typeflag: tar.TypeReg}
	}
	type fails int
	const (
		ok       fails = iota
		with           // wantErr
		tooLarge       // a TooLargeError of 17 > 16
		somehow        // any error (a malformed tar)
	)
	tests := []struct {
		name    string
		tar     []byte
		want    string
		fails   fails
		wantErr error
	}{
		{"one file", tarEntries(t, reg("claimed", "abc")), "abc", ok, nil},
		{"empty file", tarEntries(t, reg("claimed", "")), "", ok, nil},
		{"a symlink first is skipped", tarEntries(t, tar.Header{Name: "l", Linkname: "x", Typeflag: tar.TypeSymlink}, reg("f", "x")), "x", ok, nil},
		{"the first of two", tarEntries(t, reg("a", "1"), reg("b", "2")), "1", ok, nil},
		{"a directory", tarEntries(t, tar.Header{Name: "d/", Mode: 0o755, Typeflag: tar.TypeDir}), "", with, ErrIsDir},
		{"no file", tarEntries(t), "", with, ErrNoFile},
		{"over the limit", tarEntries(t, reg("f", "0123456789abcdefX")), "", tooLarge, nil},
		{"not a tar", []byte("garbage that is no tar header at all"), "", somehow, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FirstFile(bytes.NewReader(tt.tar), 16)
			var big *TooLargeError
			switch tt.fails {
			case tooLarge:
				if !errors.As(err, &big) || big.Size != 17 || big.Limit != 16 {
					t.Fatalf("err = %v, want a TooLargeError of 17 > 16", err)
				}
			case with:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case somehow:
				if err == nil {
					t.Fatalf("read %q from garbage", got)
				}
			default:
				if err != nil || string(got) != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
			}
		})
	}
}

func FuzzFirstFile(f *testing.F) {
	f.Add(tarOf(f, map[string]string{"claimed": "abc"}))
	f.Add([]byte{})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := FirstFile(bytes.NewReader(body), 64)
		if err == nil && len(b) > 64 {
			t.Fatalf("read %d bytes past the limit of 64", len(b))
		}
	})
}
