// Package e2e runs the built enclave binary and plugins against a real Podman
// service over real HTTP. make test-e2e builds what it needs and sets
// ENCLAVE_BIN_DIR, ENCLAVE_PODMAN_URL and ENCLAVE_REQUIRE_PODMAN=1.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/client"
)

type server struct {
	URL      string
	Instance string
	Podman   string // the Podman URL the server uses
	C        *client.Client
	cmd      *exec.Cmd
	log      *bytes.Buffer
	uid      int // the server's user (0: this process's)
}

func requireEnv(t *testing.T) (binDir, podmanURL string) {
	t.Helper()
	binDir, podmanURL = os.Getenv("ENCLAVE_BIN_DIR"), os.Getenv("ENCLAVE_PODMAN_URL")
	_, err := os.Stat(filepath.Join(binDir, "enclave"))
	if binDir == "" || podmanURL == "" || err != nil {
		if os.Getenv("ENCLAVE_REQUIRE_PODMAN") == "1" {
			t.Fatalf("end-to-end tests need ENCLAVE_BIN_DIR (built binaries) and ENCLAVE_PODMAN_URL; got %q, %q", binDir, podmanURL)
		}
		t.Skip("set ENCLAVE_BIN_DIR and ENCLAVE_PODMAN_URL (make test-e2e does)")
	}
	return binDir, podmanURL
}

func testImage() string {
	if v := os.Getenv("ENCLAVE_TEST_IMAGE"); v != "" {
		return v
	}
	return "localhost/enclave-python:3.11"
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// startServer runs bin/enclave server on a free loopback port with its own
// instance label, and stops it (SIGTERM) when the test ends.
func startServer(t *testing.T, apiKey string, extra ...string) *server {
	t.Helper()
	binDir, podmanURL := requireEnv(t)
	return startServerAs(t, serverSetup{binDir: binDir, podmanURL: podmanURL}, apiKey, extra...)
}

// serverSetup says which binaries run, as whom, against which Podman.
type serverSetup struct {
	binDir, podmanURL string
	uid               int // 0: this process's user
	// instance and replica: a replica of a shared instance ("": a fresh
	// instance of its own); its test checks what is left behind.
	instance, replica string
}

func startServerAs(t *testing.T, setup serverSetup, apiKey string, extra ...string) *server {
	t.Helper()
	binDir, podmanURL := setup.binDir, setup.podmanURL
	port := freePort(t)
	inst := "e2e-" + randHex(4)
	if setup.instance != "" {
		inst = setup.instance
	}
	args := append([]string{"server", "--host", "127.0.0.1", "--port", port, "--plugin-dir", filepath.Join(binDir, "plugins"),
		"--podman-url", podmanURL, "--instance", inst, "--image-alias", "python:3.11-slim=" + testImage()}, extra...)
	if setup.replica != "" {
		args = append(args, "--replica", setup.replica)
	}
	if kubeMode() {
		args = append(args, kubeArgs()...)
	}
	if apiKey != "" {
		args = append(args, "--api-key", apiKey)
	}
	cmd := exec.Command(filepath.Join(binDir, "enclave"), args...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if setup.uid != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(setup.uid), Gid: uint32(setup.uid)}
		cmd.Env = append(os.Environ(), fmt.Sprintf("XDG_RUNTIME_DIR=/run/user/%d", setup.uid), "HOME=/tmp")
		cmd.Dir = "/"
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{URL: "http://127.0.0.1:" + port, Instance: inst, Podman: podmanURL, C: client.New("http://127.0.0.1:"+port, apiKey), cmd: cmd, log: &log, uid: setup.uid}
	t.Cleanup(func() {
		// Delete what is left, then stop the server and its plugins.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Until none is left: a healing pool replaces what it loses.
		for round := 0; round < 10; round++ {
			list, err := s.C.ListSandboxes(ctx, "")
			if err != nil || len(list) == 0 {
				break
			}
			for _, sb := range list {
				s.C.DeleteSandbox(ctx, sb.ID)
			}
			time.Sleep(200 * time.Millisecond)
		}
		reportAPI(t, s.URL)
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", tail(log.String(), 60))
		}
		if left := s.containers(t); len(left) > 0 && setup.replica == "" {
			t.Errorf("containers left behind by instance %s: %v", inst, left)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				checkAPI(t, s.URL, apiKey)
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not answer /healthz within 30s; log:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// containers lists this instance's containers straight from Podman (or
// its pods from the cluster).
func (s *server) containers(t *testing.T) []string {
	if kubeMode() {
		return kubePods(t, s.Instance)
	}
	out, err := exec.Command("podman", "--url", s.Podman, "ps", "-a", "-q",
		"--filter", "label=enclave.instance="+s.Instance).CombinedOutput()
	if err != nil {
		t.Logf("podman ps: %v: %s", err, out)
		return nil
	}
	return strings.Fields(string(out))
}

// sandboxContainers lists this instance's containers but its waiting
// spares (a config created twice earns one; shutdown removes them).
func (s *server) sandboxContainers(t *testing.T) []string {
	var out []string
	if kubeMode() {
		for _, p := range kubePods(t, s.Instance) {
			if !strings.HasPrefix(p, "spare-") || kubeName(t, p) != p {
				out = append(out, p)
			}
		}
		return out
	}
	list, err := exec.Command("podman", "--url", s.Podman, "ps", "-a", "--format", "{{.ID}} {{.Names}}",
		"--filter", "label=enclave.instance="+s.Instance).CombinedOutput()
	if err != nil {
		t.Logf("podman ps: %v: %s", err, list)
		return nil
	}
	for _, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		if id, name, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(name, "spare-") {
			out = append(out, id)
		}
	}
	return out
}

// spare is the id of this instance's waiting spare container, or "".
func (s *server) spare(t *testing.T) string {
	if kubeMode() {
		return kubeSpare(t, s.Instance)
	}
	out, _ := exec.Command("podman", "--url", s.Podman, "ps", "-q", "--no-trunc", "--filter", "name=^spare-",
		"--filter", "label=enclave.instance="+s.Instance).Output()
	return strings.TrimSpace(string(out))
}

// spareReady waits for a waiting spare other than container not and
// returns its container.
func spareReady(t *testing.T, s *server, not string) string {
	t.Helper()
	id := ""
	if !within(60*time.Second, func() bool {
		if m, _ := s.C.Metrics(context.Background()); strings.Contains(m, `enclave_pool_size{state="spare"} 1`) {
			id = s.spare(t)
		}
		return id != "" && id != not
	}) {
		t.Fatal("no spare ready")
	}
	return id
}

// renamed waits (bounded) until container cid is named sandbox-<id>.
func renamed(t *testing.T, s *server, id, cid string) {
	t.Helper()
	if !within(30*time.Second, func() bool { return s.containerName(t, cid) == "sandbox-"+id }) {
		t.Errorf("the claimed spare is named %q, want sandbox-%s", s.containerName(t, cid), id)
	}
}

// containerName is a container's name (on the cluster, the pod's name
// label, which a claim sets).
func (s *server) containerName(t *testing.T, ref string) string {
	if kubeMode() {
		return kubeName(t, ref)
	}
	out, _ := exec.Command("podman", "--url", s.Podman, "inspect", "--format", "{{.Name}}", ref).Output()
	return strings.TrimSpace(string(out))
}

// raw sends a request and returns status, headers and body.
func (s *server) raw(t *testing.T, method, path string, body string, headers ...string) (int, http.Header, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

var allTools = json.RawMessage(`{"python_executor":{},"shell_executor":{},"file_operation":{}}`)

// sandbox creates a sandbox with the three tools and deletes it at the end.
func (s *server) sandbox(t *testing.T, cfg map[string]any) string {
	t.Helper()
	if cfg == nil {
		cfg = map[string]any{}
	}
	if _, ok := cfg["tools_config"]; !ok {
		cfg["tools_config"] = allTools
	}
	id, err := s.C.CreateSandbox(context.Background(), "docker", cfg)
	if err != nil {
		t.Fatalf("create sandbox: %v", err)
	}
	t.Cleanup(func() { s.C.DeleteSandbox(context.Background(), id) })
	return id
}

func (s *server) exec(t *testing.T, id, tool string, params map[string]any) *client.ToolResult {
	t.Helper()
	r, err := s.C.ExecuteTool(context.Background(), id, tool, params)
	if err != nil {
		t.Fatalf("%s %v: %v", tool, params, err)
	}
	return r
}

func errText(r *client.ToolResult) string {
	if r.Error == nil {
		return "<nil>"
	}
	return *r.Error
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// pluginPID finds the server's plugin process whose command line holds
// name, waiting (bounded) for one killed before to be restarted: the host
// restarts a plugin when it is next used, or at the next health check.
func pluginPID(t *testing.T, serverPID int, name string) int {
	t.Helper()
	found := 0
	within(30*time.Second, func() bool {
		for pid, cmd := range childrenOf(serverPID) {
			if strings.Contains(cmd, name) {
				found = pid
				return true
			}
		}
		return false
	})
	if found == 0 {
		t.Fatalf("no plugin %s under server %d", name, serverPID)
	}
	return found
}

// childrenOf maps the processes whose parent is pid to their command lines.
func childrenOf(pid int) map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(fields) > 1 && fields[1] == fmt.Sprint(pid) {
			var child int
			fmt.Sscan(e.Name(), &child)
			cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			out[child] = string(cmd)
		}
	}
	return out
}

// pluginSockets finds the server's directory of plugin sockets (the one
// whose lock it holds: internal/pluginhost/sockets.go) and counts the
// sockets under it and the plugin processes the server runs.
func pluginSockets(t *testing.T, serverPID int) (dir string, sockets, plugins int) {
	t.Helper()
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", serverPID))
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", serverPID, fd.Name()))
		if err == nil && filepath.Base(target) == ".lock" && strings.HasPrefix(filepath.Base(filepath.Dir(target)), "enclave-plugins-") {
			dir = filepath.Dir(target)
		}
	}
	if dir == "" {
		t.Fatalf("server %d holds no plugin socket directory", serverPID)
	}
	// Each plugin process's socket is in a directory of its own there.
	filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type()&fs.ModeSocket != 0 {
			sockets++
		}
		return nil
	})
	return dir, sockets, len(childrenOf(serverPID))
}

// podmanRm removes a container behind the server's back, as an operator's
// `podman rm -f` would. Podman itself sometimes races its own cleanup of a
// just-killed container on btrfs ("unlinkat .../shm: device or resource
// busy"); like the backend (backends/podman/containers.go), it tries again,
// a bounded number of times.
func podmanRm(t *testing.T, podmanURL, containerID string) {
	t.Helper()
	var out []byte
	var err error
	for attempt := 1; attempt <= 6; attempt++ {
		out, err = exec.Command("podman", "--url", podmanURL, "rm", "-f", "-t", "0", containerID).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "resource busy") {
			break
		}
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("podman rm -f %s: %v %s", containerID, err, out)
	}
}
