// Package manager is enclave's runtime-agnostic core: the sandbox registry,
// lifecycle states, security policy, tool dispatch and cleanup. It talks to
// backends and tools through narrow interfaces; it knows no HTTP and no gRPC.
package manager

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/internal/executor"
	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"

	"github.com/enclave-sandbox/enclave/internal/archive"
	"github.com/enclave-sandbox/enclave/internal/schema"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// Status is a sandbox status.
type Status string

// Statuses.
const (
	StatusInitializing Status = "initializing"
	StatusRunning      Status = "running"
	StatusIdle         Status = "idle"
	StatusBusy         Status = "busy"
	StatusStopping     Status = "stopping"
	StatusStopped      Status = "stopped"
	StatusError        Status = "error"
)

// Statuses lists every status, in the contract's order.
var Statuses = []Status{StatusInitializing, StatusRunning, StatusIdle, StatusBusy, StatusStopping, StatusStopped, StatusError}

func (s Status) active() bool { return s == StatusRunning || s == StatusIdle || s == StatusBusy }

// Labels carried by every container.
const (
	LabelMSEnclave = "ms-enclave"
	LabelInstance  = "enclave.instance"
	LabelID        = "enclave.id"
	LabelType      = "enclave.type"
	LabelConfig    = "enclave.config"
	LabelCreatedAt = "enclave.created_at"
	LabelPool      = "enclave.pool"
)

// Tool is a tool as the manager sees it (a plugin client, or a fake).
type Tool interface {
	Info() sdk.Info
	Execute(ctx context.Context, sb tool.SandboxInfo, call tool.Call) (tool.Result, error)
}

// Plugins gives the manager its backends and tools.
type Plugins interface {
	// Backend returns the backend serving a sandbox type.
	Backend(sandboxType string) (backend.Backend, bool)
	// Tool returns the tool registered under name.
	Tool(name string) (Tool, bool)
	// Backends lists every loaded backend (for re-adoption and health checks).
	Backends() []backend.Backend
}

// Observer receives measurements the manager makes (metrics).
type Observer interface {
	PoolWaited(d time.Duration)
	Reaped(reason string)
}

// Options are the operator's settings.
type Options struct {
	Instance        string
	CleanupInterval time.Duration
	PoolSize        int
	// Policy.
	AllowPrivileged bool
	AllowVolumes    []string
	AllowNetwork    bool
	ImageAllow      []string
	ImageAliases    map[string]string
	MaxSandboxes    int
	MaxMemory       int64
	MaxMemoryText   string
	MaxCPUs         float64
	PidsLimit       int64
	// MaxDisk caps disk_limit; DefaultDisk applies when a config has none.
	MaxDisk     int64
	MaxDiskText string
	DefaultDisk int64
	// Execution bounds.
	MaxOutputBytes  int64
	ExecMaxDuration time.Duration
	StartTimeout    time.Duration
	StopGrace       time.Duration
	// Pool and lifecycle.
	PoolWait       time.Duration
	PoolWaitText   string
	PoolReset      bool
	IdleTTL        time.Duration
	HealthInterval time.Duration
	Observer       Observer
	// ToolDefaults are operator defaults per tool (by plugin name): values of
	// parameters a call omits, and "max_output_bytes" for the output cap.
	ToolDefaults map[string]map[string]json.RawMessage
}

// caps are the resource caps a config is clamped to.
func (o Options) caps() sandboxconfig.Caps {
	return sandboxconfig.Caps{MaxMemory: o.MaxMemory, MaxMemoryText: o.MaxMemoryText, MaxCPUs: o.MaxCPUs,
		MaxDisk: o.MaxDisk, MaxDiskText: o.MaxDiskText}
}

// DefaultOptions are the contract's defaults.
func DefaultOptions() Options {
	return Options{Instance: "default", CleanupInterval: 300 * time.Second, AllowNetwork: true,
		MaxMemory: 8 << 30, MaxMemoryText: "8g", MaxCPUs: 4, PidsLimit: 1024, MaxOutputBytes: 1 << 20,
		MaxDisk: 10 << 30, MaxDiskText: "10g", DefaultDisk: 2 << 30,
		ExecMaxDuration: time.Hour, StartTimeout: 30 * time.Second, StopGrace: 2 * time.Second,
		PoolWait: 60 * time.Second, PoolWaitText: "60", HealthInterval: 3 * time.Second,
		ImageAliases: map[string]string{"jupyter-kernel-gateway": "python:3.11-slim"}}
}

type boundTool struct {
	name      string // as called
	tool      Tool
	schema    json.RawMessage // advertised
	validator *schema.Validator
	options   json.RawMessage
}

type sandbox struct {
	id          string
	typ         string
	cfg         *sandboxconfig.Config
	cfgJSON     json.RawMessage
	backend     backend.Backend
	spec        sdk.Spec // to recreate the container (pool reset)
	containerID string   // guarded by Manager.mu once registered
	image       string   // resolved reference
	tools       []boundTool
	created     time.Time

	// Guarded by Manager.mu.
	status       Status
	updated      time.Time
	lastActivity time.Time
	inflight     int
	pool         bool
	errMsg       string
	// vanished: a call found the container gone (pool calls then retry on
	// another member); resetting: the container is being replaced.
	vanished  bool
	resetting bool
	// registered: when the registry (or a reset) last got this container.
	registered time.Time
}

// Info is a snapshot of a sandbox (SandboxInfo).
type Info struct {
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

// Manager owns every sandbox of this server.
type Manager struct {
	opts    Options
	plugins Plugins
	exec    *executor.Executor

	mu        sync.Mutex
	sandboxes map[string]*sandbox
	order     []string
	reserved  map[string]bool
	running   bool
	creating  int
	replacing int
	pool      poolState
	initMu    sync.Mutex // serialises pool initialisation
	stopOnce  sync.Once
	spares    map[string][]*sandbox // pre-created sandboxes by type+config
	sparing   map[string]bool

	stopSweep chan struct{}
	sweepDone chan struct{}
	health    healthCache
}

// New returns a manager; Start begins its work. Processes of its sandboxes
// run through exec, which the tool plugins reach too.
func New(opts Options, plugins Plugins, exec *executor.Executor) *Manager {
	return &Manager{opts: opts, plugins: plugins, exec: exec, sandboxes: map[string]*sandbox{}, reserved: map[string]bool{},
		spares: map[string][]*sandbox{}, sparing: map[string]bool{}}
}

// Start re-adopts this instance's containers, marks the manager running and
// starts the cleanup sweep (once now, then every CleanupInterval) and the
// container health monitor.
func (m *Manager) Start(ctx context.Context) {
	m.adopt(ctx)
	m.mu.Lock()
	m.running = true
	m.stopSweep, m.sweepDone = make(chan struct{}), make(chan struct{})
	m.mu.Unlock()
	bg := context.WithoutCancel(ctx)
	go m.sweepLoop(bg)
	go m.monitor(bg)
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
	started := m.stopSweep != nil
	m.mu.Unlock()
	if started {
		m.stopOnce.Do(func() { close(m.stopSweep) })
		<-m.sweepDone
	}
	m.removeSpares(ctx)
	m.waitCreates(ctx)
	if deleteAll {
		for _, id := range ids {
			if err := m.Delete(ctx, id); err != nil {
				slog.Warn("delete on shutdown", "sandbox_id", id, "err", err)
			}
		}
	}
}

// waitCreates waits (bounded by ctx) until no create is in flight: each one
// either registered its sandbox or removed its container.
func (m *Manager) waitCreates(ctx context.Context) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		m.mu.Lock()
		n := m.creating
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

const idAlphabet = "23456789abcdefghijkmnopqrstuvwxyz"

// newID draws an unused 8-character id and reserves it.
func (m *Manager) newID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		var b [8]byte
		rand.Read(b[:])
		id := make([]byte, 8)
		for i, x := range b {
			// 256 is not a multiple of 33: reject the tail for uniformity.
			for int(x) >= 256-256%len(idAlphabet) {
				var r [1]byte
				rand.Read(r[:])
				x = r[0]
			}
			id[i] = idAlphabet[int(x)%len(idAlphabet)]
		}
		s := string(id)
		if _, taken := m.sandboxes[s]; !taken && !m.reserved[s] {
			m.reserved[s] = true
			return s
		}
	}
}

func (m *Manager) unreserve(id string) {
	m.mu.Lock()
	delete(m.reserved, id)
	m.mu.Unlock()
}

// resolveImage applies aliases (chains allowed, loops cut).
func (m *Manager) resolveImage(image string) string {
	seen := map[string]bool{}
	for !seen[image] {
		seen[image] = true
		to, ok := m.opts.ImageAliases[image]
		if !ok {
			break
		}
		image = to
	}
	return image
}

func matchImage(pattern, image string) bool {
	if ok, _ := path.Match(pattern, image); ok {
		return true
	}
	return pattern == image
}

// policy applies the operator's policy to a config.
func (m *Manager) policy(cfg *sandboxconfig.Config) error {
	if cfg.Privileged && !m.opts.AllowPrivileged {
		return errors.New("privileged sandboxes are not allowed on this server (enable with --allow-privileged)")
	}
	for _, v := range cfg.Mounts() {
		if !underAny(v.HostPath, m.opts.AllowVolumes) {
			return fmt.Errorf("host volume %s is not allowed on this server (allow with --allow-volume)", v.HostPath)
		}
	}
	if cfg.NetworkEnabled && !m.opts.AllowNetwork {
		return errors.New("network access is not allowed on this server (enable with --allow-network)")
	}
	if len(m.opts.ImageAllow) > 0 {
		resolved := m.resolveImage(cfg.Image)
		ok := false
		for _, p := range m.opts.ImageAllow {
			ok = ok || matchImage(p, cfg.Image) || matchImage(p, resolved)
		}
		if !ok {
			return fmt.Errorf("image %s is not allowed on this server (allow with --image-allow)", cfg.Image)
		}
	}
	return nil
}

func underAny(p string, prefixes []string) bool {
	clean := path.Clean(p)
	if !path.IsAbs(clean) {
		return false
	}
	for _, pre := range prefixes {
		pre = path.Clean(pre)
		if clean == pre || strings.HasPrefix(clean, strings.TrimSuffix(pre, "/")+"/") {
			return true
		}
	}
	return false
}

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
	if err := m.policy(cfg); err != nil {
		return nil, createErr("%s", err.Error())
	}
	cfg.Clamp(m.opts.caps())

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
	if !pool {
		sb = m.claimSpare(ctx, typ, cfg.Dump())
	}
	if sb != nil {
		defer m.unreserve(sb.id)
	} else {
		id := m.newID()
		defer m.unreserve(id)
		if sb, err = m.start(ctx, id, typ, cfg, be, pool); err != nil {
			return nil, err
		}
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
		}
		return nil, errorf(KindNotStarted, "Sandbox manager not started")
	}
	defer m.mu.Unlock()
	m.registerLocked(sb)
	if pool {
		sb.status = StatusBusy // returnLocked makes it idle or hands it over
		m.returnLocked(sb)
		m.pool.initialized = true
	}
	return sb, nil
}

// diskBytes is a config's disk limit in bytes: its own, else the default
// (within the cap).
func (m *Manager) diskBytes(cfg *sandboxconfig.Config) int64 {
	if d := cfg.DiskBytes(); d > 0 {
		return d
	}
	return min(m.opts.DefaultDisk, m.opts.MaxDisk)
}

// buildSpec is the container spec of a sandbox; labels carry everything
// needed to rebuild the sandbox after a restart (§7.3).
func (m *Manager) buildSpec(id, typ string, cfg *sandboxconfig.Config, cfgJSON []byte, pool bool, created time.Time) sdk.Spec {
	spec := sdk.Spec{
		Name: "sandbox-" + id, Image: m.resolveImage(cfg.Image), Command: cfg.Argv(), WorkingDir: cfg.WorkingDir,
		Env: cfg.Env(), MemoryBytes: cfg.MemoryBytes(), CPUs: float64(cfg.CPULimit), PidsLimit: m.opts.PidsLimit, DiskBytes: m.diskBytes(cfg),
		NetworkEnabled: cfg.NetworkEnabled, Network: cfg.Network, Privileged: cfg.Privileged, ExtraHosts: cfg.Hosts(),
		Mounts: cfg.Mounts(), Ports: cfg.PortBindings(),
		Labels: map[string]string{LabelMSEnclave: "true", LabelInstance: m.opts.Instance, LabelID: id, LabelType: typ,
			LabelConfig: string(cfgJSON), LabelCreatedAt: pyjson.FormatTime(created), LabelPool: fmt.Sprint(pool)},
	}
	if cfg.Platform != nil {
		spec.Platform = *cfg.Platform
	}
	spec.Entrypoint, spec.EntrypointSet = cfg.EntrypointArgv()
	return spec
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
func (m *Manager) start(ctx context.Context, id, typ string, cfg *sandboxconfig.Config, be backend.Backend, pool bool) (*sandbox, error) {
	return m.startNamed(ctx, "sandbox-"+id, id, typ, cfg, be, pool)
}

// startNamed is start with a container name (spares start as spare-<id>).
func (m *Manager) startNamed(ctx context.Context, name, id, typ string, cfg *sandboxconfig.Config, be backend.Backend, pool bool) (*sandbox, error) {
	cfgJSON := cfg.Dump()
	now := time.Now().UTC()
	spec := m.buildSpec(id, typ, cfg, cfgJSON, pool, now)
	spec.Name = name
	st, err := be.Create(ctx, spec, m.opts.StartTimeout)
	if err != nil {
		return nil, createErrFrom(cfg.Image, err)
	}
	sb := &sandbox{id: id, typ: typ, cfg: cfg, cfgJSON: cfgJSON, backend: be, containerID: st.ContainerID, spec: spec,
		image: spec.Image, created: now, updated: now, lastActivity: now, status: StatusRunning, pool: pool}
	sb.tools = m.bindTools(id, typ, cfg)
	m.exec.Add(id, m.target(sb)) // before anyone can call it: the runner warms meanwhile
	return sb, nil
}

// bindTools resolves tools_config: unknown, disabled or
// unsupported tools are skipped and logged.
func (m *Manager) bindTools(id, typ string, cfg *sandboxconfig.Config) []boundTool {
	var out []boundTool
	for _, tc := range cfg.Tools() {
		if !tc.Enabled {
			continue
		}
		t, ok := m.plugins.Tool(tc.Plugin)
		if !ok {
			slog.Warn("tool not available, skipped", "sandbox_id", id, "tool", tc.Plugin)
			continue
		}
		info := t.Info()
		if len(info.SandboxTypes) > 0 && !slices.Contains(info.SandboxTypes, typ) {
			slog.Warn("tool does not support sandbox type, skipped", "sandbox_id", id, "tool", tc.Plugin, "type", typ)
			continue
		}
		v, err := schema.Compile(info.Schema)
		if err != nil {
			slog.Warn("tool schema invalid, skipped", "tool", tc.Plugin, "err", err)
			continue
		}
		advertised, err := overrideSchema(stripExtension(info.Schema), tc)
		if err != nil {
			slog.Warn("tool schema override failed, skipped", "tool", tc.Plugin, "err", err)
			continue
		}
		out = append(out, boundTool{name: tc.Name, tool: t, schema: advertised, validator: v, options: tc.Options})
	}
	return out
}

// stripExtension removes the schema.Extension key from a tool schema,
// keeping the rest byte-for-byte.
func stripExtension(s json.RawMessage) json.RawMessage {
	if !bytes.Contains(s, []byte(schema.Extension)) {
		return s
	}
	top, err := pyjson.ParseOrdered(s)
	if err != nil {
		return s
	}
	out := top[:0]
	for _, kv := range top {
		if kv.Key != schema.Extension {
			out = append(out, kv)
		}
	}
	b, err := out.MarshalJSON()
	if err != nil {
		return s
	}
	return b
}

// overrideSchema applies name/description/parameters overrides to the
// schema, keeping its byte form when nothing changes.
func overrideSchema(s json.RawMessage, tc sandboxconfig.Tool) (json.RawMessage, error) {
	if tc.Name == tc.Plugin && tc.Description == nil && len(tc.Parameters) == 0 {
		return s, nil
	}
	top, err := pyjson.ParseOrdered(s)
	if err != nil {
		return nil, err
	}
	for i, kv := range top {
		if kv.Key != "function" {
			continue
		}
		fn, err := pyjson.ParseOrdered(kv.Value)
		if err != nil {
			return nil, err
		}
		for j := range fn {
			switch fn[j].Key {
			case "name":
				fn[j].Value = pyjson.MustMarshal(tc.Name)
			case "description":
				if tc.Description != nil {
					fn[j].Value = pyjson.MustMarshal(*tc.Description)
				}
			case "parameters":
				if len(tc.Parameters) > 0 {
					fn[j].Value = tc.Parameters
				}
			}
		}
		top[i].Value, _ = fn.MarshalJSON()
	}
	return top.MarshalJSON()
}

// target is where the executor runs a sandbox's processes.
func (m *Manager) target(sb *sandbox) executor.Target {
	return executor.Target{Backend: sb.backend, ContainerID: sb.containerID, WorkingDir: sb.cfg.WorkingDir,
		Vanished: func() { m.vanished(sb) }}
}

// registerLocked adds a sandbox to the registry. Caller holds m.mu.
func (m *Manager) registerLocked(sb *sandbox) {
	sb.registered = time.Now()
	m.sandboxes[sb.id] = sb
	m.order = append(m.order, sb.id)
}

func (m *Manager) unregister(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sandboxes, id)
	for i, x := range m.order {
		if x == id {
			m.order = append(m.order[:i], m.order[i+1:]...)
			break
		}
	}
}

// setStatus changes a status and bumps updated_at. Caller holds m.mu.
func (sb *sandbox) setStatus(s Status) {
	sb.status = s
	sb.updated = time.Now().UTC()
}

func (m *Manager) info(sb *sandbox) Info {
	tools := pyjson.Ordered{}
	for _, t := range sb.tools {
		tools = append(tools, pyjson.KV{Key: t.name, Value: t.schema})
	}
	return Info{ID: sb.id, Status: sb.status, Type: sb.typ, Config: sb.cfgJSON, CreatedAt: sb.created, UpdatedAt: sb.updated,
		ContainerID: sb.containerID, Image: sb.image, Pool: sb.pool, Error: sb.errMsg, Tools: tools}
}

// Get returns a sandbox snapshot.
func (m *Manager) Get(id string) (Info, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sb, ok := m.sandboxes[id]
	if !ok {
		return Info{}, false
	}
	return m.info(sb), true
}

// List returns snapshots in creation order, optionally filtered by status.
func (m *Manager) List(status Status) []Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Info{}
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

// Stop stops a sandbox and keeps it registered.
func (m *Manager) Stop(ctx context.Context, id string) error {
	m.mu.Lock()
	sb, ok := m.sandboxes[id]
	if !ok {
		m.mu.Unlock()
		return errorf(KindNotFound, "Sandbox not found")
	}
	if sb.status == StatusStopped {
		m.mu.Unlock()
		return nil
	}
	sb.setStatus(StatusStopping)
	m.dropFromPoolLocked(sb, true)
	containerID := sb.containerID
	m.mu.Unlock()
	m.exec.Remove(id)

	err := sb.backend.Stop(ctx, containerID, m.opts.StopGrace)
	if err == nil && sb.cfg.RemoveOnExit {
		err = sb.backend.Remove(ctx, containerID)
	}
	if errors.Is(err, sdk.ErrSandboxNotFound) {
		err = nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		sb.setStatus(StatusError)
		sb.errMsg = err.Error()
		return &Error{Kind: KindStopFailed, Msg: "Failed to stop sandbox: " + err.Error(), Err: err}
	}
	sb.setStatus(StatusStopped)
	return nil
}

// Delete removes the container and unregisters the sandbox (§3.8).
func (m *Manager) Delete(ctx context.Context, id string) error {
	m.mu.Lock()
	sb, ok := m.sandboxes[id]
	if !ok {
		m.mu.Unlock()
		return errorf(KindNotFound, "Sandbox not found")
	}
	if sb.status != StatusStopped {
		sb.setStatus(StatusStopping)
	}
	m.dropFromPoolLocked(sb, false) // an explicit DELETE shrinks the pool
	containerID := sb.containerID
	m.mu.Unlock()
	m.exec.Remove(id)

	// Force-remove kills at once: no grace is owed to a sandbox being deleted.
	if err := sb.backend.Remove(ctx, containerID); err != nil && !errors.Is(err, sdk.ErrSandboxNotFound) {
		m.mu.Lock()
		sb.setStatus(StatusError)
		sb.errMsg = err.Error()
		m.mu.Unlock()
		return &Error{Kind: KindDeleteFailed, Msg: "Failed to delete sandbox: " + err.Error(), Err: err}
	}
	m.unregister(id)
	return nil
}

// Tools returns the advertised tool schemas of a sandbox.
func (m *Manager) Tools(id string) (pyjson.Ordered, error) {
	info, ok := m.Get(id)
	if !ok {
		return nil, errorf(KindNotFound, "Sandbox %s not found", id)
	}
	return info.Tools, nil
}

// Result is a tool call's outcome plus timing.
type Result struct {
	tool.Result
	ToolName string
	Duration time.Duration
	Finished time.Time
}

// activeSandbox looks up an active sandbox for a tool call or archive
// operation and counts the operation in flight. release must be called.
func (m *Manager) activeSandbox(id string, notActive Kind) (*sandbox, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running {
		return nil, nil, errorf(KindNotStarted, "Sandbox manager not started")
	}
	sb, ok := m.sandboxes[id]
	if !ok {
		return nil, nil, errorf(KindNotFound, "Sandbox %s not found", id)
	}
	if !sb.status.active() {
		return nil, nil, errorf(notActive, "Sandbox %s is not active (status: %s)", id, sb.status)
	}
	sb.inflight++
	sb.lastActivity = time.Now().UTC()
	return sb, func() {
		m.mu.Lock()
		sb.inflight--
		sb.lastActivity = time.Now().UTC()
		m.mu.Unlock()
	}, nil
}

// Execute runs a tool in a sandbox.
func (m *Manager) Execute(ctx context.Context, id, toolName string, params json.RawMessage) (Result, error) {
	sb, release, err := m.activeSandbox(id, KindNotActive)
	if err != nil {
		return Result{}, err
	}
	defer release()
	return m.runTool(ctx, sb, toolName, params)
}

func (m *Manager) runTool(ctx context.Context, sb *sandbox, toolName string, params json.RawMessage) (Result, error) {
	var bt *boundTool
	for i := range sb.tools {
		if sb.tools[i].name == toolName {
			bt = &sb.tools[i]
		}
	}
	if bt == nil {
		return Result{}, errorf(KindToolUnavailable, "Tool %s is not available", toolName)
	}
	if len(params) == 0 || string(params) == "null" {
		params = json.RawMessage("{}")
	}
	if problems := bt.validator.Validate(params); problems != "" {
		return Result{}, errorf(KindInvalidParams, "Invalid parameters for tool %s: %s", toolName, problems)
	}
	maxOutput := m.opts.MaxOutputBytes
	if defs := m.opts.ToolDefaults[bt.tool.Info().Name]; len(defs) > 0 {
		params, maxOutput = applyDefaults(params, defs, maxOutput)
	}
	start := time.Now()
	res, err := bt.tool.Execute(ctx, tool.SandboxInfo{ID: sb.id, Type: sb.typ, WorkingDir: sb.cfg.WorkingDir, Image: sb.image, Env: sb.cfg.Env()},
		tool.Call{Name: toolName, Params: params, Options: bt.options, MaxDuration: m.opts.ExecMaxDuration, MaxOutputBytes: maxOutput})
	if err != nil {
		res = tool.Failed("Execution failed: " + err.Error())
		if ctx.Err() != nil {
			res.Verdict = tool.VerdictKilled
		}
	}
	if res.Status != tool.StatusSuccess && res.Error == nil {
		res.Error = tool.ErrorText("Execution failed: tool reported " + res.Status + " without a message")
	}
	return Result{Result: res, ToolName: toolName, Duration: time.Since(start), Finished: time.Now().UTC()}, nil
}

// applyDefaults adds the operator's defaults for parameters the call
// omitted, and lowers the output cap when the tool has its own.
func applyDefaults(params json.RawMessage, defs map[string]json.RawMessage, maxOutput int64) (json.RawMessage, int64) {
	obj, err := pyjson.ParseOrdered(params)
	if err != nil {
		return params, maxOutput
	}
	keys := make([]string, 0, len(defs))
	for k := range defs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "max_output_bytes" {
			var n int64
			if json.Unmarshal(defs[k], &n) == nil && n > 0 && n < maxOutput {
				maxOutput = n
			}
			continue
		}
		if _, set := obj.Get(k); !set {
			obj = append(obj, pyjson.KV{Key: k, Value: defs[k]})
		}
	}
	out, _ := obj.MarshalJSON()
	return out, maxOutput
}

// resolvePath resolves a relative path against the sandbox's working dir.
func resolvePath(sb *sandbox, p string) string {
	if path.IsAbs(p) {
		return p
	}
	return path.Join(sb.cfg.WorkingDir, p)
}

// PutArchive extracts a tar into target_dir.
func (m *Manager) PutArchive(ctx context.Context, id, targetDir string, r io.Reader) error {
	sb, release, err := m.activeSandbox(id, KindBadRequest)
	if err != nil {
		return err
	}
	defer release()
	dir := resolvePath(sb, targetDir)
	res, err := m.exec.Exec(ctx, id, sdk.ExecRequest{Argv: []string{"mkdir", "-p", "--", dir}, Timeout: time.Minute})
	if err == nil && res.ExitCode != 0 {
		err = errors.New(strings.TrimSpace(string(res.Stderr)))
	}
	if err != nil {
		return &Error{Kind: KindArchiveFailed, Msg: fmt.Sprintf("Failed to create target directory %s: %v", targetDir, err), Err: err}
	}
	// The upload is checked as it streams: a malformed one is the
	// client's mistake (400), whatever the runtime made of it.
	checked := archive.Check(r)
	err = m.exec.PutArchive(ctx, id, dir, checked)
	if bad := checked.Err(); bad != nil {
		return &Error{Kind: KindBadRequest, Msg: "Failed to extract archive: " + bad.Error(), Err: bad}
	}
	if err != nil {
		return &Error{Kind: KindArchiveFailed, Msg: "Failed to extract archive: " + err.Error(), Err: err}
	}
	return nil
}

// GetArchive writes a tar of path to w.
func (m *Manager) GetArchive(ctx context.Context, id, p string, w io.Writer) error {
	sb, release, err := m.activeSandbox(id, KindBadRequest)
	if err != nil {
		return err
	}
	defer release()
	if err := m.exec.GetArchive(ctx, id, resolvePath(sb, p), w); err != nil {
		if errors.Is(err, sdk.ErrPathNotFound) {
			return errorf(KindPathNotFound, "Path %s not found", p)
		}
		return &Error{Kind: KindArchiveFailed, Msg: "Failed to read archive: " + err.Error(), Err: err}
	}
	return nil
}

// sweepLoop runs the cleanup sweep at start and every CleanupInterval.
func (m *Manager) sweepLoop(ctx context.Context) {
	defer close(m.sweepDone)
	m.sweep(ctx)
	m.every(m.opts.CleanupInterval, func() { m.sweep(ctx) })
}

// every runs f every d until the manager stops (d <= 0: never).
func (m *Manager) every(d time.Duration, f func()) {
	if d <= 0 {
		<-m.stopSweep
		return
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-m.stopSweep:
			return
		case <-t.C:
			f()
		}
	}
}

// sweep deletes dead sandboxes (stopped/error for over 1 h), old ones
// (created over 48 h ago) and, with --idle-ttl, idle ones; never one with a
// call in flight (§7.1). Reaped pool members are replaced.
func (m *Manager) sweep(ctx context.Context) {
	now := time.Now().UTC()
	type victim struct {
		id, reason string
		pool       bool
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
		idle := m.opts.IdleTTL > 0 && !sb.pool && sb.status == StatusRunning && now.Sub(sb.lastActivity) > m.opts.IdleTTL
		if dead || old || idle {
			reason := "dead"
			if old {
				reason = "age"
			} else if idle {
				reason = "idle"
			}
			victims = append(victims, victim{id, reason, sb.pool})
			if sb.pool {
				m.dropFromPoolLocked(sb, true)
			}
		}
	}
	m.mu.Unlock()
	for _, v := range victims {
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
