package tool

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/internal/wire"
	pb "github.com/enclave-sandbox/enclave/sdk/proto/enclave/plugin/v1"
)

// server is the plugin side of the Tool service.
type server struct {
	pb.UnimplementedToolServer
	impl   Tool
	broker *plugin.GRPCBroker

	mu    sync.Mutex
	conns map[uint32]pb.SandboxHostClient
}

func (s *server) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.PluginInfo, error) {
	i, err := s.impl.Info(ctx)
	return wire.InfoToPB(i), sdk.ToStatus(err)
}

// host dials the host's SandboxHost service once per broker id and reuses
// the connection: a dial per call would cost a socket setup each time.
func (s *server) host(id uint32) (pb.SandboxHostClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.conns[id]; ok {
		return c, nil
	}
	conn, err := s.broker.DialWithOptions(id, sdk.GRPCDialOptions()...)
	if err != nil {
		return nil, fmt.Errorf("dial host sandbox service: %w", err)
	}
	c := pb.NewSandboxHostClient(conn)
	s.conns[id] = c
	return c, nil
}

func (s *server) Execute(ctx context.Context, r *pb.ExecuteRequest) (*pb.ExecuteResponse, error) {
	ctx = incoming(ctx)
	h, err := s.host(r.GetHostBrokerId())
	if err != nil {
		return nil, sdk.ToStatus(err)
	}
	info := r.GetSandbox()
	sb := &remoteSandbox{c: h, info: SandboxInfo{ID: info.GetId(), Type: info.GetType(), WorkingDir: info.GetWorkingDir(),
		Image: info.GetImage(), Env: info.GetEnv()}}
	res, err := s.impl.Execute(ctx, sb, Call{Name: r.GetToolName(), Params: r.GetParamsJson(), Options: r.GetOptionsJson(),
		MaxDuration:    time.Duration(r.GetMaxDurationSeconds() * float64(time.Second)),
		MaxOutputBytes: r.GetMaxOutputBytes()})
	if err != nil {
		return nil, sdk.ToStatus(err)
	}
	out := &pb.ExecuteResponse{Status: res.Status, Output: res.Output, ExitCode: int32(res.ExitCode), Verdict: res.Verdict}
	if res.Error != nil {
		out.HasError, out.Error = true, *res.Error
	}
	return out, nil
}

// remoteSandbox is the Sandbox handle inside a tool plugin: every call goes
// back to the host over the broker.
type remoteSandbox struct {
	c    pb.SandboxHostClient
	info SandboxInfo
}

func (s *remoteSandbox) ID() string             { return s.info.ID }
func (s *remoteSandbox) Type() string           { return s.info.Type }
func (s *remoteSandbox) WorkingDir() string     { return s.info.WorkingDir }
func (s *remoteSandbox) Env() map[string]string { return s.info.Env }
func (s *remoteSandbox) Image() string          { return s.info.Image }

func (s *remoteSandbox) Exec(ctx context.Context, req sdk.ExecRequest) (sdk.ExecResult, error) {
	r, err := s.c.Exec(outgoing(ctx), wire.ExecToPB(s.info.ID, req))
	if err != nil {
		return sdk.ExecResult{}, sdk.FromStatus(err)
	}
	return wire.ResultFromPB(r), nil
}

func (s *remoteSandbox) RunPython(ctx context.Context, script PythonScript, req sdk.ExecRequest) (sdk.ExecResult, error) {
	r, err := s.c.Exec(outgoing(ctx), wire.PythonToPB(s.info.ID, script.Path, script.Source, req))
	if err != nil {
		return sdk.ExecResult{}, sdk.FromStatus(err)
	}
	return wire.ResultFromPB(r), nil
}

func (s *remoteSandbox) Session(ctx context.Context, req sdk.ExecRequest) (sdk.Session, error) {
	ctx, cancel := context.WithCancel(outgoing(ctx))
	stream, err := s.c.Session(ctx)
	if err != nil {
		cancel()
		return nil, sdk.FromStatus(err)
	}
	return wire.NewClientSession(stream, cancel, s.info.ID, req)
}

func (s *remoteSandbox) PutArchive(ctx context.Context, dir string, r io.Reader) error {
	stream, err := s.c.PutArchive(outgoing(ctx))
	if err != nil {
		return sdk.FromStatus(err)
	}
	return wire.PutArchive(stream, s.info.ID, dir, r)
}

func (s *remoteSandbox) GetArchive(ctx context.Context, path string, w io.Writer) error {
	stream, err := s.c.GetArchive(outgoing(ctx), &pb.GetArchiveRequest{Ref: s.info.ID, Path: path})
	if err != nil {
		return sdk.FromStatus(err)
	}
	return wire.RecvArchive(stream, w)
}
