//go:build remote

package main

import (
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
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	sum := sha256.Sum256(b)
	dir = filepath.Join(dir, "enclave")
	path := filepath.Join(dir, "seccomp-"+hex.EncodeToString(sum[:8])+".json")
	if old, err := os.ReadFile(path); err == nil && string(old) == string(b) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("seccomp profile directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "seccomp-*.tmp")
	if err != nil {
		return "", fmt.Errorf("write seccomp profile: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write seccomp profile: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write seccomp profile: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write seccomp profile: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("write seccomp profile: %w", err)
	}
	return path, nil
}
