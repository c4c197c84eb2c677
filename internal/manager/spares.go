package manager

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// Spares: a started sandbox (runner warm) of a config that is asked for
// again and again waits for the next /sandbox/create of that type, config
// and image, which then costs a rename instead of a container start
// (docs/api.md §3.1). A config earns spares when a create asks for it a
// second time within --spare-ttl (a pool's config at once); at most
// --spares-per-config of one config and --spares in all wait, the config
// used longest ago giving its spare up first; a config not asked for
// within --spare-ttl loses its spares at the next cleanup sweep.
// Container labels cannot change, so a spare is created with the labels it
// will keep and the name spare-<id>; claiming renames it to sandbox-<id>
// (see claim: on Podman the rename follows the answer). Re-adoption removes
// containers still named spare-* that hold no claim file: unclaimed spares
// are not sandboxes.

const sparePrefix = sdk.SparePrefix

// maxDemand bounds the configs remembered (a client sending a new config
// with every create must not grow the server without bound).
const maxDemand = 1024

// demand is what the server knows of one config's creates.
type demand struct {
	typ     string
	cfgJSON json.RawMessage
	image   string
	last    time.Time
	asks    int
	pool    bool
}

// spareKey: a spare is claimed for the same type, config and image (a
// snapshot deleted and made again under its name is another image).
func spareKey(typ string, cfgJSON []byte, image string) string {
	return typ + "\x00" + string(cfgJSON) + "\x00" + image
}

// noteCreate records a create of (typ, cfg, image) and, once the config
// has earned spares, returns what makes sure they exist or are being made.
func (m *Manager) noteCreate(typ string, cfgJSON []byte, image string, pool bool) (replenish func()) {
	if m.opts.Spares <= 0 || m.opts.SparesPerConfig <= 0 {
		return nil
	}
	key := spareKey(typ, cfgJSON, image)
	m.mu.Lock()
	d := m.demand[key]
	if d == nil {
		if len(m.demand) >= maxDemand {
			m.forgetOldestLocked()
		}
		d = &demand{typ: typ, cfgJSON: cfgJSON, image: image}
		m.demand[key] = d
	}
	d.asks++
	d.last = time.Now()
	d.pool = d.pool || pool
	earned := d.asks >= 2 || d.pool
	m.mu.Unlock()
	if !earned {
		return nil
	}
	return func() { m.wantSpare(key) }
}

// afterFirstUse runs replenish when sb's first operation ends, or after
// Options.SpareAfter. A spare's start is hundreds of milliseconds of the
// runtime's CPU: on a small host it would slow the call that almost always
// follows a create, and it would not be ready before that call ends
// anyway. Caller holds m.mu (before sb is registered).
func (m *Manager) afterFirstUse(sb *sandbox, replenish func()) {
	var once sync.Once
	run := func() { once.Do(replenish) }
	t := time.AfterFunc(m.opts.SpareAfter, run)
	sb.settle = func() {
		t.Stop()
		run()
	}
}

// forgetOldestLocked drops the config asked for longest ago that has no
// spare.
func (m *Manager) forgetOldestLocked() {
	oldest := ""
	for k, d := range m.demand {
		if len(m.spares[k]) == 0 && m.sparing[k] == 0 && (oldest == "" || d.last.Before(m.demand[oldest].last)) {
			oldest = k
		}
	}
	if oldest != "" {
		delete(m.demand, oldest)
	}
}

// spareCountLocked counts the spares waiting and being made.
func (m *Manager) spareCountLocked() int {
	n := 0
	for _, list := range m.spares {
		n += len(list)
	}
	for _, c := range m.sparing {
		n += c
	}
	return n
}

// evictLocked takes a waiting spare of the config used longest ago, if it
// was used before the config key: the budget goes to what is asked for.
func (m *Manager) evictLocked(key string) *sandbox {
	mine := m.demand[key]
	victim := ""
	for k, list := range m.spares {
		d := m.demand[k]
		if k == key || len(list) == 0 || d != nil && mine != nil && !d.last.Before(mine.last) {
			continue
		}
		if victim == "" || m.demand[victim] != nil && (d == nil || d.last.Before(m.demand[victim].last)) {
			victim = k
		}
	}
	if victim == "" {
		return nil
	}
	list := m.spares[victim]
	sb := list[len(list)-1]
	m.spares[victim] = list[:len(list)-1]
	if len(m.spares[victim]) == 0 {
		delete(m.spares, victim)
	}
	return sb
}

// wantSpare starts making the spares of the config key that it lacks,
// evicting other configs' within the budget.
func (m *Manager) wantSpare(key string) {
	for m.startSpare(key) {
	}
}

// startSpare starts making one spare of the config key, if it lacks one
// and the budget allows.
func (m *Manager) startSpare(key string) bool {
	m.mu.Lock()
	d := m.demand[key]
	if !m.running || d == nil || len(m.spares[key])+m.sparing[key] >= m.opts.SparesPerConfig {
		m.mu.Unlock()
		return false
	}
	if m.spareCountLocked() >= m.opts.Spares {
		victim := m.evictLocked(key)
		if victim == nil {
			m.mu.Unlock()
			return false
		}
		go m.removeSpare(victim, "evicted for a config asked for more recently")
	}
	m.sparing[key]++
	typ, cfgJSON, image := d.typ, d.cfgJSON, d.image
	m.mu.Unlock()
	go func() {
		defer func() {
			m.mu.Lock()
			if m.sparing[key]--; m.sparing[key] <= 0 {
				delete(m.sparing, key)
			}
			m.mu.Unlock()
		}()
		sb, err := m.makeSpare(typ, cfgJSON, image)
		if err != nil {
			slog.Warn("spare sandbox not created", "err", err)
			return
		}
		if sb == nil {
			return
		}
		m.mu.Lock()
		if !m.running || m.demand[key] == nil {
			// Shutdown began, or the config was dropped meanwhile.
			m.mu.Unlock()
			m.removeSpare(sb, "no longer wanted")
			return
		}
		m.spares[key] = append(m.spares[key], sb)
		m.mu.Unlock()
	}()
	return true
}

// makeSpare starts one spare; nil without error where the backend cannot
// rename (no spares there).
func (m *Manager) makeSpare(typ string, cfgJSON json.RawMessage, image string) (*sandbox, error) {
	be, ok := m.plugins.Backend(typ)
	if !ok {
		return nil, nil
	}
	if _, ok := backend.Renames(be); !ok {
		return nil, nil
	}
	cfg, err := sandboxconfig.Parse(typ, cfgJSON)
	if err != nil {
		return nil, err
	}
	id := m.newID() // stays reserved while the spare waits
	ctx, cancel := context.WithTimeout(context.Background(), 2*m.opts.StartTimeout)
	defer cancel()
	sb, err := m.startNamed(ctx, sparePrefix+id, id, typ, cfg, image, be, false)
	if err != nil {
		m.unreserve(id)
		return nil, err
	}
	return sb, nil
}

// claimSpare hands out a spare of (typ, cfg), or nil. It is registered by
// the caller (whose noteCreate and afterFirstUse make the next one).
func (m *Manager) claimSpare(ctx context.Context, typ string, cfgJSON []byte, image string) *sandbox {
	key := spareKey(typ, cfgJSON, image)
	for {
		m.mu.Lock()
		list := m.spares[key]
		if len(list) == 0 {
			m.mu.Unlock()
			return nil
		}
		sb := list[0]
		m.spares[key] = list[1:]
		m.mu.Unlock()
		if err := m.claim(ctx, sb); err != nil {
			m.removeSpare(sb, "unusable: "+err.Error())
			if ctx.Err() != nil {
				return nil // the create was given up: spare no more spares on it
			}
			continue
		}
		now := time.Now().UTC()
		sb.updated, sb.lastActivity = now, now
		return sb
	}
}

// removeSpare removes a spare taken out of m.spares.
func (m *Manager) removeSpare(sb *sandbox, why string) {
	slog.Info("spare sandbox removed", "sandbox_id", sb.id, "why", why)
	m.exec.Remove(sb.id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sb.backend.Remove(ctx, sb.containerID); err != nil && !errors.Is(err, sdk.ErrSandboxNotFound) {
		slog.Warn("remove spare", "sandbox_id", sb.id, "err", err)
	} else {
		m.dropChannel(sb.spec.Labels)
	}
	m.unreserve(sb.id)
}

// expireSpares (the cleanup sweep) forgets the configs not asked for
// within --spare-ttl, but a live pool's, and removes their spares.
func (m *Manager) expireSpares(now time.Time) {
	m.mu.Lock()
	pooled := map[string]bool{}
	for _, sb := range m.sandboxes {
		if sb.pool {
			pooled[spareKey(sb.typ, sb.cfgJSON, sb.spec.Labels[LabelImage])] = true
		}
	}
	var drop []*sandbox
	for k, d := range m.demand {
		if now.Sub(d.last) <= m.opts.SpareTTL || pooled[k] {
			continue
		}
		delete(m.demand, k)
		drop = append(drop, m.spares[k]...)
		delete(m.spares, k)
	}
	m.mu.Unlock()
	for _, sb := range drop {
		m.removeSpare(sb, "its config was not asked for within --spare-ttl")
	}
}

// discardSpares forgets the configs that match and removes their waiting
// spares (a deleted snapshot's).
func (m *Manager) discardSpares(match func(*sandboxconfig.Config) bool) {
	m.mu.Lock()
	var drop []*sandbox
	for k, d := range m.demand {
		cfg, err := sandboxconfig.Parse(d.typ, d.cfgJSON)
		if err != nil || !match(cfg) {
			continue
		}
		delete(m.demand, k)
		drop = append(drop, m.spares[k]...)
		delete(m.spares, k)
	}
	m.mu.Unlock()
	for _, sb := range drop {
		m.removeSpare(sb, "its snapshot was deleted")
	}
}

// removeSpares deletes every waiting spare (shutdown).
func (m *Manager) removeSpares() {
	m.mu.Lock()
	var all []*sandbox
	for k, list := range m.spares {
		all = append(all, list...)
		delete(m.spares, k)
	}
	m.mu.Unlock()
	for _, sb := range all {
		m.removeSpare(sb, "shutdown")
	}
}

// isSpareName tells an unclaimed spare at re-adoption.
func isSpareName(name string) bool {
	return strings.HasPrefix(strings.TrimPrefix(name, "/"), sparePrefix)
}
