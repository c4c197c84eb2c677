// Package tool is the contract for tool plugins. A tool author implements
// Tool and calls Serve from main. Tools act inside a sandbox only through the
// Sandbox handle the host passes to Execute; they never talk to a container
// runtime, so one tool works on every backend.
package tool

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/enclave-sandbox/enclave/sdk"
	pb "github.com/enclave-sandbox/enclave/sdk/proto/enclave/plugin/v1"
)

// Result statuses.
const (
	StatusSuccess = "success"
	StatusError   = "error"
	StatusTimeout = "timeout"
)

// Verdicts, set when a call was cut short.
const (
	VerdictTimeout         = "timeout"
	VerdictOOMKilled       = "oom_killed"
	VerdictKilled          = "killed"
	VerdictOutputTruncated = "output_truncated"
)

// Tool is a tool plugin.
type Tool interface {
	// Info returns the tool's name, schema and supported sandbox types.
	Info(ctx context.Context) (sdk.Info, error)
	// Execute runs one call. Tool-level failures (non-zero exit, timeout)
	// are a Result with Status error/timeout, not an error; an error means
	// the call could not be carried out at all.
	Execute(ctx context.Context, sb Sandbox, call Call) (Result, error)
}

// Call is one tool invocation.
type Call struct {
	// Name the tool was called by (tools_config may rename it).
	Name string
	// Params are the tool parameters, already validated against the schema.
	Params json.RawMessage
	// Options are the tool's tools_config entry.
	Options json.RawMessage
	// MaxDuration is the operator's bound on any call: what "no deadline"
	// means. MaxOutputBytes caps each output stream.
	MaxDuration    time.Duration
	MaxOutputBytes int64
}

// Result is the outcome of a call.
type Result struct {
	Status string
	Output string
	// Error is the error text; nil renders as JSON null.
	Error    *string
	ExitCode int
	Verdict  string
}

// Sandbox is the handle a tool acts through; the host forwards every
// operation to the sandbox's backend.
type Sandbox interface {
	ID() string
	Type() string
	WorkingDir() string
	Env() map[string]string
	Image() string
	Exec(ctx context.Context, req sdk.ExecRequest) (sdk.ExecResult, error)
	// RunPython runs script exactly as `python <script.Path>` would (req's
	// Argv is ignored; its Stdin is the script's standard input): in the
	// sandbox's resident runner when it has one (a fork, no interpreter
	// start-up), else as a one-shot process.
	RunPython(ctx context.Context, script PythonScript, req sdk.ExecRequest) (sdk.ExecResult, error)
	Session(ctx context.Context, req sdk.ExecRequest) (sdk.Session, error)
	PutArchive(ctx context.Context, dir string, r io.Reader) error
	GetArchive(ctx context.Context, path string, w io.Writer) error
}

// PythonScript is a script to run as `python Path`; the file exists while
// it runs and is removed afterwards.
type PythonScript struct {
	Path   string
	Source []byte
}

// Sandboxes is implemented by the enclave host: the sandbox operations
// tools may use, addressed by sandbox id (served to tool plugins as the
// SandboxHost gRPC service).
type Sandboxes interface {
	Exec(ctx context.Context, sandboxID string, req sdk.ExecRequest) (sdk.ExecResult, error)
	RunPython(ctx context.Context, sandboxID string, script PythonScript, req sdk.ExecRequest) (sdk.ExecResult, error)
	Session(ctx context.Context, sandboxID string, req sdk.ExecRequest) (sdk.Session, error)
	PutArchive(ctx context.Context, sandboxID, dir string, r io.Reader) error
	GetArchive(ctx context.Context, sandboxID, path string, w io.Writer) error
}

// SandboxInfo describes the sandbox a call runs in.
type SandboxInfo struct {
	ID, Type, WorkingDir, Image string
	Env                         map[string]string
}

// Plugin is the go-plugin glue for tools. On the host side set Sandboxes:
// the client serves it to the plugin through the broker.
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl      Tool
	Sandboxes Sandboxes
}

// GRPCServer registers the tool on the plugin's gRPC server.
func (p *Plugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterToolServer(s, &server{impl: p.Impl, broker: broker, conns: map[uint32]pb.SandboxHostClient{}})
	return nil
}

// GRPCClient returns a *Client for the host.
func (p *Plugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{c: pb.NewToolClient(c), broker: broker, host: p.Sandboxes}, nil
}

// Serve runs impl as a tool plugin; call it from the plugin's main.
func Serve(impl Tool) {
	sdk.WatchParent()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: sdk.Handshake,
		Plugins:         plugin.PluginSet{sdk.KindTool: &Plugin{Impl: impl}},
		GRPCServer:      sdk.GRPCServer,
	})
}

// ErrorText returns a pointer for Result.Error.
func ErrorText(s string) *string { return &s }
