package manager

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// Spares: where the pool has a config, one pre-created, started sandbox of
// that config waits (runner warm) for a /sandbox/create asking for the same
// type and config, which then costs a rename instead of a container start.
// Container labels cannot change, so a spare is created with the labels it
// will keep and the name spare-<id>; claiming renames it to sandbox-<id>.
// Re-adoption removes containers still named spare-*: unclaimed spares are
// not sandboxes.

const sparePrefix = sdk.SparePrefix

// spareKey: a spare is claimed for the same type, config and image (a
// snapshot deleted and made again under its name is another image).
func spareKey(typ string, cfgJSON []byte, image string) string {
	return typ + "\x00" + string(cfgJSON) + "\x00" + image
}

// wantSpare makes sure one spare of (typ, cfg, image) exists or is being
// made.
func (m *Manager) wantSpare(typ string, cfgJSON json.RawMessage, image string) {
	key := spareKey(typ, cfgJSON, image)
	m.mu.Lock()
	if !m.running || len(m.spares[key]) > 0 || m.sparing[key] {
		m.mu.Unlock()
		return
	}
	m.sparing[key] = true
	m.mu.Unlock()
	go func() {
		defer func() {
			m.mu.Lock()
			delete(m.sparing, key)
			m.mu.Unlock()
		}()
		be, ok := m.plugins.Backend(typ)
		if !ok {
			return
		}
		if _, ok := backend.Renames(be); !ok {
			return
		}
		cfg, err := sandboxconfig.Parse(typ, cfgJSON)
		if err != nil {
			return
		}
		id := m.newID() // stays reserved while the spare waits
		ctx, cancel := context.WithTimeout(context.Background(), 2*m.opts.StartTimeout)
		defer cancel()
		sb, err := m.startNamed(ctx, sparePrefix+id, id, typ, cfg, image, be, false)
		if err != nil {
			m.unreserve(id)
			slog.Warn("spare sandbox not created", "err", err)
			return
		}
		m.mu.Lock()
		if !m.running {
			m.mu.Unlock()
			m.unreserve(id)
			m.exec.Remove(id)
			be.Remove(ctx, sb.containerID)
			return
		}
		m.spares[key] = append(m.spares[key], sb)
		m.mu.Unlock()
	}()
}

// claimSpare hands out a spare of (typ, cfg), or nil. It is registered by
// the caller.
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
		rn, _ := backend.Renames(sb.backend) // spares exist only where it does
		st, err := sb.backend.Inspect(ctx, sb.containerID)
		if err == nil && st.Status == "running" {
			err = rn.Rename(ctx, sb.containerID, "sandbox-"+sb.id)
		} else if err == nil {
			err = errors.New("spare is not running (" + st.Status + ")")
		}
		if err != nil {
			slog.Warn("spare sandbox unusable; discarded", "sandbox_id", sb.id, "err", err)
			m.exec.Remove(sb.id)
			sb.backend.Remove(context.WithoutCancel(ctx), sb.containerID)
			m.unreserve(sb.id)
			continue
		}
		now := time.Now().UTC()
		sb.updated, sb.lastActivity = now, now
		go m.wantSpare(typ, cfgJSON, image) // the next one
		return sb
	}
}

// removeSpares deletes every waiting spare (shutdown).
func (m *Manager) removeSpares(ctx context.Context) {
	m.mu.Lock()
	var all []*sandbox
	for k, list := range m.spares {
		all = append(all, list...)
		delete(m.spares, k)
	}
	m.mu.Unlock()
	for _, sb := range all {
		m.exec.Remove(sb.id)
		if err := sb.backend.Remove(ctx, sb.containerID); err != nil && !errors.Is(err, sdk.ErrSandboxNotFound) {
			slog.Warn("remove spare", "sandbox_id", sb.id, "err", err)
		}
	}
}

// isSpareName tells an unclaimed spare at re-adoption.
func isSpareName(name string) bool {
	return strings.HasPrefix(strings.TrimPrefix(name, "/"), sparePrefix)
}
