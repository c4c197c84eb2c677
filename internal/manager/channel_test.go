package manager_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/internal/executor"
	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/runner"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// localMounts is a fake backend whose bind mounts are this host's paths
// (as Podman's are).
type localMounts struct{ *fake.Backend }

func (localMounts) MountsLocally() bool { return true }

type localPlugins struct{ b backend.Backend }

func (p localPlugins) Backend(t string) (backend.Backend, bool) { return p.b, t == "docker" }
func (p localPlugins) Tool(name string) (manager.Tool, bool)    { return fake.Echo{}, name == "echo" }
func (p localPlugins) Backends() []backend.Backend              { return []backend.Backend{p.b} }

func channelManager(t *testing.T, b backend.Backend, dir string) *manager.Manager {
	t.Helper()
	opts := manager.DefaultOptions()
	opts.CleanupInterval, opts.HealthInterval, opts.Spares = 0, 0, 0
	opts.ChannelDir = dir
	m := manager.New(opts, localPlugins{b}, newExec(opts))
	m.Start(context.Background())
	t.Cleanup(func() { m.Shutdown(context.Background(), false) })
	return m
}

// channelSandbox creates a sandbox with a channel, on a fake backend that
// mounts this host's paths, under a new channel directory.
func channelSandbox(t *testing.T) (dir string, f *fake.Backend, id string) {
	t.Helper()
	dir, f = t.TempDir(), fake.NewBackend()
	id, err := channelManager(t, localMounts{f}, dir).Create(context.Background(), "docker", json.RawMessage(`{"tools_config":["echo"]}`))
	if err != nil {
		t.Fatal(err)
	}
	return dir, f, id
}

// TestChannelDirs: a sandbox on a backend that mounts this host's paths
// gets its own channel directory, mounted read-only and named by a label;
// the directory goes with the sandbox, survives a restart, and one no
// container mounts is swept at start. Elsewhere, or with no ChannelDir,
// nothing is mounted.
func TestChannelDirs(t *testing.T) {
	tests := []struct {
		name    string
		b       func(*fake.Backend) backend.Backend
		dir     bool
		mounted bool
	}{
		{"local mounts", func(f *fake.Backend) backend.Backend { return localMounts{f} }, true, true},
		{"local mounts, no channel dir", func(f *fake.Backend) backend.Backend { return localMounts{f} }, false, false},
		{"mounts elsewhere", func(f *fake.Backend) backend.Backend { return f }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := fake.NewBackend()
			b := tt.b(f)
			dir := ""
			if tt.dir {
				dir = t.TempDir()
			}
			stray := filepath.Join(t.TempDir(), "stray")
			if dir != "" {
				stray = filepath.Join(dir, "stray123")
				if err := os.Mkdir(stray, 0o711); err != nil {
					t.Fatal(err)
				}
			}
			m := channelManager(t, b, dir)
			if _, err := os.Stat(stray); dir != "" && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a directory no container mounts survived the start: %v", err)
			}
			id, err := m.Create(ctx, "docker", json.RawMessage(`{"tools_config":["echo"]}`))
			if err != nil {
				t.Fatal(err)
			}
			spec := f.Containers()[0].Spec
			want := filepath.Join(dir, id)
			mount := sdk.Mount{HostPath: want, ContainerPath: manager.ChannelMount, ReadOnly: true}
			if got := slices.Contains(spec.Mounts, mount); got != tt.mounted {
				t.Fatalf("channel mounted: %v, want %v (mounts %v)", got, tt.mounted, spec.Mounts)
			}
			if !tt.mounted {
				if l, ok := spec.Labels[manager.LabelChannel]; ok {
					t.Errorf("label %q without a channel", l)
				}
				return
			}
			if spec.Labels[manager.LabelChannel] != want {
				t.Errorf("label %q, want %q", spec.Labels[manager.LabelChannel], want)
			}
			if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o711 {
				t.Fatalf("channel directory: %v %v", fi, err)
			}
			// A boot prepared by a server killed before its runner came.
			for _, f := range []string{runner.BootKeyFile, runner.BootFile} {
				if err := os.WriteFile(filepath.Join(want, f), []byte("stale"), 0o444); err != nil {
					t.Fatal(err)
				}
			}
			m.Shutdown(ctx, false)
			m2 := channelManager(t, b, dir) // re-adopts the sandbox: its directory stays
			if _, err := os.Stat(want); err != nil {
				t.Fatalf("channel directory lost across a restart: %v", err)
			}
			for _, f := range []string{runner.BootKeyFile, runner.BootFile} {
				if _, err := os.Stat(filepath.Join(want, f)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a stale %s kept at re-adoption: %v", f, err)
				}
			}
			if err := m2.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(want); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("channel directory left after the delete: %v", err)
			}
		})
	}
}

// TestChannelLabelNotTrusted: a re-adopted container whose channel label
// names any path but a directory right under the server's channel directory
// never gets that path used or removed.
func TestChannelLabelNotTrusted(t *testing.T) {
	ctx := context.Background()
	dir, f, id := channelSandbox(t)
	spec := f.Containers()[0].Spec
	victim := t.TempDir()
	for _, label := range []string{
		victim,
		filepath.Join(dir, "..", filepath.Base(victim)),
		filepath.Join(dir, id, "..", ".."),
		dir,
		"relative/" + id,
	} {
		t.Run(label, func(t *testing.T) {
			// The container as a tampered label would leave it.
			g := fake.NewBackend()
			spec.Labels[manager.LabelChannel] = label
			if _, err := g.Create(ctx, spec, 0); err != nil {
				t.Fatal(err)
			}
			m := channelManager(t, localMounts{g}, dir)
			if _, ok := m.Get(id); !ok {
				t.Fatal("not re-adopted")
			}
			if err := m.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{victim, dir} {
				if _, err := os.Stat(d); err != nil {
					t.Errorf("%s removed: %v", d, err)
				}
			}
		})
	}
}

// TestChannelDirOfStrayRemoved: the health monitor's removal of a stray
// container (a create whose clean-up failed) takes its channel directory
// with it.
func TestChannelDirOfStrayRemoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := fake.NewBackend()
	opts := manager.DefaultOptions()
	opts.CleanupInterval, opts.HealthInterval, opts.Spares, opts.ChannelDir = 0, 20*time.Millisecond, 0, dir
	m := manager.New(opts, localPlugins{localMounts{f}}, newExec(opts))
	m.Start(ctx)
	t.Cleanup(func() { m.Shutdown(ctx, false) })
	strayDir := filepath.Join(dir, "stray001")
	if err := os.Mkdir(strayDir, 0o711); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{manager.LabelMSEnclave: "true", manager.LabelInstance: "default", manager.LabelID: "stray001", manager.LabelChannel: strayDir}
	stray, err := f.Create(ctx, sdk.Spec{Name: "sandbox-stray001", Image: "python:3.11-slim", Labels: labels}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stray container removed", func() bool {
		_, err := f.Inspect(ctx, stray.ContainerID)
		return err != nil
	})
	waitFor(t, "the stray's channel directory removed", func() bool {
		_, err := os.Stat(strayDir)
		return errors.Is(err, os.ErrNotExist)
	})
}

// TestChannelDirOfReplicaDelete: a sandbox one replica created and another
// deleted loses its channel directory (the creator's, which only the
// creator may remove) at the creator's next sync.
func TestChannelDirOfReplicaDelete(t *testing.T) {
	ctx := context.Background()
	f := fake.NewBackend()
	base := t.TempDir()
	start := func(name string) *manager.Manager {
		opts := manager.DefaultOptions()
		opts.CleanupInterval, opts.HealthInterval, opts.Spares = 0, 0, 0
		opts.Replica, opts.SyncInterval = name, 10*time.Millisecond
		opts.ChannelDir = filepath.Join(base, name)
		if err := os.Mkdir(opts.ChannelDir, 0o700); err != nil {
			t.Fatal(err)
		}
		m := manager.New(opts, localPlugins{localMounts{f}}, newExec(opts))
		m.Start(ctx)
		t.Cleanup(func() { m.Shutdown(ctx, false) })
		return m
	}
	a, b := start("a"), start("b")
	id, err := a.Create(ctx, "docker", json.RawMessage(`{"tools_config":["echo"]}`))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "a", id)
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b lists a's sandbox", func() bool { _, ok := b.Get(id); return ok })
	if err := b.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a's channel directory of the sandbox b deleted removed", func() bool {
		_, err := os.Stat(dir)
		return errors.Is(err, os.ErrNotExist)
	})
}

// gatedCreate is a backend whose creates wait for open to close (a slow
// runtime), saying when one has begun.
type gatedCreate struct {
	localMounts
	begun, open chan struct{}
}

func (g gatedCreate) Create(ctx context.Context, s sdk.Spec, d time.Duration) (sdk.State, error) {
	g.begun <- struct{}{}
	<-g.open
	return g.localMounts.Create(ctx, s, d)
}

// TestChannelDirsCollected: whatever removed a sandbox's container without
// its channel directory, the health monitor (or, with replicas, the sync
// that stands for it) removes a directory no container, sandbox or create
// names, and never the directory of a create still waiting for its
// container nor of a sandbox.
func TestChannelDirsCollected(t *testing.T) {
	tests := []struct {
		name string
		opts func(*manager.Options)
	}{
		{"health monitor", func(o *manager.Options) { o.HealthInterval = 10 * time.Millisecond }},
		{"replica sync", func(o *manager.Options) { o.Replica, o.SyncInterval = "a", 10*time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			b := gatedCreate{localMounts{fake.NewBackend()}, make(chan struct{}), make(chan struct{})}
			opts := manager.DefaultOptions()
			opts.CleanupInterval, opts.HealthInterval, opts.Spares, opts.ChannelDir = 0, 0, 0, dir
			tt.opts(&opts)
			m := manager.New(opts, localPlugins{b}, newExec(opts))
			m.Start(ctx)
			t.Cleanup(func() { m.Shutdown(ctx, false) })
			var opened sync.Once
			open := func() { opened.Do(func() { close(b.open) }) }
			t.Cleanup(open) // first: the shutdown waits for the create

			created := make(chan string, 1)
			go func() {
				id, err := m.Create(ctx, "docker", json.RawMessage(`{"tools_config":["echo"]}`))
				if err != nil {
					t.Error(err)
				}
				created <- id
			}()
			<-b.begun
			entries, err := os.ReadDir(dir)
			if err != nil || len(entries) != 1 {
				t.Fatalf("channel directories while creating: %v %v", entries, err)
			}
			creating := filepath.Join(dir, entries[0].Name())
			leak := func() {
				t.Helper()
				leaked := filepath.Join(dir, "leaked01")
				if err := os.Mkdir(leaked, 0o711); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the leaked channel directory removed", func() bool {
					_, err := os.Stat(leaked)
					return errors.Is(err, os.ErrNotExist)
				})
			}
			leak()
			if _, err := os.Stat(creating); err != nil {
				t.Errorf("the channel directory of a create in progress removed: %v", err)
			}
			open()
			id := <-created
			leak()
			if _, err := os.Stat(filepath.Join(dir, id)); err != nil {
				t.Errorf("a sandbox's channel directory removed: %v", err)
			}
		})
	}
}

// listFails is a backend whose listings fail (its runtime down).
type listFails struct{ localMounts }

func (listFails) List(context.Context, map[string]string) ([]sdk.State, error) {
	return nil, errors.New("runtime down")
}

// TestChannelDirsAtShutdown: a channel directory no sandbox names (left
// too late for a health check) goes at shutdown, a sandbox's stays for the
// next server; when the start could not list the containers, nothing goes
// (their directories are not known).
func TestChannelDirsAtShutdown(t *testing.T) {
	for _, listed := range []bool{true, false} {
		t.Run(fmt.Sprintf("listed=%v", listed), func(t *testing.T) {
			ctx := context.Background()
			dir, f, id := channelSandbox(t)
			var b backend.Backend = localMounts{f}
			if !listed {
				b = listFails{localMounts{f}}
			}
			m := channelManager(t, b, dir)
			leaked := filepath.Join(dir, "leaked01")
			if err := os.Mkdir(leaked, 0o711); err != nil {
				t.Fatal(err)
			}
			m.Shutdown(ctx, false)
			if _, err := os.Stat(filepath.Join(dir, id)); err != nil {
				t.Errorf("a sandbox's channel directory removed at shutdown: %v", err)
			}
			if _, err := os.Stat(leaked); listed != errors.Is(err, os.ErrNotExist) {
				t.Errorf("leaked directory after shutdown: %v (removed: want %v)", err, listed)
			}
		})
	}
}

// booting is a fake backend whose containers boot their runner (as
// Podman's with enclave-boot).
type booting struct{ localMounts }

func (booting) Boots() bool { return true }

// TestBootLearnedAtAdoption: a container made to boot its runner says so
// in a label, and a restarted server learns its image from it (the first
// sandbox of that image it creates boots too), but only from a live one.
func TestBootLearnedAtAdoption(t *testing.T) {
	tests := []struct {
		name   string
		known  bool   // the first server knew the image boots
		status string // the container's status at the restart ("": running)
		learns bool
	}{
		{"booted, running", true, "", true},
		{"booted, stopped", true, "exited", false},
		{"not booted", false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir, f := t.TempDir(), fake.NewBackend()
			b := booting{localMounts{f}}
			start := func() (*manager.Manager, *executor.Executor) {
				opts := manager.DefaultOptions()
				opts.CleanupInterval, opts.HealthInterval, opts.Spares = 0, 0, 0
				opts.ChannelDir = dir
				e := executor.New(executor.Options{ResidentRunner: true, StartTimeout: 100 * time.Millisecond}) // a boot nobody answers ends soon
				m := manager.New(opts, localPlugins{b}, e)
				m.Start(ctx)
				return m, e
			}
			m1, e1 := start()
			if tt.known {
				e1.NoteBoot("python:3.11-slim", true)
			}
			if _, err := m1.Create(ctx, "docker", json.RawMessage(`{"tools_config":["echo"]}`)); err != nil {
				t.Fatal(err)
			}
			c := f.Containers()[0]
			if c.Spec.Boot != tt.known || (c.Spec.Labels[manager.LabelBoot] == "true") != tt.known {
				t.Fatalf("first server: boot %v, label %q; want %v", c.Spec.Boot, c.Spec.Labels[manager.LabelBoot], tt.known)
			}
			m1.Shutdown(ctx, false)
			if tt.status != "" {
				f.SetStatus(c.ID, tt.status)
			}

			m2, _ := start()
			t.Cleanup(func() { m2.Shutdown(ctx, false) })
			second, err := m2.Create(ctx, "docker", json.RawMessage(`{"tools_config":["echo"],"env_vars":{"N":"2"}}`))
			if err != nil {
				t.Fatal(err)
			}
			cs := f.Containers()
			i := slices.IndexFunc(cs, func(x fake.Container) bool { return x.Spec.Labels[manager.LabelID] == second })
			if i < 0 || cs[i].Spec.Boot != tt.learns {
				t.Errorf("the restarted server's first create boots (container %d of %d): want %v", i, len(cs), tt.learns)
			}
		})
	}
}
