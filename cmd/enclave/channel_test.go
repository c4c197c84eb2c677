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
