//go:build remote

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containers/podman/v4/pkg/bindings"
)

// startService runs `podman system service` as a child on a private socket.
// The child dies with this plugin (Pdeathsig), so a killed plugin leaves no
// stray service; containers survive (conmon owns them).
func startService(ctx context.Context) (uri string, cmd *exec.Cmd, err error) {
	bin, err := exec.LookPath("podman")
	if err != nil {
		return "", nil, fmt.Errorf("no Podman socket answers and the podman command is not installed: %w", err)
	}
	dir, err := os.MkdirTemp("", "enclave-podman-")
	if err != nil {
		return "", nil, fmt.Errorf("create socket dir: %w", err)
	}
	sock := filepath.Join(dir, "podman.sock")
	uri = "unix://" + sock
	cmd = exec.Command(bin, "system", "service", "--time=0", uri)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start podman system service: %w", err)
	}
	slog.Info("started podman system service", "socket", sock, "pid", cmd.Process.Pid)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if dialable(uri) {
			return uri, cmd, nil
		}
		select {
		case <-ctx.Done():
			cmd.Process.Kill()
			return "", nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	cmd.Process.Kill()
	return "", nil, errors.New("podman system service did not open its socket within 30s")
}

// connect finds or starts a Podman service and returns a bindings context.
func connect(ctx context.Context, explicit string) (conn context.Context, uri string, child *exec.Cmd, err error) {
	for _, c := range socketCandidates(explicit) {
		if !dialable(c) {
			continue
		}
		conn, err := bindings.NewConnection(context.WithoutCancel(ctx), c)
		if err == nil {
			return conn, c, nil, nil
		}
		if explicit != "" {
			return nil, "", nil, fmt.Errorf("connect to podman at %s: %w", c, err)
		}
		slog.Warn("podman socket does not answer", "uri", c, "err", err)
	}
	if explicit != "" {
		return nil, "", nil, fmt.Errorf("podman socket %s does not accept connections", explicit)
	}
	uri, child, err = startService(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	conn, err = bindings.NewConnection(context.WithoutCancel(ctx), uri)
	if err != nil {
		child.Process.Kill()
		return nil, "", nil, fmt.Errorf("connect to the podman service we started: %w", err)
	}
	return conn, uri, child, nil
}

// dialer returns a dial function for raw (hijacked) requests to uri.
func dialer(uri string) (func(ctx context.Context) (net.Conn, error), error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	switch u.Scheme {
	case "unix":
		return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", u.Path) }, nil
	case "tcp":
		return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", u.Host) }, nil
	}
	return nil, fmt.Errorf("unsupported podman URL scheme %q (use unix:// or tcp://)", strings.ToLower(u.Scheme))
}
