package manager_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/internal/manager"
)

func echo(text string, sleep float64) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"text":%q,"sleep":%v}`, text, sleep))
}

// borrower returns which sandbox served a pool call (the echo tool cannot
// tell, so it is read from the registry: the member that became busy).
func initPool(t *testing.T, m *manager.Manager, n int) []string {
	t.Helper()
	res, err := m.InitializePool(context.Background(), "docker", n, json.RawMessage(`{"tools_config":["echo"]}`))
	if err != nil || len(res.IDs) != n {
		t.Fatalf("InitializePool = %+v, %v", res, err)
	}
	return res.IDs
}

func TestPoolBeforeInitialize(t *testing.T) {
	m, _ := newManager(t, nil)
	_, err := m.PoolExecute(context.Background(), "echo", echo("x", 0), 0)
	if kind(err) != manager.KindPoolEmpty || !strings.Contains(err.Error(), "initialize_pool first") {
		t.Errorf("PoolExecute before init = %v", err)
	}
}

func TestPoolRoundRobinAndStates(t *testing.T) {
	m, _ := newManager(t, nil)
	ids := initPool(t, m, 2)
	for _, id := range ids {
		if in, _ := m.Get(id); in.Status != manager.StatusIdle || !in.Pool {
			t.Errorf("%s: status %s pool %v, want idle pool member", id, in.Status, in.Pool)
		}
	}
	st := m.Stats()
	if st.PoolSize != 2 || !st.PoolInitialized {
		t.Errorf("stats pool_size %d initialized %v", st.PoolSize, st.PoolInitialized)
	}
	// Watch which member is busy during each call.
	var order []string
	for i := 0; i < 4; i++ {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := m.PoolExecute(context.Background(), "echo", echo("x", 0.2), 0); err != nil {
				t.Error(err)
			}
		}()
		var busy string
		for busy == "" {
			for _, in := range m.List(manager.StatusBusy) {
				busy = in.ID
			}
			time.Sleep(5 * time.Millisecond)
		}
		order = append(order, busy)
		<-done
		// The member is back once what the call left running is swept.
		waitFor(t, "members idle", func() bool { return len(m.List(manager.StatusIdle)) == 2 })
	}
	want := []string{ids[0], ids[1], ids[0], ids[1]}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("served %v, want %v", order, want)
	}
}

func TestPoolWaitAndTimeout(t *testing.T) {
	m, _ := newManager(t, nil)
	initPool(t, m, 1)
	ctx := context.Background()
	go m.PoolExecute(ctx, "echo", echo("slow", 1), 0)
	for len(m.List(manager.StatusBusy)) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	_, err := m.PoolExecute(ctx, "echo", echo("x", 0), 0.2)
	if kind(err) != manager.KindPoolTimeout || err.Error() != "Timeout waiting for available sandbox from pool after 0.2s" {
		t.Errorf("busy pool = %v", err)
	}
	// A waiter with a long enough bound gets the member when it is returned.
	r, err := m.PoolExecute(ctx, "echo", echo("waited", 0), 5)
	if err != nil || r.Output != "waited" {
		t.Errorf("waiter = %+v, %v", r, err)
	}
}

func TestPoolConcurrentBeyondSize(t *testing.T) {
	m, _ := newManager(t, nil)
	initPool(t, m, 2)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := m.PoolExecute(context.Background(), "echo", echo(fmt.Sprint(i), 0.01), 10)
			if err != nil || r.Output != fmt.Sprint(i) {
				t.Errorf("call %d: %+v %v", i, r, err)
			}
		}(i)
	}
	wg.Wait()
	waitFor(t, "both members idle after the calls", func() bool { return len(m.List(manager.StatusIdle)) == 2 })
}

func TestPoolToolMissingIs400(t *testing.T) {
	m, _ := newManager(t, nil)
	initPool(t, m, 1)
	_, err := m.PoolExecute(context.Background(), "python_executor", json.RawMessage(`{}`), 0)
	if kind(err) != manager.KindBadRequest || err.Error() != "Tool python_executor is not available" {
		t.Errorf("missing tool = %v", err)
	}
	if n := len(m.List(manager.StatusIdle)); n != 1 {
		t.Errorf("member not returned after a 400")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPoolHealing(t *testing.T) {
	m, b := newManager(t, func(o *manager.Options) { o.HealthInterval = 50 * time.Millisecond })
	ctx := context.Background()
	ids := initPool(t, m, 3)
	// Removed behind the server's back: dropped and replaced.
	for _, c := range b.Containers() {
		if c.Spec.Labels["enclave.id"] == ids[0] {
			b.Remove(ctx, c.ID)
		}
	}
	waitFor(t, "replacement of a removed member", func() bool {
		in, _ := m.Get(ids[0])
		return in.Status == manager.StatusError && m.Stats().PoolSize == 3
	})
	// Stopped through the API: dropped and replaced.
	if err := m.Stop(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replacement of a stopped member", func() bool { return m.Stats().PoolSize == 3 })
	// Deleted through the API: the pool shrinks.
	if err := m.Delete(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := m.Stats().PoolSize; n != 2 {
		t.Errorf("pool size after DELETE = %d, want 2", n)
	}
	if r, err := m.PoolExecute(ctx, "echo", echo("ok", 0), 5); err != nil || r.Output != "ok" {
		t.Errorf("pool call after healing: %+v %v", r, err)
	}
}

func TestPoolReset(t *testing.T) {
	m, b := newManager(t, func(o *manager.Options) { o.PoolReset = true })
	ctx := context.Background()
	ids := initPool(t, m, 1)
	before, _ := m.Get(ids[0])
	if _, err := m.PoolExecute(ctx, "echo", echo("x", 0), 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reset member idle", func() bool { in, _ := m.Get(ids[0]); return in.Status == manager.StatusIdle })
	after, _ := m.Get(ids[0])
	if after.ContainerID == before.ContainerID {
		t.Errorf("container unchanged after a reset")
	}
	n := 0
	for _, c := range b.Containers() {
		if strings.HasPrefix(c.Spec.Name, "sandbox-") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d sandbox containers after reset, want 1", n)
	}
}

func TestReadoption(t *testing.T) {
	b := fake.NewBackend()
	ctx := context.Background()
	m1 := startOn(b)
	plain, _ := m1.Create(ctx, "docker", json.RawMessage(`{"tools_config":["echo"],"env_vars":{"K":"v"}}`))
	res, _ := m1.InitializePool(ctx, "docker", 2, json.RawMessage(`{"tools_config":["echo"]}`))
	stopped, _ := m1.Create(ctx, "docker", json.RawMessage(`{"remove_on_exit":false}`))
	m1.Stop(ctx, stopped)
	before := map[string]manager.SandboxInfo{}
	for _, in := range m1.List("") {
		before[in.ID] = in
	}
	m1.Shutdown(ctx, false) // keeps the sandboxes

	// A create interrupted by a crash leaves a created, never-started container.
	b.Create(ctx, sdkSpecWithLabels(map[string]string{"ms-enclave": "true", "enclave.instance": "default", "enclave.id": "zzzzzzzz", "enclave.type": "docker"}), 0)
	for _, c := range b.Containers() {
		if c.Spec.Labels["enclave.id"] == "zzzzzzzz" {
			setStatus(b, c.ID, "created")
		}
	}

	m2 := startOn(b)
	defer m2.Shutdown(ctx, false)
	for id, was := range before {
		now, ok := m2.Get(id)
		if !ok || now.Type != was.Type || string(now.Config) != string(was.Config) || !now.CreatedAt.Equal(was.CreatedAt.Truncate(time.Microsecond)) {
			t.Errorf("%s: after restart %+v, before %+v", id, now, was)
		}
	}
	if in, _ := m2.Get(plain); in.Status != manager.StatusRunning {
		t.Errorf("plain sandbox status %s", in.Status)
	}
	if in, _ := m2.Get(stopped); in.Status != manager.StatusStopped {
		t.Errorf("stopped sandbox status %s", in.Status)
	}
	for _, id := range res.IDs {
		if in, _ := m2.Get(id); in.Status != manager.StatusIdle || !in.Pool {
			t.Errorf("pool member %s: %s pool=%v", id, in.Status, in.Pool)
		}
	}
	if !m2.Stats().PoolInitialized {
		t.Errorf("pool not initialized after re-adoption")
	}
	if _, ok := m2.Get("zzzzzzzz"); ok {
		t.Errorf("a never-started container was adopted")
	}
	for _, c := range b.Containers() {
		if c.Spec.Labels["enclave.id"] == "zzzzzzzz" {
			t.Errorf("a never-started container was not removed")
		}
	}
	if r, err := m2.Execute(ctx, plain, "echo", echo("again", 0)); err != nil || r.Output != "again" {
		t.Errorf("execute after re-adoption: %+v %v", r, err)
	}
	if r, err := m2.PoolExecute(ctx, "echo", echo("pool", 0), 0); err != nil || r.Output != "pool" {
		t.Errorf("pool after re-adoption: %+v %v", r, err)
	}
}

func TestIdleTTL(t *testing.T) {
	m, _ := newManager(t, func(o *manager.Options) {
		o.IdleTTL = 100 * time.Millisecond
		o.CleanupInterval = 50 * time.Millisecond
	})
	ctx := context.Background()
	busy, _ := m.Create(ctx, "docker", json.RawMessage(`{"tools_config":["echo"]}`))
	idle, _ := m.Create(ctx, "docker", nil)
	done := make(chan struct{})
	go func() { m.Execute(ctx, busy, "echo", echo("long", 0.6)); close(done) }()
	waitFor(t, "idle sandbox reaped", func() bool { _, ok := m.Get(idle); return !ok })
	if _, ok := m.Get(busy); !ok {
		t.Errorf("a sandbox with a call in flight was reaped")
	}
	<-done
}

func TestSpareFromPoolConfig(t *testing.T) {
	b := fake.NewBackend()
	ctx := context.Background()
	m := startOn(b)
	cfg := json.RawMessage(`{"tools_config":["echo"],"memory_limit":"1g"}`)
	if _, err := m.InitializePool(ctx, "docker", 1, cfg); err != nil {
		t.Fatal(err)
	}
	spares := func() int {
		n := 0
		for _, c := range b.Containers() {
			if strings.HasPrefix(c.Spec.Name, "spare-") {
				n++
			}
		}
		return n
	}
	waitFor(t, "a spare of the pool's config", func() bool { return spares() == 1 })
	before := len(b.Containers())
	id, err := m.Create(ctx, "docker", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var claimed bool
	for _, c := range b.Containers() {
		claimed = claimed || (c.Spec.Name == "sandbox-"+id && c.Spec.Labels["enclave.id"] == id)
	}
	if !claimed {
		t.Errorf("the create did not get the spare (containers: %+v)", b.Containers())
	}
	if r, err := m.Execute(ctx, id, "echo", echo("from spare", 0)); err != nil || r.Output != "from spare" {
		t.Errorf("execute on a claimed spare: %+v %v", r, err)
	}
	waitFor(t, "the spare replenished", func() bool { return spares() == 1 && len(b.Containers()) == before+1 })
	// Another config gets a normal create.
	other, _ := m.Create(ctx, "docker", json.RawMessage(`{"tools_config":["echo"]}`))
	if in, _ := m.Get(other); in.Status != manager.StatusRunning {
		t.Errorf("plain create: %+v", in)
	}
	// After a restart the claimed spare is a sandbox and the waiting one is gone.
	m.Shutdown(ctx, false)
	if spares() != 0 {
		t.Errorf("shutdown left %d spares", spares())
	}
	m2 := startOn(b)
	defer m2.Shutdown(ctx, false)
	if in, ok := m2.Get(id); !ok || in.Status != manager.StatusRunning {
		t.Errorf("claimed spare after restart: %+v %v", in, ok)
	}
}
