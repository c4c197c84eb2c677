package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestCopyGrowing: everything arrives, in order, whatever the sizes and
// however the source splits its reads; a read error is returned.
func TestCopyGrowing(t *testing.T) {
	big := make([]byte, 1<<20+17)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  io.Reader
		want []byte
		err  error
	}{
		{"empty", bytes.NewReader(nil), nil, nil},
		{"small", bytes.NewReader(big[:100]), big[:100], nil},
		{"exactly the first buffer", bytes.NewReader(big[:4<<10]), big[:4<<10], nil},
		{"large", bytes.NewReader(big), big, nil},
		{"large, one byte per read", iotest.OneByteReader(bytes.NewReader(big[:64<<10])), big[:64<<10], nil},
		{"large, half reads", iotest.HalfReader(bytes.NewReader(big)), big, nil},
		{"read error", io.MultiReader(bytes.NewReader(big[:10]), iotest.ErrReader(errors.New("boom"))), big[:10], errors.New("boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst bytes.Buffer
			err := copyGrowing(&dst, tt.src)
			if (err == nil) != (tt.err == nil) || (err != nil && err.Error() != tt.err.Error()) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if !bytes.Equal(dst.Bytes(), tt.want) {
				t.Errorf("copied %d bytes, want %d (or different bytes)", dst.Len(), len(tt.want))
			}
		})
	}
}
