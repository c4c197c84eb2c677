//go:build remote

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// writeSeccomp stores the sandbox profile where a Podman service on this
// host reads it, and returns its path; "" when the service is not local
// (tcp/ssh), where a path of ours means nothing. The file is named by its
// content, so every plugin process shares one and a kill -9 leaves none
// behind beyond it.
func writeSeccomp(uri string) (string, error) {
	if u, err := url.Parse(uri); err != nil || u.Scheme != "unix" {
		return "", nil
	}
	b, err := sandboxSeccomp()
	if err != nil {
		return "", err
	}
	dir, err := profileDir()
	if err != nil {
		return "", fmt.Errorf("seccomp profile directory: %w", err)
	}
	sum := sha256.Sum256(b)
	path := filepath.Join(dir, "seccomp-"+hex.EncodeToString(sum[:8])+".json")
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return path, nil
	}
	// Written aside and renamed: a concurrent plugin never reads half.
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err = os.WriteFile(tmp, b, 0o644); err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write seccomp profile: %w", err)
	}
	return path, nil
}

// profileDir is enclave's directory in the user's cache; without one (no
// $HOME, e.g. a bare service unit) a new private directory, never a shared
// path another local user could have made first and filled.
func profileDir() (string, error) {
	if d, err := os.UserCacheDir(); err == nil {
		d = filepath.Join(d, "enclave")
		return d, os.MkdirAll(d, 0o755)
	}
	return os.MkdirTemp("", "enclave-seccomp-")
}
