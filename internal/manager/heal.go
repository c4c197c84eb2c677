package manager

// Healing: replacing dead or dirty pool members.

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/enclave-sandbox/enclave/internal/runner"
)

// reset replaces a member's container with a fresh one from the same spec,
// keeping its id: no processes, files or state survive from earlier calls.
func (m *Manager) reset(sb *sandbox) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*m.opts.StartTimeout)
	defer cancel()
	m.mu.Lock()
	old := sb.containerID
	m.mu.Unlock()
	m.exec.Remove(sb.id)
	err := sb.backend.Remove(ctx, old)
	var newID string
	var boot *runner.Boot
	if err == nil {
		// The fresh container boots its runner as a new sandbox's does
		// (channel.go): nothing of an earlier caller's is left to read
		// the key before the runner takes it.
		spec := sb.spec
		boot = m.prepareBoot(&spec, sb.cfg, sb.backend)
		st, cerr := sb.backend.Create(ctx, spec, m.opts.StartTimeout)
		err, newID = cerr, st.ContainerID
		if err != nil && boot != nil {
			boot.Close()
		}
	}
	if err == nil {
		m.mu.Lock()
		sb.containerID = newID
		m.mu.Unlock()
		t := m.target(sb)
		t.Boot = boot
		m.exec.Add(sb.id, t)
		if sb.spec.Labels[LabelImage] != "" {
			err = m.freshen(ctx, sb.id)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sb.resetting = false
	if err != nil {
		slog.Warn("pool reset failed", "sandbox_id", sb.id, "err", err)
		m.markDeadLocked(sb, "pool reset failed: "+err.Error())
		return
	}
	sb.registered = time.Now()
	if m.sandboxes[sb.id] != sb || sb.status != StatusBusy || !m.running {
		// Deleted or stopped while resetting: do not leak the new container.
		go m.exec.Remove(sb.id)
		go sb.backend.Remove(context.Background(), newID)
		return
	}
	m.returnLocked(sb)
}

// markDeadLocked records that a sandbox's container died or vanished; a pool
// member is dropped and replaced. Caller holds m.mu.
func (m *Manager) markDeadLocked(sb *sandbox, reason string) {
	if m.sandboxes[sb.id] != sb || !sb.status.active() {
		return
	}
	sb.setStatus(StatusError)
	sb.errMsg = reason
	slog.Warn("sandbox died", "sandbox_id", sb.id, "reason", reason)
	go m.exec.Remove(sb.id)
	if sb.pool {
		m.dropFromPoolLocked(sb, true)
	}
}

// dropFromPoolLocked removes a member from the pool, replacing it when
// replace is set (death, stop, reaping; not an explicit DELETE).
func (m *Manager) dropFromPoolLocked(sb *sandbox, replace bool) {
	if !sb.pool {
		return
	}
	sb.pool = false
	for i, x := range m.pool.idle {
		if x == sb {
			m.pool.idle = append(m.pool.idle[:i], m.pool.idle[i+1:]...)
			break
		}
	}
	if replace && m.running {
		go m.replace(sb.typ, sb.cfgJSON)
	}
}

// replace creates a new member with the same type and config, retrying
// with back-off until it succeeds or the manager stops.
func (m *Manager) replace(typ string, cfgJSON json.RawMessage) {
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		m.mu.Lock()
		running := m.running
		m.mu.Unlock()
		if !running {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*m.opts.StartTimeout)
		sb, err := m.create(ctx, typ, cfgJSON, true)
		cancel()
		if err == nil {
			slog.Info("pool member replaced", "sandbox_id", sb.id)
			return
		}
		slog.Warn("pool member replacement failed; retrying", "attempt", attempt, "in", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-m.stop:
			return
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// vanished is called when an operation found a sandbox's container gone.
func (m *Manager) vanished(sb *sandbox) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sb.vanished = true
	m.markDeadLocked(sb, "container vanished")
}
