package manager

// The container health monitor.

import (
	"context"
	"log/slog"
	"time"

	"github.com/enclave-sandbox/enclave/sdk/backend"
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
	// Read before the listing: a directory read here whose container exists
	// is in the listing (or its sandbox registered, or its id reserved).
	channels := m.channelDirs()
	mounted := map[string]bool{}
	alive := map[string]bool{}
	type stray struct {
		be          backend.Backend
		containerID string
		id          string
		labels      map[string]string
	}
	var listedAll []stray
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
			listedAll = append(listedAll, stray{be, st.ContainerID, st.Labels[LabelID], st.Labels})
			mounted[st.Labels[LabelChannel]] = true
		}
	}
	m.mu.Lock()
	for _, sb := range m.sandboxes {
		if sb.status.active() && !sb.resetting && sb.registered.Before(listed) && !alive[sb.containerID] {
			m.markDeadLocked(sb, "container exited or was removed outside enclave")
		}
	}
	// A container of this instance whose sandbox id is neither registered
	// nor reserved (by a create or spare in the making) is a stray: a create
	// whose removal failed while the runtime or its plugin was down. Seen so
	// at two checks in a row (not a delete under way), it is removed.
	strays := map[string]bool{}
	var remove []stray
	for _, c := range listedAll {
		if _, known := m.sandboxes[c.id]; known || c.id == "" || m.reserved[c.id] {
			continue
		}
		strays[c.containerID] = true
		if m.strays[c.containerID] {
			remove = append(remove, c)
		}
	}
	m.strays = strays
	m.collectChannelsLocked(channels, mounted)
	m.mu.Unlock()
	removed := false
	for _, c := range remove {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.be.Remove(rctx, c.containerID)
		cancel()
		if err == nil {
			m.dropChannel(c.labels)
		}
		slog.Warn("removed a stray container (no sandbox of this server)", "container", c.containerID, "sandbox_id", c.id, "err", err)
		removed = removed || err == nil
	}
	if removed {
		// A stray of a failed fork held the fork's image: it can go now.
		for _, be := range m.plugins.Backends() {
			m.pruneImages(ctx, be)
		}
	}
}
