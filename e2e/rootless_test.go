package e2e

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestRootlessCore runs the core cases with the server and its plugins
// running as an unprivileged user against that user's rootless Podman
// service. scripts/rootless.sh (make test-rootless) sets it up.
func TestRootlessCore(t *testing.T) {
	url, bin := os.Getenv("ENCLAVE_ROOTLESS_PODMAN_URL"), os.Getenv("ENCLAVE_ROOTLESS_BIN_DIR")
	uid, _ := strconv.Atoi(os.Getenv("ENCLAVE_ROOTLESS_UID"))
	if url == "" || bin == "" || uid == 0 {
		if os.Getenv("ENCLAVE_REQUIRE_ROOTLESS") == "1" {
			t.Fatal("ENCLAVE_REQUIRE_ROOTLESS=1 but ENCLAVE_ROOTLESS_PODMAN_URL/_BIN_DIR/_UID are not set (run scripts/rootless.sh)")
		}
		t.Skip("rootless Podman not set up; make test-rootless runs this")
	}
	s := startServerAs(t, serverSetup{binDir: bin, podmanURL: url, uid: uid}, "")
	ctx := context.Background()

	// The server really runs unprivileged.
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status"); err != nil || !strings.Contains(string(st), "Uid:\t"+strconv.Itoa(uid)) {
		t.Fatalf("server is not running as uid %d", uid)
	}
	id := s.sandbox(t, nil)
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "print(40 + 2)"}); r.Output != "42\n" || r.Status != "success" {
		t.Errorf("python: %+v %s", r, errText(r))
	}
	// Rootless Podman mounts the user's own paths: the runner is on its channel,
	// and the next sandbox of the image boots its runner with its container.
	if n := channelConns(t, s, id); n != 1 {
		t.Errorf("%d connections on the runner's channel, want 1", n)
	}
	if bid, _ := booted(t, s); channelConns(t, s, bid) != 1 {
		t.Errorf("the booted runner is not on its channel")
	}
	if r := s.exec(t, id, "shell_executor", map[string]any{"command": []string{"bash", "-c", "sleep 5"}, "timeout": 0.3}); r.Status != "timeout" {
		t.Errorf("timeout: %+v", r)
	}
	if err := s.C.PutArchive(ctx, id, "/data", makeTar(t, map[string]string{"a.txt": "rootless"})); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if r := s.exec(t, id, "file_operation", map[string]any{"operation": "read", "file_path": "/data/a.txt"}); r.Output != "rootless" {
		t.Errorf("read after upload: %+v", r)
	}
	rc, err := s.C.GetArchive(ctx, id, "/data/a.txt")
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	rc.Close()
	res, err := s.C.InitializePool(ctx, 2, "docker", poolTools)
	if err != nil || res.PoolSize != 2 {
		t.Fatalf("pool: %+v %v", res, err)
	}
	for i := 0; i < 3; i++ {
		if r, err := s.C.ExecuteInPool(ctx, "python_executor", map[string]any{"code": "print('pooled')"}, 30); err != nil || r.Output != "pooled\n" {
			t.Errorf("pool call: %+v %v", r, err)
		}
	}
	if err := s.C.DeleteSandbox(ctx, id); err != nil {
		t.Errorf("delete: %v", err)
	}
	if _, err := s.C.GetSandbox(ctx, id); err == nil {
		t.Errorf("sandbox still there after delete")
	}
}
