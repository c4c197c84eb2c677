package pluginhost

import (
	"context"
	"io"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// backendAdapter implements backend.Backend on a restartable plugin.
type backendAdapter struct{ p *proc }

var _ backend.Backend = (*backendAdapter)(nil)

func (a *backendAdapter) client(ctx context.Context) (*backend.Client, error) {
	raw, err := a.p.get(ctx)
	if err != nil {
		return nil, err
	}
	return raw.(*backend.Client), nil
}

// idem runs an idempotent call, retrying once on a restarted plugin when the
// process died under it.
func idem[T any](ctx context.Context, a *backendAdapter, f func(*backend.Client) (T, error)) (T, error) {
	var zero T
	c, err := a.client(ctx)
	if err != nil {
		return zero, err
	}
	v, err := f(c)
	if err != nil && a.p.died(err) {
		if c, err = a.client(ctx); err != nil {
			return zero, err
		}
		return f(c)
	}
	return v, err
}

func (a *backendAdapter) Info(ctx context.Context) (sdk.Info, error) {
	return idem(ctx, a, func(c *backend.Client) (sdk.Info, error) { return c.Info(ctx) })
}

func (a *backendAdapter) Create(ctx context.Context, s sdk.Spec, t time.Duration) (sdk.State, error) {
	c, err := a.client(ctx)
	if err != nil {
		return sdk.State{}, err
	}
	return c.Create(ctx, s, t)
}

func (a *backendAdapter) Inspect(ctx context.Context, ref string) (sdk.State, error) {
	return idem(ctx, a, func(c *backend.Client) (sdk.State, error) { return c.Inspect(ctx, ref) })
}

func (a *backendAdapter) List(ctx context.Context, labels map[string]string) ([]sdk.State, error) {
	return idem(ctx, a, func(c *backend.Client) ([]sdk.State, error) { return c.List(ctx, labels) })
}

func (a *backendAdapter) Stop(ctx context.Context, ref string, grace time.Duration) error {
	_, err := idem(ctx, a, func(c *backend.Client) (struct{}, error) { return struct{}{}, c.Stop(ctx, ref, grace) })
	return err
}

func (a *backendAdapter) Remove(ctx context.Context, ref string) error {
	_, err := idem(ctx, a, func(c *backend.Client) (struct{}, error) { return struct{}{}, c.Remove(ctx, ref) })
	return err
}

func (a *backendAdapter) Exec(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.ExecResult, error) {
	c, err := a.client(ctx)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	return c.Exec(ctx, ref, req)
}

func (a *backendAdapter) Session(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.Session, error) {
	c, err := a.client(ctx)
	if err != nil {
		return nil, err
	}
	return c.Session(ctx, ref, req)
}

func (a *backendAdapter) PutArchive(ctx context.Context, ref, dir string, r io.Reader) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	return c.PutArchive(ctx, ref, dir, r)
}

func (a *backendAdapter) GetArchive(ctx context.Context, ref, p string, w io.Writer) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	return c.GetArchive(ctx, ref, p, w)
}

func (a *backendAdapter) Stats(ctx context.Context, ref string) (sdk.Stats, error) {
	return idem(ctx, a, func(c *backend.Client) (sdk.Stats, error) { return c.Stats(ctx, ref) })
}

// toolAdapter implements manager.Tool on a restartable plugin.
type toolAdapter struct{ p *proc }

func (a *toolAdapter) Info() sdk.Info {
	a.p.mu.Lock()
	defer a.p.mu.Unlock()
	return a.p.info
}

func (a *toolAdapter) Execute(ctx context.Context, sb tool.SandboxInfo, call tool.Call) (tool.Result, error) {
	raw, err := a.p.get(ctx)
	if err != nil {
		return tool.Result{}, err
	}
	return raw.(*tool.Client).Execute(ctx, sb, call)
}
