package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFindBootFiles: booting needs enclave-boot beside the plugin and a
// catatonit, both executable; the first catatonit found is used.
func TestFindBootFiles(t *testing.T) {
	tests := []struct {
		name               string
		shim               os.FileMode // 0: absent
		catatonits         []os.FileMode
		want               bool
		wantCatatonitIndex int
	}{
		{"both", 0o755, []os.FileMode{0o755}, true, 0},
		{"no shim", 0, []os.FileMode{0o755}, false, 0},
		{"shim not executable", 0o644, []os.FileMode{0o755}, false, 0},
		{"no catatonit", 0o755, []os.FileMode{0, 0}, false, 0},
		{"the second catatonit", 0o755, []os.FileMode{0, 0o755}, true, 1},
		{"a catatonit not executable is skipped", 0o755, []os.FileMode{0o644, 0o755}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			put := func(p string, mode os.FileMode) {
				if mode != 0 {
					if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
						t.Fatal(err)
					}
				}
			}
			exe := filepath.Join(dir, "enclave-backend-podman")
			put(filepath.Join(dir, "enclave-boot"), tt.shim)
			var cats []string
			for i, m := range tt.catatonits {
				p := filepath.Join(dir, "catatonit"+string(rune('a'+i)))
				put(p, m)
				cats = append(cats, p)
			}
			got, ok := findBootFiles(exe, cats)
			if ok != tt.want {
				t.Fatalf("found: %v, want %v (%+v)", ok, tt.want, got)
			}
			if ok && (got.shim != filepath.Join(dir, "enclave-boot") || got.catatonit != cats[tt.wantCatatonitIndex]) {
				t.Errorf("found %+v", got)
			}
		})
	}
}
