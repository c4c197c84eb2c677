package manager

// The resident runner's channel: a directory per sandbox on the server's
// host, mounted read-only into the sandbox, where the runner connects to a
// socket the server listens on while the runner starts (internal/runner's
// Channel). Only on backends whose runtime shares this host's filesystem
// (sdk.CapLocalMounts); elsewhere the protocol rides the backend's session.

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/enclave-sandbox/enclave/internal/runner"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// LabelChannel holds the host directory of a sandbox's runner channel (no
// label: the container has none mounted).
const LabelChannel = "enclave.channel"

// ChannelMount is where a sandbox sees its channel directory.
const ChannelMount = "/.enclave-channel"

// withChannel gives a sandbox about to be created a channel directory, when
// the operator and the backend allow one.
func (m *Manager) withChannel(spec *sdk.Spec, id string, be backend.Backend) {
	if m.opts.ChannelDir != "" && backend.Has(be, sdk.CapLocalMounts) {
		mountChannel(spec, filepath.Join(m.opts.ChannelDir, id))
	}
}

// adoptChannel restores a re-adopted container's channel in its rebuilt
// spec: the label's directory, if it is one of this server's (a label is
// never trusted to name another path), recreated if it went missing (the
// runner then cannot reach it through the old mount and keeps to its
// session).
func (m *Manager) adoptChannel(spec *sdk.Spec, labels map[string]string) {
	if dir, ok := m.ownChannelDir(labels[LabelChannel]); ok {
		mountChannel(spec, dir)
	}
}

// mountChannel makes dir (mode 0711: the runner, as any uid of the sandbox,
// mapped or not, reaches the socket; nobody lists or writes the directory
// but the server) and mounts it read-only into spec, named by its label. A
// directory that cannot be made leaves the runner's protocol on the
// backend's session.
func mountChannel(spec *sdk.Spec, dir string) {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		slog.Warn("runner channel: no directory", "dir", dir, "err", err)
		return
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		slog.Warn("runner channel: directory mode", "dir", dir, "err", err)
		return
	}
	spec.Mounts = append(spec.Mounts, sdk.Mount{HostPath: dir, ContainerPath: ChannelMount, ReadOnly: true})
	spec.Labels[LabelChannel] = dir
}

// ownChannelDir reports whether dir is a sandbox directory right under
// this server's channel directory.
func (m *Manager) ownChannelDir(dir string) (string, bool) {
	if dir == "" || m.opts.ChannelDir == "" || !filepath.IsAbs(dir) {
		return "", false
	}
	dir = filepath.Clean(dir)
	if filepath.Dir(dir) != filepath.Clean(m.opts.ChannelDir) {
		return "", false
	}
	return dir, true
}

// channelOf is the runner channel of a sandbox (nil: none).
func (m *Manager) channelOf(sb *sandbox) *runner.Channel {
	dir, ok := m.ownChannelDir(sb.spec.Labels[LabelChannel])
	if !ok {
		return nil
	}
	return &runner.Channel{HostDir: dir, SandboxDir: ChannelMount}
}

// dropChannel removes the channel directory of a sandbox whose container
// is gone.
func (m *Manager) dropChannel(labels map[string]string) {
	if dir, ok := m.ownChannelDir(labels[LabelChannel]); ok {
		if err := os.RemoveAll(dir); err != nil {
			slog.Warn("runner channel: remove directory", "dir", dir, "err", err)
		}
	}
}

// sweepChannels removes the channel directories no listed container
// mounts (left by a server killed between a create and its cleanup).
func (m *Manager) sweepChannels(inUse map[string]bool) {
	if m.opts.ChannelDir == "" {
		return
	}
	entries, err := os.ReadDir(m.opts.ChannelDir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			slog.Warn("runner channel: sweep", "err", err)
		}
		return
	}
	for _, e := range entries {
		dir := filepath.Join(m.opts.ChannelDir, e.Name())
		if inUse[dir] || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			slog.Warn("runner channel: sweep", "dir", dir, "err", err)
		}
	}
}
