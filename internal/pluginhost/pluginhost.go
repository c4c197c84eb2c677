// Package pluginhost runs enclave's plugins: it discovers enclave-backend-*
// and enclave-tool-* executables, starts them with go-plugin, checks their
// Info, restarts a plugin that died on its next use, and adapts them to the
// manager's interfaces.
package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

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
	// Sandboxes is served to tool plugins: the sandbox operations they call
	// back into (the executor).
	Sandboxes tool.Sandboxes
	// OnRestart and OnUp observe plugin lifecycle; OnBackendOp every backend
	// operation; OnRPCError calls that failed because a plugin was gone.
	OnRestart   func(kind, name string)
	OnUp        func(kind, name string, up bool)
	OnBackendOp func(backend, op string, err error, d time.Duration)
	OnRPCError  func(kind, name string)
}

// Host owns the plugin processes.
type Host struct {
	opts Options

	mu       sync.Mutex
	backends []*proc
	byType   map[string]*proc
	tools    map[string]*proc
	rejected []Status
}

// Status describes one discovered plugin, for `enclave plugins` and logs.
type Status struct {
	Path     string
	Kind     string
	Name     string
	Version  string
	Types    []string
	Restarts int
	Problem  string
}

// Discover lists plugin executables in dir, sorted by name.
func Discover(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read plugin dir: %w", err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, sdk.BackendPrefix) && !strings.HasPrefix(n, sdk.ToolPrefix) {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	sort.Strings(out)
	return out, nil
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
	for _, p := range paths {
		kind := sdk.KindTool
		if strings.HasPrefix(filepath.Base(p), sdk.BackendPrefix) {
			kind = sdk.KindBackend
		}
		pr := &proc{path: p, kind: kind, h: h}
		if err := pr.start(ctx); err != nil {
			slog.Error("plugin rejected", "path", p, "err", err)
			h.rejected = append(h.rejected, Status{Path: p, Kind: kind, Problem: err.Error()})
			continue
		}
		h.mu.Lock()
		if kind == sdk.KindBackend {
			h.backends = append(h.backends, pr)
			for _, t := range pr.info.SandboxTypes {
				if _, dup := h.byType[t]; dup {
					slog.Warn("sandbox type served by two backends; keeping the first", "type", t, "plugin", pr.info.Name)
					continue
				}
				h.byType[t] = pr
			}
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
		out = append(out, Status{Path: p.path, Kind: p.kind, Name: p.info.Name, Version: p.info.Version, Types: p.info.SandboxTypes, Restarts: p.restarts})
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

// Kill stops every plugin process.
func (h *Host) Kill() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.backends {
		p.kill()
	}
	for _, p := range h.tools {
		p.kill()
	}
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

// proc is one plugin process, restarted on demand.
type proc struct {
	h    *Host
	path string
	kind string

	mu       sync.Mutex
	client   *plugin.Client
	pid      int // of the running process
	raw      any
	info     sdk.Info
	restarts int
}

// gone reports whether the plugin process has died, even before go-plugin
// noticed (it learns of the exit asynchronously): a call made just after a
// crash must go to a restarted process, not fail on the dead one.
func (p *proc) gone() bool {
	if p.client == nil || p.client.Exited() {
		return true
	}
	if p.pid <= 0 {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

func (p *proc) pluginSet() plugin.PluginSet {
	if p.kind == sdk.KindBackend {
		return plugin.PluginSet{sdk.KindBackend: &backend.Plugin{}}
	}
	return plugin.PluginSet{sdk.KindTool: &tool.Plugin{Sandboxes: p.h.opts.Sandboxes}}
}

// start launches the process and checks its Info. Caller holds p.mu or is
// the only user.
func (p *proc) start(ctx context.Context) error {
	cmd := exec.Command(p.path)
	cmd.Env = append(os.Environ(), p.h.opts.Env...)
	// A plugin must not outlive a server that was killed (kill -9 skips
	// our shutdown): the kernel kills it when the server dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          p.pluginSet(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           newLogger(filepath.Base(p.path)),
		StartTimeout:     30 * time.Second,
		GRPCDialOptions:  sdk.GRPCDialOptions(),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return fmt.Errorf("start plugin: %w", err)
	}
	raw, err := rpc.Dispense(p.kind)
	if err != nil {
		client.Kill()
		return fmt.Errorf("dispense %s: %w", p.kind, err)
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var info sdk.Info
	switch c := raw.(type) {
	case *backend.Client:
		info, err = c.Info(ictx)
	case *tool.Client:
		info, err = c.Info(ictx)
	}
	if err == nil {
		err = checkInfo(p.kind, info)
	}
	if err != nil {
		client.Kill()
		return err
	}
	p.client, p.raw, p.info = client, raw, info
	p.pid = 0
	if rc := client.ReattachConfig(); rc != nil {
		p.pid = rc.Pid
	}
	if p.h.opts.OnUp != nil {
		p.h.opts.OnUp(p.kind, info.Name, true)
	}
	return nil
}

func checkInfo(kind string, info sdk.Info) error {
	if info.Kind != kind {
		return fmt.Errorf("plugin says it is a %q, its file name says %q", info.Kind, kind)
	}
	if info.Name == "" {
		return errors.New("plugin has no name")
	}
	if !info.Supports(sdk.APIVersion) {
		return fmt.Errorf("plugin %s speaks API versions %v, this server speaks %d", info.Name, info.APIVersions, sdk.APIVersion)
	}
	if kind == sdk.KindTool && len(info.Schema) == 0 {
		return fmt.Errorf("tool %s has no schema", info.Name)
	}
	if kind == sdk.KindBackend && len(info.SandboxTypes) == 0 {
		return fmt.Errorf("backend %s serves no sandbox type", info.Name)
	}
	return nil
}

// get returns a live client, restarting the process if it died.
func (p *proc) get(ctx context.Context) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.gone() {
		return p.raw, nil
	}
	name := p.info.Name
	slog.Warn("plugin exited; restarting", "kind", p.kind, "name", name, "path", p.path)
	if p.h.opts.OnUp != nil {
		p.h.opts.OnUp(p.kind, name, false)
	}
	if p.client != nil {
		p.client.Kill()
	}
	if err := p.start(ctx); err != nil {
		p.client = nil
		return nil, fmt.Errorf("restart plugin %s: %w: %w", name, err, sdk.ErrUnavailable)
	}
	p.restarts++
	if p.h.opts.OnRestart != nil {
		p.h.opts.OnRestart(p.kind, name)
	}
	return p.raw, nil
}

// died reports whether err means the plugin process went away; the caller
// may then retry an idempotent call once on a restarted process.
func (p *proc) died(err error) bool {
	if !errors.Is(err, sdk.ErrUnavailable) {
		return false
	}
	// The process may take a moment to die after its connection broke;
	// give it a bounded one.
	for i := 0; i < 200; i++ {
		p.mu.Lock()
		gone := p.gone()
		p.mu.Unlock()
		if gone {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func (p *proc) name() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info.Name
}

func (p *proc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		p.client.Kill()
	}
}

// newLogger routes go-plugin's logging (and the plugins' stderr) to slog.
func newLogger(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Info, Output: slogWriter{name}, DisableTime: true})
}

type slogWriter struct{ plugin string }

func (w slogWriter) Write(b []byte) (int, error) {
	msg := strings.TrimSpace(string(b))
	if msg != "" {
		slog.Info(msg, "plugin", w.plugin)
	}
	return len(b), nil
}
