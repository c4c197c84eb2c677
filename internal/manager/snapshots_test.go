package manager_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// tarOf is a tar holding one file.
func tarOf(t *testing.T, name, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(content))
	tw.Close()
	return buf.Bytes()
}

func create(t *testing.T, m *manager.Manager, body string) string {
	t.Helper()
	id, err := m.Create(context.Background(), "docker", json.RawMessage(body))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// container is the fake container of a sandbox.
func container(t *testing.T, m *manager.Manager, b *fake.Backend, id string) fake.Container {
	t.Helper()
	info, ok := m.Get(id)
	if !ok {
		t.Fatalf("sandbox %s not found", id)
	}
	for _, c := range b.Containers() {
		if c.ID == info.ContainerID {
			return c
		}
	}
	t.Fatalf("no container for %s", id)
	return fake.Container{}
}

func TestSnapshotAndCreateFromIt(t *testing.T) {
	ctx := context.Background()
	m, b := newManager(t, nil)
	src := create(t, m, `{"tools_config":["echo"],"env_vars":{"A":"1"},"memory_limit":"512m"}`)
	files := tarOf(t, "f", "parent files")
	if err := m.PutArchive(ctx, src, "/sandbox", bytes.NewReader(files)); err != nil {
		t.Fatal(err)
	}
	snap, err := m.TakeSnapshot(ctx, src, manager.SnapshotRequest{Name: "ready", Labels: map[string]string{"task": "t1"}})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Name != "ready" || snap.SandboxID != src || snap.Type != "docker" || snap.Labels["task"] != "t1" || snap.ID == "" {
		t.Errorf("snapshot %+v", snap)
	}
	for _, tt := range []struct {
		labels map[string]string
		want   int
	}{{nil, 1}, {map[string]string{"task": "t1"}, 1}, {map[string]string{"task": "t2"}, 0}} {
		list, err := m.Snapshots(ctx, tt.labels)
		if err != nil || len(list) != tt.want {
			t.Errorf("Snapshots(%v) = %d, %v; want %d", tt.labels, len(list), err, tt.want)
		}
	}

	// The snapshot's config is the base; the request's fields replace its.
	child := create(t, m, `{"snapshot":"ready","env_vars":{"B":"2"}}`)
	info, _ := m.Get(child)
	var cfg map[string]any
	json.Unmarshal(info.Config, &cfg)
	if cfg["memory_limit"] != "512m" || cfg["snapshot"] != "ready" || cfg["env_vars"].(map[string]any)["B"] != "2" || cfg["env_vars"].(map[string]any)["A"] != nil {
		t.Errorf("config of a sandbox from a snapshot: %s", info.Config)
	}
	c := container(t, m, b, child)
	if c.Spec.Image != snap.ID || c.Spec.Labels[manager.LabelImage] != snap.ID {
		t.Errorf("image %s, label %s; want %s", c.Spec.Image, c.Spec.Labels[manager.LabelImage], snap.ID)
	}
	if !bytes.Equal(c.Files["/sandbox"], files) {
		t.Errorf("files %q", c.Files)
	}
	if _, err := m.Execute(ctx, child, "echo", json.RawMessage(`{"text":"x"}`)); err != nil {
		t.Errorf("call in the child: %v", err)
	}

	// Deleted: the name is free, the child runs on.
	if err := m.DeleteSnapshot(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetSnapshot(ctx, "ready"); kind(err) != manager.KindNotFound {
		t.Errorf("deleted snapshot: %v", err)
	}
	if _, err := m.Create(ctx, "docker", json.RawMessage(`{"snapshot":"ready"}`)); kind(err) != manager.KindCreateFailed || !strings.Contains(err.Error(), "not found") {
		t.Errorf("create from a deleted snapshot: %v", err)
	}
	if _, err := m.Execute(ctx, child, "echo", json.RawMessage(`{"text":"x"}`)); err != nil {
		t.Errorf("child after its snapshot was deleted: %v", err)
	}
}

func TestSnapshotRefusals(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, func(o *manager.Options) { o.MaxSnapshots = 2 })
	src := create(t, m, `{}`)
	if _, err := m.TakeSnapshot(ctx, src, manager.SnapshotRequest{Name: "one"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.InitializePool(ctx, "docker", 1, nil); err != nil {
		t.Fatal(err)
	}
	member := m.List("")[1].ID
	tests := []struct {
		name string
		id   string
		req  manager.SnapshotRequest
		want manager.ErrorKind
	}{
		{"bad name", src, manager.SnapshotRequest{Name: "-x"}, manager.KindBadRequest},
		{"bad label key", src, manager.SnapshotRequest{Labels: map[string]string{"a b": "c"}}, manager.KindBadRequest},
		{"name taken", src, manager.SnapshotRequest{Name: "one"}, manager.KindConflict},
		{"no such sandbox", "nosuchsb", manager.SnapshotRequest{}, manager.KindNotFound},
		{"pool member", member, manager.SnapshotRequest{}, manager.KindConflict},
	}
	for _, tt := range tests {
		if _, err := m.TakeSnapshot(ctx, tt.id, tt.req); kind(err) != tt.want {
			t.Errorf("%s: %v, want kind %d", tt.name, err, tt.want)
		}
	}
	if _, err := m.TakeSnapshot(ctx, src, manager.SnapshotRequest{}); err != nil {
		t.Fatalf("second snapshot (generated name): %v", err)
	}
	if _, err := m.TakeSnapshot(ctx, src, manager.SnapshotRequest{}); kind(err) != manager.KindConflict || !strings.Contains(err.Error(), "quota") {
		t.Errorf("past --max-snapshots: %v", err)
	}
	if err := m.DeleteSnapshot(ctx, "nosuch"); kind(err) != manager.KindNotFound {
		t.Errorf("delete of a missing snapshot: %v", err)
	}
}

func TestSnapshotExpiresAndImagesArePruned(t *testing.T) {
	ctx := context.Background()
	b := fake.NewBackend()
	opts := manager.DefaultOptions()
	opts.CleanupInterval = 0
	m := manager.New(opts, plugins{b}, newExec(opts))
	m.Start(ctx)
	src := create(t, m, `{}`)
	brief, err := m.TakeSnapshot(ctx, src, manager.SnapshotRequest{Name: "brief", TTL: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.TakeSnapshot(ctx, src, manager.SnapshotRequest{Name: "kept"}); err != nil {
		t.Fatal(err)
	}
	ids, err := m.Fork(ctx, src, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	m.Shutdown(ctx, false)
	for !time.Now().After(brief.ExpiresAt) { // the restart's one sweep must find it expired
		time.Sleep(time.Millisecond)
	}

	// A restarted server's first sweep deletes the expired snapshot and
	// prunes the fork's image (its child is gone); the other stays.
	m2 := manager.New(opts, plugins{b}, newExec(opts))
	m2.Start(ctx)
	t.Cleanup(func() { m2.Shutdown(ctx, false) })
	deadline := time.Now().Add(5 * time.Second)
	for {
		all, _ := b.Snapshots(ctx, nil)
		list, _ := m2.Snapshots(ctx, nil)
		if len(all) == 1 && len(list) == 1 && list[0].Name == "kept" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the sweep: %d images, snapshots %+v", len(all), list)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFork(t *testing.T) {
	ctx := context.Background()
	m, b := newManager(t, func(o *manager.Options) { o.MaxSandboxes = 4 })
	src := create(t, m, `{"tools_config":["echo"],"env_vars":{"A":"1"}}`)
	files := tarOf(t, "state", "state")
	if err := m.PutArchive(ctx, src, "/sandbox", bytes.NewReader(files)); err != nil {
		t.Fatal(err)
	}
	ids, err := m.Fork(ctx, src, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 || slices.Contains(ids, "") {
		t.Fatalf("fork ids %v", ids)
	}
	srcInfo, _ := m.Get(src)
	for _, id := range ids {
		info, _ := m.Get(id)
		if string(info.Config) != string(srcInfo.Config) {
			t.Errorf("child %s config %s, want the source's %s", id, info.Config, srcInfo.Config)
		}
		if c := container(t, m, b, id); !bytes.Equal(c.Files["/sandbox"], files) {
			t.Errorf("child %s files %q", id, c.Files)
		}
	}
	for _, tt := range []struct {
		name  string
		id    string
		count int
		want  manager.ErrorKind
	}{
		{"zero", src, 0, manager.KindBadRequest},
		{"too many", src, manager.MaxFork + 1, manager.KindBadRequest},
		{"past --max-sandboxes", src, 1, manager.KindConflict},
		{"no such sandbox", "nosuchsb", 1, manager.KindNotFound},
	} {
		if _, err := m.Fork(ctx, tt.id, tt.count); kind(err) != tt.want {
			t.Errorf("%s: %v, want kind %d", tt.name, err, tt.want)
		}
	}
}

// TestForkAllOrNone: a child that cannot start takes the others with it.
func TestForkAllOrNone(t *testing.T) {
	ctx := context.Background()
	m, b := newManager(t, nil)
	src := create(t, m, `{}`)
	b.FailCreate = fmt.Errorf("no room: %w", sdk.ErrStartFailed)
	if _, err := m.Fork(ctx, src, 3); err == nil {
		t.Fatal("fork with failing creates succeeded")
	}
	b.FailCreate = nil
	if n := len(m.List("")); n != 1 {
		t.Errorf("%d sandboxes after a failed fork, want only the source", n)
	}
	if imgs, _ := b.Snapshots(ctx, nil); len(imgs) != 0 {
		t.Errorf("%d images left by a failed fork", len(imgs))
	}
}

func TestPauseResume(t *testing.T) {
	ctx := context.Background()
	m, b := newManager(t, nil)
	id := create(t, m, `{"tools_config":["echo"]}`)
	if err := m.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if c := container(t, m, b, id); c.Status != "paused" {
		t.Errorf("container %s after pause", c.Status)
	}
	if info, _ := m.Get(id); info.PausedAt.IsZero() || info.Status != manager.StatusRunning {
		t.Errorf("paused sandbox: status %s paused_at %v", info.Status, info.PausedAt)
	}
	if _, err := m.Execute(ctx, id, "echo", json.RawMessage(`{"text":"x"}`)); kind(err) != manager.KindConflict || !strings.Contains(err.Error(), "paused") {
		t.Errorf("call to a paused sandbox: %v", err)
	}
	if err := m.Pause(ctx, id); err != nil {
		t.Errorf("second pause: %v", err)
	}
	if _, err := m.TakeSnapshot(ctx, id, manager.SnapshotRequest{Name: "frozen"}); err != nil {
		t.Errorf("snapshot of a paused sandbox: %v", err)
	}
	if err := m.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	if info, _ := m.Get(id); !info.PausedAt.IsZero() {
		t.Errorf("resumed sandbox still shows paused_at %v", info.PausedAt)
	}
	if _, err := m.Execute(ctx, id, "echo", json.RawMessage(`{"text":"x"}`)); err != nil {
		t.Errorf("call after resume: %v", err)
	}

	// Delete of a paused sandbox works.
	if err := m.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, id); err != nil {
		t.Errorf("delete of a paused sandbox: %v", err)
	}
	for _, tt := range []struct {
		name string
		id   string
		want manager.ErrorKind
	}{{"no such sandbox", "nosuchsb", manager.KindNotFound}} {
		if err := m.Pause(ctx, tt.id); kind(err) != tt.want {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// lacking hides the fake backend's optional capabilities.
type lacking struct{ backend.Backend }

type lackingPlugins struct{ b backend.Backend }

func (p lackingPlugins) Backend(t string) (backend.Backend, bool) { return p.b, t == "docker" }
func (p lackingPlugins) Tool(name string) (manager.Tool, bool)    { return fake.Echo{}, name == "echo" }
func (p lackingPlugins) Backends() []backend.Backend              { return []backend.Backend{p.b} }

func TestUnsupportedByBackend(t *testing.T) {
	ctx := context.Background()
	opts := manager.DefaultOptions()
	m := manager.New(opts, lackingPlugins{lacking{fake.NewBackend()}}, newExec(opts))
	m.Start(ctx)
	t.Cleanup(func() { m.Shutdown(ctx, false) })
	id := create(t, m, `{}`)
	if _, err := m.TakeSnapshot(ctx, id, manager.SnapshotRequest{}); kind(err) != manager.KindUnsupported {
		t.Errorf("snapshot: %v", err)
	}
	if _, err := m.Fork(ctx, id, 1); kind(err) != manager.KindUnsupported {
		t.Errorf("fork: %v", err)
	}
	if err := m.Pause(ctx, id); kind(err) != manager.KindUnsupported {
		t.Errorf("pause: %v", err)
	}
	if _, err := m.Create(ctx, "docker", json.RawMessage(`{"snapshot":"x"}`)); kind(err) != manager.KindUnsupported {
		t.Errorf("create from a snapshot: %v", err)
	}
	if list, err := m.Snapshots(ctx, nil); err != nil || len(list) != 0 {
		t.Errorf("list: %v %v", list, err)
	}
}
