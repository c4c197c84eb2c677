package manager_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/enclave-sandbox/enclave/internal/executor"
	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

type plugins struct{ b *fake.Backend }

func (p plugins) Backend(t string) (backend.Backend, bool) {
	return p.b, t == "docker" || t == "docker_notebook"
}
func (p plugins) Tool(name string) (manager.Tool, bool) { return fake.Echo{}, name == "echo" }
func (p plugins) Backends() []backend.Backend           { return []backend.Backend{p.b} }

// newExec is the executor a manager with opts gets from cmd/enclave.
func newExec(o manager.Options) *executor.Executor {
	return executor.New(executor.Options{StartTimeout: o.StartTimeout, MaxDuration: o.ExecMaxDuration, MaxOutputBytes: o.MaxOutputBytes})
}

// startOn starts a manager on backend b without the cleanup sweep and the
// health monitor; tests of re-adoption start a second one on the same b.
func startOn(b *fake.Backend) *manager.Manager {
	opts := manager.DefaultOptions()
	opts.CleanupInterval, opts.HealthInterval = 0, 0
	m := manager.New(opts, plugins{b}, newExec(opts))
	m.Start(context.Background())
	return m
}

func newManager(t *testing.T, mutate func(*manager.Options)) (*manager.Manager, *fake.Backend) {
	b := fake.NewBackend()
	opts := manager.DefaultOptions()
	opts.CleanupInterval = 0
	if mutate != nil {
		mutate(&opts)
	}
	m := manager.New(opts, plugins{b}, newExec(opts))
	m.Start(context.Background())
	t.Cleanup(func() { m.Shutdown(context.Background(), false) })
	return m, b
}

func kind(err error) manager.ErrorKind {
	var me *manager.Error
	if errors.As(err, &me) {
		return me.Kind
	}
	return -1
}

func TestCreateConfigAndLabels(t *testing.T) {
	m, b := newManager(t, func(o *manager.Options) { o.ImageAliases["python:3.11-slim"] = "localhost/py" })
	id, err := m.Create(context.Background(), "podman", json.RawMessage(`{"tools_config":["echo"],"env_vars":{"B":"2","A":"1"},"memory_limit":"512m","cpu_limit":16,"unknown":1}`))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := m.Get(id)
	if info.Type != "docker" || info.Status != manager.StatusRunning {
		t.Errorf("type %s status %s", info.Type, info.Status)
	}
	want := `{"timeout":30,"tools_config":{"echo":{}},"working_dir":"/sandbox","env_vars":{"B":"2","A":"1"},"resource_limits":{},"image":"python:3.11-slim","volumes":{},"ports":{},"network":"bridge","extra_hosts":{},"memory_limit":"512m","cpu_limit":4.0,"network_enabled":false,"privileged":false,"remove_on_exit":true,"pull_progress":false,"pull_progress_interval":3.0,"docker_executor_workers":8}`
	if string(info.Config) != want {
		t.Errorf("config\n got %s\nwant %s", info.Config, want)
	}
	cs := b.Containers()
	if len(cs) != 1 {
		t.Fatalf("containers = %d", len(cs))
	}
	c := cs[0]
	if c.Spec.Image != "localhost/py" || c.Spec.MemoryBytes != 512<<20 || c.Spec.CPUs != 4 || c.Spec.PidsLimit != 1024 || c.Spec.NetworkEnabled {
		t.Errorf("spec = %+v", c.Spec)
	}
	for k, v := range map[string]string{"ms-enclave": "true", "enclave.id": id, "enclave.type": "docker", "enclave.instance": "default", "enclave.pool": "false", "enclave.config": want} {
		if c.Spec.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Spec.Labels[k], v)
		}
	}
	if c.Spec.Name != "sandbox-"+id {
		t.Errorf("name %s", c.Spec.Name)
	}
}

func TestCreateRefusals(t *testing.T) {
	m, b := newManager(t, func(o *manager.Options) {
		o.AllowNetwork = false
		o.ImageAllow = []string{"python:*"}
		o.AllowVolumes = []string{"/srv/data"}
		o.MaxSandboxes = 1
	})
	tests := []struct {
		typ, body, want string
	}{
		{"dummy", ``, "Failed to create sandbox: sandbox type dummy is not available"},
		{"volcengine", ``, "Failed to create sandbox: sandbox type volcengine is not available"},
		{"docker", `{"privileged":true}`, "Failed to create sandbox: privileged sandboxes are not allowed on this server (enable with --allow-privileged)"},
		{"docker", `{"network_enabled":true}`, "Failed to create sandbox: network access is not allowed on this server (enable with --allow-network)"},
		{"docker", `{"image":"evil:latest"}`, "Failed to create sandbox: image evil:latest is not allowed on this server (allow with --image-allow)"},
		{"docker", `{"volumes":{"/srv/data/../etc":{"bind":"/x"}}}`, "Failed to create sandbox: host volume /srv/data/../etc is not allowed on this server (allow with --allow-volume)"},
		{"docker", `{"timeout":"x"}`, "Failed to create sandbox: invalid config: timeout: must be an integer"},
		{"docker", `{"memory_limit":"1t"}`, "Failed to create sandbox: invalid config: memory_limit: Invalid memory limit format"},
		{"docker", `{"cpu_limit":-1}`, "Failed to create sandbox: invalid config: cpu_limit: must be greater than 0"},
		{"docker", `{"tools_config":5}`, "Failed to create sandbox: invalid config: tools_config: must be an object or an array of tool names"},
	}
	for _, tt := range tests {
		_, err := m.Create(context.Background(), tt.typ, json.RawMessage(tt.body))
		if err == nil || err.Error() != tt.want || kind(err) != manager.KindCreateFailed {
			t.Errorf("Create(%s, %s) = %v, want %q", tt.typ, tt.body, err, tt.want)
		}
	}
	if _, err := m.Create(context.Background(), "docker", json.RawMessage(`{"volumes":{"/srv/data/x":{"bind":"/x","mode":"ro"}}}`)); err != nil {
		t.Errorf("allowed volume refused: %v", err)
	}
	_, err := m.Create(context.Background(), "docker", nil)
	if err == nil || !strings.Contains(err.Error(), "sandbox limit reached (1; raise with --max-sandboxes)") {
		t.Errorf("over the limit: %v", err)
	}
	b.FailCreate = errors.New("boom")
	if len(m.List("")) != 1 {
		t.Errorf("failed creates registered sandboxes")
	}
}

func TestExecuteChecks(t *testing.T) {
	m, _ := newManager(t, nil)
	ctx := context.Background()
	id, _ := m.Create(ctx, "docker", json.RawMessage(`{"tools_config":{"echo":{}}}`))
	res, err := m.Execute(ctx, id, "echo", json.RawMessage(`{"text":"hi"}`))
	if err != nil || res.Output != "hi" || res.Status != "success" {
		t.Errorf("Execute = %+v, %v", res, err)
	}
	tests := []struct {
		id, tool, params string
		kind             manager.ErrorKind
		msg              string
	}{
		{"nope1234", "echo", `{}`, manager.KindNotFound, "Sandbox nope1234 not found"},
		{id, "python_executor", `{}`, manager.KindToolUnavailable, "Tool python_executor is not available"},
		{id, "echo", `{"text":1,"x":2}`, manager.KindInvalidParams, "Invalid parameters for tool echo: parameter 'text' must be a string; unexpected parameter 'x'"},
	}
	for _, tt := range tests {
		_, err := m.Execute(ctx, tt.id, tt.tool, json.RawMessage(tt.params))
		if kind(err) != tt.kind || err.Error() != tt.msg {
			t.Errorf("Execute(%s,%s,%s) = %v, want %q", tt.id, tt.tool, tt.params, err, tt.msg)
		}
	}
	if err := m.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err = m.Execute(ctx, id, "echo", json.RawMessage(`{"text":"x"}`))
	if kind(err) != manager.KindNotActive || err.Error() != fmt.Sprintf("Sandbox %s is not active (status: stopped)", id) {
		t.Errorf("after stop: %v", err)
	}
}

// TestConcurrency hammers one manager from many goroutines; run with -race.
func TestConcurrency(t *testing.T) {
	m, b := newManager(t, nil)
	ctx := context.Background()
	shared, _ := m.Create(ctx, "docker", json.RawMessage(`{"tools_config":["echo"]}`))
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				id, err := m.Create(ctx, "docker", json.RawMessage(`{"tools_config":["echo"]}`))
				if err != nil {
					errs <- err
					return
				}
				for _, target := range []string{id, shared} {
					r, err := m.Execute(ctx, target, "echo", json.RawMessage(fmt.Sprintf(`{"text":"%d-%d"}`, i, j)))
					if err != nil || r.Output != fmt.Sprintf("%d-%d", i, j) {
						errs <- fmt.Errorf("execute: %+v %v", r, err)
					}
				}
				m.Stats()
				m.List("")
				if err := m.Delete(ctx, id); err != nil {
					errs <- err
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(m.List("")); n != 1 {
		t.Errorf("%d sandboxes registered, want 1", n)
	}
	// The config created again and again earned a spare or more.
	var sandboxes, spares int
	for _, c := range b.Containers() {
		if strings.HasPrefix(c.Spec.Name, "spare-") {
			spares++
		} else {
			sandboxes++
		}
	}
	if sandboxes != 1 {
		t.Errorf("%d sandbox containers left, want 1", sandboxes)
	}
	if spares > manager.DefaultOptions().SparesPerConfig {
		t.Errorf("%d spares of one config wait", spares)
	}
}

func sdkSpecWithLabels(labels map[string]string) sdk.Spec {
	return sdk.Spec{Name: "sandbox-" + labels["enclave.id"], Image: "x", Labels: labels}
}

func setStatus(b *fake.Backend, id, status string) { b.SetStatus(id, status) }

func TestToolDefaults(t *testing.T) {
	m, _ := newManager(t, func(o *manager.Options) {
		o.ToolDefaults = map[string]map[string]json.RawMessage{"echo": {"text": json.RawMessage(`"from operator"`)}}
	})
	id, _ := m.Create(context.Background(), "docker", json.RawMessage(`{"tools_config":{"echo":{"name":"say"}}}`))
	// Defaults apply after validation: they never stand in for a required
	// parameter the call left out...
	r, err := m.Execute(context.Background(), id, "say", json.RawMessage(`{"sleep":0}`))
	if kind(err) != manager.KindInvalidParams {
		t.Errorf("required parameter omitted: %v, %+v (defaults must not hide a missing required parameter)", err, r)
	}
	// ...and never overrides what the call gives.
	r, err = m.Execute(context.Background(), id, "say", json.RawMessage(`{"text":"mine"}`))
	if err != nil || r.Output != "mine" {
		t.Errorf("explicit value: %+v %v", r, err)
	}
}
