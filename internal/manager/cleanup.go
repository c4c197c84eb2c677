package manager

// The cleanup sweep: reaping dead, old and idle sandboxes.

import (
	"context"
	"log/slog"
	"time"
)

// cleanupLoop runs the cleanup sweep at start and every CleanupInterval.
func (m *Manager) cleanupLoop(ctx context.Context) {
	defer close(m.cleanupDone)
	m.cleanup(ctx)
	m.every(m.opts.CleanupInterval, func() { m.cleanup(ctx) })
}

// every runs f every d until the manager stops (d <= 0: never).
func (m *Manager) every(d time.Duration, f func()) {
	if d <= 0 {
		<-m.stop
		return
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			f()
		}
	}
}

// cleanup deletes dead sandboxes (stopped/error for over 1 h), old ones
// (created over 48 h ago) and, with --idle-ttl, idle ones (paused ones
// only with --reap-paused); never one with a call in flight (docs/api.md
// §7.1). Reaped pool members are replaced. Then expired and unused
// snapshots go (docs/api.md §14.2).
func (m *Manager) cleanup(ctx context.Context) {
	defer m.collectSnapshots(ctx)
	now := time.Now().UTC()
	m.expireSpares(now)
	type victim struct {
		id, reason   string
		pool, paused bool
	}
	var victims []victim
	m.mu.Lock()
	for _, id := range m.order {
		sb := m.sandboxes[id]
		if sb.inflight > 0 || sb.resetting {
			continue
		}
		dead := (sb.status == StatusStopped || sb.status == StatusError) && now.Sub(sb.updated) > time.Hour
		old := sb.status != StatusStopped && sb.status != StatusError && now.Sub(sb.created) > 48*time.Hour
		// With replicas, a replica sees only the calls it served: idleness
		// cannot be judged (docs/api.md §7.4).
		exp := m.expiresLocked(sb, now)
		idle := !exp.IsZero() && sb.status == StatusRunning && now.After(exp) && (!sb.paused || m.opts.ReapPaused)
		if dead || old || idle {
			reason := "dead"
			if old {
				reason = "age"
			} else if idle {
				reason = "idle"
			}
			victims = append(victims, victim{id, reason, sb.pool, sb.paused})
			if sb.pool {
				m.dropFromPoolLocked(sb, true)
			}
		}
	}
	m.mu.Unlock()
	for _, v := range victims {
		// A paused sandbox cannot be asked (its runner is frozen); the
		// operator chose to reap it (--reap-paused).
		if v.reason == "idle" && !v.paused && m.stillBusy(ctx, v.id) {
			continue
		}
		if err := m.Delete(ctx, v.id); err != nil {
			slog.Warn("cleanup: delete failed", "sandbox_id", v.id, "err", err)
		} else {
			slog.Info("cleanup: deleted", "sandbox_id", v.id, "rule", v.reason)
			if m.opts.Observer != nil {
				m.opts.Observer.Reaped(v.reason)
			}
		}
	}
}
