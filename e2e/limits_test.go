package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestResourceCaps: every resource a config asks for is clamped to the
// operator's cap, "0" (unlimited) included, and the cgroup shows it.
func TestResourceCaps(t *testing.T) {
	s := startServer(t, "", "--max-memory", "512m", "--max-cpus", "1.5", "--max-disk", "300m")
	tests := []struct {
		name            string
		cfg             map[string]any
		mem, cpu, disk  string
		cgroupMemoryHas string
	}{
		{"unlimited memory", map[string]any{"memory_limit": "0"}, "512m", "1.5", "", "536870912"},
		{"huge memory", map[string]any{"memory_limit": "99999999999999g", "cpu_limit": 64, "disk_limit": "9999g"}, "512m", "1.5", "300m", "536870912"},
		{"within caps", map[string]any{"memory_limit": "128m", "cpu_limit": 0.5, "disk_limit": "100m"}, "128m", "0.5", "100m", "134217728"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := s.sandbox(t, tt.cfg)
			info, err := s.C.GetSandbox(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			disk, _ := info.Config["disk_limit"].(string)
			if info.Config["memory_limit"] != tt.mem || fmt.Sprint(info.Config["cpu_limit"]) != tt.cpu || disk != tt.disk {
				t.Errorf("config memory %v cpu %v disk %v, want %s %s %q", info.Config["memory_limit"], info.Config["cpu_limit"], disk, tt.mem, tt.cpu, tt.disk)
			}
			r := s.exec(t, id, "shell_executor", map[string]any{"command": "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null"})
			if !strings.Contains(r.Output, tt.cgroupMemoryHas) || !strings.Contains(r.Output, "1024") {
				t.Errorf("cgroup limits %q, want memory %s and pids 1024", r.Output, tt.cgroupMemoryHas)
			}
			// A call's own limits (internal/runner/runner.py, limit_call): the
			// OOM killer's first choice, and the sandbox's pids less the 32
			// kept for the runner and execs.
			r = s.exec(t, id, "python_executor", map[string]any{"code": "import resource\nprint(open('/proc/self/oom_score_adj').read().strip(), resource.getrlimit(resource.RLIMIT_NPROC)[0])"})
			if r.Output != "1000 992\n" {
				t.Errorf("a call's oom_score_adj and RLIMIT_NPROC: %q, want \"1000 992\"", r.Output)
			}
		})
	}
}

// TestDiskLimit: a write past the sandbox's disk limit fails inside the
// sandbox (ENOSPC or EDQUOT), and the sandbox stays usable.
func TestDiskLimit(t *testing.T) {
	s := startServer(t, "")
	h, err := s.C.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range h.Warnings {
		if strings.Contains(w, "disk limits") {
			t.Fatalf("this host does not enforce disk limits (%s); make test sets up btrfs storage with quotas", w)
		}
	}
	id := s.sandbox(t, map[string]any{"disk_limit": "100m"})
	r := s.exec(t, id, "shell_executor", map[string]any{"command": "dd if=/dev/zero of=/big bs=1M count=2000 2>&1; echo status $?", "timeout": 120})
	if !strings.Contains(r.Output, "status 1") || !(strings.Contains(r.Output, "No space left on device") || strings.Contains(r.Output, "Disk quota exceeded")) {
		t.Fatalf("2 GB write under a 100m limit: %q", r.Output)
	}
	// The bound is what the sandbox writes (the image is not counted).
	var copied int64
	for _, f := range strings.Split(r.Output, "\n") {
		if strings.Contains(f, "bytes") && strings.Contains(f, "copied") {
			fmt.Sscan(f, &copied)
		}
	}
	if copied < 90<<20 || copied > 110<<20 {
		t.Errorf("wrote %d bytes under a 100m disk limit", copied)
	}
	r = s.exec(t, id, "shell_executor", map[string]any{"command": "rm -f /big && echo ok > /small && cat /small"})
	if r.Output != "ok\n" {
		t.Errorf("after the failed write: %+v", r)
	}
}

// TestUserNamespace: root in a rootful sandbox is an unprivileged host uid
// by default; --userns off is the operator's explicit choice.
func TestUserNamespace(t *testing.T) {
	for _, tt := range []struct {
		flags []string
		want  string
	}{
		{nil, "0 1000000000 65536"},
		{[]string{"--userns", "0:1200000000:65536"}, "0 1200000000 65536"},
		{[]string{"--userns", "off"}, "0 0 4294967295"},
	} {
		t.Run(strings.Join(tt.flags, " "), func(t *testing.T) {
			s := startServer(t, "", tt.flags...)
			id := s.sandbox(t, nil)
			r := s.exec(t, id, "shell_executor", map[string]any{"command": "cat /proc/self/uid_map; id -u"})
			if got := strings.Join(strings.Fields(r.Output), " "); got != tt.want+" 0" {
				t.Errorf("uid_map and id: %q, want %q", got, tt.want+" 0")
			}
		})
	}
}

// TestCreateOptions: a working_dir the image lacks is created (as Docker
// does), and entrypoint is honoured ([] clears the image's).
func TestCreateOptions(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, map[string]any{"working_dir": "/workspace/proj/deep"})
	if r := s.exec(t, id, "shell_executor", map[string]any{"command": "pwd"}); r.Output != "/workspace/proj/deep\n" {
		t.Errorf("working dir: %+v", r)
	}
	id = s.sandbox(t, map[string]any{"entrypoint": []string{"/bin/sh", "-c"}, "command": []string{"echo from-entrypoint > /tmp/ep; exec sleep infinity"}})
	if r := s.exec(t, id, "shell_executor", map[string]any{"command": "cat /tmp/ep"}); r.Output != "from-entrypoint\n" {
		t.Errorf("entrypoint: %+v", r)
	}
	id = s.sandbox(t, map[string]any{"entrypoint": []string{}})
	if r := s.exec(t, id, "shell_executor", map[string]any{"command": "cat /proc/1/cmdline | tr '\\0' ' '"}); !strings.Contains(r.Output, "/bin/bash") {
		t.Errorf("entrypoint [] runs the image's command: %q", r.Output)
	}
}

// TestStopEndsTheTerminal: stopping a default sandbox (the image's shell on
// a terminal, which ignores SIGTERM) ends it with a hangup, not with the
// SIGKILL that follows the grace.
func TestStopEndsTheTerminal(t *testing.T) {
	s := startServer(t, "", "--stop-grace", "30")
	id := s.sandbox(t, map[string]any{"remove_on_exit": false})
	info, _ := s.C.GetSandbox(context.Background(), id)
	if err := s.C.StopSandbox(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("podman", "--url", s.Podman, "inspect", "--format", "{{.State.ExitCode}}", info.Metadata["container_id"].(string)).CombinedOutput()
	if err != nil {
		t.Fatalf("inspect: %v %s", err, out)
	}
	// 129: the shell died of SIGHUP; 137 would be the kill after 30 s.
	if code := strings.TrimSpace(string(out)); code == "137" {
		t.Errorf("stopped sandbox exit code %s: it waited out the grace and was killed", code)
	}
}

// TestMalformedUploads: bad input is a 400 with a clear JSON message.
func TestMalformedUploads(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	for _, body := range []string{strings.Repeat("not a tar archive ", 200), "x"} {
		code, _, resp := s.raw(t, "POST", "/sandbox/"+id+"/archive?target_dir=/tmp", body, "Content-Type", "application/x-tar")
		if code != 400 || !strings.Contains(resp, `"detail":"Failed to extract archive: invalid archive`) {
			t.Errorf("malformed tar: %d %s", code, resp)
		}
	}
	// The sandbox is fine afterwards.
	if r := s.exec(t, id, "shell_executor", map[string]any{"command": "echo ok"}); r.Output != "ok\n" {
		t.Errorf("after: %+v", r)
	}
}

// TestPayloadSizes: what the HTTP API accepts passes every hop (5 MiB file
// content and script), and what is over the body limit is a 413.
func TestPayloadSizes(t *testing.T) {
	s := startServer(t, "", "--max-body-bytes", fmt.Sprint(8<<20))
	id := s.sandbox(t, nil)
	content := strings.Repeat("0123456789abcdef", 5<<16) // 5 MiB
	if r := s.exec(t, id, "file_operation", map[string]any{"operation": "write", "file_path": "/tmp/big.txt", "content": content}); r.Status != "success" {
		t.Fatalf("5 MiB write: %+v %s", r, errText(r))
	}
	if r := s.exec(t, id, "shell_executor", map[string]any{"command": "wc -c < /tmp/big.txt"}); strings.TrimSpace(r.Output) != fmt.Sprint(len(content)) {
		t.Errorf("written size %q", r.Output)
	}
	script := "x = '" + content + "'\nprint(len(x))\n"
	if r := s.exec(t, id, "python_executor", map[string]any{"code": script}); strings.TrimSpace(r.Output) != fmt.Sprint(len(content)) {
		t.Errorf("5 MiB script: %q %s", r.Output, errText(r))
	}
	big := `{"operation":"write","file_path":"/tmp/x","content":"` + strings.Repeat("y", 9<<20) + `"}`
	code, _, resp := s.raw(t, "POST", "/sandbox/tool/execute", `{"sandbox_id":"`+id+`","tool_name":"file_operation","parameters":`+big+`}`, "Content-Type", "application/json")
	if code != 413 || resp != `{"detail":"Request body too large"}` {
		t.Errorf("over the body limit: %d %.200s", code, resp)
	}
}

// TestEveryAnswerIsJSON: the mux's path cleaning does not leak a redirect
// with an HTML body.
func TestEveryAnswerIsJSON(t *testing.T) {
	s := startServer(t, "")
	for _, p := range []string{"/sandbox/..", "/sandbox/../stats", "//sandboxes", "/sandbox/./x"} {
		req, _ := http.NewRequest("GET", s.URL+p, nil)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

// TestAPIKeyFile: keys from a file (one per line, several for rotation),
// none of them on the command line.
func TestAPIKeyFile(t *testing.T) {
	requireEnv(t)
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# rotation\nold-key\n\nnew-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "new-key", "--api-key-file", file)
	for key, want := range map[string]int{"old-key": 200, "new-key": 200, "other": 401, "": 401} {
		code, _, _ := s.raw(t, "GET", "/stats", "", "X-API-Key", key)
		if code != want {
			t.Errorf("key %q: %d, want %d", key, code, want)
		}
	}
	ps, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.cmd.Process.Pid))
	if strings.Contains(string(ps), "old-key") {
		t.Errorf("a key from the file shows in the command line")
	}
}

// TestCompatExtensions: stdin for shell_executor and python_executor
// (accepted, not advertised), and a call that times out keeps the output
// it produced before the deadline, with its real duration.
func TestCompatExtensions(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	if r := s.exec(t, id, "shell_executor", map[string]any{"command": "tr a-z A-Z", "stdin": "piped"}); r.Output != "PIPED" {
		t.Errorf("shell stdin: %+v", r)
	}
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "import sys; print(sys.stdin.read()[::-1])", "stdin": "abc"}); r.Output != "cba\n" {
		t.Errorf("python stdin: %+v", r)
	}
	tools, err := s.C.Tools(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var schemas map[string]json.RawMessage
	json.Unmarshal(tools, &schemas)
	if got := string(schemas["shell_executor"]); got != shellSchema {
		t.Errorf("advertised shell schema changed:\n%s", got)
	}
	r := s.exec(t, id, "python_executor", map[string]any{"code": "import time\nprint('before', flush=False)\ntime.sleep(30)", "timeout": 1})
	if r.Metadata.Verdict != "timeout" || r.Output != "before\n" || r.ExecutionTime < 1 {
		t.Errorf("timed-out call: output %q verdict %q execution_time %v", r.Output, r.Metadata.Verdict, r.ExecutionTime)
	}
	r = s.exec(t, id, "shell_executor", map[string]any{"command": "echo partial; sleep 30", "timeout": 1})
	if r.Metadata.Verdict != "timeout" || r.Output != "partial\n" || r.ExecutionTime < 1 {
		t.Errorf("timed-out shell call: output %q verdict %q execution_time %v", r.Output, r.Metadata.Verdict, r.ExecutionTime)
	}
}

// rss reads a process's resident and peak resident memory in KiB.
func rss(t *testing.T, pid int) (now, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "VmRSS:" {
			fmt.Sscan(f[1], &now)
		}
		if len(f) >= 2 && f[0] == "VmHWM:" {
			fmt.Sscan(f[1], &peak)
		}
	}
	return now, peak
}

// TestLargeBodiesMemory: eight concurrent 60 MiB bodies do not multiply
// the server's memory (bodies are admitted by bytes in flight and read
// without copies), and the memory goes back once they are done.
func TestLargeBodiesMemory(t *testing.T) {
	s := startServer(t, "")
	body := `{"sandbox_id":"nosuchid","tool_name":"python_executor","parameters":{"code":"` + strings.Repeat("#", 60<<20) + `"}}`
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(s.URL+"/sandbox/tool/execute", "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	_, peak := rss(t, s.cmd.Process.Pid)
	t.Logf("peak RSS %d MiB", peak>>10)
	// 8 × 60 MiB arrived; at most 256 MiB of it is held at once.
	if peak > 700<<10 {
		t.Errorf("peak RSS %d MiB for 8 × 60 MiB bodies", peak>>10)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		now, _ := rss(t, s.cmd.Process.Pid)
		if now < 150<<10 {
			t.Logf("RSS after %d MiB", now>>10)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RSS still %d MiB after the bodies were done", now>>10)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
