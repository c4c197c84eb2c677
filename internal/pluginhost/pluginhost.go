// Package pluginhost runs enclave's plugins: it discovers enclave-backend-*
// and enclave-tool-* executables, starts them with go-plugin, checks their
// Info, restarts a plugin that died on its next use, and adapts them to the
// manager's interfaces.
package pluginhost

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// Options configure the host.
type Options struct {
	Dir string
	// Env is added to the plugins' environment (e.g. ENCLAVE_PODMAN_URL).
	Env []string
	// TypeBackends routes sandbox types to backends by name (type →
	// backend), over the defaults (DefaultTypeBackends).
	TypeBackends map[string]string
	// Sandboxes is served to tool plugins: the sandbox operations they call
	// back into (the executor).
	Sandboxes tool.Sandboxes
	// OnRestart and OnUp observe plugin lifecycle; OnBackendOp every backend
	// operation; OnRPCError calls that failed because a plugin was gone.
	OnRestart   func(kind, name string)
	OnUp        func(kind, name string, up bool)
	OnBackendOp func(backend, op string, err error, d time.Duration)
	OnRPCError  func(kind, name string)
	// SocketBase is where the host makes its directory of plugin sockets
	// (sockets.go); "" is the temp dir.
	SocketBase string
}

// Host owns the plugin processes.
type Host struct {
	opts Options

	mu       sync.Mutex
	backends []*proc
	byType   map[string]*proc
	tools    map[string]*proc
	rejected []Status
	sockets  *socketDir
}

// Status describes one discovered plugin, for `enclave plugins` and logs.
type Status struct {
	Path    string
	Kind    string
	Name    string
	Version string
	// Description is the plugin's one line about itself.
	Description string
	Types       []string
	Restarts    int
	Problem     string
}

// New returns a host; Load starts the plugins.
func New(opts Options) *Host {
	return &Host{opts: opts, byType: map[string]*proc{}, tools: map[string]*proc{}}
}

// Load discovers and starts every plugin, keeping those whose Info is
// acceptable; the others are logged and listed with their problem.
func (h *Host) Load(ctx context.Context) error {
	paths, err := Discover(h.opts.Dir)
	if err != nil {
		return err
	}
	if h.sockets == nil {
		base := h.opts.SocketBase
		if base == "" {
			base = os.TempDir()
		}
		if h.sockets, err = openSocketDir(base); err != nil {
			return err
		}
	}
	for _, p := range paths {
		kind := sdk.KindTool
		if strings.HasPrefix(filepath.Base(p), sdk.BackendPrefix) {
			kind = sdk.KindBackend
		}
		pr := &proc{path: p, kind: kind, h: h}
		if err := pr.start(ctx); errors.Is(err, errUnused) {
			slog.Info("backend plugin not used", "path", p, "reason", err)
			h.rejected = append(h.rejected, Status{Path: p, Kind: kind, Problem: err.Error()})
			continue
		} else if err != nil {
			slog.Error("plugin rejected", "path", p, "err", err)
			h.rejected = append(h.rejected, Status{Path: p, Kind: kind, Problem: err.Error()})
			continue
		}
		h.mu.Lock()
		if kind == sdk.KindBackend {
			h.backends = append(h.backends, pr)
		} else {
			if _, dup := h.tools[pr.info.Name]; dup {
				slog.Warn("two plugins provide one tool; keeping the first", "tool", pr.info.Name, "path", p)
				pr.kill()
			} else {
				h.tools[pr.info.Name] = pr
			}
		}
		h.mu.Unlock()
		slog.Info("plugin loaded", "kind", kind, "name", pr.info.Name, "version", pr.info.Version, "types", pr.info.SandboxTypes)
	}
	if len(h.backends) == 0 {
		slog.Warn("no backend plugin loaded: sandboxes cannot be created", "dir", h.opts.Dir)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	infos := make([]sdk.Info, len(h.backends))
	for i, p := range h.backends {
		infos[i] = p.info
	}
	routes, err := route(infos, h.opts.TypeBackends)
	if err != nil {
		return err
	}
	for typ, i := range routes {
		h.byType[typ] = h.backends[i]
		slog.Debug("sandbox type routed", "type", typ, "backend", infos[i].Name)
	}
	return nil
}

// Statuses lists loaded and rejected plugins.
func (h *Host) Statuses() []Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Status
	all := append([]*proc(nil), h.backends...)
	for _, p := range h.tools {
		all = append(all, p)
	}
	for _, p := range all {
		p.mu.Lock()
		out = append(out, Status{Path: p.path, Kind: p.kind, Name: p.info.Name, Version: p.info.Version, Description: p.info.Description, Types: p.info.SandboxTypes, Restarts: p.restarts})
		p.mu.Unlock()
	}
	out = append(out, h.rejected...)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Names returns the loaded backend and tool names.
func (h *Host) Names() (backends, tools []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.backends {
		backends = append(backends, p.info.Name)
	}
	for n := range h.tools {
		tools = append(tools, n)
	}
	sort.Strings(tools)
	return backends, tools
}

// SandboxTypes lists the types the loaded backends serve.
func (h *Host) SandboxTypes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for t := range h.byType {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Kill stops every plugin process and removes their sockets' directory.
func (h *Host) Kill() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.backends {
		p.kill()
	}
	for _, p := range h.tools {
		p.kill()
	}
	h.sockets.close()
}

// Backend implements manager.Plugins.
func (h *Host) Backend(sandboxType string) (backend.Backend, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.byType[sandboxType]
	if !ok {
		return nil, false
	}
	return &backendAdapter{p: p}, true
}

// Backends implements manager.Plugins.
func (h *Host) Backends() []backend.Backend {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]backend.Backend, 0, len(h.backends))
	for _, p := range h.backends {
		out = append(out, &backendAdapter{p: p})
	}
	return out
}

// Tool implements manager.Plugins.
func (h *Host) Tool(name string) (manager.Tool, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.tools[name]
	if !ok {
		return nil, false
	}
	return &toolAdapter{p: p}, true
}
