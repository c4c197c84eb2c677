package manager_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/internal/executor"
	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/runner"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/sdk/sdktest"
)

// lazyBackend is the fake backend with sessions on this host, so its
// sandboxes get a real resident runner (which writes the claim file here,
// in /tmp/.enclave), and a rename that can be held or made to fail.
type lazyBackend struct {
	*fake.Backend
	host    *sdktest.LocalHost
	hold    chan struct{} // renames wait until it is closed
	fails   atomic.Int32  // renames fail while it is above 0
	renames atomic.Int32
}

func (l *lazyBackend) Session(ctx context.Context, _ string, req sdk.ExecRequest) (sdk.Session, error) {
	req.WorkingDir = "" // the sandbox's /sandbox is not on this host
	return l.host.Session(ctx, l.host.ID, req)
}

func (l *lazyBackend) Rename(ctx context.Context, ref, name string) error {
	select {
	case <-l.hold:
	case <-ctx.Done():
		return ctx.Err()
	}
	l.renames.Add(1)
	if l.fails.Add(-1) >= 0 {
		return errors.New("database is locked")
	}
	return l.Backend.Rename(ctx, ref, name)
}

type lazyPlugins struct{ b *lazyBackend }

func (p lazyPlugins) Backend(t string) (backend.Backend, bool) { return p.b, t == "docker" }
func (p lazyPlugins) Tool(name string) (manager.Tool, bool)    { return fake.Echo{}, name == "echo" }
func (p lazyPlugins) Backends() []backend.Backend              { return []backend.Backend{p.b} }

// containerNameOf is the name of the container of sandbox id.
func containerNameOf(b *fake.Backend, id string) string {
	for _, c := range b.Containers() {
		if c.Spec.Labels[manager.LabelID] == id {
			return c.Spec.Name
		}
	}
	return ""
}

// TestLazyClaim: on a backend that renames lazily, a claim answers once
// the runner wrote the claim file, before the rename; the rename follows
// (retried when it fails), and shutdown waits for it.
func TestLazyClaim(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fails int32
	}{
		{"rename follows", 0},
		{"rename retried", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := &lazyBackend{Backend: fake.NewBackend(), host: sdktest.NewLocalHost(t), hold: make(chan struct{})}
			b.fails.Store(tt.fails)
			opts := manager.DefaultOptions()
			opts.CleanupInterval, opts.HealthInterval = 0, 0
			exec := executor.New(executor.Options{ResidentRunner: true, StartTimeout: 30 * time.Second, MaxDuration: time.Minute, MaxOutputBytes: 1 << 20})
			m := manager.New(opts, lazyPlugins{b}, exec)
			m.Start(context.Background())
			defer os.Remove(runner.ClaimFile)
			close(b.hold) // the first two creates are not claims
			for range 2 {
				createUsed(t, m, "lazy")
			}
			waitFor(t, "a spare", func() bool { return m.Spares() == 1 })
			b.hold = make(chan struct{})
			renamesBefore := b.renames.Load()

			// Bounded: a claim that waited for the rename would wait forever.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			id, err := m.Create(ctx, "docker", spareCfg("lazy"))
			if err != nil {
				t.Fatal(err)
			}
			// Answered while every rename waits.
			if name := containerNameOf(b.Backend, id); name != "spare-"+id {
				t.Fatalf("claimed spare named %q before its rename may run (want spare-%s)", name, id)
			}
			if got, err := os.ReadFile(runner.ClaimFile); err != nil || string(got) != id {
				t.Fatalf("claim file holds %q (%v), want %s", got, err, id)
			}
			done := make(chan struct{})
			go func() { m.Shutdown(context.Background(), false); close(done) }()
			close(b.hold)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("shutdown did not return")
			}
			if name := containerNameOf(b.Backend, id); name != "sandbox-"+id {
				t.Errorf("after shutdown the claimed spare is named %q, want sandbox-%s", name, id)
			}
			if n := b.renames.Load() - renamesBefore; n != tt.fails+1 {
				t.Errorf("%d renames, want %d", n, tt.fails+1)
			}
			for _, c := range b.Containers() {
				if strings.HasPrefix(c.Spec.Name, "spare-") {
					t.Errorf("shutdown left the spare %s", c.Spec.Name)
				}
			}
		})
	}
}

// TestLazyRenameWaits: a claimed spare's rename waits Options.SpareAfter
// (it would compete with the calls that follow a create) and is not made
// for a sandbox deleted by then; with replicas, which read the names, it
// follows at once.
func TestLazyRenameWaits(t *testing.T) {
	for _, tt := range []struct {
		name, replica string
		spareAfter    time.Duration
		deleted       bool
		renames       int32
	}{
		{"renamed after a while", "", 50 * time.Millisecond, false, 1},
		{"deleted first: never renamed", "", time.Hour, true, 0},
		{"replicated: at once", "r1", time.Hour, false, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := &lazyBackend{Backend: fake.NewBackend(), host: sdktest.NewLocalHost(t), hold: make(chan struct{})}
			close(b.hold)
			opts := manager.DefaultOptions()
			opts.CleanupInterval, opts.HealthInterval = 0, 0
			opts.Replica, opts.SyncInterval, opts.SpareAfter = tt.replica, time.Hour, tt.spareAfter
			exec := executor.New(executor.Options{ResidentRunner: true, StartTimeout: 30 * time.Second, MaxDuration: time.Minute, MaxOutputBytes: 1 << 20})
			m := manager.New(opts, lazyPlugins{b}, exec)
			m.Start(context.Background())
			defer os.Remove(runner.ClaimFile)
			for range 2 {
				createUsed(t, m, "waits")
			}
			waitFor(t, "a spare", func() bool { return m.Spares() == 1 })
			before := b.renames.Load()
			id := createUsed(t, m, "waits")
			if name := containerNameOf(b.Backend, id); name != "spare-"+id && name != "sandbox-"+id {
				t.Fatalf("the create did not claim the spare: container %q", name)
			}
			if tt.deleted {
				if err := m.Delete(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			} else {
				waitFor(t, "the rename", func() bool { return containerNameOf(b.Backend, id) == "sandbox-"+id })
			}
			// Shutdown ends the wait and waits for the renames.
			m.Shutdown(context.Background(), false)
			if n := b.renames.Load() - before; n != tt.renames {
				t.Errorf("%d renames of the claimed spare, want %d", n, tt.renames)
			}
		})
	}
}

// TestClaimedSpareReadopted: a server killed between a spare's claim (its
// claim file written) and the rename leaves a spare-* container that is a
// sandbox; the next server adopts it. Unclaimed spares, or claim files
// naming another sandbox, are removed; an unreadable one is left alone.
func TestClaimedSpareReadopted(t *testing.T) {
	claimTar := func(text string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "claimed", Mode: 0o644, Size: int64(len(text)), Typeflag: tar.TypeReg})
		tw.Write([]byte(text))
		tw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name       string
		claim      func(id string) []byte // nil: no claim file
		archiveErr error
		adopted    bool
		kept       bool // the container is still there
		wantName   string
	}{
		{"claimed", func(id string) []byte { return claimTar(id) }, nil, true, true, "sandbox-"},
		{"not claimed", nil, nil, false, false, ""},
		{"claim file of another sandbox", func(string) []byte { return claimTar("someone") }, nil, false, false, ""},
		{"claim file not a tar of one file", func(string) []byte { return []byte("junk") }, nil, false, true, "spare-"},
		{"claim file unreadable", func(id string) []byte { return claimTar(id) }, errors.New("runtime hiccup"), false, true, "spare-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := fake.NewBackend()
			ctx := context.Background()
			m1 := startOn(b)
			id, err := m1.Create(ctx, "docker", spareCfg("a"))
			if err != nil {
				t.Fatal(err)
			}
			m1.Shutdown(ctx, false)
			var cid string
			for _, c := range b.Containers() {
				cid = c.ID
			}
			// What a kill -9 right after the claim leaves.
			b.Rename(ctx, cid, "spare-"+id)
			if tt.claim != nil {
				b.PutArchive(ctx, cid, runner.ClaimFile, bytes.NewReader(tt.claim(id)))
			}
			b.FailGetArchive = tt.archiveErr

			m2 := startOn(b)
			defer m2.Shutdown(ctx, false)
			if _, ok := m2.Get(id); ok != tt.adopted {
				t.Errorf("adopted = %v, want %v", ok, tt.adopted)
			}
			cs := b.Containers()
			if kept := len(cs) == 1; kept != tt.kept {
				t.Fatalf("container kept = %v, want %v", kept, tt.kept)
			}
			if tt.kept && cs[0].Spec.Name != tt.wantName+id {
				t.Errorf("container named %s, want %s", cs[0].Spec.Name, tt.wantName+id)
			}
			if tt.adopted {
				if r, err := m2.Execute(ctx, id, "echo", echo("adopted", 0)); err != nil || r.Output != "adopted" {
					t.Errorf("call on the adopted spare: %+v %v", r, err)
				}
			}
		})
	}
}
