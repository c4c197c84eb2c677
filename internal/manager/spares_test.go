package manager_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/internal/manager"
)

// spareCfg is a config told apart by its env var.
func spareCfg(tag string) json.RawMessage {
	return json.RawMessage(`{"tools_config":["echo"],"env_vars":{"TAG":"` + tag + `"}}`)
}

// sparesOf lists the tags of the waiting spare containers.
func sparesOf(b *fake.Backend) []string {
	var tags []string
	for _, c := range b.Containers() {
		if !strings.HasPrefix(c.Spec.Name, "spare-") {
			continue
		}
		var cfg struct {
			Env map[string]string `json:"env_vars"`
		}
		json.Unmarshal([]byte(c.Spec.Labels[manager.LabelConfig]), &cfg)
		tags = append(tags, cfg.Env["TAG"])
	}
	slices.Sort(tags)
	return tags
}

// createUsed creates a sandbox of the tagged config and makes a call in it,
// as clients do: the end of that first call starts the replacement spare
// the create earned.
func createUsed(t *testing.T, m *manager.Manager, tag string) string {
	t.Helper()
	ctx := context.Background()
	id, err := m.Create(ctx, "docker", spareCfg(tag))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := m.Execute(ctx, id, "echo", echo("used", 0)); err != nil || r.Output != "used" {
		t.Fatalf("call after create: %+v %v", r, err)
	}
	return id
}

func TestSpareEarnedBySecondCreate(t *testing.T) {
	m, b := newManager(t, nil)
	ctx := context.Background()
	if _, err := m.Create(ctx, "docker", spareCfg("a")); err != nil {
		t.Fatal(err)
	}
	// One create earns nothing (and starts nothing that could come later).
	if got := sparesOf(b); len(got) != 0 {
		t.Fatalf("spares after one create: %v", got)
	}
	createUsed(t, m, "a")
	waitFor(t, "a spare of the config created twice", func() bool { return slices.Equal(sparesOf(b), []string{"a"}) && m.Spares() == 1 })
	spareName := ""
	for _, c := range b.Containers() {
		if strings.HasPrefix(c.Spec.Name, "spare-") {
			spareName = c.Spec.Name
		}
	}
	id, err := m.Create(ctx, "docker", spareCfg("a"))
	if err != nil {
		t.Fatal(err)
	}
	if spareName != "spare-"+id {
		t.Errorf("the third create got %s, the spare was %s", id, spareName)
	}
	if r, err := m.Execute(ctx, id, "echo", echo("warm", 0)); err != nil || r.Output != "warm" {
		t.Errorf("call on the claimed spare: %+v %v", r, err)
	}
	waitFor(t, "the spare replenished", func() bool { return m.Spares() == 1 })
	// A config differing in one field is not compatible.
	other, err := m.Create(ctx, "docker", spareCfg("b"))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(sparesOf(b), "b") || !slices.Equal(sparesOf(b), []string{"a"}) {
		t.Errorf("spares after a create of another config %s: %v", other, sparesOf(b))
	}
}

func TestSpareBudget(t *testing.T) {
	tests := []struct {
		name            string
		spares, perCfg  int
		creates         []string // each config's creates, in order
		want            []string // the spares that wait at the end
		wantAfterExpiry []string
	}{
		{"per config", 4, 2, []string{"a", "a"}, []string{"a", "a"}, nil},
		{"the config used longest ago gives its spare up", 2, 1, []string{"a", "a", "b", "b", "c", "c"}, []string{"b", "c"}, nil},
		{"a used config keeps its spare", 2, 1, []string{"a", "a", "b", "b", "a", "c", "c"}, []string{"a", "c"}, nil},
		{"no spares", 0, 1, []string{"a", "a", "a"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, b := newManager(t, func(o *manager.Options) { o.Spares, o.SparesPerConfig = tt.spares, tt.perCfg })
			for i, tag := range tt.creates {
				createUsed(t, m, tag)
				// Each create's spare work settles before the next, so
				// the order of use is the order above.
				waitFor(t, "spares settled", func() bool {
					return m.Spares() == len(sparesOf(b)) && m.Spares() == min(tt.spares, expectSpares(tt.creates[:i+1], tt.perCfg, tt.spares))
				})
			}
			if got := sparesOf(b); !slices.Equal(got, tt.want) {
				t.Errorf("spares waiting: %v, want %v", got, tt.want)
			}
		})
	}
}

// expectSpares is how many spares wait after creates (configs earn them
// at their second create; the budget caps the total).
func expectSpares(creates []string, perCfg, budget int) int {
	asks := map[string]int{}
	n := 0
	for _, c := range creates {
		asks[c]++
	}
	for _, a := range asks {
		if a >= 2 {
			n += perCfg
		}
	}
	return min(n, budget)
}

func TestSpareExpiry(t *testing.T) {
	m, b := newManager(t, func(o *manager.Options) {
		o.SpareTTL, o.CleanupInterval = 200*time.Millisecond, 20*time.Millisecond
	})
	ctx := context.Background()
	for range 2 {
		createUsed(t, m, "a")
	}
	waitFor(t, "a spare", func() bool { return len(sparesOf(b)) == 1 })
	waitFor(t, "the spare of a config not asked for within the ttl removed", func() bool { return len(sparesOf(b)) == 0 && m.Spares() == 0 })
	// Forgotten: the next create of it is the first again.
	if _, err := m.Create(ctx, "docker", spareCfg("a")); err != nil {
		t.Fatal(err)
	}
	if got := sparesOf(b); len(got) != 0 {
		t.Errorf("a forgotten config's first create made spares: %v", got)
	}
}

func TestPoolConfigSpareOutlivesTTL(t *testing.T) {
	m, b := newManager(t, func(o *manager.Options) {
		o.SpareTTL, o.CleanupInterval = 50*time.Millisecond, 20*time.Millisecond
	})
	ctx := context.Background()
	if _, err := m.InitializePool(ctx, "docker", 1, spareCfg("p")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pool config's spare", func() bool { return len(sparesOf(b)) == 1 })
	// Another config earns and loses its spare meanwhile: the sweep ran.
	for range 2 {
		createUsed(t, m, "x")
	}
	waitFor(t, "the other config's spare", func() bool { return slices.Contains(sparesOf(b), "x") })
	waitFor(t, "the other config's spare expired", func() bool { return !slices.Contains(sparesOf(b), "x") })
	if got := sparesOf(b); !slices.Equal(got, []string{"p"}) {
		t.Errorf("spares with a live pool: %v, want the pool's", got)
	}
}

// TestDeadSpareNotHandedOut: a spare whose container exited or was removed
// behind the server's back is removed at its claim, and the create starts a
// sandbox of its own instead.
func TestDeadSpareNotHandedOut(t *testing.T) {
	for _, tt := range []struct {
		name string
		kill func(b *fake.Backend, id string)
	}{
		{"exited", func(b *fake.Backend, id string) { b.SetStatus(id, "exited") }},
		{"removed", func(b *fake.Backend, id string) { b.Remove(context.Background(), id) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, b := newManager(t, nil)
			ctx := context.Background()
			for range 2 {
				if _, err := m.Create(ctx, "docker", spareCfg("a")); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "a spare", func() bool { return m.Spares() == 1 })
			var spare fake.Container
			for _, c := range b.Containers() {
				if strings.HasPrefix(c.Spec.Name, "spare-") {
					spare = c
				}
			}
			tt.kill(b, spare.ID)
			id, err := m.Create(ctx, "docker", spareCfg("a"))
			if err != nil {
				t.Fatal(err)
			}
			if "spare-"+id == spare.Spec.Name {
				t.Fatalf("the dead spare %s was handed out", spare.Spec.Name)
			}
			if r, err := m.Execute(ctx, id, "echo", echo("fresh", 0)); err != nil || r.Output != "fresh" {
				t.Errorf("call on the created sandbox: %+v %v", r, err)
			}
			for _, c := range b.Containers() {
				if c.ID == spare.ID {
					t.Errorf("the dead spare's container is still there (%s, %s)", c.Spec.Name, c.Status)
				}
			}
		})
	}
}

// TestSpareAfterFirstUse: the replacement a create earned starts when the
// created sandbox's first call ends (so it does not compete with that
// call), or after SpareAfter without one.
func TestSpareAfterFirstUse(t *testing.T) {
	for _, tt := range []struct {
		name  string
		after time.Duration
		call  bool
	}{
		{"at the end of the first call", time.Hour, true},
		{"after SpareAfter without a call", 20 * time.Millisecond, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, b := newManager(t, func(o *manager.Options) { o.SpareAfter = tt.after })
			ctx := context.Background()
			createUsed(t, m, "a")
			id, err := m.Create(ctx, "docker", spareCfg("a")) // earns a spare
			if err != nil {
				t.Fatal(err)
			}
			if tt.call {
				if got := sparesOf(b); len(got) != 0 {
					t.Fatalf("a spare started before the created sandbox's first call: %v", got)
				}
				if _, err := m.Execute(ctx, id, "echo", echo("x", 0)); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "the replacement spare", func() bool { return slices.Equal(sparesOf(b), []string{"a"}) && m.Spares() == 1 })
		})
	}
}

// creates counts the Observer's Created reports by source.
type creates struct {
	mu             sync.Mutex
	spare, started int
}

func (c *creates) PoolWaited(time.Duration) {}
func (c *creates) Reaped(string)            {}
func (c *creates) Created(fromSpare bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fromSpare {
		c.spare++
	} else {
		c.started++
	}
}

func (c *creates) counts() (spare, started int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.spare, c.started
}

func TestCreatesObserved(t *testing.T) {
	obs := &creates{}
	m, _ := newManager(t, func(o *manager.Options) { o.Observer = obs })
	ctx := context.Background()
	createUsed(t, m, "a")
	createUsed(t, m, "a") // earns a spare
	waitFor(t, "a spare", func() bool { return m.Spares() == 1 })
	createUsed(t, m, "a") // claims it
	if _, err := m.InitializePool(ctx, "docker", 2, spareCfg("pool")); err != nil {
		t.Fatal(err)
	}
	// The claimed spare's replacement and the pool config's spare: making
	// spares is no create.
	waitFor(t, "two spares", func() bool { return m.Spares() == 2 })
	if spare, started := obs.counts(); spare != 1 || started != 4 {
		t.Errorf("creates observed: %d from a spare, %d started; want 1 and 4", spare, started)
	}
}
