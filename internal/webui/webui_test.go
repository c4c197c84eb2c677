package webui

import (
	"io/fs"
	"strings"
	"testing"
)

func TestPagesAndAssets(t *testing.T) {
	for _, p := range []string{"docs", "redoc", "console"} {
		b, err := Page(p)
		if err != nil || !strings.HasPrefix(string(b), "<!doctype html>") {
			t.Errorf("page %s: %v", p, err)
		}
	}
	tests := []struct {
		path string
		want bool
	}{
		{"console.js", true},
		{"key.js", true},
		{"docs.html", true},
		{"", false},
		{"vendor", false},
		{"vendor/.stamp", false},
		{"../webui.go", false},
		{"a/../console.js", false},
		{"\x00/../console.js", false},
		{"./console.js", false},
		{"/etc/passwd", false},
		{"nope.js", false},
	}
	for _, tt := range tests {
		if got := Exists(tt.path); got != tt.want {
			t.Errorf("Exists(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// FuzzExists: no path reaches outside the assets, nor a hidden file.
func FuzzExists(f *testing.F) {
	for _, s := range []string{"console.js", "../../x", "vendor/.stamp", "a/../console.js", "//", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !Exists(p) {
			return
		}
		if strings.Contains(p, "\x00") || strings.Contains("/"+p, "/.stamp") {
			t.Fatalf("Exists(%q)", p)
		}
		// What exists is the file p spells, as the file server opens it.
		if _, err := fs.ReadFile(Assets, p); err != nil {
			t.Fatalf("Exists(%q) but it cannot be read: %v", p, err)
		}
	})
}
