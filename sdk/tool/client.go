package tool

import (
	"context"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/internal/wire"
	pb "github.com/enclave-sandbox/enclave/sdk/proto/enclave/plugin/v1"
)

// Client is the host's view of a tool plugin.
type Client struct {
	c      pb.ToolClient
	broker *plugin.GRPCBroker
	host   Sandboxes

	once     sync.Once
	brokerID uint32
}

// Info asks the plugin who it is.
func (c *Client) Info(ctx context.Context) (sdk.Info, error) {
	r, err := c.c.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return sdk.Info{}, sdk.FromStatus(err)
	}
	return wire.InfoFromPB(r), nil
}

// serveHost starts the SandboxHost service on the broker once per plugin
// connection; every Execute names the same broker id.
func (c *Client) serveHost() uint32 {
	c.once.Do(func() {
		c.brokerID = c.broker.NextId()
		go c.broker.AcceptAndServe(c.brokerID, func(opts []grpc.ServerOption) *grpc.Server {
			s := sdk.GRPCServer(opts)
			pb.RegisterSandboxHostServer(s, &hostServer{h: c.host})
			return s
		})
	})
	return c.brokerID
}

// Execute runs one call of the tool in sandbox sb.
func (c *Client) Execute(ctx context.Context, sb SandboxInfo, call Call) (Result, error) {
	r, err := c.c.Execute(outgoing(ctx), &pb.ExecuteRequest{
		HostBrokerId:       c.serveHost(),
		Sandbox:            &pb.SandboxInfo{Id: sb.ID, Type: sb.Type, WorkingDir: sb.WorkingDir, Env: sb.Env, Image: sb.Image},
		ToolName:           call.Name,
		ParamsJson:         call.Params,
		OptionsJson:        call.Options,
		MaxDurationSeconds: call.MaxDuration.Seconds(),
		MaxOutputBytes:     call.MaxOutputBytes,
	})
	if err != nil {
		return Result{}, sdk.FromStatus(err)
	}
	res := Result{Status: r.GetStatus(), Output: r.GetOutput(), ExitCode: int(r.GetExitCode()), Verdict: r.GetVerdict()}
	if r.GetHasError() {
		res.Error = ErrorText(r.GetError())
	}
	return res, nil
}

// hostServer serves the host's sandbox operations to the plugin.
type hostServer struct {
	pb.UnimplementedSandboxHostServer
	h Sandboxes
}

func (s *hostServer) Exec(ctx context.Context, r *pb.ExecRequest) (*pb.ExecResult, error) {
	ctx = incoming(ctx)
	var res sdk.ExecResult
	var err error
	if path, src, ok := wire.PythonFromPB(r); ok {
		res, err = s.h.RunPython(ctx, r.GetRef(), PythonScript{Path: path, Source: src}, wire.ExecFromPB(r))
	} else {
		res, err = s.h.Exec(ctx, r.GetRef(), wire.ExecFromPB(r))
	}
	if err != nil {
		return nil, sdk.ToStatus(err)
	}
	return wire.ResultToPB(res), nil
}

func (s *hostServer) Session(stream pb.SandboxHost_SessionServer) error {
	return sdk.ToStatus(wire.ServeSession(stream, s.h.Session))
}

func (s *hostServer) PutArchive(stream pb.SandboxHost_PutArchiveServer) error {
	r := &wire.ChunkReader{R: stream}
	h, err := r.Header()
	if err != nil {
		return err
	}
	if err := s.h.PutArchive(stream.Context(), h.GetRef(), h.GetPath(), r); err != nil {
		return sdk.ToStatus(err)
	}
	return stream.SendAndClose(&pb.Empty{})
}

func (s *hostServer) GetArchive(r *pb.GetArchiveRequest, stream pb.SandboxHost_GetArchiveServer) error {
	return sdk.ToStatus(s.h.GetArchive(stream.Context(), r.GetRef(), r.GetPath(), wire.ChunkWriter{S: stream}))
}
