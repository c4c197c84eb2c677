package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/enclave-sandbox/enclave/sdk"
)

func TestMark(t *testing.T) {
	r := localRunner(t)
	// The runner writes only under /tmp/.enclave/ (inside a sandbox, its
	// own /tmp): the test's files go in a directory of their own there.
	dir, err := os.MkdirTemp("/tmp/.enclave", "mark-test-")
	if err != nil {
		if err = os.MkdirAll("/tmp/.enclave", 0o755); err == nil {
			dir, err = os.MkdirTemp("/tmp/.enclave", "mark-test-")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tests := []struct {
		name, path, text string
		refused          bool  // nothing written
		wantErr          error // with refused, when the error is known
	}{
		{"new file in a new directory", filepath.Join(dir, "sub", "claimed"), "abc123", false, nil},
		{"overwrites", filepath.Join(dir, "sub", "claimed"), "def456", false, nil},
		{"empty text", filepath.Join(dir, "empty"), "", false, nil},
		{"outside /tmp/.enclave (refused by the host side)", filepath.Join(t.TempDir(), "x"), "x", true, ErrBadOp},
		{"climbs out (refused by the runner)", "/tmp/.enclave/../" + filepath.Base(dir) + "-escape", "x", true, ErrBadOp},
		{"a directory in the way", filepath.Join(dir, "sub"), "x", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.Stat(tt.path)
			err := r.Mark(context.Background(), tt.path, tt.text)
			if tt.refused {
				if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want a refusal (%v)", err, tt.wantErr)
				}
				if after, serr := os.Stat(tt.path); serr == nil && (before == nil || !after.IsDir()) {
					t.Errorf("%s was written", tt.path)
				}
				if _, serr := os.Stat(tt.path + ".tmp"); serr == nil {
					t.Error("the temporary file was left behind")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(tt.path)
			if err != nil || string(b) != tt.text {
				t.Fatalf("file holds %q (%v), want %q", b, err, tt.text)
			}
			if _, err := os.Stat(tt.path + ".tmp"); err == nil {
				t.Error("the temporary file was left behind")
			}
		})
	}
	// The runner serves calls after a refused mark.
	if res, err := r.Exec(context.Background(), sdk.ExecRequest{Argv: []string{"echo", "ok"}}, nil); err != nil || string(res.Stdout) != "ok\n" {
		t.Fatalf("call after marks: %+v, %v", res, err)
	}
}
