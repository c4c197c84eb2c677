package pluginhost

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// backendAdapter implements backend.Backend on a restartable plugin and
// measures every operation host-side (plugins serve no metrics).
type backendAdapter struct{ p *proc }

var (
	_ backend.Backend       = (*backendAdapter)(nil)
	_ backend.Declarer      = (*backendAdapter)(nil)
	_ backend.SessionOpener = (*backendAdapter)(nil)
	_ backend.Renamer       = (*backendAdapter)(nil)
	_ backend.HealthChecker = (*backendAdapter)(nil)
	_ backend.Snapshotter   = (*backendAdapter)(nil)
	_ backend.Pauser        = (*backendAdapter)(nil)
	_ manager.Tool          = (*toolAdapter)(nil)
)

func (a *backendAdapter) client(ctx context.Context) (*backend.Client, int, error) {
	raw, gen, err := a.p.get(ctx)
	if err != nil {
		return nil, 0, err
	}
	return raw.(*backend.Client), gen, nil
}

// observe reports an operation's outcome to the host's observers.
func (a *backendAdapter) observe(op string, start time.Time, err error) {
	o := a.p.h.opts
	name := a.p.name()
	if o.OnBackendOp != nil {
		// A missing container or path is an answer, not a failed operation.
		opErr := err
		if errors.Is(err, sdk.ErrSandboxNotFound) || errors.Is(err, sdk.ErrPathNotFound) {
			opErr = nil
		}
		o.OnBackendOp(name, op, opErr, time.Since(start))
	}
	if errors.Is(err, sdk.ErrUnavailable) && o.OnRPCError != nil {
		o.OnRPCError(sdk.KindBackend, name)
	}
}

// call runs one operation. It is sent again once, to the restarted plugin,
// when it never reached the plugin (its process was gone: whatever the
// operation, nothing happened), or when it is idempotent and the process
// died under it.
func call[T any](ctx context.Context, a *backendAdapter, op string, idempotent bool, f func(*backend.Client) (T, error)) (v T, err error) {
	start := time.Now()
	defer func() { a.observe(op, start, err) }()
	c, gen, err := a.client(ctx)
	if err != nil {
		return v, err
	}
	v, err = f(c)
	if err != nil && (idempotent || errors.Is(err, sdk.ErrNotDelivered)) && a.p.died(err, gen) {
		if c, _, err = a.client(ctx); err != nil {
			return v, err
		}
		return f(c)
	}
	return v, err
}

type none struct{}

func (a *backendAdapter) Info(ctx context.Context) (sdk.Info, error) {
	return call(ctx, a, "info", true, func(c *backend.Client) (sdk.Info, error) { return c.Info(ctx) })
}

func (a *backendAdapter) Create(ctx context.Context, s sdk.Spec, t time.Duration) (sdk.State, error) {
	return call(ctx, a, "create", false, func(c *backend.Client) (sdk.State, error) { return c.Create(ctx, s, t) })
}

func (a *backendAdapter) Inspect(ctx context.Context, ref string) (sdk.State, error) {
	return call(ctx, a, "inspect", true, func(c *backend.Client) (sdk.State, error) { return c.Inspect(ctx, ref) })
}

func (a *backendAdapter) List(ctx context.Context, labels map[string]string) ([]sdk.State, error) {
	return call(ctx, a, "list", true, func(c *backend.Client) ([]sdk.State, error) { return c.List(ctx, labels) })
}

func (a *backendAdapter) Stop(ctx context.Context, ref string, grace time.Duration) error {
	_, err := call(ctx, a, "stop", true, func(c *backend.Client) (none, error) { return none{}, c.Stop(ctx, ref, grace) })
	return err
}

func (a *backendAdapter) Remove(ctx context.Context, ref string) error {
	_, err := call(ctx, a, "remove", true, func(c *backend.Client) (none, error) { return none{}, c.Remove(ctx, ref) })
	return err
}

func (a *backendAdapter) Exec(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.ExecResult, error) {
	return call(ctx, a, "exec", false, func(c *backend.Client) (sdk.ExecResult, error) { return c.Exec(ctx, ref, req) })
}

// Session implements backend.SessionOpener (used only when the plugin
// declares it).
func (a *backendAdapter) Session(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.Session, error) {
	return call(ctx, a, "session", false, func(c *backend.Client) (sdk.Session, error) { return c.Session(ctx, ref, req) })
}

func (a *backendAdapter) PutArchive(ctx context.Context, ref, dir string, r io.Reader) error {
	_, err := call(ctx, a, "put_archive", false, func(c *backend.Client) (none, error) { return none{}, c.PutArchive(ctx, ref, dir, r) })
	return err
}

func (a *backendAdapter) GetArchive(ctx context.Context, ref, p string, w io.Writer) error {
	_, err := call(ctx, a, "get_archive", false, func(c *backend.Client) (none, error) { return none{}, c.GetArchive(ctx, ref, p, w) })
	return err
}

// Capabilities implements backend.Declarer: what the plugin declared in
// its Info (the adapter's optional methods always exist).
func (a *backendAdapter) Capabilities() []string {
	a.p.mu.Lock()
	defer a.p.mu.Unlock()
	return a.p.info.Capabilities
}

// Health implements backend.HealthChecker (sdk.ErrUnsupported when the
// plugin lacks it).
func (a *backendAdapter) Health(ctx context.Context) (sdk.Health, error) {
	return call(ctx, a, "health", true, func(c *backend.Client) (sdk.Health, error) { return c.Health(ctx) })
}

// Rename implements backend.Renamer (sdk.ErrUnsupported when the plugin
// lacks it).
func (a *backendAdapter) Rename(ctx context.Context, ref, name string) error {
	_, err := call(ctx, a, "rename", true, func(c *backend.Client) (none, error) { return none{}, c.Rename(ctx, ref, name) })
	return err
}

// Snapshot implements backend.Snapshotter (sdk.ErrUnsupported when the
// plugin lacks it). Not sent again: a second commit would make a second
// image.
func (a *backendAdapter) Snapshot(ctx context.Context, ref string, req sdk.SnapshotRequest) (sdk.Snapshot, error) {
	return call(ctx, a, "snapshot", false, func(c *backend.Client) (sdk.Snapshot, error) { return c.Snapshot(ctx, ref, req) })
}

// Snapshots implements backend.Snapshotter.
func (a *backendAdapter) Snapshots(ctx context.Context, labels map[string]string) ([]sdk.Snapshot, error) {
	return call(ctx, a, "list_snapshots", true, func(c *backend.Client) ([]sdk.Snapshot, error) { return c.Snapshots(ctx, labels) })
}

// RemoveSnapshot implements backend.Snapshotter.
func (a *backendAdapter) RemoveSnapshot(ctx context.Context, name string) error {
	_, err := call(ctx, a, "remove_snapshot", true, func(c *backend.Client) (none, error) { return none{}, c.RemoveSnapshot(ctx, name) })
	return err
}

// PruneSnapshots implements backend.Snapshotter.
func (a *backendAdapter) PruneSnapshots(ctx context.Context, labels map[string]string) (int, error) {
	return call(ctx, a, "prune_snapshots", true, func(c *backend.Client) (int, error) { return c.PruneSnapshots(ctx, labels) })
}

// Pause implements backend.Pauser (sdk.ErrUnsupported when the plugin
// lacks it).
func (a *backendAdapter) Pause(ctx context.Context, ref string) error {
	_, err := call(ctx, a, "pause", true, func(c *backend.Client) (none, error) { return none{}, c.Pause(ctx, ref) })
	return err
}

// Resume implements backend.Pauser.
func (a *backendAdapter) Resume(ctx context.Context, ref string) error {
	_, err := call(ctx, a, "resume", true, func(c *backend.Client) (none, error) { return none{}, c.Resume(ctx, ref) })
	return err
}

// toolAdapter implements manager.Tool on a restartable plugin.
type toolAdapter struct{ p *proc }

func (a *toolAdapter) Info() sdk.Info {
	a.p.mu.Lock()
	defer a.p.mu.Unlock()
	return a.p.info
}

func (a *toolAdapter) Execute(ctx context.Context, sb tool.SandboxInfo, call tool.Call) (tool.Result, error) {
	for attempt := 0; ; attempt++ {
		res, gen, err := a.execute(ctx, sb, call)
		// A call that never reached a dead plugin waits for its restart.
		if err != nil && attempt == 0 && errors.Is(err, sdk.ErrNotDelivered) && a.p.died(err, gen) {
			continue
		}
		return res, err
	}
}

func (a *toolAdapter) execute(ctx context.Context, sb tool.SandboxInfo, call tool.Call) (tool.Result, int, error) {
	raw, gen, err := a.p.get(ctx)
	if err == nil {
		var res tool.Result
		res, err = raw.(*tool.Client).Execute(ctx, sb, call)
		if err == nil {
			return res, gen, nil
		}
	}
	if errors.Is(err, sdk.ErrUnavailable) && a.p.h.opts.OnRPCError != nil {
		a.p.h.opts.OnRPCError(sdk.KindTool, a.p.name())
	}
	return tool.Result{}, gen, err
}
