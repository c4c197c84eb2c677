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
	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// LabelChannel holds the host directory of a sandbox's runner channel (no
// label: the container has none mounted).
const LabelChannel = "enclave.channel"

// LabelBoot marks a container created to boot its runner (prepareBoot):
// its image ran a runner on the server that made it, which the next server
// learns at re-adoption.
const LabelBoot = "enclave.boot"

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
		// A boot a killed server prepared: its runner found nobody (and
		// exited); what it left would only lie there, readable.
		runner.RemoveBootFiles(dir)
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
	return m.channelIn(sb.spec.Labels)
}

// channelIn is the runner channel a container's labels name (nil: none).
func (m *Manager) channelIn(labels map[string]string) *runner.Channel {
	dir, ok := m.ownChannelDir(labels[LabelChannel])
	if !ok {
		return nil
	}
	return &runner.Channel{HostDir: dir, SandboxDir: ChannelMount}
}

// prepareBoot has a sandbox about to be created start its runner itself,
// where its backend can and its image has booted one before
// (internal/executor's boot.go); nil: its runner starts over a session.
func (m *Manager) prepareBoot(spec *sdk.Spec, cfg *sandboxconfig.Config, be backend.Backend) *runner.Boot {
	ch := m.channelIn(spec.Labels)
	if ch == nil || !backend.Has(be, sdk.CapBoot) {
		return nil
	}
	b := m.exec.PrepareBoot(*ch, cfg.Image)
	spec.Boot = b != nil
	if spec.Boot {
		spec.Labels[LabelBoot] = "true"
	}
	return b
}

// learnBoot tells the executor, at re-adoption, that the image of a live
// container made to boot its runner can boot one: the first sandbox of
// that image on this server then boots too (an image whose boot fails
// after all goes back to sessions, as any).
func (m *Manager) learnBoot(sb *sandbox, labels map[string]string) {
	if labels[LabelBoot] == "true" && sb.status.active() {
		m.exec.NoteBoot(sb.cfg.Image, true)
	}
}

// dropChannel removes the channel directory of a sandbox whose container
// is gone.
func (m *Manager) dropChannel(labels map[string]string) {
	if dir, ok := m.ownChannelDir(labels[LabelChannel]); ok {
		removeChannel(dir)
	}
}

// sweepChannels removes the channel directories no listed container
// mounts (left by a server killed between a create and its cleanup); at
// start, when no create is under way.
func (m *Manager) sweepChannels(inUse map[string]bool) {
	for _, dir := range m.channelDirs() {
		if !inUse[dir] {
			removeChannel(dir)
		}
	}
}

// channelDirs lists the sandbox directories under this server's channel
// directory.
func (m *Manager) channelDirs() []string {
	if m.opts.ChannelDir == "" {
		return nil
	}
	entries, err := os.ReadDir(m.opts.ChannelDir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			slog.Warn("runner channel: sweep", "err", err)
		}
		return nil
	}
	var dirs []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			dirs = append(dirs, filepath.Join(m.opts.ChannelDir, e.Name()))
		}
	}
	return dirs
}

// collectChannelsLocked removes, at a health check, the channel
// directories that neither a listed container, a registered sandbox nor a
// reserved id (a create or spare in the making, whose directory precedes
// its container) named at this check and the one before: whatever path
// removed a container without its directory, the directory does not
// outlive it by more than two intervals. candidates were read before the
// backends listed the containers whose channel labels are listed. Caller
// holds m.mu (so no create reserves a picked directory's id meanwhile).
func (m *Manager) collectChannelsLocked(candidates []string, listed map[string]bool) {
	orphans := map[string]bool{}
	for _, dir := range candidates {
		id := filepath.Base(dir)
		if listed[dir] || m.reserved[id] {
			continue
		}
		if sb, ok := m.sandboxes[id]; ok && sb.spec.Labels[LabelChannel] == dir {
			continue
		}
		if !m.orphans[dir] {
			orphans[dir] = true
			continue
		}
		slog.Warn("runner channel: removing a directory no sandbox of this server names", "dir", dir)
		removeChannel(dir)
	}
	m.orphans = orphans
}

// removeChannel removes a channel directory, saying why if it cannot.
func removeChannel(dir string) {
	if err := os.RemoveAll(dir); err != nil {
		slog.Warn("runner channel: remove directory", "dir", dir, "err", err)
	}
}
