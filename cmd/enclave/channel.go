package main

// Where the resident runners' channels live (internal/manager/channel.go).

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// channelAuto picks the channel directory's base from who runs the server.
const channelAuto = "auto"

// plainName is a label value usable as a directory name as it is.
var plainName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// maxChannelDir keeps a runner's socket path (the directory, a sandbox's
// 8-character id, "runner.sock") within a unix socket address's 107 bytes.
const maxChannelDir = 107 - len("/12345678/runner.sock")

// runnerChannelDir is the directory this server keeps its sandboxes'
// runner channels in (created, mode 0700: nothing else on the host reaches
// the sockets), or "" for none. Each instance and replica gets its own, so
// servers sharing a host never sweep each other's.
func runnerChannelDir(flag, instance, replica string) (string, error) {
	base := flag
	switch {
	case flag == "" || flag == "off":
		return "", nil
	case flag == channelAuto && os.Geteuid() == 0:
		base = "/run/enclave/channels"
	case flag == channelAuto && os.Getenv("XDG_RUNTIME_DIR") != "":
		base = filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "enclave", "channels")
	case flag == channelAuto:
		base = filepath.Join(os.TempDir(), fmt.Sprintf("enclave-%d", os.Geteuid()), "channels")
	case !filepath.IsAbs(flag):
		return "", fmt.Errorf("--runner-channel-dir %q: want an absolute path, auto or off", flag)
	}
	if replica == "" {
		replica = "_"
	}
	dir := filepath.Join(base, dirName(instance), dirName(replica))
	if len(dir) > maxChannelDir {
		return "", fmt.Errorf("--runner-channel-dir: %s is too long for the sockets in it (at most %d bytes with the instance and replica)", dir, maxChannelDir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("--runner-channel-dir: %w", err)
	}
	return dir, nil
}

// removeEmptyChannelDir removes this server's channel directory and its
// instance's at shutdown when no sandbox left one there (sandboxes that
// outlive the server keep theirs, and so the directory).
func removeEmptyChannelDir(dir string) {
	if dir == "" {
		return
	}
	if os.Remove(dir) == nil {
		os.Remove(filepath.Dir(dir)) // fails, as it should, while another replica's is there
	}
}

// dirName is s when it is a plain name, else a digest of it.
func dirName(s string) string {
	if plainName.MatchString(s) && s != "." && s != ".." {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h" + hex.EncodeToString(sum[:6])
}
