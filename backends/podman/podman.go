//go:build remote

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/containers/podman/v4/pkg/bindings/system"
	"github.com/containers/podman/v4/pkg/errorhandling"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// version is set by the Makefile (-ldflags -X main.version=...).
var version = "dev"

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
	// layerSizes: what each snapshot image adds to its base (snapshots.go).
	layerSizes map[string]int64
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
		if facts.seccomp, err = writeSeccomp(uri); err != nil {
			return nil, err
		}
		if facts.seccomp == "" {
			facts.warnings = append(facts.warnings, "the Podman service is not on this host: sandboxes run with its default seccomp profile, which lets them use the kernel keyring")
		}
		if p.MountsLocally() {
			facts.boot, _ = hereBootFiles() // zero when not found
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

// Info implements backend.Backend.
func (p *Podman) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "podman", Kind: sdk.KindBackend, Version: version, APIVersions: []uint32{sdk.APIVersion},
		Description:  "Podman containers (rootful or rootless) through the Podman REST API",
		SandboxTypes: sdk.ContainerTypes()}, nil
}

var (
	_ backend.Backend       = (*Podman)(nil)
	_ backend.SessionOpener = (*Podman)(nil)
	_ backend.Renamer       = (*Podman)(nil)
	_ backend.HealthChecker = (*Podman)(nil)
	_ backend.Snapshotter   = (*Podman)(nil)
	_ backend.Pauser        = (*Podman)(nil)
)
