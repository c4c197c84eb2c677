package manager

// Replicas: several servers with one --instance share its sandboxes
// (docs/api.md §7.4). There is no shared database: every replica lists
// the backends every SyncInterval (the kubernetes backend answers from its
// pod watch, so this costs the API server nothing) and brings its registry
// in line with what it finds. A sandbox another replica created is
// registered here too, so any replica serves any sandbox; one whose
// container is gone (another replica deleted it) leaves the registry; one
// another replica stopped is stopped here. Pool members and spares carry
// their owner (LabelOwner): only the owner lends, resets and replaces
// them; the others list them, idle, and serve calls by id.

import (
	"context"
	"log/slog"
	"time"
)

// replicated reports whether this server shares its instance.
func (m *Manager) replicated() bool { return m.opts.Replica != "" }

// owns reports whether labels mark a container as this replica's (a
// container without an owner, made by a server that was not replicated,
// is everyone's).
func (m *Manager) owns(labels map[string]string) bool {
	o := labels[LabelOwner]
	return !m.replicated() || o == "" || o == m.opts.Replica
}

// syncReplicas is the replicated form of the health monitor.
func (m *Manager) syncReplicas(ctx context.Context) {
	m.every(m.opts.SyncInterval, func() { m.syncOnce(ctx) })
}

func (m *Manager) syncOnce(ctx context.Context) {
	// Only sandboxes registered before the listing began can be judged by
	// it: a container created meanwhile may be missing from the list.
	listed := time.Now()
	channels := m.channelDirs() // read before the listing (monitor.go)
	mounted := map[string]bool{}
	status := map[string]string{}
	var fresh []*sandbox
	for _, be := range m.plugins.Backends() {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		list, err := be.List(lctx, map[string]string{LabelMSEnclave: "true", LabelInstance: m.opts.Instance})
		cancel()
		if err != nil {
			slog.Warn("replica sync: list containers", "err", err)
			return // unknown is not gone
		}
		for _, st := range list {
			status[st.ContainerID] = st.Status
			mounted[st.Labels[LabelChannel]] = true
			if isSpareName(st.Name) || (!liveStatus(st.Status) && st.Status != "exited" && st.Status != "stopped") {
				continue // a spare is nobody's sandbox yet; a create or removal is under way
			}
			id := st.Labels[LabelID]
			// Reserved while it is rebuilt, so no create or adoption of
			// this server registers the same id meanwhile.
			m.mu.Lock()
			_, known := m.sandboxes[id]
			taken := known || m.reserved[id] || id == ""
			if !taken {
				m.reserved[id] = true
			}
			m.mu.Unlock()
			if taken {
				continue
			}
			sb, ok := m.rebuild(be, st.ContainerID, st.Status, st.Labels, st.Image)
			if !ok {
				m.unreserve(id)
				continue
			}
			if !m.owns(st.Labels) && sb.pool {
				sb.pool = false // the owner lends it; listed here as idle
			}
			fresh = append(fresh, sb)
		}
	}
	for _, sb := range fresh {
		if sb.status.active() {
			m.addExec(sb)
		}
	}
	gone := map[string]*sandbox{}
	m.mu.Lock()
	for _, sb := range fresh {
		m.registerLocked(sb)
		delete(m.reserved, sb.id)
	}
	for id, sb := range m.sandboxes {
		if !sb.registered.Before(listed) || sb.resetting {
			continue
		}
		st, listedNow := status[sb.containerID]
		switch {
		case !listedNow:
			// Deleted through another replica (or removed outside): an
			// explicit delete, so a pool shrinks.
			gone[id] = sb
			if sb.pool {
				m.dropFromPoolLocked(sb, false)
			}
		case !liveStatus(st) && sb.status.active() && sb.pool && m.owns(sb.spec.Labels):
			m.markDeadLocked(sb, "container exited or was removed outside enclave")
		case !liveStatus(st) && sb.status.active():
			sb.setStatus(StatusStopped)
			go m.exec.Remove(id)
		default:
			// Paused or resumed through another replica.
			if paused := st == "paused"; paused != sb.paused {
				sb.paused, sb.pausedAt = paused, time.Time{}
				if paused {
					sb.pausedAt = time.Now().UTC()
				} else if sb.execPending {
					sb.execPending = false
					go m.exec.Add(sb.id, m.target(sb))
				}
			}
		}
	}
	m.collectChannelsLocked(channels, mounted)
	m.mu.Unlock()
	for id, sb := range gone {
		m.exec.Remove(id)
		m.unregister(id)
		// The replica that deleted it could not remove the directory:
		// it is this server's (channel.go's ownChannelDir).
		m.dropChannel(sb.spec.Labels)
		slog.Info("replica sync: sandbox gone", "sandbox_id", id)
	}
}
