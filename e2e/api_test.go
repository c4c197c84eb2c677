package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/client"
)

// TestCurlSession is the README's quick start, byte for byte.
func TestCurlSession(t *testing.T) {
	s := startServer(t, "")
	code, h, body := s.raw(t, "POST", "/sandbox/create?sandbox_type=docker",
		`{"image":"python:3.11-slim","tools_config":{"python_executor":{}}}`, "Content-Type", "application/json")
	m := regexp.MustCompile(`^\{"sandbox_id":"([23456789abcdefghijkmnopqrstuvwxyz]{8})"\}$`).FindStringSubmatch(body)
	if code != 200 || m == nil || h.Get("Content-Type") != "application/json" {
		t.Fatalf("create = %d %s", code, body)
	}
	id := m[1]
	code, _, body = s.raw(t, "POST", "/sandbox/tool/execute",
		`{"sandbox_id":"`+id+`","tool_name":"python_executor","parameters":{"code":"print(40 + 2)"},"timeout":null}`, "Content-Type", "application/json")
	want := regexp.MustCompile(`^\{"status":"success","execution_time":\d+\.\d+(e-\d+)?,"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}","tool_name":"python_executor","output":"42\\n","metadata":\{"exit_code":0,"duration_ms":\d+\},"error":null\}$`)
	if code != 200 || !want.MatchString(body) {
		t.Errorf("execute = %d %s", code, body)
	}
	code, _, body = s.raw(t, "GET", "/sandbox/"+id, "")
	infoRE := regexp.MustCompile(`^\{"id":"` + id + `","status":"running","type":"docker","config":\{"timeout":30,"tools_config":\{"python_executor":\{\}\},"working_dir":"/sandbox","env_vars":\{\},"resource_limits":\{\},"image":"python:3.11-slim","volumes":\{\},"ports":\{\},"network":"bridge","extra_hosts":\{\},"memory_limit":"4g","cpu_limit":2\.0,"network_enabled":false,"privileged":false,"remove_on_exit":true,"pull_progress":false,"pull_progress_interval":3\.0,"docker_executor_workers":8\},"created_at":"[^"]{26}","updated_at":"[^"]{26}","metadata":\{"container_id":"` + containerIDPattern(id) + `"`)
	if code != 200 || !infoRE.MatchString(body) {
		t.Errorf("info = %d %s", code, body)
	}
	if _, _, body = s.raw(t, "DELETE", "/sandbox/"+id, ""); body != `{"message":"Sandbox deleted successfully"}` {
		t.Errorf("delete = %s", body)
	}
}

func TestRoutesAndErrors(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	cases := []struct {
		method, path, body, ctype string
		code                      int
		want                      string // exact body, or prefix when it ends in "*"
	}{
		{"GET", "/healthz", "", "", 200, `{"ok":true}`},
		{"GET", "/nope", "", "", 404, `{"detail":"Not Found"}`},
		{"GET", "/docs", "", "", 200, `<!doctype html>*`},
		{"GET", "/redoc", "", "", 200, `<!doctype html>*`},
		{"GET", "/openapi.json", "", "", 200, `{*`},
		{"POST", "/docs", "", "", 405, `{"detail":"Method Not Allowed"}`},
		{"GET", "/assets/nope.js", "", "", 404, `{"detail":"Not Found"}`},
		{"POST", "/health", "", "", 405, `{"detail":"Method Not Allowed"}`},
		{"POST", "/sandbox/" + id, "", "", 405, `{"detail":"Method Not Allowed"}`},
		{"GET", "/sandbox/create", "", "", 404, `{"detail":"Sandbox not found"}`},
		{"DELETE", "/sandbox/create", "", "", 404, `{"detail":"Sandbox not found"}`},
		{"GET", "/sandbox/zzzzzzzz", "", "", 404, `{"detail":"Sandbox not found"}`},
		{"POST", "/sandbox/zzzzzzzz/stop", "", "", 404, `{"detail":"Sandbox not found"}`},
		{"DELETE", "/sandbox/zzzzzzzz", "", "", 404, `{"detail":"Sandbox not found"}`},
		{"GET", "/sandbox/zzzzzzzz/tools", "", "", 404, `{"detail":"Sandbox zzzzzzzz not found"}`},
		{"POST", "/sandbox/create", "", "", 422, `{"detail":[{"type":"missing","loc":["query","sandbox_type"],"msg":"Field required","input":null}]}`},
		{"POST", "/sandbox/create?sandbox_type=lxc", "", "", 422, `{"detail":[{"type":"enum","loc":["query","sandbox_type"],"msg":"Input should be 'docker', 'docker_notebook', 'podman', 'volcengine' or 'dummy'","input":"lxc"}]}`},
		{"POST", "/sandbox/create?sandbox_type=docker", `[1]`, "application/json", 422, `{"detail":[{"type":"dict_type","loc":["body"],*`},
		{"POST", "/sandbox/create?sandbox_type=docker", `{"a":`, "application/json", 422, `{"detail":[{"type":"json_invalid","loc":["body",*`},
		{"POST", "/sandbox/create?sandbox_type=docker", `{}`, "text/plain", 422, `{"detail":[{"type":"dict_type","loc":["body"],*`},
		{"POST", "/sandbox/create?sandbox_type=dummy", "", "", 400, `{"detail":"Failed to create sandbox: sandbox type dummy is not available"}`},
		{"POST", "/sandbox/create?sandbox_type=docker", `{"privileged":true}`, "", 400, `{"detail":"Failed to create sandbox: privileged sandboxes are not allowed on this server (enable with --allow-privileged)"}`},
		{"POST", "/sandbox/create?sandbox_type=docker", `{"volumes":{"/etc":{"bind":"/x","mode":"ro"}}}`, "", 400, `{"detail":"Failed to create sandbox: host volume /etc is not allowed on this server (allow with --allow-volume)"}`},
		{"POST", "/sandbox/create?sandbox_type=docker", `{"memory_limit":"lots"}`, "", 400, `{"detail":"Failed to create sandbox: invalid config: memory_limit: Invalid memory limit format"}`},
		{"POST", "/sandbox/create?sandbox_type=docker", `{"cpu_limit":0}`, "", 400, `{"detail":"Failed to create sandbox: invalid config: cpu_limit: must be greater than 0"}`},
		{"POST", "/sandbox/create?sandbox_type=docker", `{"env_vars":{"A":1}}`, "", 400, `{"detail":"Failed to create sandbox: invalid config: env_vars: must be an object of strings"}`},
		{"GET", "/sandboxes?status=sleeping", "", "", 422, `{"detail":[{"type":"enum","loc":["query","status"],*`},
		{"POST", "/sandbox/tool/execute", "", "", 422, `{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}`},
		{"POST", "/sandbox/tool/execute", `{"tool_name":5}`, "", 422, `{"detail":[{"type":"missing","loc":["body","sandbox_id"],"msg":"Field required","input":null},{"type":"string_type","loc":["body","tool_name"],"msg":"Input should be a valid string","input":5}]}`},
		{"POST", "/sandbox/tool/execute", `{"sandbox_id":"x","tool_name":"y","timeout":5.5}`, "", 422, `{"detail":[{"type":"int_from_float","loc":["body","timeout"],*`},
		{"POST", "/sandbox/tool/execute", `{"sandbox_id":"zzzzzzzz","tool_name":"python_executor","timeout":5.0}`, "", 404, `{"detail":"Sandbox zzzzzzzz not found"}`},
		{"POST", "/sandbox/tool/execute", `{"sandbox_id":"` + id + `","tool_name":"notebook_executor","parameters":{}}`, "", 404, `{"detail":"Tool notebook_executor is not available"}`},
		{"POST", "/sandbox/" + id + "/archive", "x", "", 422, `{"detail":[{"type":"missing","loc":["query","target_dir"],*`},
		{"POST", "/sandbox/" + id + "/archive?target_dir=/x", "", "", 400, `{"detail":"Archive body must not be empty"}`},
		{"POST", "/sandbox/" + id + "/archive?target_dir=", "x", "", 400, `{"detail":"target_dir must not be empty"}`},
		{"POST", "/sandbox/zzzzzzzz/archive?target_dir=/x", "x", "", 404, `{"detail":"Sandbox zzzzzzzz not found"}`},
		{"POST", "/sandbox/" + id + "/archive?target_dir=/x", "not a tar", "", 400, `{"detail":"Failed to extract archive: invalid archive: not a tar archive*`},
		{"GET", "/sandbox/" + id + "/archive", "", "", 422, `{"detail":[{"type":"missing","loc":["query","path"],*`},
		{"GET", "/sandbox/" + id + "/archive?path=", "", "", 400, `{"detail":"path must not be empty"}`},
		{"GET", "/sandbox/" + id + "/archive?path=/no/such", "", "", 404, `{"detail":"Path /no/such not found"}`},
		{"POST", "/pool/execute?tool_name=python_executor", `{"code":"print(1)"}`, "", 400, `{"detail":"Sandbox pool is empty, call initialize_pool first"}`},
		{"POST", "/pool/initialize?pool_size=x", "", "", 422, `{"detail":[{"type":"int_parsing","loc":["query","pool_size"],*`},
		{"POST", "/pool/initialize?sandbox_type=lxc", "", "", 422, `{"detail":[{"type":"enum","loc":["query","sandbox_type"],*`},
		{"POST", "/pool/execute", `{}`, "", 422, `{"detail":[{"type":"missing","loc":["query","tool_name"],*`},
	}
	for _, c := range cases {
		var hdr []string
		if c.ctype != "" {
			hdr = []string{"Content-Type", c.ctype}
		}
		code, h, body := s.raw(t, c.method, c.path, c.body, hdr...)
		ok := body == c.want
		if strings.HasSuffix(c.want, "*") {
			ok = strings.HasPrefix(body, strings.TrimSuffix(c.want, "*"))
		}
		ctype := "application/json"
		if strings.HasPrefix(c.want, "<!doctype") {
			ctype = "text/html; charset=utf-8"
		}
		if code != c.code || !ok || h.Get("Content-Type") != ctype {
			t.Errorf("%s %s %q: %d %s (%s), want %d %s", c.method, c.path, c.body, code, body, h.Get("Content-Type"), c.code, c.want)
		}
		if code == 405 && h.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", c.method, c.path)
		}
	}
	// Stats and health shapes.
	_, _, body := s.raw(t, "GET", "/stats", "")
	if !regexp.MustCompile(`^\{"manager_type":"local","total_sandboxes":1,"status_counts":\{"running":1\},"sandbox_types":\{"docker":1\},"running":true,"cleanup_interval":300,"pool_size":0,"pool_enabled":false,"pool_initialized":false\}$`).MatchString(body) {
		t.Errorf("stats = %s", body)
	}
	_, _, body = s.raw(t, "GET", "/health", "")
	if !regexp.MustCompile(`^\{"healthy":true,"version":"[^"]+","uptime":\d+\.\d+(e-\d+)?,"active_sandboxes":1,"system_info":\{"manager_type":"local"`).MatchString(body) {
		t.Errorf("health = %s", body)
	}
	// Listing and status filter.
	list, err := s.C.ListSandboxes(context.Background(), "running")
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("list running = %v, %v", list, err)
	}
	if list, _ := s.C.ListSandboxes(context.Background(), "stopped"); len(list) != 0 {
		t.Errorf("list stopped = %v", list)
	}
}

func TestAuth(t *testing.T) {
	const key = "s3cret-key"
	s := startServer(t, key)
	cases := []struct {
		path    string
		headers []string
		code    int
	}{
		{"/healthz", nil, 200},
		{"/health", nil, 401},
		{"/stats", nil, 401},
		{"/nope", nil, 401},
		{"/metrics", nil, 401},
		{"/health", []string{"X-API-Key", key}, 200},
		{"/health", []string{"x-api-key", key}, 200},
		{"/health?api_key=" + key, nil, 200},
		{"/health?api_key=wrong", nil, 401},
		{"/health?api_key=" + key, []string{"X-API-Key", "wrong"}, 401},
		{"/health", []string{"X-API-Key", "wrong"}, 401},
		{"/nope", []string{"X-API-Key", key}, 404},
		{"/metrics?api_key=" + key, nil, 200},
	}
	for _, c := range cases {
		code, h, body := s.raw(t, "GET", c.path, "", c.headers...)
		if code != c.code {
			t.Errorf("GET %s %v = %d %s, want %d", c.path, c.headers, code, body, c.code)
		}
		if code == 401 && (body != `{"detail":"Unauthorized"}` || h.Get("WWW-Authenticate") != "") {
			t.Errorf("401 body %s, WWW-Authenticate %q", body, h.Get("WWW-Authenticate"))
		}
	}
	if code, _, _ := s.raw(t, "OPTIONS", "/health", ""); code != 401 {
		t.Errorf("OPTIONS without key = %d, want 401", code)
	}
	// The Go client sends the key in the header.
	id, err := s.C.CreateSandbox(context.Background(), "docker", map[string]any{"tools_config": []string{"shell_executor"}})
	if err != nil {
		t.Fatalf("create with key: %v", err)
	}
	r := s.exec(t, id, "shell_executor", map[string]any{"command": "echo authed"})
	if r.Output != "authed\n" {
		t.Errorf("exec with key: %+v", r)
	}
	if strings.Contains(s.log.String(), key) {
		t.Errorf("the API key appears in the server log")
	}
}

func makeTar(t *testing.T, files map[string]string) *bytes.Buffer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	return &buf
}

func TestArchive(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	ctx := context.Background()
	if err := s.C.PutArchive(ctx, id, "/data/in", makeTar(t, map[string]string{"hello.txt": "hi there\n", "sub/x.txt": "x"})); err != nil {
		t.Fatalf("upload: %v", err)
	}
	r := s.exec(t, id, "shell_executor", map[string]any{"command": "cat /data/in/hello.txt /data/in/sub/x.txt"})
	if r.Output != "hi there\nx" {
		t.Errorf("cat after upload = %q (%s)", r.Output, errText(r))
	}
	// A relative target_dir lands under working_dir.
	if err := s.C.PutArchive(ctx, id, "rel", makeTar(t, map[string]string{"r.txt": "rel"})); err != nil {
		t.Fatalf("upload relative: %v", err)
	}
	if r := s.exec(t, id, "shell_executor", map[string]any{"command": "cat /sandbox/rel/r.txt"}); r.Output != "rel" {
		t.Errorf("relative upload: %q", r.Output)
	}
	// Download round trip of a directory.
	rc, err := s.C.GetArchive(ctx, id, "/data/in")
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	defer rc.Close()
	got := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Typeflag == tar.TypeReg {
			got[h.Name] = string(b)
		}
	}
	if got["in/hello.txt"] != "hi there\n" || got["in/sub/x.txt"] != "x" {
		t.Errorf("downloaded %v", got)
	}
	// Uploads larger than the limit get 413.
	big := startServer(t, "", "--max-archive-bytes", "1024")
	bid := big.sandbox(t, nil)
	err = big.C.PutArchive(ctx, bid, "/x", makeTar(t, map[string]string{"big": strings.Repeat("a", 4096)}))
	if client.StatusOf(err) != 413 {
		t.Errorf("oversized upload = %v, want 413", err)
	}
}

func TestStopAndDelete(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	id := s.sandbox(t, nil)
	if err := s.C.StopSandbox(ctx, id); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := s.C.StopSandbox(ctx, id); err != nil {
		t.Errorf("second stop: %v", err)
	}
	info, err := s.C.GetSandbox(ctx, id)
	if err != nil || info.Status != "stopped" {
		t.Errorf("info after stop = %+v, %v", info, err)
	}
	if _, err := s.C.Tools(ctx, id); err != nil {
		t.Errorf("tools after stop: %v", err)
	}
	code, _, body := s.raw(t, "POST", "/sandbox/tool/execute", `{"sandbox_id":"`+id+`","tool_name":"python_executor","parameters":{"code":"print(1)"}}`)
	if code != 404 || body != `{"detail":"Sandbox `+id+` is not active (status: stopped)"}` {
		t.Errorf("execute after stop = %d %s", code, body)
	}
	code, _, body = s.raw(t, "POST", "/sandbox/"+id+"/archive?target_dir=/x", "x")
	if code != 400 || !strings.Contains(body, "is not active (status: stopped)") {
		t.Errorf("archive after stop = %d %s", code, body)
	}
	if left := s.sandboxContainers(t); len(left) != 0 {
		t.Errorf("stop with remove_on_exit left containers: %v", left)
	}
	if err := s.C.DeleteSandbox(ctx, id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := s.C.GetSandbox(ctx, id); client.StatusOf(err) != 404 {
		t.Errorf("get after delete = %v, want 404", err)
	}
	if err := s.C.DeleteSandbox(ctx, id); client.StatusOf(err) != 404 {
		t.Errorf("second delete = %v, want 404", err)
	}
	// Deleting a running sandbox removes its container at once.
	id2 := s.sandbox(t, nil)
	if err := s.C.DeleteSandbox(ctx, id2); err != nil {
		t.Fatalf("delete running: %v", err)
	}
	if left := s.sandboxContainers(t); len(left) != 0 {
		t.Errorf("containers after delete: %v", left)
	}
}

// TestClientDisconnectKills: a call whose client goes away is killed with
// its process group.
func TestClientDisconnectKills(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	marker := "/tmp/d_" + randHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err := s.C.ExecuteTool(ctx, id, "shell_executor", map[string]any{"command": "sleep 2; touch " + marker, "timeout": 30})
	if err == nil {
		t.Fatalf("the call returned before the client gave up")
	}
	markerAbsentLater(marker)(t, s, id)
}

func TestBackendPluginRestart(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	id := s.sandbox(t, nil)
	old := pluginPID(t, s.cmd.Process.Pid, "enclave-backend-"+backendName())
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Wait until the process is gone (reaped by the server).
	for i := 0; i < 100; i++ {
		if _, err := os.Stat("/proc/" + strconv.Itoa(old)); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The next request succeeds on a restarted plugin, and the old sandbox
	// still works.
	id2, err := s.C.CreateSandbox(ctx, "docker", map[string]any{"tools_config": []string{"python_executor"}})
	if err != nil {
		t.Fatalf("create after kill -9 of the backend: %v", err)
	}
	defer s.C.DeleteSandbox(ctx, id2)
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "print('still here')"}); r.Output != "still here\n" {
		t.Errorf("old sandbox after restart: %+v %s", r, errText(r))
	}
	if r := s.exec(t, id2, "python_executor", map[string]any{"code": "print(2)"}); r.Output != "2\n" {
		t.Errorf("new sandbox: %+v", r)
	}
	if pid := pluginPID(t, s.cmd.Process.Pid, "enclave-backend-"+backendName()); pid == old {
		t.Errorf("backend pid unchanged")
	}
	m, err := s.C.Metrics(ctx)
	if err != nil || !strings.Contains(m, `enclave_plugin_restarts_total{kind="backend",name="`+backendName()+`"} 1`) {
		t.Errorf("restart not counted in /metrics (%v)", err)
	}
}

func TestHealthWithoutBackend(t *testing.T) {
	requireEnv(t)
	s := startServer(t, "", "--plugin-dir", t.TempDir())
	h, err := s.C.Health(context.Background())
	if err != nil || h.Healthy {
		t.Errorf("health with no backend = %+v, %v; want healthy false", h, err)
	}
	code, _, body := s.raw(t, "POST", "/sandbox/create?sandbox_type=docker", "")
	if code != 400 || body != `{"detail":"Failed to create sandbox: sandbox type docker is not available"}` {
		t.Errorf("create with no backend = %d %s", code, body)
	}
}

func TestOperatorToolDefaults(t *testing.T) {
	s := startServer(t, "", "--tool-default", "python_executor.timeout=1", "--tool-default", "shell_executor.max_output_bytes=10")
	id := s.sandbox(t, nil)
	r := s.exec(t, id, "python_executor", map[string]any{"code": "import time; time.sleep(3)"})
	if r.Status != "timeout" || errText(r) != "Command timed out after 1 seconds" {
		t.Errorf("operator default timeout: %s %q", r.Status, errText(r))
	}
	r = s.exec(t, id, "python_executor", map[string]any{"code": "import time; time.sleep(1.5); print('ok')", "timeout": 5})
	if r.Status != "success" {
		t.Errorf("an explicit timeout wins over the default: %s %q", r.Status, errText(r))
	}
	r = s.exec(t, id, "shell_executor", map[string]any{"command": "printf '%050d' 0"})
	if len(r.Output) != 10 || r.Metadata.Verdict != "output_truncated" {
		t.Errorf("operator output cap: %q verdict %q", r.Output, r.Metadata.Verdict)
	}
	binDir, podmanURL := requireEnv(t)
	out, err := exec.Command(filepath.Join(binDir, "enclave"), "server", "--port", freePort(t), "--plugin-dir", filepath.Join(binDir, "plugins"),
		"--podman-url", podmanURL, "--tool-default", "python_executor.nope=1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "tool python_executor has no parameter nope") {
		t.Errorf("bad --tool-default: %v %s", err, tail(string(out), 3))
	}
}
