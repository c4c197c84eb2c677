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
	tests := []struct {
		name    string
		tar     []byte
		want    string
		wantErr error // or a *TooLargeError when big
		big     bool
	}{
		{"one file", tarEntries(t, reg("claimed", "abc")), "abc", nil, false},
		{"empty file", tarEntries(t, reg("claimed", "")), "", nil, false},
		{"a symlink first is skipped", tarEntries(t, tar.Header{Name: "l", Linkname: "x", Typeflag: tar.TypeSymlink}, reg("f", "x")), "x", nil, false},
		{"the first of two", tarEntries(t, reg("a", "1"), reg("b", "2")), "1", nil, false},
		{"a directory", tarEntries(t, tar.Header{Name: "d/", Mode: 0o755, Typeflag: tar.TypeDir}), "", ErrIsDir, false},
		{"no file", tarEntries(t), "", ErrNoFile, false},
		{"over the limit", tarEntries(t, reg("f", "0123456789abcdefX")), "", nil, true},
		{"not a tar", []byte("garbage that is no tar header at all"), "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FirstFile(bytes.NewReader(tt.tar), 16)
			var big *TooLargeError
			switch {
			case tt.big:
				if !errors.As(err, &big) || big.Size != 17 || big.Limit != 16 {
					t.Fatalf("err = %v, want a TooLargeError of 17 > 16", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case tt.name == "not a tar":
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
