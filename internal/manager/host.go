package manager

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// SandboxHost returns the tool.Host served to tool plugins: the operations
// a tool may use, forwarded to the sandbox's backend.
func (m *Manager) SandboxHost() tool.Host { return hostAdapter{m} }

type hostAdapter struct{ m *Manager }

func (h hostAdapter) lookup(id string) (*sandbox, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	sb, ok := h.m.sandboxes[id]
	if !ok || !sb.status.active() {
		return nil, sdk.ErrSandboxNotFound
	}
	return sb, nil
}

func (h hostAdapter) Exec(ctx context.Context, id string, req sdk.ExecRequest) (sdk.ExecResult, error) {
	sb, err := h.lookup(id)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	if req.Timeout <= 0 || req.Timeout > h.m.opts.ExecMaxDuration {
		req.Timeout = h.m.opts.ExecMaxDuration
	}
	if req.MaxOutputBytes <= 0 || req.MaxOutputBytes > h.m.opts.MaxOutputBytes {
		req.MaxOutputBytes = h.m.opts.MaxOutputBytes
	}
	// Every wait has a bound: the call's deadline, its kill grace and a
	// margin, even when the runtime itself stalls (a container whose pids
	// are exhausted cannot start an exec).
	grace := req.KillGrace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, req.Timeout+grace+execMargin)
	defer cancel()
	res, err := h.m.execInSandbox(ctx, sb, req)
	if errors.Is(err, sdk.ErrSandboxNotFound) {
		h.m.vanished(sb)
	}
	return res, err
}

// execMargin is the time past a call's deadline and grace the host waits
// for an answer before it gives up on the runtime.
const execMargin = 15 * time.Second

func (h hostAdapter) container(sb *sandbox) string { return h.m.containerOf(sb) }

func (h hostAdapter) Session(ctx context.Context, id string, req sdk.ExecRequest) (sdk.Session, error) {
	sb, err := h.lookup(id)
	if err != nil {
		return nil, err
	}
	return sb.backend.Session(ctx, h.container(sb), req)
}

func (h hostAdapter) PutArchive(ctx context.Context, id, dir string, r io.Reader) error {
	sb, err := h.lookup(id)
	if err != nil {
		return err
	}
	return sb.backend.PutArchive(ctx, h.container(sb), dir, r)
}

func (h hostAdapter) GetArchive(ctx context.Context, id, path string, w io.Writer) error {
	sb, err := h.lookup(id)
	if err != nil {
		return err
	}
	return sb.backend.GetArchive(ctx, h.container(sb), path, w)
}
