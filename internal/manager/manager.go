// Package manager is enclave's runtime-agnostic core: the sandbox registry,
// lifecycle states, security policy, the pool, tool dispatch and cleanup.
// It talks to backends and tools through narrow interfaces (plugins.go)
// and runs processes through the executor; it knows no HTTP and no gRPC.
// docs/architecture.md walks through it.
package manager

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/internal/executor"
)

// Manager owns every sandbox of this server.
type Manager struct {
	opts    Options
	plugins Plugins
	exec    *executor.Executor

	mu         sync.Mutex
	sandboxes  map[string]*sandbox
	order      []string
	reserved   map[string]bool
	running    bool
	creating   int
	renaming   int // claimed spares being renamed in the background
	pool       poolState
	initMu     sync.Mutex // serialises pool initialisation
	stopOnce   sync.Once
	spares     map[string][]*sandbox // pre-created sandboxes by spareKey
	sparing    map[string]int        // spares being made, by spareKey
	demand     map[string]*demand    // configs asked for, by spareKey
	strays     map[string]bool       // unknown containers at the last health check
	orphans    map[string]bool       // channel directories nothing named at the last health check
	adoptedAll bool                  // the start's adoption listed every backend's containers
	// snapping counts snapshots and forks being made (no image is pruned
	// meanwhile); namingSnap holds the names of those being made.
	snapping   int
	namingSnap map[string]bool

	stop        chan struct{}
	cleanupDone chan struct{}
	health      healthCache
}

// New returns a manager; Start begins its work. Processes of its sandboxes
// run through exec, which the tool plugins reach too.
func New(opts Options, plugins Plugins, exec *executor.Executor) *Manager {
	return &Manager{opts: opts, plugins: plugins, exec: exec, sandboxes: map[string]*sandbox{}, reserved: map[string]bool{},
		spares: map[string][]*sandbox{}, sparing: map[string]int{}, demand: map[string]*demand{}, namingSnap: map[string]bool{}}
}

// Start re-adopts this instance's containers, marks the manager running and
// starts the cleanup sweep (once now, then every CleanupInterval) and the
// container health monitor.
func (m *Manager) Start(ctx context.Context) {
	m.adopt(ctx)
	m.mu.Lock()
	m.running = true
	m.stop, m.cleanupDone = make(chan struct{}), make(chan struct{})
	m.mu.Unlock()
	bg := context.WithoutCancel(ctx)
	go m.cleanupLoop(bg)
	if m.replicated() {
		go m.syncReplicas(bg)
	} else {
		go m.monitor(bg)
	}
}

// BeginShutdown refuses new work and releases waiting pool calls; calls
// already running go on (the HTTP server drains them).
func (m *Manager) BeginShutdown() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running = false
	for _, w := range m.pool.waiters {
		w.ch <- nil
	}
	m.pool.waiters = nil
}

// Shutdown stops the background work; with deleteAll it deletes every
// sandbox (default: keep them for re-adoption).
func (m *Manager) Shutdown(ctx context.Context, deleteAll bool) {
	m.BeginShutdown()
	m.mu.Lock()
	ids := append([]string(nil), m.order...)
	started := m.stop != nil
	m.mu.Unlock()
	if started {
		m.stopOnce.Do(func() { close(m.stop) })
		<-m.cleanupDone
	}
	m.removeSpares()
	m.waitCreates(ctx)
	for _, be := range m.plugins.Backends() {
		m.pruneImages(ctx, be) // a spare's image from a deleted snapshot
	}
	if deleteAll {
		for _, id := range ids {
			if err := m.Delete(ctx, id); err != nil {
				slog.Warn("delete on shutdown", "sandbox_id", id, "err", err)
			}
		}
	}
	// No create is in flight now: a channel directory no sandbox names is
	// a leak (a create whose container's removal failed) that the health
	// check had no time left to take. Only if every container was adopted
	// at start: otherwise some sandboxes' directories are not named here.
	m.mu.Lock()
	kept := map[string]bool{}
	for _, sb := range m.sandboxes {
		kept[sb.spec.Labels[LabelChannel]] = true
	}
	for id := range m.reserved {
		kept[filepath.Join(m.opts.ChannelDir, id)] = true
	}
	sweep := started && m.adoptedAll && m.creating+m.renaming == 0
	m.mu.Unlock()
	if sweep {
		m.sweepChannels(kept)
	}
}

// waitCreates waits (bounded by ctx) until no create is in flight, spares
// and claimed spares' renames included: each one either registered its
// sandbox or removed its container (a spare finished after shutdown began
// removes itself).
func (m *Manager) waitCreates(ctx context.Context) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		m.mu.Lock()
		n := m.creating + m.renaming
		for _, c := range m.sparing {
			n += c
		}
		m.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			slog.Warn("shutdown: creates still in flight", "count", n)
			return
		case <-t.C:
		}
	}
}
