package manager

// Stopping and deleting sandboxes.

import (
	"context"
	"errors"

	"github.com/enclave-sandbox/enclave/sdk"
)

// Stop stops a sandbox and keeps it registered.
func (m *Manager) Stop(ctx context.Context, id string) error {
	m.mu.Lock()
	sb, ok := m.sandboxes[id]
	if !ok {
		m.mu.Unlock()
		return errorf(KindNotFound, "Sandbox not found")
	}
	if sb.status == StatusStopped {
		m.mu.Unlock()
		return nil
	}
	sb.setStatus(StatusStopping)
	m.dropFromPoolLocked(sb, true)
	containerID := sb.containerID
	m.mu.Unlock()
	m.exec.Remove(id)
	m.thaw(ctx, sb, containerID)

	err := sb.backend.Stop(ctx, containerID, m.opts.StopGrace)
	// With replicas the stopped container stays (until DELETE or the
	// cleanup of dead sandboxes): it is how the others know it is stopped,
	// not deleted (docs/api.md §7.4).
	if err == nil && sb.cfg.RemoveOnExit && !m.replicated() {
		if err = sb.backend.Remove(ctx, containerID); err == nil {
			m.dropChannel(sb.spec.Labels)
		}
	}
	if errors.Is(err, sdk.ErrSandboxNotFound) {
		err = nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		sb.setStatus(StatusError)
		sb.errMsg = err.Error()
		return &Error{Kind: KindStopFailed, Msg: "Failed to stop sandbox: " + err.Error(), Err: err}
	}
	sb.setStatus(StatusStopped)
	return nil
}

// Delete removes the container and unregisters the sandbox (docs/api.md §3.8).
func (m *Manager) Delete(ctx context.Context, id string) error {
	m.mu.Lock()
	sb, ok := m.sandboxes[id]
	if !ok {
		m.mu.Unlock()
		return errorf(KindNotFound, "Sandbox not found")
	}
	if sb.status != StatusStopped {
		sb.setStatus(StatusStopping)
	}
	m.dropFromPoolLocked(sb, false) // an explicit DELETE shrinks the pool
	containerID := sb.containerID
	m.mu.Unlock()
	m.exec.Remove(id)
	m.thaw(ctx, sb, containerID)

	// Force-remove kills at once: no grace is owed to a sandbox being deleted.
	if err := sb.backend.Remove(ctx, containerID); err != nil && !errors.Is(err, sdk.ErrSandboxNotFound) {
		m.mu.Lock()
		sb.setStatus(StatusError)
		sb.errMsg = err.Error()
		m.mu.Unlock()
		return &Error{Kind: KindDeleteFailed, Msg: "Failed to delete sandbox: " + err.Error(), Err: err}
	}
	m.unregister(id)
	m.dropChannel(sb.spec.Labels)
	if sb.spec.Labels[LabelImage] != "" {
		m.pruneImages(ctx, sb.backend) // a fork's image goes with its last child
	}
	return nil
}
