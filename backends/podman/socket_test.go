package main

import (
	"net"
	"path/filepath"
	"slices"
	"testing"
)

func TestMountsLocally(t *testing.T) {
	tests := []struct {
		explicit, containerHost string
		want                    bool
	}{
		{"unix:///run/enclave/podman.sock", "", true},
		{"", "", true},
		{"", "unix:///run/user/77/podman/podman.sock", true},
		{"", "tcp://10.0.0.2:8080", false},
		{"", "ssh://core@10.0.0.2/run/podman/podman.sock", false},
		{"tcp://127.0.0.1:8080", "", false},
		{"unix:///x.sock", "ssh://core@10.0.0.2/run/podman/podman.sock", true},
	}
	for _, tt := range tests {
		t.Setenv("CONTAINER_HOST", tt.containerHost)
		if got := mountsLocally(tt.explicit); got != tt.want {
			t.Errorf("mountsLocally(%q) with CONTAINER_HOST=%q = %v, want %v", tt.explicit, tt.containerHost, got, tt.want)
		}
	}
}

func TestSocketCandidates(t *testing.T) {
	if got := socketCandidates("unix:///x.sock"); !slices.Equal(got, []string{"unix:///x.sock"}) {
		t.Errorf("explicit: %v", got)
	}
	t.Setenv("CONTAINER_HOST", "tcp://127.0.0.1:1")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/77")
	got := socketCandidates("")
	if len(got) != 2 || got[0] != "tcp://127.0.0.1:1" {
		t.Errorf("CONTAINER_HOST first: %v", got)
	}
}

func TestDialable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for uri, want := range map[string]bool{"unix://" + sock: true, "unix://" + sock + ".missing": false, "ssh://host/x": true} {
		if got := dialable(uri); got != want {
			t.Errorf("dialable(%s) = %v, want %v", uri, got, want)
		}
	}
}
