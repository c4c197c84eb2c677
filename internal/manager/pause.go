package manager

// Pause and resume (docs/api.md §14.3): every process of a sandbox frozen
// by its backend (Podman: the cgroup freezer), memory kept. The paused
// state lives in the container, so a restarted server sees it.

import (
	"context"
	"time"

	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// Pause freezes a sandbox. It must be active, no pool member, and have no
// call, archive transfer or terminal in flight (a frozen one would hang).
func (m *Manager) Pause(ctx context.Context, id string) error {
	m.mu.Lock()
	sb, ok := m.sandboxes[id]
	switch {
	case !ok:
		m.mu.Unlock()
		return errorf(KindNotFound, "Sandbox %s not found", id)
	case sb.paused:
		m.mu.Unlock()
		return nil
	case !sb.status.active():
		m.mu.Unlock()
		return errorf(KindConflict, "Sandbox %s is not active (status: %s)", id, sb.status)
	case sb.pool:
		m.mu.Unlock()
		return errorf(KindConflict, "Sandbox %s is a pool member: pool members are lent per call", id)
	case sb.inflight > 0:
		m.mu.Unlock()
		return errorf(KindConflict, "Sandbox %s has %d operations in flight (calls, transfers, terminals); pause it when they end", id, sb.inflight)
	}
	p, ok := backend.Pauses(sb.backend)
	if !ok {
		m.mu.Unlock()
		return errorf(KindUnsupported, "Pause is not supported by this sandbox's backend (docs/api.md §14.3)")
	}
	// Paused from here: no new call starts while the backend freezes it.
	sb.paused, sb.pausedAt = true, time.Now().UTC()
	containerID := sb.containerID
	m.mu.Unlock()
	if err := p.Pause(ctx, containerID); err != nil {
		m.mu.Lock()
		sb.paused, sb.pausedAt = false, time.Time{}
		m.mu.Unlock()
		return backendErr("pause sandbox", err)
	}
	return nil
}

// Resume thaws a paused sandbox; one that is not paused is left as it is.
func (m *Manager) Resume(ctx context.Context, id string) error {
	m.mu.Lock()
	sb, ok := m.sandboxes[id]
	if !ok {
		m.mu.Unlock()
		return errorf(KindNotFound, "Sandbox %s not found", id)
	}
	if !sb.paused {
		m.mu.Unlock()
		return nil
	}
	containerID := sb.containerID
	m.mu.Unlock()
	p, ok := backend.Pauses(sb.backend)
	if !ok {
		return errorf(KindUnsupported, "Pause is not supported by this sandbox's backend (docs/api.md §14.3)")
	}
	if err := p.Resume(ctx, containerID); err != nil {
		return backendErr("resume sandbox", err)
	}
	m.mu.Lock()
	sb.paused, sb.pausedAt = false, time.Time{}
	sb.lastActivity = time.Now().UTC()
	sb.updated = sb.lastActivity
	pending := sb.execPending
	sb.execPending = false
	m.mu.Unlock()
	if pending {
		m.exec.Add(id, m.target(sb))
	}
	return nil
}

// thaw resumes a paused sandbox before it is stopped or deleted (a frozen
// process cannot act on a signal); failures are the stop's to report.
func (m *Manager) thaw(ctx context.Context, sb *sandbox, containerID string) {
	m.mu.Lock()
	paused := sb.paused
	sb.paused, sb.pausedAt = false, time.Time{}
	m.mu.Unlock()
	if p, ok := backend.Pauses(sb.backend); ok && paused {
		_ = p.Resume(ctx, containerID)
	}
}

// liveStatus: a container in this backend status is alive (paused ones
// too).
func liveStatus(s string) bool { return s == "running" || s == "paused" }
