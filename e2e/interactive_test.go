package e2e

// enclave's own API for long-running and interactive work (docs/api.md
// §9): streamed calls, background processes, terminals, keep-alive, on real
// containers through the built server.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/enclave-sandbox/enclave/client"
)

// TestStreamedCall: chunks arrive in order, tagged, while the call runs:
// the call waits for a file that the test writes only after it got the
// first chunk, so the chunk provably arrived before the call ended.
func TestStreamedCall(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	ctx := context.Background()
	marker := "/tmp/go-" + randHex(4)
	code := fmt.Sprintf(`import os, sys, time
print("first", flush=True)
sys.stderr.write("warn\n"); sys.stderr.flush()
for _ in range(600):
    if os.path.exists(%q):
        break
    time.sleep(0.05)
print("second")`, marker)
	var mu sync.Mutex
	var got []client.Output
	released := false
	res, err := s.C.ExecuteToolStream(ctx, id, "python_executor", map[string]any{"code": code}, func(o client.Output) {
		mu.Lock()
		got = append(got, o)
		first := !released && o.Stream == "stdout" && o.Data == "first\n"
		released = released || first
		mu.Unlock()
		if first {
			// A second call to the same sandbox lets the first one finish.
			go s.C.ExecuteTool(ctx, id, "shell_executor", map[string]any{"command": "touch " + marker})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !released {
		t.Fatalf("no first chunk before the result; chunks %+v", got)
	}
	var out, errs strings.Builder
	for _, o := range got {
		if o.Stream == "stdout" {
			out.WriteString(o.Data)
		} else if o.Stream == "stderr" {
			errs.WriteString(o.Data)
		} else {
			t.Errorf("chunk of stream %q", o.Stream)
		}
	}
	if out.String() != "first\nsecond\n" || errs.String() != "warn\n" {
		t.Errorf("chunks: stdout %q stderr %q", out.String(), errs.String())
	}
	// The final event is what the blocking call returns.
	blocking := s.exec(t, id, "python_executor", map[string]any{"code": `import sys; print("first"); sys.stderr.write("warn\n"); print("second")`})
	if res.Status != "success" || res.Output != blocking.Output || res.Metadata.ExitCode != 0 {
		t.Errorf("streamed result %+v, blocking %+v", res, blocking)
	}
}

// TestStreamedCallErrors: an error before any output is the blocking
// call's JSON error and status; a timeout streams what was printed and a
// result with the verdict.
func TestStreamedCallErrors(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	_, err := s.C.ExecuteToolStream(ctx, "nosuchid", "python_executor", map[string]any{"code": "print(1)"}, nil)
	if client.StatusOf(err) != http.StatusNotFound {
		t.Errorf("streamed call to a missing sandbox: %v, want 404", err)
	}
	code, hdr, body := s.raw(t, "POST", "/sandbox/tool/execute", `{"sandbox_id":"x","tool_name":"python_executor"`,
		"Accept", "text/event-stream", "Content-Type", "application/json")
	if code != http.StatusUnprocessableEntity || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || !strings.Contains(body, "detail") {
		t.Errorf("malformed streamed request: %d %s %s", code, hdr.Get("Content-Type"), body)
	}
	id := s.sandbox(t, nil)
	var got strings.Builder
	res, err := s.C.ExecuteToolStream(ctx, id, "python_executor", map[string]any{"code": "import time\nprint('before', flush=True)\ntime.sleep(30)", "timeout": 1},
		func(o client.Output) { got.WriteString(o.Data) })
	if err != nil || res.Status != "timeout" || res.Metadata.Verdict != "timeout" || got.String() != "before\n" {
		t.Errorf("streamed timeout: %+v %v, chunks %q", res, err, got.String())
	}
}

// TestStreamedCallDisconnect: a client that goes away kills the call.
func TestStreamedCallDisconnect(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	pidCh := make(chan string, 1)
	go s.C.ExecuteToolStream(ctx, id, "shell_executor", map[string]any{"command": "echo $$; exec sleep 300"}, func(o client.Output) {
		select {
		case pidCh <- strings.TrimSpace(o.Data):
		default:
		}
	})
	var pid string
	select {
	case pid = <-pidCh:
	case <-time.After(30 * time.Second):
		t.Fatal("no output from the streamed call")
	}
	cancel()
	if !within(20*time.Second, func() bool {
		r := s.exec(t, id, "shell_executor", map[string]any{"command": "kill -0 " + pid + " 2>/dev/null && echo alive || echo gone"})
		return r.Output == "gone\n"
	}) {
		t.Errorf("process %s of a disconnected streamed call still runs", pid)
	}
}

func TestStreamedPoolCall(t *testing.T) {
	s := startServer(t, "")
	if _, err := s.C.InitializePool(context.Background(), 1, "docker", map[string]any{"tools_config": allTools}); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	res, err := s.C.ExecuteInPoolStream(context.Background(), "python_executor", map[string]any{"code": "print('pooled')"}, 30,
		func(o client.Output) { got.WriteString(o.Data) })
	if err != nil || res.Output != "pooled\n" || got.String() != "pooled\n" {
		t.Errorf("streamed pool call: %+v %v, chunks %q", res, err, got.String())
	}
	metrics, _ := s.C.Metrics(context.Background())
	if !strings.Contains(metrics, `enclave_streamed_calls_total{route="POST /pool/execute"} 1`) {
		t.Errorf("streamed calls not counted:\n%s", grepLines(metrics, "streamed"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// waitProcess waits (bounded by the server) until a process ended.
func waitProcess(t *testing.T, s *server, id, pid string) *client.Process {
	t.Helper()
	p, err := s.C.WaitProcess(context.Background(), id, pid, 60*time.Second)
	if err != nil || p.Running {
		t.Fatalf("process %s did not end within 60 s: %+v %v", pid, p, err)
	}
	return p
}

func readOutput(t *testing.T, s *server, id, pid string) string {
	t.Helper()
	var all strings.Builder
	var off int64
	for {
		o, err := s.C.ReadOutput(context.Background(), id, pid, off, 0)
		if err != nil {
			t.Fatal(err)
		}
		all.WriteString(o.Output)
		if o.NextOffset == off {
			return all.String()
		}
		off = o.NextOffset
	}
}

// TestBackgroundHTTPServer: a server started in the background answers a
// later call, and follows its signal.
func TestBackgroundHTTPServer(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	ctx := context.Background()
	p, err := s.C.StartProcess(ctx, id, client.ProcessRequest{Command: []string{"python3", "-m", "http.server", "8123", "--bind", "127.0.0.1"}})
	if err != nil || !p.Running || p.ProcessID == "" || p.PID == nil {
		t.Fatalf("start: %+v %v", p, err)
	}
	s.exec(t, id, "file_operation", map[string]any{"operation": "write", "file_path": "hello.txt", "content": "served"})
	r := s.exec(t, id, "python_executor", map[string]any{"code": `import time, urllib.request
for _ in range(200):
    try:
        print(urllib.request.urlopen("http://127.0.0.1:8123/hello.txt").read().decode()); break
    except OSError:
        time.sleep(0.05)`})
	if r.Output != "served\n" {
		t.Errorf("the background server did not answer: %+v", r)
	}
	list, err := s.C.Processes(ctx, id)
	if err != nil || len(list) != 1 || list[0].ProcessID != p.ProcessID || !list[0].Running {
		t.Errorf("list: %+v %v", list, err)
	}
	if err := s.C.Signal(ctx, id, p.ProcessID, "TERM"); err != nil {
		t.Fatal(err)
	}
	end := waitProcess(t, s, id, p.ProcessID)
	if end.Signal == nil || *end.Signal != "SIGTERM" || end.ExitCode == nil || *end.ExitCode != 143 || end.EndedAt == nil {
		t.Errorf("after SIGTERM: %+v", end)
	}
	if out := readOutput(t, s, id, p.ProcessID); !strings.Contains(out, "GET /hello.txt") {
		t.Errorf("server log: %q", out)
	}
}

// TestProcessStdinAndFollow: stdin, a followed output stream, and the
// process's end.
func TestProcessStdinAndFollow(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	ctx := context.Background()
	p, err := s.C.StartProcess(ctx, id, client.ProcessRequest{Command: []string{"python3", "-c", "print(input()[::-1])"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.C.WriteStdin(ctx, id, p.ProcessID, "hello\n", false); err != nil {
		t.Fatal(err)
	}
	waitProcess(t, s, id, p.ProcessID)
	if out := readOutput(t, s, id, p.ProcessID); out != "olleh\n" {
		t.Errorf("reversed: %q", out)
	}
	if err := s.C.WriteStdin(ctx, id, p.ProcessID, "more", false); client.StatusOf(err) != http.StatusConflict {
		t.Errorf("stdin of a finished process: %v, want 409", err)
	}

	// Follow: lines as they come, then the exit event.
	q, err := s.C.StartProcess(ctx, id, client.ProcessRequest{Command: "for i in 1 2 3; do echo line $i; read x; done; echo bye >&2; exit 5"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen strings.Builder
	lines := 0
	end, err := s.C.FollowOutput(ctx, id, q.ProcessID, 0, func(o client.Output) {
		mu.Lock()
		seen.WriteString(o.Stream + ":" + o.Data)
		lines += strings.Count(o.Data, "line ")
		n := lines
		mu.Unlock()
		if o.Stream == "stdout" && n > 0 {
			// Each line is answered only after it was seen: the stream is live.
			s.C.WriteStdin(ctx, id, q.ProcessID, "\n", false)
		}
	})
	if err != nil || end.Running || end.ExitCode == nil || *end.ExitCode != 5 {
		t.Fatalf("follow: %+v %v", end, err)
	}
	if got := seen.String(); got != "stdout:line 1\nstdout:line 2\nstdout:line 3\nstderr:bye\n" {
		t.Errorf("followed %q", got)
	}
}

// TestProcessOutlivesServer: a background process survives a kill -9 of
// the server; the next server lists it, feeds it and reads its log.
func TestProcessOutlivesServer(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	ctx := context.Background()
	p, err := s.C.StartProcess(ctx, id, client.ProcessRequest{Command: "echo before; read x; echo after $x"})
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()
	s2 := startServer(t, "", "--instance", s.Instance)
	list, err := s2.C.Processes(ctx, id)
	if err != nil || len(list) != 1 || !list[0].Running || list[0].ProcessID != p.ProcessID {
		t.Fatalf("after kill -9 of the server: %+v %v", list, err)
	}
	if err := s2.C.WriteStdin(ctx, id, p.ProcessID, "again\n", true); err != nil {
		t.Fatal(err)
	}
	waitProcess(t, s2, id, p.ProcessID)
	if out := readOutput(t, s2, id, p.ProcessID); out != "before\nafter again\n" {
		t.Errorf("log after the restart: %q", out)
	}
}

// TestProcessErrors: bad input answers JSON errors with the right status.
func TestProcessErrors(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	ctx := context.Background()
	p, err := s.C.StartProcess(ctx, id, client.ProcessRequest{Command: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown process", "GET", "/sandbox/" + id + "/processes/pnosuchprocess", "", 404},
		{"malformed process id", "GET", "/sandbox/" + id + "/processes/..%2Fetc", "", 404},
		{"unknown sandbox", "GET", "/sandbox/nosuchid/processes", "", 404},
		{"no command", "POST", "/sandbox/" + id + "/processes", `{}`, 422},
		{"empty argv", "POST", "/sandbox/" + id + "/processes", `{"command":[]}`, 422},
		{"argv not strings", "POST", "/sandbox/" + id + "/processes", `{"command":[1,2]}`, 422},
		{"bad env", "POST", "/sandbox/" + id + "/processes", `{"command":"true","env":{"A=B":"c"}}`, 422},
		{"negative timeout", "POST", "/sandbox/" + id + "/processes", `{"command":"true","timeout":-1}`, 422},
		{"signal not allowed", "POST", "/sandbox/" + id + "/processes/" + p.ProcessID + "/signal", `{"signal":"SIGSEGV"}`, 422},
		{"signal number not allowed", "POST", "/sandbox/" + id + "/processes/" + p.ProcessID + "/signal", `{"signal":11}`, 422},
		{"stdin without data", "POST", "/sandbox/" + id + "/processes/" + p.ProcessID + "/stdin", `{}`, 422},
		{"negative offset", "GET", "/sandbox/" + id + "/processes/" + p.ProcessID + "/output?offset=-1", "", 422},
		{"huge read", "GET", "/sandbox/" + id + "/processes/" + p.ProcessID + "/output?limit=999999999", "", 422},
		{"wait too long", "POST", "/sandbox/" + id + "/processes/" + p.ProcessID + "/wait?timeout=99999", "", 422},
		{"terminal without upgrade", "GET", "/sandbox/" + id + "/terminal", "", 400},
		{"keepalive bad timeout", "POST", "/sandbox/" + id + "/keepalive", `{"timeout":"soon"}`, 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, body := s.raw(t, tt.method, tt.path, tt.body, "Content-Type", "application/json")
			if code != tt.want || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || !strings.Contains(body, `"detail"`) {
				t.Errorf("%s %s: %d %s, want %d with a JSON detail", tt.method, tt.path, code, body, tt.want)
			}
		})
	}
	if err := s.C.Signal(ctx, id, p.ProcessID, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	waitProcess(t, s, id, p.ProcessID)
	if err := s.C.Signal(ctx, id, p.ProcessID, "SIGTERM"); client.StatusOf(err) != http.StatusConflict {
		t.Errorf("signal to a finished process: %v, want 409", err)
	}
	// Pool members are lent per call: nothing of a caller may stay.
	pool, err := s.C.InitializePool(ctx, 1, "docker", map[string]any{"tools_config": allTools})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.C.StartProcess(ctx, pool.SandboxIDs[0], client.ProcessRequest{Command: "true"}); client.StatusOf(err) != http.StatusConflict {
		t.Errorf("process in a pool member: %v, want 409", err)
	}
}

// TestTerminal drives a terminal over a real WebSocket: stty size, a
// resize, the new size, the exit status.
func TestTerminal(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	ctx := context.Background()
	term, err := s.C.OpenTerminal(ctx, id, client.TerminalOptions{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	out := make(chan string, 1024)
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := term.Read(b)
			if n > 0 {
				out <- string(b[:n])
			}
			if err != nil {
				close(out)
				return
			}
		}
	}()
	var seen strings.Builder
	expect := func(s string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for !strings.Contains(seen.String(), s) {
			select {
			case chunk, ok := <-out:
				if !ok {
					t.Fatalf("terminal ended before %q:\n%s", s, seen.String())
				}
				seen.WriteString(chunk)
			case <-deadline:
				t.Fatalf("no %q from the terminal in 20 s:\n%s", s, seen.String())
			}
		}
	}
	term.Write([]byte("stty size\n"))
	expect("30 100")
	if err := term.Resize(40, 120); err != nil {
		t.Fatal(err)
	}
	term.Write([]byte("stty size; tty\n"))
	expect("40 120")
	expect("/dev/pts/")
	term.Write([]byte("exit 3\n"))
	for range out {
	}
	if code, err := term.ExitCode(); code != 3 || err != nil {
		t.Errorf("exit status %d, %v; want 3", code, err)
	}
}

// TestTerminalAuth: without the key the WebSocket is refused before the
// upgrade, with the API's JSON 401.
func TestTerminalAuth(t *testing.T) {
	s := startServer(t, "secret-key")
	id := s.sandbox(t, nil)
	u := "ws" + strings.TrimPrefix(s.URL, "http") + "/sandbox/" + id + "/terminal"
	_, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("terminal without a key: %v %v", resp, err)
	}
	b, _ := io.ReadAll(resp.Body)
	if !bytes.Contains(b, []byte(`"detail"`)) {
		t.Errorf("401 body %s", b)
	}
	conn, _, err := websocket.DefaultDialer.Dial(u+"?api_key=secret-key&command=echo%20ok", nil)
	if err != nil {
		t.Fatalf("terminal with the key in the query: %v", err)
	}
	conn.Close()
}

// TestAttach: enclave attach with stdin from a pipe types it in and exits
// with the shell's status.
func TestAttach(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	bin, _ := requireEnv(t)
	cmd := exec.Command(filepath.Join(bin, "enclave"), "attach", "--url", s.URL, id)
	cmd.Stdin = strings.NewReader("stty size\necho done-$((6*7))\nexit 4\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 4 || !strings.Contains(out.String(), "24 80") || !strings.Contains(out.String(), "done-42") {
		t.Errorf("attach: %v\n%s", err, out.String())
	}
}

// TestKeepalive: running calls and background processes are activity, so
// a sandbox with a 3 s idle timeout survives a 20 s call and a 10 s
// process; once idle, it is deleted; a keep-alive extends it.
func TestKeepalive(t *testing.T) {
	s := startServer(t, "", "--cleanup-interval", "1")
	ctx := context.Background()
	a := s.sandbox(t, map[string]any{"idle_timeout": 3})
	b := s.sandbox(t, map[string]any{"idle_timeout": 3})
	info, err := s.C.GetSandbox(ctx, a)
	if err != nil || info.Metadata["expires_at"] == nil || info.Config["idle_timeout"] != float64(3) {
		t.Fatalf("a sandbox with an idle timeout shows its expiry: %+v %v", info, err)
	}
	p, err := s.C.StartProcess(ctx, b, client.ProcessRequest{Command: "echo started; sleep 10; echo halfway; sleep 1"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *client.ToolResult, 1)
	go func() {
		r, _ := s.C.ExecuteTool(ctx, a, "shell_executor", map[string]any{"command": "sleep 20; echo slept", "timeout": 60})
		done <- r
	}()
	// b's process prints "halfway" 10 s in, long past its idle timeout.
	var saw bool
	s.C.FollowOutput(ctx, b, p.ProcessID, 0, func(o client.Output) {
		if strings.Contains(o.Data, "halfway") && !saw {
			saw = true
			if _, err := s.C.GetSandbox(ctx, b); err != nil {
				t.Errorf("sandbox with a running background process reaped: %v", err)
			}
		}
	})
	if r := <-done; r == nil || r.Output != "slept\n" {
		t.Errorf("the 20 s call on a sandbox with a 3 s idle timeout: %+v", r)
	}
	if _, err := s.C.GetSandbox(ctx, a); err != nil {
		t.Errorf("sandbox reaped during its call: %v", err)
	}
	// Idle now: both go within the timeout and a sweep or two.
	for _, id := range []string{a, b} {
		if !within(30*time.Second, func() bool { _, err := s.C.GetSandbox(ctx, id); return client.StatusOf(err) == 404 }) {
			t.Errorf("idle sandbox %s not reaped", id)
		}
	}
	c := s.sandbox(t, map[string]any{"idle_timeout": 2})
	exp, err := s.C.Keepalive(ctx, c, time.Minute)
	if err != nil || exp == "" {
		t.Fatalf("keepalive: %q %v", exp, err)
	}
	at, err := time.Parse("2006-01-02T15:04:05.999999", exp)
	if err != nil || time.Until(at) < 50*time.Second {
		t.Errorf("keepalive for a minute expires at %s (%v)", exp, err)
	}
	// The promise is written into the sandbox, so it outlives a restart.
	if !kubeMode() {
		info, _ := s.C.GetSandbox(ctx, c)
		cid, _ := info.Metadata["container_id"].(string)
		out, err := exec.Command("podman", "--url", s.Podman, "exec", cid, "cat", "/tmp/.enclave/keepalive").CombinedOutput()
		if n, perr := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err != nil || perr != nil || n != at.Unix() {
			t.Errorf("keep-alive file holds %q (%v), want %d", out, err, at.Unix())
		}
	}
}
