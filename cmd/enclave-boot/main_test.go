package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/runner"
)

// build builds the shim with its paths under dir.
func build(t *testing.T, dir, init string) string {
	t.Helper()
	bin := filepath.Join(dir, "enclave-boot")
	ld := "-X main.bootFile=" + filepath.Join(dir, "runner.boot") + " -X main.initPath=" + init
	out, err := exec.Command("go", "build", "-ldflags", ld, "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// waitFile waits (bounded) for a file to hold something and returns it.
func waitFile(t *testing.T, p string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
			return string(b)
		}
	}
	t.Fatalf("%s never written", p)
	return ""
}

// TestBoot: the shim starts the runner it is given, then becomes the init
// with the container's command as its arguments; without a runner it only
// becomes the init; without an init it runs the command itself.
func TestBoot(t *testing.T) {
	tests := []struct {
		name            string
		runner, init    bool
		wantRun, initOK bool
	}{
		{"runner and init", true, true, true, true},
		{"no runner", false, true, false, true},
		{"no init", true, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			init := filepath.Join(dir, "catatonit")
			if tt.init {
				// A stand-in init: records its arguments.
				script := "#!/bin/sh\necho \"$*\" > " + filepath.Join(dir, "init.out") + "\n"
				if err := os.WriteFile(init, []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			bin := build(t, dir, init)
			if tt.runner {
				argv, _ := json.Marshal([]string{"sh", "-c", "echo $$ > " + filepath.Join(dir, "runner.out")})
				if err := os.WriteFile(filepath.Join(dir, "runner.boot"), argv, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(bin, "--", "sh", "-c", "echo command ran > "+filepath.Join(dir, "cmd.out"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("shim: %v\n%s", err, out)
			}
			if tt.wantRun {
				waitFile(t, filepath.Join(dir, "runner.out"))
			} else if _, err := os.Stat(filepath.Join(dir, "runner.out")); err == nil {
				t.Error("a runner ran with no description")
			}
			if tt.initOK {
				got := strings.TrimSpace(waitFile(t, filepath.Join(dir, "init.out")))
				if want := "-- sh -c echo command ran > " + filepath.Join(dir, "cmd.out"); got != want {
					t.Errorf("init ran as %q, want %q", got, want)
				}
			} else if got := waitFile(t, filepath.Join(dir, "cmd.out")); got != "command ran\n" {
				t.Errorf("command without an init: %q", got)
			}
		})
	}
}

// TestPaths: the shim looks where the server and the Podman backend put
// things.
func TestPaths(t *testing.T) {
	if want := path.Join(manager.ChannelMount, runner.BootFile); bootFile != want {
		t.Errorf("boot file %s, the server writes %s", bootFile, want)
	}
	if initPath != "/.enclave-boot/catatonit" {
		t.Errorf("init %s, the Podman backend mounts catatonit at /.enclave-boot/catatonit (backends/podman/boot.go)", initPath)
	}
}
