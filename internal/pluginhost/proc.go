package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

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
	gen      int    // counts processes started: which one a call went to
	sockDir  string // the running process's socket directory (sockets.go)
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
	sockDir, err := p.h.sockets.procDir()
	if err != nil {
		return err
	}
	if sockDir != "" {
		cmd.Env = append(cmd.Env, plugin.EnvUnixSocketDir+"="+sockDir)
	}
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
	// A process that fails its start (killed during its handshake or its
	// Info) cannot remove its socket either, whose name the host may not
	// have learned.
	fail := func(err error) error {
		client.Kill()
		p.h.sockets.removeProcDir(sockDir)
		return err
	}
	rpc, err := client.Client()
	if err != nil {
		return fail(fmt.Errorf("start plugin: %w", err))
	}
	raw, err := rpc.Dispense(p.kind)
	if err != nil {
		return fail(fmt.Errorf("dispense %s: %w", p.kind, err))
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
		return fail(err)
	}
	p.client, p.raw, p.info = client, raw, info
	p.gen++
	p.pid, p.sockDir = 0, sockDir
	if rc := client.ReattachConfig(); rc != nil {
		p.pid = rc.Pid
	}
	if p.h.opts.OnUp != nil {
		p.h.opts.OnUp(p.kind, info.Name, true)
	}
	return nil
}

// get returns a live client, restarting the process if it died, and the
// generation of its process (for died).
func (p *proc) get(ctx context.Context) (any, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.gone() {
		return p.raw, p.gen, nil
	}
	name := p.info.Name
	slog.Warn("plugin exited; restarting", "kind", p.kind, "name", name, "path", p.path)
	if p.h.opts.OnUp != nil {
		p.h.opts.OnUp(p.kind, name, false)
	}
	if p.client != nil {
		p.client.Kill()
	}
	// A process that was killed could not remove its socket.
	p.h.sockets.removeProcDir(p.sockDir)
	if err := p.start(ctx); err != nil {
		p.client = nil
		return nil, 0, fmt.Errorf("restart plugin %s: %w: %w", name, err, sdk.ErrUnavailable)
	}
	p.restarts++
	if p.h.opts.OnRestart != nil {
		p.h.opts.OnRestart(p.kind, name)
	}
	return p.raw, p.gen, nil
}

// died reports whether err means the plugin process of generation gen (the
// one the call went to) went away; the caller may then retry an idempotent
// call once on a restarted process.
func (p *proc) died(err error, gen int) bool {
	if !errors.Is(err, sdk.ErrUnavailable) {
		return false
	}
	// The process may take a moment to die after its connection broke;
	// give it a bounded one. Another call may have restarted it already:
	// then the process now running is not the one that failed.
	for i := 0; i < 200; i++ {
		p.mu.Lock()
		gone := p.gen != gen || p.gone()
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
