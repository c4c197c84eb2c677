package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/client"
)

// TestBatchPool: a batch over the pool answers every call in request
// order, with successes, errors, tool timeouts, call deadlines and refused
// calls side by side; none fails the batch.
func TestBatchPool(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	if _, err := s.C.InitializePool(ctx, 2, "docker", poolTools); err != nil {
		t.Fatal(err)
	}
	py := func(code string) map[string]any { return map[string]any{"code": code} }
	calls := []client.BatchCall{
		{ToolName: "python_executor", Parameters: py("print(0)")},
		{ToolName: "python_executor", Parameters: py("raise SystemExit(3)")},
		{ToolName: "python_executor", Parameters: map[string]any{"code": "import time; time.sleep(30)", "timeout": 1}},
		{ToolName: "python_executor", Parameters: py("import time; time.sleep(30)"), Timeout: 1},
		{ToolName: "no_such_tool", Parameters: map[string]any{}},
		{ToolName: "python_executor", Parameters: map[string]any{"nope": 1}},
		{ToolName: "shell_executor", Parameters: map[string]any{"command": "echo 6"}},
	}
	for i := 7; i < 20; i++ {
		calls = append(calls, client.BatchCall{ToolName: "python_executor", Parameters: py(fmt.Sprintf("print(%d)", i))})
	}
	res, err := s.C.ExecuteInPoolBatch(ctx, calls, client.BatchOptions{})
	if err != nil || len(res) != len(calls) {
		t.Fatalf("batch: %d results, %v", len(res), err)
	}
	want := map[int]struct {
		status, output string
		code           int
	}{0: {"success", "0\n", 0}, 1: {"error", "", 0}, 2: {"timeout", "", 0}, 3: {"timeout", "", 0}, 4: {"error", "", 400}, 5: {"error", "", 422}, 6: {"success", "6\n", 0}}
	for i := 7; i < 20; i++ {
		want[i] = struct {
			status, output string
			code           int
		}{"success", fmt.Sprintf("%d\n", i), 0}
	}
	for i, r := range res {
		w := want[i]
		if r.Status != w.status || r.Metadata.StatusCode != w.code || (w.output != "" && r.Output != w.output) {
			t.Errorf("call %d: %s %q %v (code %d), want %+v", i, r.Status, r.Output, r.Error, r.Metadata.StatusCode, w)
		}
	}
	if res[1].Metadata.ExitCode != 3 || res[3].Error == nil || !strings.Contains(*res[3].Error, "deadline") {
		t.Errorf("exit code %d, deadline error %v", res[1].Metadata.ExitCode, res[3].Error)
	}
	// The pool is whole afterwards: both members serve a plain call.
	for range 2 {
		if r, err := s.C.ExecuteInPool(ctx, "python_executor", py("print('after')"), 0); err != nil || r.Output != "after\n" {
			t.Fatalf("pool after the batch: %+v %v", r, err)
		}
	}
}

// TestBatchStreamed: the streamed form gives each index once, in
// completion order, then done.
func TestBatchStreamed(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	// Call 0 ends only once the test has call 1's result (it then makes
	// the file call 0 waits for): 1 is streamed first.
	calls := []client.BatchCall{
		{ToolName: "shell_executor", Parameters: map[string]any{"command": "for i in $(seq 600); do [ -e /tmp/go ] && break; sleep 0.05; done; echo first"}},
		{ToolName: "shell_executor", Parameters: map[string]any{"command": "echo second"}},
	}
	var order []int
	var mu sync.Mutex
	err := s.C.ExecuteBatchStream(context.Background(), id, calls, client.BatchOptions{Concurrency: 2}, func(i int, r client.ToolResult) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, i)
		if want := []string{"first\n", "second\n"}[i]; r.Status != "success" || r.Output != want {
			t.Errorf("call %d: %+v", i, r)
		}
		if i == 1 {
			s.exec(t, id, "shell_executor", map[string]any{"command": "touch /tmp/go"})
		}
	})
	if err != nil || len(order) != 2 || order[0] != 1 || order[1] != 0 {
		t.Fatalf("order %v, %v", order, err)
	}
	// The pool's streamed form.
	if _, err := s.C.InitializePool(context.Background(), 1, "docker", poolTools); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = s.C.ExecuteInPoolBatchStream(context.Background(), []client.BatchCall{{ToolName: "python_executor", Parameters: map[string]any{"code": "print(1)"}}},
		client.BatchOptions{}, func(i int, r client.ToolResult) { n++ })
	if err != nil || n != 1 {
		t.Errorf("pool stream: %d results, %v", n, err)
	}
}

// TestBatchDisconnect: a client that leaves mid-batch cancels its calls:
// the running ones are killed and the rest never start.
func TestBatchDisconnect(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	var calls []client.BatchCall
	for i := range 6 {
		calls = append(calls, client.BatchCall{ToolName: "python_executor",
			Parameters: map[string]any{"code": fmt.Sprintf("open('/tmp/started-%d', 'w').close()\nimport time\ntime.sleep(120)", i), "timeout": 300}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.C.ExecuteBatch(ctx, id, calls, client.BatchOptions{Concurrency: 2})
		done <- err
	}()
	started := func() string {
		r := s.exec(t, id, "shell_executor", map[string]any{"command": "ls /tmp | grep -c started- || true"})
		return strings.TrimSpace(r.Output)
	}
	deadline := time.Now().Add(60 * time.Second)
	for started() != "2" {
		if time.Now().After(deadline) {
			t.Fatalf("the first two calls did not start: %s", started())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled batch returned no error")
	}
	// Bounded: the killed calls' processes go, no other call starts.
	deadline = time.Now().Add(30 * time.Second)
	for {
		r := s.exec(t, id, "shell_executor", map[string]any{"command": "ps -eo args | grep -c '[t]ime.sleep(120)' || true"})
		if strings.TrimSpace(r.Output) == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls still running after the disconnect: %s", r.Output)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := started(); n != "2" {
		t.Errorf("%s calls started, want the 2 in flight at the disconnect", n)
	}
}

// TestChaosBatchKillPlugin: kill -9 of the backend plugin mid-batch. Every
// call still gets a result (a success, or an explicit error for the calls
// the kill cut), the batch answers, and the pool serves afterwards.
func TestChaosBatchKillPlugin(t *testing.T) {
	s := startServer(t, "")
	chaosPool(t, s, 2)
	var calls []client.BatchCall
	for i := range 40 {
		calls = append(calls, client.BatchCall{ToolName: "python_executor",
			Parameters: map[string]any{"code": fmt.Sprintf("import time; time.sleep(0.2); print(%d)", i)}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Streamed, so the kill comes once the batch is under way: after its
	// first result.
	first := make(chan struct{})
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		select {
		case <-first:
			killAndWait(t, pluginPID(t, s.cmd.Process.Pid, "enclave-backend-podman"))
		case <-ctx.Done():
		}
	}()
	res := make([]client.ToolResult, len(calls))
	got := 0
	var once sync.Once
	err := s.C.ExecuteInPoolBatchStream(ctx, calls, client.BatchOptions{Concurrency: 2}, func(i int, r client.ToolResult) {
		res[i] = r
		got++
		once.Do(func() { close(first) })
	})
	<-killed
	if err != nil || got != len(calls) {
		t.Fatalf("batch across the kill: %d results, %v", got, err)
	}
	ok := 0
	for i, r := range res {
		switch {
		case r.Status == "success" && r.Output == fmt.Sprintf("%d\n", i):
			ok++
		case r.Status == "success":
			t.Errorf("call %d: forged output %q", i, r.Output)
		case r.Error == nil || *r.Error == "":
			t.Errorf("call %d: %s without a reason", i, r.Status)
		}
	}
	if ok == 0 {
		t.Error("no call succeeded across the kill")
	}
	for range 2 {
		if r, err := s.C.ExecuteInPool(context.Background(), "python_executor", map[string]any{"code": "print('after')"}, 0); err != nil || r.Output != "after\n" {
			t.Fatalf("pool after the kill: %+v %v", r, err)
		}
	}
}
