package manager

// The registry of this server's sandboxes.

import (
	"encoding/json"
	"time"

	"github.com/enclave-sandbox/enclave/internal/executor"
	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// sandbox is one sandbox of this server (registered, or a spare waiting to
// be claimed).
type sandbox struct {
	id          string
	typ         string
	cfg         *sandboxconfig.Config
	cfgJSON     json.RawMessage
	backend     backend.Backend
	spec        sdk.Spec // to recreate the container (pool reset)
	containerID string   // guarded by Manager.mu once registered
	image       string   // resolved reference
	tools       []boundTool
	created     time.Time

	// Guarded by Manager.mu.
	status       Status
	updated      time.Time
	lastActivity time.Time
	inflight     int
	pool         bool
	errMsg       string
	// vanished: a call found the container gone (pool calls then retry on
	// another member); resetting: the container is being replaced.
	vanished  bool
	resetting bool
	// registered: when the registry (or a reset) last got this container.
	registered time.Time
	// keepUntil: a keep-alive's promise; kept: a keep-alive was sent (the
	// expiry is then shown). Guarded by Manager.mu.
	keepUntil time.Time
	kept      bool
	// paused: frozen by POST /sandbox/{id}/pause (pause.go). Guarded by
	// Manager.mu.
	paused   bool
	pausedAt time.Time
	// execPending: adopted paused, so not yet given to the executor (its
	// runner cannot start in a frozen container); Resume gives it.
	execPending bool
	// settle, when set, starts the replacement spare its create earned
	// (afterFirstUse); the end of its first operation calls it. Guarded by
	// Manager.mu.
	settle func()
}

// target is where the executor runs a sandbox's processes.
func (m *Manager) target(sb *sandbox) executor.Target {
	return executor.Target{Backend: sb.backend, ContainerID: sb.containerID, WorkingDir: sb.cfg.WorkingDir,
		Channel: m.channelOf(sb), Image: sb.cfg.Image, Vanished: func() { m.vanished(sb) }}
}

// addExec gives an adopted sandbox to the executor, or, while it is
// paused, leaves that to Resume.
func (m *Manager) addExec(sb *sandbox) {
	if sb.paused {
		sb.execPending = true
		return
	}
	m.exec.Add(sb.id, m.target(sb))
}

// registerLocked adds a sandbox to the registry. Caller holds m.mu.
func (m *Manager) registerLocked(sb *sandbox) {
	sb.registered = time.Now()
	m.sandboxes[sb.id] = sb
	m.order = append(m.order, sb.id)
}

func (m *Manager) unregister(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sandboxes, id)
	for i, x := range m.order {
		if x == id {
			m.order = append(m.order[:i], m.order[i+1:]...)
			break
		}
	}
}
