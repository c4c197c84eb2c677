package manager

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"time"

	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"

	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// adopt rebuilds the registry from this instance's labelled containers
// (with replicas, every replica's: another's spares and unfinished creates
// are left alone, its pool members are listed but not lent here)
// (docs/api.md §7.3): running ones are registered under their old id, type, config and
// created time (pool members rejoin the pool), stopped ones as stopped, and
// containers whose create was interrupted are removed. Podman is the source
// of truth; there is no other state to lose.
func (m *Manager) adopt(ctx context.Context) {
	var adopted []*sandbox
	var deadPool []*sandbox
	channels, listed := map[string]bool{}, true
	for _, be := range m.plugins.Backends() {
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		list, err := be.List(lctx, map[string]string{LabelMSEnclave: "true", LabelInstance: m.opts.Instance})
		cancel()
		if err != nil {
			slog.Error("re-adoption: list containers", "err", err)
			listed = false
			continue
		}
		for _, st := range list {
			channels[st.Labels[LabelChannel]] = true
		}
		for _, st := range list {
			mine := m.owns(st.Labels)
			unstarted := st.Status == "created" || st.Status == "configured" || st.Status == "initialized"
			if !mine && (isSpareName(st.Name) || unstarted || st.Status == "removing") {
				continue // another replica's spare, create or removal
			}
			if isSpareName(st.Name) {
				claimed, unsure := m.claimedAtAdoption(ctx, be, st)
				if unsure {
					continue
				}
				if !claimed {
					m.rebuild(be, st.ContainerID, "created", st.Labels, st.Image) // removes it
					continue
				}
			}
			sb, ok := m.rebuild(be, st.ContainerID, st.Status, st.Labels, st.Image)
			if !ok {
				continue
			}
			m.learnBoot(sb, st.Labels)
			if !mine && sb.pool {
				sb.pool = false // the owner lends it; listed here as idle
			}
			if sb.status == StatusStopped && sb.pool {
				deadPool = append(deadPool, sb)
				sb.pool = false
			}
			adopted = append(adopted, sb)
		}
	}
	if listed {
		m.sweepChannels(channels)
	}
	m.mu.Lock()
	m.adoptedAll = listed
	m.mu.Unlock()
	sort.Slice(adopted, func(i, j int) bool { return adopted[i].created.Before(adopted[j].created) })
	seen := map[string]bool{}
	for _, sb := range adopted {
		if sb.status.active() && !seen[sb.id] {
			m.addExec(sb)
		}
		seen[sb.id] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sb := range adopted {
		if _, dup := m.sandboxes[sb.id]; dup {
			slog.Warn("re-adoption: two containers claim one sandbox id; keeping the first", "sandbox_id", sb.id, "container", sb.containerID)
			continue
		}
		m.registerLocked(sb)
		if sb.pool {
			m.pool.idle = append(m.pool.idle, sb)
			m.pool.initialized = true
		}
	}
	for _, sb := range deadPool {
		// A pool member that stopped while the server was away is replaced.
		m.pool.initialized = true
		go m.replace(sb.typ, sb.cfgJSON)
	}
	if len(adopted) > 0 {
		slog.Info("re-adopted sandboxes", "count", len(adopted), "instance", m.opts.Instance)
	}
}

// rebuild turns a labelled container back into a sandbox.
func (m *Manager) rebuild(be backend.Backend, containerID, status string, labels map[string]string, image string) (*sandbox, bool) {
	id, typ := labels[LabelID], labels[LabelType]
	remove := func(why string) (*sandbox, bool) {
		if !m.owns(labels) {
			// Another replica's (perhaps a newer version's): not ours to judge.
			slog.Warn("re-adoption: skipping another replica's container", "container", containerID, "sandbox_id", id, "reason", why)
			return nil, false
		}
		slog.Warn("re-adoption: removing container", "container", containerID, "sandbox_id", id, "reason", why)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := be.Remove(ctx, containerID); err != nil {
			slog.Error("re-adoption: remove", "container", containerID, "err", err)
		} else {
			m.dropChannel(labels)
		}
		return nil, false
	}
	if status == "created" || status == "configured" || status == "initialized" {
		return remove("never started (create interrupted) or an unclaimed spare")
	}
	if id == "" || typ == "" {
		return remove("labels incomplete")
	}
	cfg, err := sandboxconfig.Parse(typ, json.RawMessage(labels[LabelConfig]))
	if err != nil {
		return remove("config label unreadable: " + err.Error())
	}
	cfgJSON := cfg.Dump()
	created, err := pyjson.ParseTime(labels[LabelCreatedAt])
	if err != nil {
		created = time.Now().UTC()
	}
	now := time.Now().UTC()
	sb := &sandbox{id: id, typ: typ, cfg: cfg, cfgJSON: cfgJSON, backend: be, containerID: containerID, image: image,
		created: created, updated: now, lastActivity: now, pool: labels[LabelPool] == "true", status: StatusStopped}
	sb.spec = m.buildSpec(id, typ, cfg, cfgJSON, sb.pool, created)
	m.adoptChannel(&sb.spec, labels)
	if o, ok := labels[LabelOwner]; ok {
		sb.spec.Labels[LabelOwner] = o // the container as it is
	}
	if img := labels[LabelImage]; img != "" {
		sb.spec.Image, sb.spec.Labels[LabelImage] = img, img // started from a snapshot or fork
	}
	if image == "" {
		sb.image = sb.spec.Image
	}
	if liveStatus(status) {
		sb.status = StatusRunning
		if sb.pool {
			sb.status = StatusIdle
		}
		// Paused before the restart: it stays so until resumed. (Pool
		// members are never paused by enclave.)
		if status == "paused" {
			sb.paused, sb.pausedAt = true, now
		}
	}
	sb.tools = m.bindTools(id, typ, cfg)
	return sb, true
}
