//go:build remote

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	nettypes "github.com/containers/common/libnetwork/types"
	"github.com/containers/podman/v4/libpod/define"
	"github.com/containers/podman/v4/pkg/bindings/containers"
	"github.com/containers/podman/v4/pkg/bindings/images"
	"github.com/containers/podman/v4/pkg/bindings/system"
	"github.com/containers/podman/v4/pkg/copy"
	"github.com/containers/podman/v4/pkg/errorhandling"
	"github.com/containers/podman/v4/pkg/specgen"
	storagetypes "github.com/containers/storage/types"
	spec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// version is set by the Makefile (-ldflags -X main.version=...).
var version = "dev"

// Capabilities kept in every non-privileged container (README, Security policy).
var keptCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_NET_BIND_SERVICE"}

// Config configures the backend.
type Config struct {
	// URL of the Podman service; empty = discover or start one.
	URL string
	// UserNS maps root in every rootful sandbox to an unprivileged host
	// uid range ("CONTAINER:HOST:SIZE", e.g. 0:1000000000:65536); "off" runs
	// sandboxes in the host's user namespace (root in a sandbox is root on
	// the host). Rootless Podman always maps (to the user's subuids).
	UserNS string
}

// DefaultUserNS is the fixed mapping of rootful sandboxes: one mapping for
// all of them, so Podman prepares the image's id-shifted layer once, not per
// sandbox.
const DefaultUserNS = "0:1000000000:65536"

// Podman is the Podman backend.
type Podman struct {
	cfg Config

	mu    sync.Mutex
	conn  context.Context // bindings connection, established lazily
	uri   string
	dial  func(ctx context.Context) (net.Conn, error)
	child *exec.Cmd
	host  hostFacts // what the Podman host can enforce, read at connect
}

// hostFacts is what the connected Podman can and cannot enforce.
type hostFacts struct {
	rootless bool
	// diskLimit: per-container storage size limits work (rootful, btrfs
	// storage with quotas).
	diskLimit bool
	idmap     *storagetypes.IDMappingOptions // nil: no user namespace
	warnings  []string
}

// New returns a backend; it connects on first use so Info never waits.
func New(cfg Config) *Podman { return &Podman{cfg: cfg} }

// Shutdown stops a Podman service this plugin started.
func (p *Podman) Shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.child != nil && p.child.Process != nil {
		p.child.Process.Kill()
		p.child.Wait()
		if u, err := url.Parse(p.uri); err == nil {
			os.RemoveAll(filepath.Dir(u.Path))
		}
	}
}

// withConn returns ctx carrying the bindings connection. The bindings look
// the connection up as a context value; merging keeps ctx's cancellation.
func (p *Podman) withConn(ctx context.Context) (context.Context, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		conn, uri, child, err := connect(ctx, p.cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", sdk.ErrUnavailable, err)
		}
		d, err := dialer(uri)
		if err != nil {
			return nil, err
		}
		info, err := system.Info(conn, nil)
		if err != nil {
			return nil, fmt.Errorf("podman info: %w: %w", sdk.ErrUnavailable, err)
		}
		facts, err := readHostFacts(info, p.cfg.UserNS)
		if err != nil {
			return nil, err
		}
		p.conn, p.uri, p.child, p.dial, p.host = conn, uri, child, d, facts
		slog.Info("connected to podman", "uri", uri, "rootless", facts.rootless, "disk_limits", facts.diskLimit, "userns", facts.idmap != nil || facts.rootless)
		for _, w := range facts.warnings {
			slog.Warn(w)
		}
	}
	return valueCtx{Context: ctx, values: p.conn}, nil
}

type valueCtx struct {
	context.Context
	values context.Context
}

func (c valueCtx) Value(k any) any {
	if v := c.Context.Value(k); v != nil {
		return v
	}
	return c.values.Value(k)
}

// mapErr turns a bindings error into a typed sdk error.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var em *errorhandling.ErrorModel
	if errors.As(err, &em) && em.ResponseCode == 404 {
		return fmt.Errorf("%s: %w", em.Error(), sdk.ErrSandboxNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// rlimits are set explicitly: Podman otherwise raises nofile and nproc to
// values a host without CAP_SYS_RESOURCE cannot grant. nproc stays at this
// process's hard limit (the pids limit is the real bound); nofile gets 1024.
func rlimits() []spec.POSIXRlimit {
	nofile := uint64(1024)
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Max < nofile {
		nofile = lim.Max
	}
	nproc := uint64(1 << 20)
	const rlimitNproc = 6
	if syscall.Getrlimit(rlimitNproc, &lim) == nil {
		nproc = lim.Max
	}
	return []spec.POSIXRlimit{{Type: "nofile", Hard: nofile, Soft: nofile}, {Type: "nproc", Hard: nproc, Soft: nproc}}
}

// Info implements backend.Backend.
func (p *Podman) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "podman", Kind: sdk.KindBackend, Version: version, APIVersions: []uint32{sdk.APIVersion},
		Description:  "Podman containers (rootful or rootless) through the Podman REST API",
		SandboxTypes: sdk.ContainerTypes()}, nil
}

// ensureImage pulls a missing image.
func (p *Podman) ensureImage(ctx context.Context, image, platform string) error {
	ok, err := images.Exists(ctx, image, nil)
	if err != nil {
		return fmt.Errorf("look up image %s: %w", image, err)
	}
	if ok {
		return nil
	}
	opts := new(images.PullOptions).WithQuiet(true)
	if platform != "" {
		parts := strings.Split(platform, "/")
		opts = opts.WithOS(parts[0])
		if len(parts) > 1 {
			opts = opts.WithArch(parts[1])
		}
	}
	if _, err := images.Pull(ctx, image, opts); err != nil {
		return fmt.Errorf("%s: %w", err.Error(), sdk.ErrImageNotFound)
	}
	return nil
}

// Create implements backend.Backend.
func (p *Podman) Create(ctx context.Context, s sdk.Spec, startTimeout time.Duration) (sdk.State, error) {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return sdk.State{}, err
	}
	if err := requireLimits(s); err != nil {
		return sdk.State{}, err
	}
	if err := p.ensureImage(ctx, s.Image, s.Platform); err != nil {
		return sdk.State{}, err
	}
	g := specgen.NewSpecGenerator(s.Image, false)
	g.Name = s.Name
	g.Labels = s.Labels
	g.Env = s.Env
	g.WorkDir = s.WorkingDir
	// Docker creates a missing working directory; so does enclave.
	g.CreateWorkingDir = s.WorkingDir != ""
	if err := p.setCommand(ctx, g, s); err != nil {
		return sdk.State{}, err
	}
	if len(s.Command) == 0 {
		// The image's default command with a TTY and open stdin, so a REPL or
		// shell stays alive until the sandbox is stopped.
		g.Terminal, g.Stdin = true, true
	}
	if p.host.idmap != nil && !s.Privileged {
		g.UserNS = specgen.Namespace{NSMode: specgen.Private}
		g.IDMappings = p.host.idmap
	}
	if s.DiskBytes > 0 && p.host.diskLimit {
		// With btrfs simple quotas (scripts/storage.sh) the limit counts
		// what the container writes, not the image it shares.
		g.StorageOpts = map[string]string{"size": strconv.FormatInt(s.DiskBytes, 10)}
	}
	g.Init = true
	g.NoNewPrivileges = true
	if s.Privileged {
		g.Privileged = true
	} else {
		g.CapDrop = []string{"ALL"}
		g.CapAdd = keptCaps
	}
	res := &spec.LinuxResources{}
	if s.MemoryBytes > 0 {
		m := s.MemoryBytes
		res.Memory = &spec.LinuxMemory{Limit: &m, Swap: &m}
	}
	if s.CPUs > 0 {
		period := uint64(100000)
		quota := int64(s.CPUs * float64(period))
		res.CPU = &spec.LinuxCPU{Period: &period, Quota: &quota}
	}
	if s.PidsLimit > 0 {
		res.Pids = &spec.LinuxPids{Limit: s.PidsLimit}
	}
	g.ResourceLimits = res
	g.Rlimits = rlimits()
	if !s.NetworkEnabled {
		g.NetNS = specgen.Namespace{NSMode: specgen.NoNetwork}
	} else if s.Network != "" && s.Network != "bridge" && s.Network != "default" {
		g.NetNS = specgen.Namespace{NSMode: specgen.Bridge}
		g.Networks = map[string]nettypes.PerNetworkOptions{s.Network: {}}
	}
	for _, m := range s.Mounts {
		opt := "rw"
		if m.ReadOnly {
			opt = "ro"
		}
		g.Mounts = append(g.Mounts, spec.Mount{Type: "bind", Source: m.HostPath, Destination: m.ContainerPath, Options: []string{"rbind", opt}})
	}
	for _, pt := range s.Ports {
		num, proto, _ := strings.Cut(pt.ContainerPort, "/")
		cp, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			return sdk.State{}, fmt.Errorf("port %q: %w", pt.ContainerPort, sdk.ErrInvalidArgument)
		}
		if proto == "" {
			proto = "tcp"
		}
		g.PortMappings = append(g.PortMappings, nettypes.PortMapping{ContainerPort: uint16(cp), HostPort: uint16(pt.HostPort), HostIP: pt.HostIP, Protocol: proto})
	}
	hosts := make([]string, 0, len(s.ExtraHosts))
	for h, ip := range s.ExtraHosts {
		hosts = append(hosts, h+":"+ip)
	}
	sort.Strings(hosts)
	g.HostAdd = hosts
	if s.Platform != "" {
		parts := strings.Split(s.Platform, "/")
		g.ImageOS = parts[0]
		if len(parts) > 1 {
			g.ImageArch = parts[1]
		}
	}

	created, err := containers.CreateWithSpec(ctx, g, nil)
	if err != nil {
		return sdk.State{}, fmt.Errorf("%s: %w", err.Error(), sdk.ErrStartFailed)
	}
	fail := func(err error) (sdk.State, error) {
		// A failed create leaves no container behind.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := p.remove(rctx, created.ID); rerr != nil {
			slog.Warn("remove after failed start", "container", created.ID, "err", rerr)
		}
		return sdk.State{}, err
	}
	if err := containers.Start(ctx, created.ID, nil); err != nil {
		return fail(fmt.Errorf("%s: %w", err.Error(), sdk.ErrStartFailed))
	}
	if startTimeout <= 0 {
		startTimeout = 30 * time.Second
	}
	deadline := time.Now().Add(startTimeout)
	for {
		st, err := p.inspect(ctx, created.ID)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", err.Error(), sdk.ErrStartFailed))
		}
		if st.Status == "running" {
			return st, nil
		}
		if st.Status == "exited" || st.Status == "stopped" {
			return fail(fmt.Errorf("container exited at start with code %d: %w", st.ExitCode, sdk.ErrStartFailed))
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("container not running after %s (status %s): %w", startTimeout, st.Status, sdk.ErrStartFailed))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *Podman) inspect(ctx context.Context, ref string) (sdk.State, error) {
	d, err := containers.Inspect(ctx, ref, nil)
	if err != nil {
		return sdk.State{}, mapErr(err, "inspect container")
	}
	st := sdk.State{ContainerID: d.ID, Name: d.Name, Image: d.ImageName}
	if d.Config != nil {
		st.Labels = d.Config.Labels
	}
	if d.State != nil {
		st.Status = d.State.Status
		st.ExitCode = int(d.State.ExitCode)
		st.OOMKilled = d.State.OOMKilled
	}
	return st, nil
}

// Inspect implements backend.Backend.
func (p *Podman) Inspect(ctx context.Context, ref string) (sdk.State, error) {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return sdk.State{}, err
	}
	return p.inspect(ctx, ref)
}

// List implements backend.Backend.
func (p *Podman) List(ctx context.Context, labels map[string]string) ([]sdk.State, error) {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return nil, err
	}
	var filters []string
	for k, v := range labels {
		filters = append(filters, k+"="+v)
	}
	opts := new(containers.ListOptions).WithAll(true).WithFilters(map[string][]string{"label": filters})
	list, err := containers.List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]sdk.State, 0, len(list))
	for _, c := range list {
		name := ""
		if len(c.Names) > 0 {
			name = c.Names[0]
		}
		out = append(out, sdk.State{ContainerID: c.ID, Name: name, Status: c.State, Labels: c.Labels, ExitCode: int(c.ExitCode), Image: c.Image})
	}
	return out, nil
}

// Stop implements backend.Backend: SIGTERM (SIGHUP for a sandbox whose
// command runs on a terminal: an interactive shell ignores SIGTERM and ends
// on a hangup), SIGKILL once grace has passed. The grace is timed here, not
// by Podman, whose stop timeout counts whole seconds.
func (p *Podman) Stop(ctx context.Context, ref string, grace time.Duration) error {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return err
	}
	d, err := containers.Inspect(ctx, ref, nil)
	if err != nil {
		return mapErr(err, "stop container")
	}
	if d.State == nil || !d.State.Running {
		return nil
	}
	sig := "TERM"
	if d.Config != nil && d.Config.Tty {
		sig = "HUP"
	}
	if err := containers.Kill(ctx, ref, new(containers.KillOptions).WithSignal(sig)); err != nil {
		if err := mapErr(err, "stop container"); errors.Is(err, sdk.ErrSandboxNotFound) {
			return nil
		}
	}
	if grace > 0 {
		wctx, cancel := context.WithTimeout(ctx, grace)
		_, werr := containers.Wait(wctx, ref, new(containers.WaitOptions).WithCondition([]define.ContainerStatus{define.ContainerStateStopped, define.ContainerStateExited}))
		cancel()
		if werr == nil {
			return nil
		}
	}
	return mapErr(containers.Stop(ctx, ref, new(containers.StopOptions).WithTimeout(0)), "stop container")
}

// remove force-removes a container. Podman sometimes races its own cleanup
// of a just-killed container ("unlinkat .../shm: device or resource
// busy"); such a removal is retried a few times before it is an error.
func (p *Podman) remove(ctx context.Context, ref string) error {
	var err error
	for attempt := 0; attempt < 6; attempt++ {
		if err = p.removeOnce(ctx, ref); err == nil || !strings.Contains(err.Error(), "resource busy") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
	}
	return err
}

func (p *Podman) removeOnce(ctx context.Context, ref string) error {
	reports, err := containers.Remove(ctx, ref, new(containers.RemoveOptions).WithForce(true).WithVolumes(true).WithTimeout(0))
	if err = mapErr(err, "remove container"); errors.Is(err, sdk.ErrSandboxNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	for _, r := range reports {
		if r.Err != nil {
			if err := mapErr(r.Err, "remove container"); !errors.Is(err, sdk.ErrSandboxNotFound) {
				return err
			}
		}
	}
	return nil
}

// Remove implements backend.Backend.
func (p *Podman) Remove(ctx context.Context, ref string) error {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return err
	}
	return p.remove(ctx, ref)
}

// PutArchive implements backend.Backend.
func (p *Podman) PutArchive(ctx context.Context, ref, dir string, r io.Reader) error {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return err
	}
	copyFn, err := containers.CopyFromArchive(ctx, ref, dir, r)
	if err != nil {
		return mapErr(err, "copy into container")
	}
	return mapErr(copyFn(), "copy into container")
}

// GetArchive implements backend.Backend.
func (p *Podman) GetArchive(ctx context.Context, ref, path string, w io.Writer) error {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return err
	}
	if _, err := containers.Stat(ctx, ref, path); err != nil {
		// Stat answers 404 for a missing path and for a missing container.
		if errors.Is(err, copy.ErrENOENT) {
			if _, ierr := containers.Inspect(ctx, ref, nil); ierr != nil {
				return mapErr(ierr, "inspect container")
			}
			return fmt.Errorf("%s: %w", path, sdk.ErrPathNotFound)
		}
		return fmt.Errorf("stat %s: %w", path, err)
	}
	copyFn, err := containers.CopyToArchive(ctx, ref, path, w)
	if err != nil {
		return mapErr(err, "copy from container")
	}
	return mapErr(copyFn(), "copy from container")
}

// Rename implements backend.Renamer.
func (p *Podman) Rename(ctx context.Context, ref, name string) error {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return err
	}
	return mapErr(containers.Rename(ctx, ref, new(containers.RenameOptions).WithName(name)), "rename container")
}

var (
	_ backend.Backend       = (*Podman)(nil)
	_ backend.SessionOpener = (*Podman)(nil)
	_ backend.Renamer       = (*Podman)(nil)
	_ backend.HealthChecker = (*Podman)(nil)
)
