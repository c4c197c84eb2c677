package manager_test

import (
	"context"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/sdk"
)

// replicas starts two managers sharing one instance on one backend.
func replicas(t *testing.T) (a, b *manager.Manager, be *fake.Backend) {
	t.Helper()
	be = fake.NewBackend()
	start := func(name string) *manager.Manager {
		opts := manager.DefaultOptions()
		opts.CleanupInterval, opts.Replica, opts.SyncInterval = 0, name, 10*time.Millisecond
		m := manager.New(opts, plugins{be}, newExec(opts))
		m.Start(context.Background())
		t.Cleanup(func() { m.Shutdown(context.Background(), false) })
		return m
	}
	return start("a"), start("b"), be
}

// eventually polls cond (bounded) while the replicas sync.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReplicasShareSandboxes(t *testing.T) {
	a, b, _ := replicas(t)
	ctx := context.Background()
	id, err := a.Create(ctx, "docker", []byte(`{"tools_config": {"echo": {}}}`))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "b lists a's sandbox", func() bool { _, ok := b.Get(id); return ok })
	if r, err := b.Execute(ctx, id, "echo", []byte(`{"text": "hi"}`)); err != nil || r.Status != "success" {
		t.Errorf("call through b: %+v, %v", r, err)
	}
	if err := b.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a sees the stop", func() bool { in, _ := a.Get(id); return in.Status == manager.StatusStopped })
	if err := b.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a forgets the deleted sandbox", func() bool { _, ok := a.Get(id); return !ok })
}

func TestReplicasKeepTheirPools(t *testing.T) {
	a, b, be := replicas(t)
	ctx := context.Background()
	init, err := a.InitializePool(ctx, "docker", 2, []byte(`{"tools_config": {"echo": {}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range init.IDs {
		eventually(t, "b lists a's pool member", func() bool { in, ok := b.Get(id); return ok && in.Status == manager.StatusIdle })
	}
	for _, st := range be.Containers() {
		if st.Spec.Labels[manager.LabelPool] == "true" && st.Spec.Labels[manager.LabelOwner] != "a" {
			t.Errorf("pool member %s carries owner %q, want a", st.ID, st.Spec.Labels[manager.LabelOwner])
		}
	}
	if idle, _ := b.PoolCounts(); idle != 0 {
		t.Errorf("b counts %d pool members of its own; a's are not b's to lend", idle)
	}
	if idle, _ := a.PoolCounts(); idle != 2 {
		t.Errorf("a counts %d idle members, want 2", idle)
	}
}

// TestReplicasLeaveOthersContainersAlone: a container of another replica
// that this one cannot read (a newer version's config, say) is skipped,
// never removed.
func TestReplicasLeaveOthersContainersAlone(t *testing.T) {
	_, b, be := replicas(t)
	ctx := context.Background()
	foreign := func(id, cfg string) string {
		st, err := be.Create(ctx, sdk.Spec{Name: "sandbox-" + id, Image: "x", Labels: map[string]string{
			manager.LabelMSEnclave: "true", manager.LabelInstance: "default", manager.LabelID: id, manager.LabelType: "docker",
			manager.LabelConfig: cfg, manager.LabelCreatedAt: "2026-01-01T00:00:00.000000", manager.LabelPool: "false", manager.LabelOwner: "c"}}, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return st.ContainerID
	}
	unreadable := foreign("zzzzzzzz", "{not json")
	foreign("yyyyyyyy", "{}")
	// A sync that saw the readable one listed the unreadable one too.
	eventually(t, "b adopts the readable sandbox", func() bool { _, ok := b.Get("yyyyyyyy"); return ok })
	found := false
	for _, c := range be.Containers() {
		found = found || c.ID == unreadable
	}
	if !found {
		t.Errorf("b removed another replica's container it could not read")
	}
	if _, ok := b.Get("zzzzzzzz"); ok {
		t.Errorf("b registered a sandbox it could not read")
	}
}
