package backend

import (
	"context"
	"fmt"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/internal/wire"
	pb "github.com/enclave-sandbox/enclave/sdk/proto/enclave/plugin/v1"
)

type server struct {
	pb.UnimplementedBackendServer
	impl Backend
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func (s *server) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.PluginInfo, error) {
	i, err := s.impl.Info(ctx)
	i.Capabilities = Capabilities(s.impl)
	return wire.InfoToPB(i), sdk.ToStatus(err)
}

func (s *server) Create(ctx context.Context, r *pb.CreateRequest) (*pb.SandboxState, error) {
	st, err := s.impl.Create(ctx, wire.SpecFromPB(r.GetSpec()), secs(r.GetStartTimeoutSeconds()))
	if err != nil {
		return nil, sdk.ToStatus(err)
	}
	return wire.StateToPB(st), nil
}

func (s *server) Inspect(ctx context.Context, r *pb.Ref) (*pb.SandboxState, error) {
	st, err := s.impl.Inspect(ctx, r.GetRef())
	if err != nil {
		return nil, sdk.ToStatus(err)
	}
	return wire.StateToPB(st), nil
}

func (s *server) List(ctx context.Context, r *pb.ListRequest) (*pb.ListResponse, error) {
	sts, err := s.impl.List(ctx, r.GetLabels())
	if err != nil {
		return nil, sdk.ToStatus(err)
	}
	out := &pb.ListResponse{}
	for _, st := range sts {
		out.Sandboxes = append(out.Sandboxes, wire.StateToPB(st))
	}
	return out, nil
}

func (s *server) Stop(ctx context.Context, r *pb.StopRequest) (*pb.Empty, error) {
	return &pb.Empty{}, sdk.ToStatus(s.impl.Stop(ctx, r.GetRef(), secs(r.GetTimeoutSeconds())))
}

func (s *server) Remove(ctx context.Context, r *pb.RemoveRequest) (*pb.Empty, error) {
	return &pb.Empty{}, sdk.ToStatus(s.impl.Remove(ctx, r.GetRef()))
}

func (s *server) Exec(ctx context.Context, r *pb.ExecRequest) (*pb.ExecResult, error) {
	res, err := s.impl.Exec(ctx, r.GetRef(), wire.ExecFromPB(r))
	if err != nil {
		return nil, sdk.ToStatus(err)
	}
	return wire.ResultToPB(res), nil
}

func (s *server) Session(stream pb.Backend_SessionServer) error {
	so, ok := s.impl.(SessionOpener)
	if !ok {
		return sdk.ToStatus(fmt.Errorf("session: %w", sdk.ErrUnsupported))
	}
	return sdk.ToStatus(wire.ServeSession(stream, so.Session))
}

func (s *server) PutArchive(stream pb.Backend_PutArchiveServer) error {
	r := &wire.ChunkReader{R: stream}
	h, err := r.Header()
	if err != nil {
		return err
	}
	if err := s.impl.PutArchive(stream.Context(), h.GetRef(), h.GetPath(), r); err != nil {
		return sdk.ToStatus(err)
	}
	return stream.SendAndClose(&pb.Empty{})
}

func (s *server) GetArchive(r *pb.GetArchiveRequest, stream pb.Backend_GetArchiveServer) error {
	return sdk.ToStatus(s.impl.GetArchive(stream.Context(), r.GetRef(), r.GetPath(), wire.ChunkWriter{S: stream}))
}

func (s *server) Health(ctx context.Context, _ *pb.HealthRequest) (*pb.HealthResponse, error) {
	hc, ok := s.impl.(HealthChecker)
	if !ok {
		return nil, sdk.ToStatus(fmt.Errorf("health: %w", sdk.ErrUnsupported))
	}
	h, err := hc.Health(ctx)
	if err != nil {
		return nil, sdk.ToStatus(err)
	}
	return &pb.HealthResponse{Warnings: h.Warnings}, nil
}

func (s *server) Rename(ctx context.Context, r *pb.RenameRequest) (*pb.Empty, error) {
	rn, ok := s.impl.(Renamer)
	if !ok {
		return nil, sdk.ToStatus(fmt.Errorf("rename: %w", sdk.ErrUnsupported))
	}
	return &pb.Empty{}, sdk.ToStatus(rn.Rename(ctx, r.GetRef(), r.GetName()))
}

func (s *server) snapshotter(op string) (Snapshotter, error) {
	sn, ok := s.impl.(Snapshotter)
	if !ok {
		return nil, sdk.ToStatus(fmt.Errorf("%s: %w", op, sdk.ErrUnsupported))
	}
	return sn, nil
}

func (s *server) Snapshot(ctx context.Context, r *pb.SnapshotRequest) (*pb.SnapshotInfo, error) {
	sn, err := s.snapshotter("snapshot")
	if err != nil {
		return nil, err
	}
	snap, err := sn.Snapshot(ctx, r.GetRef(), sdk.SnapshotRequest{Name: r.GetName(), Labels: r.GetLabels()})
	if err != nil {
		return nil, sdk.ToStatus(err)
	}
	return wire.SnapshotToPB(snap), nil
}

func (s *server) Snapshots(ctx context.Context, r *pb.ListRequest) (*pb.SnapshotList, error) {
	sn, err := s.snapshotter("snapshots")
	if err != nil {
		return nil, err
	}
	list, err := sn.Snapshots(ctx, r.GetLabels())
	if err != nil {
		return nil, sdk.ToStatus(err)
	}
	out := &pb.SnapshotList{}
	for _, snap := range list {
		out.Snapshots = append(out.Snapshots, wire.SnapshotToPB(snap))
	}
	return out, nil
}

func (s *server) RemoveSnapshot(ctx context.Context, r *pb.RemoveSnapshotRequest) (*pb.Empty, error) {
	sn, err := s.snapshotter("remove snapshot")
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, sdk.ToStatus(sn.RemoveSnapshot(ctx, r.GetName()))
}

func (s *server) PruneSnapshots(ctx context.Context, r *pb.ListRequest) (*pb.PruneResponse, error) {
	sn, err := s.snapshotter("prune snapshots")
	if err != nil {
		return nil, err
	}
	n, err := sn.PruneSnapshots(ctx, r.GetLabels())
	if err != nil {
		return nil, sdk.ToStatus(err)
	}
	return &pb.PruneResponse{Removed: int32(n)}, nil
}

func (s *server) pauser(op string) (Pauser, error) {
	p, ok := s.impl.(Pauser)
	if !ok {
		return nil, sdk.ToStatus(fmt.Errorf("%s: %w", op, sdk.ErrUnsupported))
	}
	return p, nil
}

func (s *server) Pause(ctx context.Context, r *pb.Ref) (*pb.Empty, error) {
	p, err := s.pauser("pause")
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, sdk.ToStatus(p.Pause(ctx, r.GetRef()))
}

func (s *server) Resume(ctx context.Context, r *pb.Ref) (*pb.Empty, error) {
	p, err := s.pauser("resume")
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, sdk.ToStatus(p.Resume(ctx, r.GetRef()))
}
