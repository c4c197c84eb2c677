package manager

// The container health monitor.

import (
	"context"
	"log/slog"
	"time"
)

// monitor notices containers that died or were removed behind the server's
// back (one List per backend per interval) and marks their sandboxes.
func (m *Manager) monitor(ctx context.Context) {
	m.every(m.opts.HealthInterval, func() { m.checkContainers(ctx) })
}

func (m *Manager) checkContainers(ctx context.Context) {
	// Only sandboxes registered before the listing began can be judged by
	// it: a container created meanwhile may be missing from the list.
	listed := time.Now()
	alive := map[string]bool{}
	for _, be := range m.plugins.Backends() {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		list, err := be.List(lctx, map[string]string{LabelMSEnclave: "true", LabelInstance: m.opts.Instance})
		cancel()
		if err != nil {
			slog.Warn("health check: list containers", "err", err)
			return // unknown is not dead
		}
		for _, st := range list {
			if liveStatus(st.Status) {
				alive[st.ContainerID] = true
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sb := range m.sandboxes {
		if sb.status.active() && !sb.resetting && sb.registered.Before(listed) && !alive[sb.containerID] {
			m.markDeadLocked(sb, "container exited or was removed outside enclave")
		}
	}
}
