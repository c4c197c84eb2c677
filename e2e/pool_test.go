package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/client"
)

var poolTools = map[string]any{"tools_config": []string{"python_executor", "shell_executor"}}

// hostname identifies the pool member that served a call (the container
// hostname is its id prefix).
func servedBy(t *testing.T, s *server, wait float64) string {
	t.Helper()
	r, err := s.C.ExecuteInPool(context.Background(), "shell_executor", map[string]any{"command": "hostname"}, wait)
	if err != nil || r.Status != "success" {
		t.Fatalf("pool execute: %+v %v", r, err)
	}
	return strings.TrimSpace(r.Output)
}

func TestPool(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()

	code, _, body := s.raw(t, "POST", "/pool/execute?tool_name=python_executor", `{"code":"print(1)"}`)
	if code != 400 || body != `{"detail":"Sandbox pool is empty, call initialize_pool first"}` {
		t.Errorf("before initialize: %d %s", code, body)
	}

	res, err := s.C.InitializePool(ctx, 3, "docker", poolTools)
	if err != nil || res.PoolSize != 3 || len(res.SandboxIDs) != 3 || res.Message != "Pool initialized successfully" {
		t.Fatalf("initialize: %+v %v", res, err)
	}
	idle, _ := s.C.ListSandboxes(ctx, "idle")
	if len(idle) != 3 {
		t.Errorf("%d idle after initialize 3", len(idle))
	}
	st, _ := s.C.Stats(ctx)
	if st.PoolSize != 3 || !st.PoolInitialized {
		t.Errorf("stats %+v", st)
	}
	// Shrink to 2 for the ordering checks: an explicit DELETE shrinks the pool.
	if err := s.C.DeleteSandbox(ctx, res.SandboxIDs[2]); err != nil {
		t.Fatal(err)
	}

	// FIFO round robin: A, B, A, B.
	var order []string
	for i := 0; i < 4; i++ {
		order = append(order, servedBy(t, s, 0))
	}
	if order[0] == order[1] || order[0] != order[2] || order[1] != order[3] {
		t.Errorf("served %v, want A B A B", order)
	}

	// 5 concurrent calls on a pool of 2 all succeed.
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := s.C.ExecuteInPool(ctx, "python_executor", map[string]any{"code": fmt.Sprintf("import time; time.sleep(0.3); print(%d)", i)}, 30)
			if err != nil || r.Output != fmt.Sprintf("%d\n", i) {
				t.Errorf("concurrent call %d: %+v %v", i, r, err)
			}
		}(i)
	}
	wg.Wait()

	// A tool the members lack is a 400 here (404 on /sandbox/tool/execute).
	code, _, body = s.raw(t, "POST", "/pool/execute?tool_name=file_operation", `{"operation":"exists","file_path":"/"}`)
	if code != 400 || body != `{"detail":"Tool file_operation is not available"}` {
		t.Errorf("missing tool: %d %s", code, body)
	}
	code, _, body = s.raw(t, "POST", "/pool/execute?tool_name=python_executor", ``)
	if code != 422 || !strings.HasPrefix(body, `{"detail":[{"type":"missing","loc":["body"]`) {
		t.Errorf("no body: %d %s", code, body)
	}
	code, _, _ = s.raw(t, "POST", "/pool/execute?tool_name=python_executor&timeout=soon", `{"code":"1"}`)
	if code != 422 {
		t.Errorf("bad timeout: %d", code)
	}
}

func TestPoolTimeout(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	if _, err := s.C.InitializePool(ctx, 1, "docker", poolTools); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.C.ExecuteInPool(ctx, "shell_executor", map[string]any{"command": "sleep 5"}, 0)
	}()
	for {
		if busy, _ := s.C.ListSandboxes(ctx, "busy"); len(busy) == 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, _, body := s.raw(t, "POST", "/pool/execute?tool_name=shell_executor&timeout=0.5", `{"command":"echo hi"}`)
	if code != 408 || body != `{"detail":"Timeout waiting for available sandbox from pool after 0.5s"}` {
		t.Errorf("busy pool: %d %s", code, body)
	}
	<-done
}

func TestPoolHealsAfterPodmanRm(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	res, err := s.C.InitializePool(ctx, 2, "docker", poolTools)
	if err != nil {
		t.Fatal(err)
	}
	victim, _ := s.C.GetSandbox(ctx, res.SandboxIDs[0])
	podmanRm(t, s.Podman, victim.Metadata["container_id"].(string))
	// Pool calls keep succeeding, before and after the replacement.
	for i := 0; i < 6; i++ {
		if r, err := s.C.ExecuteInPool(ctx, "python_executor", map[string]any{"code": "print('ok')"}, 30); err != nil || r.Output != "ok\n" {
			t.Errorf("call %d after podman rm -f: %+v %v", i, r, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := s.C.Stats(ctx)
		info, _ := s.C.GetSandbox(ctx, victim.ID)
		if st.PoolSize == 2 && info.Status == "error" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replacement: stats %+v, victim %+v", st, info)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRestartKeepsSandboxes: kill -9 the server, start it again: the same
// sandboxes are listed with the same types and configs, and work.
func TestRestartKeepsSandboxes(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	plain := s.sandbox(t, map[string]any{"env_vars": map[string]string{"K": "v"}})
	if _, err := s.C.InitializePool(ctx, 1, "docker", poolTools); err != nil {
		t.Fatal(err)
	}
	s.exec(t, plain, "file_operation", map[string]any{"operation": "write", "file_path": "kept.txt", "content": "survives"})
	before, _ := s.C.ListSandboxes(ctx, "")

	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()
	s2 := startServer(t, "", "--instance", s.Instance)
	// Share the instance: the first server's cleanup must not check for leftovers.
	after, err := s2.C.ListSandboxes(ctx, "")
	if err != nil || len(after) != len(before) {
		t.Fatalf("after restart %d sandboxes (%v), before %d", len(after), err, len(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.ID != b.ID || a.Type != b.Type || mustJSON(a.Config) != mustJSON(b.Config) || a.CreatedAt != b.CreatedAt {
			t.Errorf("sandbox %d: before %s %s %v %s, after %s %s %v %s", i, b.ID, b.Type, b.Config, b.CreatedAt, a.ID, a.Type, a.Config, a.CreatedAt)
		}
	}
	if r := s2.exec(t, plain, "file_operation", map[string]any{"operation": "read", "file_path": "kept.txt"}); r.Output != "survives" {
		t.Errorf("file after restart: %+v", r)
	}
	if r := s2.exec(t, plain, "python_executor", map[string]any{"code": "import os; print(os.environ['K'])"}); r.Output != "v\n" {
		t.Errorf("exec after restart: %+v %s", r, errText(r))
	}
	if r, err := s2.C.ExecuteInPool(ctx, "python_executor", map[string]any{"code": "print('pool')"}, 10); err != nil || r.Output != "pool\n" {
		t.Errorf("pool after restart: %+v %v", r, err)
	}
}

// TestLoad: 16 concurrent clients create -> execute x5 -> delete for a
// bounded time against one server: no errors, nothing left behind.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped with -short")
	}
	s := startServer(t, "")
	duration := 60 * time.Second
	if v := os.Getenv("ENCLAVE_LOAD_SECONDS"); v != "" {
		d, err := time.ParseDuration(v + "s")
		if err == nil {
			duration = d
		}
	}
	ctx := context.Background()
	stop := time.Now().Add(duration)
	var mu sync.Mutex
	var cycles, calls int
	var errs []string
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := client.New(s.URL, "")
			for time.Now().Before(stop) {
				id, err := c.CreateSandbox(ctx, "docker", poolTools)
				if err != nil {
					mu.Lock()
					errs = append(errs, "create: "+err.Error())
					mu.Unlock()
					continue
				}
				for i := 0; i < 5; i++ {
					r, err := c.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": fmt.Sprintf("print(%d*%d)", w, i)})
					mu.Lock()
					calls++
					if err != nil || r.Output != fmt.Sprintf("%d\n", w*i) {
						errs = append(errs, fmt.Sprintf("execute: %+v %v", r, err))
					}
					mu.Unlock()
				}
				if err := c.DeleteSandbox(ctx, id); err != nil {
					mu.Lock()
					errs = append(errs, "delete: "+err.Error())
					mu.Unlock()
				}
				mu.Lock()
				cycles++
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	t.Logf("load: %d cycles, %d tool calls in %s with 16 clients", cycles, calls, duration)
	if len(errs) > 0 {
		t.Errorf("%d errors, first: %s", len(errs), errs[0])
	}
	if left, _ := s.C.ListSandboxes(ctx, ""); len(left) != 0 {
		t.Errorf("%d sandboxes still registered", len(left))
	}
	if left := s.sandboxContainers(t); len(left) != 0 {
		t.Errorf("containers left: %v", left)
	}
}

// TestCreateFromSpare: where the pool has a config, a create with the same
// config gets a pre-created, renamed container.
func TestCreateFromSpare(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	cfg := map[string]any{"tools_config": []string{"python_executor"}, "memory_limit": "512m"}
	if _, err := s.C.InitializePool(ctx, 1, "docker", cfg); err != nil {
		t.Fatal(err)
	}
	spareID := spareReady(t, s, "")
	id, err := s.C.CreateSandbox(ctx, "docker", cfg)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.C.GetSandbox(ctx, id)
	if info.Metadata["container_id"] != spareID {
		t.Errorf("create got container %v, the spare was %s", info.Metadata["container_id"], spareID)
	}
	renamed(t, s, id, spareID) // on Podman the rename follows the answer
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "print('spare')"}); r.Output != "spare\n" {
		t.Errorf("call on a claimed spare: %+v", r)
	}
	m, _ := s.C.Metrics(ctx)
	for _, want := range []string{`enclave_sandbox_creates_total{source="spare"} 1`, `enclave_sandbox_creates_total{source="container"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestCreateFromSpareOfRepeatedConfig: without a pool, a config created a
// second time earns a warm spare that the third create claims.
func TestCreateFromSpareOfRepeatedConfig(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	cfg := map[string]any{"tools_config": []string{"python_executor"}, "env_vars": map[string]string{"RUN": randHex(4)}}
	for range 2 {
		id, err := s.C.CreateSandbox(ctx, "docker", cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.C.DeleteSandbox(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	spareID := spareReady(t, s, "")
	id, err := s.C.CreateSandbox(ctx, "docker", cfg)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.C.GetSandbox(ctx, id)
	if info.Metadata["container_id"] != spareID {
		t.Errorf("the third create got container %v, the spare was %s", info.Metadata["container_id"], spareID)
	}
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "import os; print(os.environ['RUN'])"}); r.Output != cfg["env_vars"].(map[string]string)["RUN"]+"\n" {
		t.Errorf("call on the claimed spare: %+v", r)
	}
}
