// Package sdk is enclave's public plugin contract: the go-plugin handshake,
// the types that cross the plugin boundary, and the typed errors. Backend
// authors use package sdk/backend, tool authors package sdk/tool.
package sdk

import (
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// APIVersion is the plugin API version this SDK speaks (proto package v1).
const APIVersion uint32 = 1

// Plugin kinds, also the go-plugin plugin-map keys.
const (
	KindBackend = "backend"
	KindTool    = "tool"
)

// Executable name prefixes the host discovers in its plugin directory.
const (
	BackendPrefix = "enclave-backend-"
	ToolPrefix    = "enclave-tool-"
)

// Handshake is shared by the host and every plugin. The cookie only keeps a
// user from running a plugin binary by hand; it is not a security measure.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "ENCLAVE_PLUGIN",
	MagicCookieValue: "b7e1a4c2-enclave-plugin-v1",
}

// PythonPath is the one rule for which interpreter runs Python in a
// sandbox, as a POSIX shell expression: `python`, the name ms-enclave's tools
// call, else `python3`; empty when the image has neither. The resident
// runner, the one-shot fallback and every Python tool use it.
const PythonPath = `"$(command -v python || command -v python3)"`

// MaxMessageBytes is the largest gRPC message between the host and a
// plugin, both ways. The host's own limits (request body, tool output) are
// bounded well below it (cmd/enclave checks them at start), so whatever
// the HTTP API accepts passes every hop.
const MaxMessageBytes = 1 << 30

// GRPCServer is go-plugin's server constructor with enclave's message
// limits; Serve and the host's broker use it.
func GRPCServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes))...)
}

// GRPCDialOptions are the client side of the same limits.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))}
}

// Info describes a plugin; every plugin answers it.
type Info struct {
	Name    string
	Kind    string
	Version string
	// Description is one line for `enclave plugins`.
	Description string
	APIVersions []uint32
	// Tools: the OpenAI function schema, compact JSON, served byte-for-byte.
	Schema json.RawMessage
	// Tools: sandbox types supported (empty = all). Backends: types served.
	SandboxTypes []string
	// Backends: optional capabilities implemented (CapSessions, CapRename,
	// CapHealth). sdk/backend's Serve fills it in from the implementation;
	// the host uses no capability a plugin does not declare.
	Capabilities []string
}

// Optional backend capabilities (Info.Capabilities).
const (
	CapSessions  = "sessions"
	CapRename    = "rename"
	CapHealth    = "health"
	CapSnapshots = "snapshots"
	CapPause     = "pause"
	// CapLazyRename: a Renamer whose names are bookkeeping only (nothing
	// the backend does depends on one), so the host may rename a claimed
	// spare after answering the create. Not Kubernetes: a claim there also
	// drops the pod's owner.
	CapLazyRename = "lazy_rename"
	// CapLocalMounts: the runtime runs on the host's own filesystem, so a
	// Spec.Mounts path is a path of the host the server runs on; the host
	// then mounts each sandbox a directory for its resident runner's
	// channel (a socket that skips the runtime's relays). Not Kubernetes,
	// whose nodes are other machines.
	CapLocalMounts = "local_mounts"
	// CapBoot: with CapLocalMounts, a Spec with Boot starts its runner
	// itself when its container starts (Spec.Boot), so the first call
	// does not wait for a session to start one.
	CapBoot = "boot"
)

// Has reports whether the plugin declares capability c.
func (i Info) Has(c string) bool {
	for _, x := range i.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// SnapshotRequest saves a container's filesystem as an image.
type SnapshotRequest struct {
	// Name tags the image (a key of [a-zA-Z0-9_.-], at most 128 bytes);
	// empty: an unnamed image, pruned once no sandbox uses it.
	Name   string
	Labels map[string]string
}

// Snapshot is a saved image new sandboxes can start from (Spec.Image = ID).
type Snapshot struct {
	ID   string
	Name string
	// Labels are the request's.
	Labels map[string]string
	// SizeBytes is what the snapshot adds to the image it was made from.
	SizeBytes int64
	Created   time.Time
	// Containers counts the containers started from it that still exist.
	Containers int
}

// Health is a backend's answer to a health probe: it answers, and these
// are the limits or protections it cannot enforce on this host.
type Health struct {
	Warnings []string
}

// Supports reports whether the plugin speaks API version v.
func (i Info) Supports(v uint32) bool {
	for _, x := range i.APIVersions {
		if x == v {
			return true
		}
	}
	return false
}

// ExecRequest is a one-shot process run inside a sandbox.
type ExecRequest struct {
	Argv       []string
	Env        map[string]string
	WorkingDir string
	// Stdin is delivered, then EOF. Nil: stdin is at EOF at once.
	Stdin []byte
	// Timeout is the deadline; 0 = none. At the deadline the process group
	// gets SIGTERM, and SIGKILL KillGrace later (default 5 s).
	Timeout   time.Duration
	KillGrace time.Duration
	// MaxOutputBytes caps each stream; 0 = no cap.
	MaxOutputBytes int64
}

// ExecResult is the outcome of an ExecRequest.
type ExecResult struct {
	Stdout, Stderr []byte
	// ExitCode is 128+N for a process killed by signal N, -1 when unknown.
	ExitCode        int
	TimedOut        bool
	StdoutTruncated bool
	StderrTruncated bool
	Killed          bool
	OOMKilled       bool
}

// Session is a long-lived process in a sandbox with streamed stdio.
type Session interface {
	// Stdin feeds the process; Close sends EOF.
	Stdin() io.WriteCloser
	Stdout() io.Reader
	Stderr() io.Reader
	// Wait blocks until the process exits and returns its exit code.
	Wait() (int, error)
	// Close ends the session, killing the process if it still runs.
	Close() error
}

// Spec describes a sandbox container to create.
type Spec struct {
	Name        string
	Image       string
	Command     []string
	Env         map[string]string
	WorkingDir  string
	MemoryBytes int64
	CPUs        float64
	PidsLimit   int64
	// DiskBytes bounds what the sandbox writes to its filesystem.
	DiskBytes      int64
	NetworkEnabled bool
	Network        string
	Labels         map[string]string
	Privileged     bool
	Mounts         []Mount
	Ports          []Port
	ExtraHosts     map[string]string
	Platform       string
	// Entrypoint replaces the image's entrypoint when EntrypointSet (an
	// empty one clears it, as ms-enclave 0.0.8's `entrypoint: []` does).
	Entrypoint    []string
	EntrypointSet bool
	// Boot asks the container to start, when it starts and beside its
	// own command, the argv (JSON) in the file runner.boot of the runner
	// channel's directory the server mounts at /.enclave-channel
	// (backends with CapBoot).
	Boot bool
}

// LabelPool and SparePrefix are how the manager marks the sandboxes that
// hold no user state (docs/api.md §7.4): pool members carry LabelPool=true,
// unclaimed spares are named SparePrefix+id until a claim renames them.
const (
	LabelPool   = "enclave.pool"
	SparePrefix = "spare-"
)

// Disposable reports whether the sandbox is a pool member or an unclaimed
// spare: a backend may tie its life to the replica that made it.
func (s Spec) Disposable() bool {
	return s.Labels[LabelPool] == "true" || strings.HasPrefix(s.Name, SparePrefix)
}

// Mount is a host path bound into a sandbox.
type Mount struct {
	HostPath, ContainerPath string
	ReadOnly                bool
}

// Port publishes a container port ("8888/tcp") on the host.
type Port struct {
	ContainerPort string
	HostIP        string
	HostPort      uint32
}

// State is what a backend knows of a sandbox container.
type State struct {
	ContainerID string
	Name        string
	// Status: created, running, exited, stopped, paused or unknown.
	Status    string
	Labels    map[string]string
	ExitCode  int
	OOMKilled bool
	Image     string
}
