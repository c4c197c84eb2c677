package manager

// Snapshots of sandboxes for the API.

import (
	"encoding/json"
	"time"

	"github.com/enclave-sandbox/enclave/internal/pyjson"
)

// SandboxInfo is a snapshot of a sandbox (ms-enclave's SandboxInfo).
type SandboxInfo struct {
	ID          string
	Status      Status
	Type        string
	Config      json.RawMessage
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ContainerID string
	Image       string
	Pool        bool
	Error       string
	Tools       pyjson.Ordered
	// ExpiresAt: when an idle sandbox will be deleted; set only for a
	// sandbox with its own idle_timeout or a keep-alive.
	ExpiresAt time.Time
	// PausedAt: when it was paused (zero: not paused).
	PausedAt time.Time
}

// Stats is the /stats object.
type Stats struct {
	Total           int
	StatusCounts    pyjson.Ordered
	SandboxTypes    pyjson.Ordered
	Running         bool
	CleanupInterval int
	PoolSize        int
	PoolEnabled     bool
	PoolInitialized bool
}

func (m *Manager) info(sb *sandbox) SandboxInfo {
	tools := pyjson.Ordered{}
	for _, t := range sb.tools {
		tools = append(tools, pyjson.KV{Key: t.name, Value: t.schema})
	}
	return SandboxInfo{ID: sb.id, Status: sb.status, Type: sb.typ, Config: sb.cfgJSON, CreatedAt: sb.created, UpdatedAt: sb.updated,
		ContainerID: sb.containerID, Image: sb.image, Pool: sb.pool, Error: sb.errMsg, Tools: tools, ExpiresAt: m.shownExpiry(sb), PausedAt: sb.pausedAt}
}

// shownExpiry is the expiry GET /sandbox/{id} shows. Caller holds m.mu.
func (m *Manager) shownExpiry(sb *sandbox) time.Time {
	if sb.cfg == nil || (sb.cfg.Idle() == 0 && !sb.kept) {
		return time.Time{}
	}
	return m.expiresLocked(sb, time.Now().UTC())
}

// Get returns a sandbox snapshot.
func (m *Manager) Get(id string) (SandboxInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sb, ok := m.sandboxes[id]
	if !ok {
		return SandboxInfo{}, false
	}
	return m.info(sb), true
}

// List returns snapshots in creation order, optionally filtered by status.
func (m *Manager) List(status Status) []SandboxInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []SandboxInfo{}
	for _, id := range m.order {
		sb := m.sandboxes[id]
		if status == "" || sb.status == status {
			out = append(out, m.info(sb))
		}
	}
	return out
}

// Stats returns the /stats numbers.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Stats{Total: len(m.sandboxes), Running: m.running, CleanupInterval: int(m.opts.CleanupInterval / time.Second),
		PoolEnabled: m.opts.PoolSize > 0, PoolInitialized: m.pool.initialized, StatusCounts: pyjson.Ordered{}, SandboxTypes: pyjson.Ordered{}}
	counts, types := map[string]int{}, map[string]int{}
	var typeOrder []string
	for _, id := range m.order {
		sb := m.sandboxes[id]
		counts[string(sb.status)]++
		if types[sb.typ] == 0 {
			typeOrder = append(typeOrder, sb.typ)
		}
		types[sb.typ]++
		if sb.pool && (sb.status == StatusIdle || sb.status == StatusBusy) {
			st.PoolSize++
		}
	}
	for _, s := range Statuses {
		if n := counts[string(s)]; n > 0 {
			v, _ := pyjson.Marshal(n)
			st.StatusCounts = append(st.StatusCounts, pyjson.KV{Key: string(s), Value: v})
		}
	}
	for _, t := range typeOrder {
		v, _ := pyjson.Marshal(types[t])
		st.SandboxTypes = append(st.SandboxTypes, pyjson.KV{Key: t, Value: v})
	}
	return st
}

// Spares counts the started spares waiting for a create.
func (m *Manager) Spares() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, list := range m.spares {
		n += len(list)
	}
	return n
}

// PoolCounts returns the live pool members by state.
func (m *Manager) PoolCounts() (idle, busy int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sb := range m.sandboxes {
		if sb.pool && sb.status == StatusIdle {
			idle++
		} else if sb.pool && sb.status == StatusBusy {
			busy++
		}
	}
	return idle, busy
}
