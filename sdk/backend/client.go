package backend

import (
	"context"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/internal/wire"
	pb "github.com/enclave-sandbox/enclave/sdk/proto/enclave/plugin/v1"
)

// Client is the host's view of a backend plugin; it implements Backend.
type Client struct{ c pb.BackendClient }

var _ Backend = (*Client)(nil)

// Info asks the plugin who it is.
func (c *Client) Info(ctx context.Context) (sdk.Info, error) {
	r, err := c.c.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return sdk.Info{}, sdk.FromStatus(err)
	}
	return wire.InfoFromPB(r), nil
}

func (c *Client) Create(ctx context.Context, spec sdk.Spec, startTimeout time.Duration) (sdk.State, error) {
	r, err := c.c.Create(ctx, &pb.CreateRequest{Spec: wire.SpecToPB(spec), StartTimeoutSeconds: startTimeout.Seconds()})
	if err != nil {
		return sdk.State{}, sdk.FromStatus(err)
	}
	return wire.StateFromPB(r), nil
}

func (c *Client) Inspect(ctx context.Context, ref string) (sdk.State, error) {
	r, err := c.c.Inspect(ctx, &pb.Ref{Ref: ref})
	if err != nil {
		return sdk.State{}, sdk.FromStatus(err)
	}
	return wire.StateFromPB(r), nil
}

func (c *Client) List(ctx context.Context, labels map[string]string) ([]sdk.State, error) {
	r, err := c.c.List(ctx, &pb.ListRequest{Labels: labels})
	if err != nil {
		return nil, sdk.FromStatus(err)
	}
	out := make([]sdk.State, 0, len(r.GetSandboxes()))
	for _, s := range r.GetSandboxes() {
		out = append(out, wire.StateFromPB(s))
	}
	return out, nil
}

func (c *Client) Stop(ctx context.Context, ref string, grace time.Duration) error {
	_, err := c.c.Stop(ctx, &pb.StopRequest{Ref: ref, TimeoutSeconds: grace.Seconds()})
	return sdk.FromStatus(err)
}

func (c *Client) Remove(ctx context.Context, ref string) error {
	_, err := c.c.Remove(ctx, &pb.RemoveRequest{Ref: ref})
	return sdk.FromStatus(err)
}

func (c *Client) Exec(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.ExecResult, error) {
	r, err := c.c.Exec(ctx, wire.ExecToPB(ref, req))
	if err != nil {
		return sdk.ExecResult{}, sdk.FromStatus(err)
	}
	return wire.ResultFromPB(r), nil
}

func (c *Client) Session(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.Session, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.c.Session(ctx)
	if err != nil {
		cancel()
		return nil, sdk.FromStatus(err)
	}
	return wire.NewClientSession(stream, cancel, ref, req)
}

func (c *Client) PutArchive(ctx context.Context, ref, dir string, r io.Reader) error {
	stream, err := c.c.PutArchive(ctx)
	if err != nil {
		return sdk.FromStatus(err)
	}
	return wire.PutArchive(stream, ref, dir, r)
}

func (c *Client) GetArchive(ctx context.Context, ref, path string, w io.Writer) error {
	stream, err := c.c.GetArchive(ctx, &pb.GetArchiveRequest{Ref: ref, Path: path})
	if err != nil {
		return sdk.FromStatus(err)
	}
	return wire.RecvArchive(stream, w)
}

// Health implements HealthChecker; sdk.ErrUnsupported when the plugin
// lacks it.
func (c *Client) Health(ctx context.Context) (sdk.Health, error) {
	r, err := c.c.Health(ctx, &pb.HealthRequest{})
	if status.Code(err) == codes.Unimplemented {
		return sdk.Health{}, fmt.Errorf("health: %w", sdk.ErrUnsupported)
	}
	if err != nil {
		return sdk.Health{}, sdk.FromStatus(err)
	}
	return sdk.Health{Warnings: r.GetWarnings()}, nil
}

// Rename implements Renamer; sdk.ErrUnsupported when the plugin lacks it.
func (c *Client) Rename(ctx context.Context, ref, name string) error {
	_, err := c.c.Rename(ctx, &pb.RenameRequest{Ref: ref, Name: name})
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("rename: %w", sdk.ErrUnsupported)
	}
	return sdk.FromStatus(err)
}

// optional maps the answer of an optional capability's call: a plugin
// without it (or built before it existed) answers UNIMPLEMENTED.
func optional(op string, err error) error {
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%s: %w", op, sdk.ErrUnsupported)
	}
	return sdk.FromStatus(err)
}

// Snapshot implements Snapshotter; sdk.ErrUnsupported when the plugin
// lacks it.
func (c *Client) Snapshot(ctx context.Context, ref string, req sdk.SnapshotRequest) (sdk.Snapshot, error) {
	r, err := c.c.Snapshot(ctx, &pb.SnapshotRequest{Ref: ref, Name: req.Name, Labels: req.Labels})
	if err != nil {
		return sdk.Snapshot{}, optional("snapshot", err)
	}
	return wire.SnapshotFromPB(r), nil
}

// Snapshots implements Snapshotter.
func (c *Client) Snapshots(ctx context.Context, labels map[string]string) ([]sdk.Snapshot, error) {
	r, err := c.c.Snapshots(ctx, &pb.ListRequest{Labels: labels})
	if err != nil {
		return nil, optional("snapshots", err)
	}
	out := make([]sdk.Snapshot, 0, len(r.GetSnapshots()))
	for _, s := range r.GetSnapshots() {
		out = append(out, wire.SnapshotFromPB(s))
	}
	return out, nil
}

// RemoveSnapshot implements Snapshotter.
func (c *Client) RemoveSnapshot(ctx context.Context, name string) error {
	_, err := c.c.RemoveSnapshot(ctx, &pb.RemoveSnapshotRequest{Name: name})
	return optional("remove snapshot", err)
}

// PruneSnapshots implements Snapshotter.
func (c *Client) PruneSnapshots(ctx context.Context, labels map[string]string) (int, error) {
	r, err := c.c.PruneSnapshots(ctx, &pb.ListRequest{Labels: labels})
	if err != nil {
		return 0, optional("prune snapshots", err)
	}
	return int(r.GetRemoved()), nil
}

// Pause implements Pauser; sdk.ErrUnsupported when the plugin lacks it.
func (c *Client) Pause(ctx context.Context, ref string) error {
	_, err := c.c.Pause(ctx, &pb.Ref{Ref: ref})
	return optional("pause", err)
}

// Resume implements Pauser.
func (c *Client) Resume(ctx context.Context, ref string) error {
	_, err := c.c.Resume(ctx, &pb.Ref{Ref: ref})
	return optional("resume", err)
}
