package manager

// Creating sandboxes.

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

func createErr(format string, args ...any) *Error {
	return errorf(KindCreateFailed, "Failed to create sandbox: "+format, args...)
}

// Create creates, starts and registers a sandbox.
func (m *Manager) Create(ctx context.Context, sandboxType string, body json.RawMessage) (string, error) {
	sb, err := m.create(ctx, sandboxType, body, false)
	if err != nil {
		return "", err
	}
	return sb.id, nil
}

// create validates, starts and registers a sandbox; pool members are
// registered idle and join the pool queue at once.
func (m *Manager) create(ctx context.Context, sandboxType string, body json.RawMessage, pool bool) (*sandbox, error) {
	typ := sdk.CanonicalType(sandboxType)
	be, ok := m.plugins.Backend(typ)
	if !ok || sdk.LookupType(typ).Unserved {
		return nil, createErr("sandbox type %s is not available", sandboxType)
	}
	cfg, err := sandboxconfig.Parse(typ, body)
	if err != nil {
		return nil, createErr("%s", err.Error())
	}
	var image string
	if cfg.Snapshot != "" {
		if cfg, image, err = m.fromSnapshot(ctx, typ, be, body, cfg.Snapshot); err != nil {
			return nil, err
		}
	}
	if err := m.policy(cfg); err != nil {
		return nil, createErr("%s", err.Error())
	}
	cfg.Clamp(m.opts.caps())
	return m.createFrom(ctx, typ, be, cfg, image, pool, true)
}

// createFrom starts and registers a sandbox of a checked config; image,
// when set, is the snapshot or fork it starts from. A waiting spare of the
// same config is claimed when spare allows it.
func (m *Manager) createFrom(ctx context.Context, typ string, be backend.Backend, cfg *sandboxconfig.Config, image string, pool, spare bool) (*sandbox, error) {
	m.mu.Lock()
	if !m.running {
		m.mu.Unlock()
		return nil, errorf(KindNotStarted, "Sandbox manager not started")
	}
	if m.opts.MaxSandboxes > 0 && len(m.sandboxes)+m.creating >= m.opts.MaxSandboxes {
		m.mu.Unlock()
		return nil, createErr("sandbox limit reached (%d; raise with --max-sandboxes)", m.opts.MaxSandboxes)
	}
	m.creating++
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.creating--
		m.mu.Unlock()
	}()

	var sb *sandbox
	if !pool && spare {
		sb = m.claimSpare(ctx, typ, cfg.Dump(), image)
	}
	claimed := sb != nil
	if claimed {
		defer m.unreserve(sb.id)
	} else {
		id := m.newID()
		defer m.unreserve(id)
		var err error
		if sb, err = m.start(ctx, id, typ, cfg, image, be, pool); err != nil {
			return nil, err
		}
	}
	var replenish func()
	if !pool && spare {
		replenish = m.noteCreate(typ, sb.cfgJSON, image, false)
	}
	m.mu.Lock()
	if !m.running {
		// Shutdown began while we created: do not leak the container
		// (Shutdown waits for creates in flight, this removal included).
		m.mu.Unlock()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		m.exec.Remove(sb.id)
		if err := be.Remove(rctx, sb.containerID); err != nil {
			slog.Warn("remove a sandbox created during shutdown", "sandbox_id", sb.id, "err", err)
		} else {
			m.dropChannel(sb.spec.Labels)
		}
		return nil, errorf(KindNotStarted, "Sandbox manager not started")
	}
	if replenish != nil {
		m.afterFirstUse(sb, replenish)
	}
	m.registerLocked(sb)
	if pool {
		sb.status = StatusBusy // returnLocked makes it idle or hands it over
		m.returnLocked(sb)
		m.pool.initialized = true
	}
	m.mu.Unlock()
	if m.opts.Observer != nil {
		m.opts.Observer.Created(claimed)
	}
	return sb, nil
}

// createErrFrom maps a backend create failure to the contract's message.
func createErrFrom(image string, err error) *Error {
	switch {
	case errors.Is(err, sdk.ErrImageNotFound):
		return createErr("Failed to pull image %s: %v", image, err)
	case errors.Is(err, sdk.ErrInvalidArgument):
		return createErr("invalid config: %v", err)
	default:
		return createErr("Failed to start sandbox: %v", err)
	}
}

// start creates the container and binds the tools; the sandbox is not yet
// registered.
func (m *Manager) start(ctx context.Context, id, typ string, cfg *sandboxconfig.Config, image string, be backend.Backend, pool bool) (*sandbox, error) {
	return m.startNamed(ctx, "sandbox-"+id, id, typ, cfg, image, be, pool)
}

// startNamed is start with a container name (spares start as spare-<id>).
func (m *Manager) startNamed(ctx context.Context, name, id, typ string, cfg *sandboxconfig.Config, image string, be backend.Backend, pool bool) (*sandbox, error) {
	cfgJSON := cfg.Dump()
	now := time.Now().UTC()
	spec := m.buildSpec(id, typ, cfg, cfgJSON, pool, now)
	spec.Name = name
	if image != "" {
		spec.Image, spec.Labels[LabelImage] = image, image
	}
	m.withChannel(&spec, id, be)
	boot := m.prepareBoot(&spec, cfg, be)
	removeByName := func() {
		// A create cut short (its plugin killed mid-call, a deadline) may
		// have made the container: remove it by its name, or it leaks.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		if rerr := be.Remove(rctx, name); rerr != nil {
			slog.Warn("remove the container of a failed create", "name", name, "err", rerr)
		} else {
			m.dropChannel(spec.Labels)
		}
		cancel()
	}
	st, err := be.Create(ctx, spec, m.opts.StartTimeout)
	if err != nil {
		if boot != nil {
			boot.Close()
		}
		removeByName()
		return nil, createErrFrom(cfg.Image, err)
	}
	sb := &sandbox{id: id, typ: typ, cfg: cfg, cfgJSON: cfgJSON, backend: be, containerID: st.ContainerID, spec: spec,
		image: spec.Image, created: now, updated: now, lastActivity: now, status: StatusRunning, pool: pool}
	sb.tools = m.bindTools(id, typ, cfg)
	t := m.target(sb)
	t.Boot = boot
	m.exec.Add(id, t) // before anyone can call it: the runner warms meanwhile
	if image != "" {
		if err := m.freshen(ctx, id); err != nil {
			m.exec.Remove(id)
			removeByName()
			return nil, createErr("Failed to start sandbox from its snapshot: %v", err)
		}
	}
	return sb, nil
}
