package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunnerChannelDir(t *testing.T) {
	base := t.TempDir()
	tests := []struct {
		name, flag, instance, replica string
		want                          string // "": none; relative: under base
		err                           string
	}{
		{"off", "off", "default", "", "", ""},
		{"empty", "", "default", "", "", ""},
		{"relative", "run/x", "default", "", "", "absolute path"},
		{"the only server", base, "default", "", "default/_", ""},
		{"a replica", base, "svc", "pod-1", "svc/pod-1", ""},
		{"an instance that is not a plain name", base, "../../etc", "", "h", ""},
		{"dot dot", base, "..", "..", "h", ""},
		{"too long for a socket", filepath.Join(base, strings.Repeat("d", 64)), "default", "", "", "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runnerChannelDir(tt.flag, tt.instance, tt.replica)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if got != "" {
					t.Fatalf("got %q, want none", got)
				}
				return
			}
			rel, err := filepath.Rel(base, got)
			if err != nil || strings.HasPrefix(rel, "..") || !strings.HasPrefix(rel, tt.want) || strings.Count(rel, "/") != 1 {
				t.Fatalf("got %q, want %s/%s...", got, base, tt.want)
			}
			if fi, err := os.Stat(got); err != nil || fi.Mode().Perm() != 0o700 || !fi.IsDir() {
				t.Errorf("directory %v %v, want one of mode 0700", fi, err)
			}
		})
	}
}

// TestRemoveEmptyChannelDir: at shutdown the server's channel directory and
// its instance's go only when empty.
func TestRemoveEmptyChannelDir(t *testing.T) {
	base := t.TempDir()
	empty, err := runnerChannelDir(base, "empty", "")
	if err != nil {
		t.Fatal(err)
	}
	kept, err := runnerChannelDir(base, "kept", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(kept, "abcd2345"), 0o711); err != nil {
		t.Fatal(err)
	}
	removeEmptyChannelDir(empty)
	removeEmptyChannelDir(kept)
	removeEmptyChannelDir("")
	if _, err := os.Stat(filepath.Dir(empty)); !os.IsNotExist(err) {
		t.Errorf("an empty instance's directory survived: %v", err)
	}
	if _, err := os.Stat(filepath.Join(kept, "abcd2345")); err != nil {
		t.Errorf("a sandbox's directory went with the shutdown: %v", err)
	}
}
