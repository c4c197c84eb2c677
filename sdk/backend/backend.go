// Package backend is the contract for sandbox backend plugins (container
// runtimes). A backend author implements Backend and calls Serve from main.
package backend

import (
	"context"
	"io"
	"slices"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/enclave-sandbox/enclave/sdk"
	pb "github.com/enclave-sandbox/enclave/sdk/proto/enclave/plugin/v1"
)

// Backend runs sandboxes: the operations every backend has. ref is a
// container id or name. Errors should wrap the sdk sentinels
// (sdk.ErrSandboxNotFound, ...) so they keep their meaning across the plugin
// boundary. Optional capabilities are the interfaces below; Serve declares
// the ones an implementation has (Info.Capabilities), and the host uses
// them only through Sessions, Renames, HealthCheck, Snapshots and Pauses.
type Backend interface {
	Info(ctx context.Context) (sdk.Info, error)
	// Create creates and starts a container and returns once it runs (at most
	// startTimeout). On failure it removes what it created.
	Create(ctx context.Context, spec sdk.Spec, startTimeout time.Duration) (sdk.State, error)
	Inspect(ctx context.Context, ref string) (sdk.State, error)
	// List returns the containers carrying every given label.
	List(ctx context.Context, labels map[string]string) ([]sdk.State, error)
	// Stop sends SIGTERM, then SIGKILL after grace.
	Stop(ctx context.Context, ref string, grace time.Duration) error
	// Remove force-removes; a missing container is not an error.
	Remove(ctx context.Context, ref string) error
	Exec(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.ExecResult, error)
	// PutArchive extracts the tar stream r into dir (which must exist).
	PutArchive(ctx context.Context, ref, dir string, r io.Reader) error
	// GetArchive writes a tar of path to w; sdk.ErrPathNotFound if absent.
	GetArchive(ctx context.Context, ref, path string, w io.Writer) error
}

// SessionOpener is an optional capability (sdk.CapSessions): a long-lived
// process with streamed stdio. The host's resident runner rides on one;
// without it every tool process is a one-shot Exec.
type SessionOpener interface {
	// Session starts a long-lived process; it ends when ctx ends or Close.
	Session(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.Session, error)
}

// Renamer is an optional capability (sdk.CapRename): renaming a container
// lets the host hand out pre-created spare sandboxes.
type Renamer interface {
	Rename(ctx context.Context, ref, name string) error
}

// LazyRenamer is an optional capability (sdk.CapLazyRename): a Renamer
// whose container names are bookkeeping only; the method states it.
type LazyRenamer interface {
	Renamer
	RenamesLazily()
}

// LocalMounter is an optional capability (sdk.CapLocalMounts): its
// containers' bind mounts are paths of the host the plugin runs on, when
// MountsLocally says so (it may depend on the plugin's configuration, read
// before it serves).
type LocalMounter interface {
	MountsLocally() bool
}

// Booter is an optional capability (sdk.CapBoot): its containers start
// their runner themselves (sdk.Spec.Boot), when Boots says so.
type Booter interface {
	Boots() bool
}

// HealthChecker is an optional capability (sdk.CapHealth): a cheap probe of
// the runtime (an error: it does not answer) and what it cannot enforce on
// this host.
type HealthChecker interface {
	Health(ctx context.Context) (sdk.Health, error)
}

// Snapshotter is an optional capability (sdk.CapSnapshots): a container's
// filesystem saved as an image that new sandboxes start from (Spec.Image =
// Snapshot.ID). Processes and memory are not saved.
type Snapshotter interface {
	Snapshot(ctx context.Context, ref string, req sdk.SnapshotRequest) (sdk.Snapshot, error)
	// Snapshots lists the saved images carrying every given label.
	Snapshots(ctx context.Context, labels map[string]string) ([]sdk.Snapshot, error)
	// RemoveSnapshot drops a name (a missing one is not an error); the image
	// goes once no sandbox uses it.
	RemoveSnapshot(ctx context.Context, name string) error
	// PruneSnapshots removes the unnamed saved images carrying every label
	// that no container uses, and says how many.
	PruneSnapshots(ctx context.Context, labels map[string]string) (int, error)
}

// Pauser is an optional capability (sdk.CapPause): freeze every process
// of a container (no CPU, memory kept) and thaw them.
type Pauser interface {
	Pause(ctx context.Context, ref string) error
	Resume(ctx context.Context, ref string) error
}

// Declarer is implemented by backends whose optional methods always exist
// but may be unsupported (the gRPC client, a host adapter): they declare
// their capabilities instead.
type Declarer interface {
	Capabilities() []string
}

// Has reports whether b has capability c: as it declares, or else by the
// interfaces it implements.
func Has(b Backend, c string) bool {
	caps := Capabilities(b)
	if d, ok := b.(Declarer); ok {
		caps = d.Capabilities()
	}
	return slices.Contains(caps, c)
}

// Capabilities lists the optional interfaces impl implements, as
// Info.Capabilities names them.
func Capabilities(impl Backend) []string {
	var caps []string
	if _, ok := impl.(SessionOpener); ok {
		caps = append(caps, sdk.CapSessions)
	}
	if _, ok := impl.(Renamer); ok {
		caps = append(caps, sdk.CapRename)
	}
	if _, ok := impl.(LazyRenamer); ok {
		caps = append(caps, sdk.CapLazyRename)
	}
	if l, ok := impl.(LocalMounter); ok && l.MountsLocally() {
		caps = append(caps, sdk.CapLocalMounts)
	}
	if b, ok := impl.(Booter); ok && b.Boots() {
		caps = append(caps, sdk.CapBoot)
	}
	if _, ok := impl.(HealthChecker); ok {
		caps = append(caps, sdk.CapHealth)
	}
	if _, ok := impl.(Snapshotter); ok {
		caps = append(caps, sdk.CapSnapshots)
	}
	if _, ok := impl.(Pauser); ok {
		caps = append(caps, sdk.CapPause)
	}
	return caps
}

// as returns b as the interface of capability c when b has it.
func as[T any](b Backend, c string) (T, bool) {
	t, ok := b.(T)
	if !ok || !Has(b, c) {
		var zero T
		return zero, false
	}
	return t, true
}

// Sessions returns b's sessions when it has the capability.
func Sessions(b Backend) (SessionOpener, bool) { return as[SessionOpener](b, sdk.CapSessions) }

// Renames returns b's renaming when it has the capability.
func Renames(b Backend) (Renamer, bool) { return as[Renamer](b, sdk.CapRename) }

// HealthCheck returns b's health probe when it has the capability.
func HealthCheck(b Backend) (HealthChecker, bool) { return as[HealthChecker](b, sdk.CapHealth) }

// Snapshots returns b's snapshots when it has the capability.
func Snapshots(b Backend) (Snapshotter, bool) { return as[Snapshotter](b, sdk.CapSnapshots) }

// Pauses returns b's pause and resume when it has the capability.
func Pauses(b Backend) (Pauser, bool) { return as[Pauser](b, sdk.CapPause) }

// Plugin is the go-plugin glue for backends.
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Backend
}

// GRPCServer registers the backend on the plugin's gRPC server.
func (p *Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterBackendServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns a *Client for the host.
func (p *Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{c: pb.NewBackendClient(c)}, nil
}

// Serve runs impl as a backend plugin; call it from the plugin's main.
func Serve(impl Backend) {
	sdk.WatchParent()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: sdk.Handshake,
		Plugins:         plugin.PluginSet{sdk.KindBackend: &Plugin{Impl: impl}},
		GRPCServer:      sdk.GRPCServer,
	})
}
