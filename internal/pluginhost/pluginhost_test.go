package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{
		"enclave-tool-b":        0o755,
		"enclave-backend-a":     0o700,
		"enclave-tool-noexec":   0o644,
		"other-exec":            0o755,
		"enclave-tool-c.README": 0o644,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "enclave-tool-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Discover(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "enclave-backend-a"), filepath.Join(dir, "enclave-tool-b")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Discover (-want +got):\n%s", diff)
	}
	if _, err := Discover(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing plugin dir is not an error")
	}
}

func TestCheckInfo(t *testing.T) {
	good := sdk.Info{Name: "x", Kind: sdk.KindTool, APIVersions: []uint32{sdk.APIVersion}, Schema: json.RawMessage(`{}`)}
	tests := []struct {
		name   string
		kind   string
		mutate func(*sdk.Info)
		ok     bool
	}{
		{"tool", sdk.KindTool, func(*sdk.Info) {}, true},
		{"kind differs from the file name", sdk.KindBackend, func(*sdk.Info) {}, false},
		{"no name", sdk.KindTool, func(i *sdk.Info) { i.Name = "" }, false},
		{"other API version only", sdk.KindTool, func(i *sdk.Info) { i.APIVersions = []uint32{2} }, false},
		{"several API versions", sdk.KindTool, func(i *sdk.Info) { i.APIVersions = []uint32{2, sdk.APIVersion} }, true},
		{"tool without schema", sdk.KindTool, func(i *sdk.Info) { i.Schema = nil }, false},
		{"backend serving nothing", sdk.KindBackend, func(i *sdk.Info) { i.Kind = sdk.KindBackend }, false},
		{"backend", sdk.KindBackend, func(i *sdk.Info) { i.Kind, i.SandboxTypes = sdk.KindBackend, []string{"docker"} }, true},
	}
	for _, tt := range tests {
		info := good
		tt.mutate(&info)
		if err := checkInfo(tt.kind, info); (err == nil) != tt.ok {
			t.Errorf("%s: checkInfo = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// pluginDir builds the test plugin once per test under the given names.
func pluginDir(t *testing.T, names ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a plugin binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "testplugin")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/testplugin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test plugin: %v\n%s", err, out)
	}
	for _, n := range names {
		if err := os.Link(bin, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadKeepsGoodPluginsAndListsTheRest(t *testing.T) {
	dir := pluginDir(t, "enclave-backend-fake", "enclave-tool-echo", "enclave-tool-badapi", "enclave-tool-wrongkind")
	h := New(Options{Dir: dir})
	t.Cleanup(h.Kill)
	if err := h.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	backends, tools := h.Names()
	if diff := cmp.Diff([]string{"fake"}, backends); diff != "" {
		t.Errorf("backends (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"echo"}, tools); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
	if got, want := h.SandboxTypes(), sdk.ContainerTypes(); !slices.Equal(got, want) {
		t.Errorf("sandbox types %v, want %v", got, want)
	}
	problems := map[string]string{}
	for _, s := range h.Statuses() {
		problems[filepath.Base(s.Path)] = s.Problem
	}
	for name, want := range map[string]bool{"enclave-backend-fake": false, "enclave-tool-echo": false, "enclave-tool-badapi": true, "enclave-tool-wrongkind": true} {
		if got := problems[name] != ""; got != want {
			t.Errorf("%s: problem %q, want rejected=%v", name, problems[name], want)
		}
	}
	// The fake backend declares only rename: the host passes on no more.
	be, ok := h.Backend("docker")
	if !ok {
		t.Fatal("no backend for docker")
	}
	if _, ok := backend.Renames(be); !ok {
		t.Error("declared rename not offered")
	}
	if _, ok := backend.Sessions(be); ok {
		t.Error("sessions offered though the plugin does not declare them")
	}
	if _, ok := backend.HealthCheck(be); ok {
		t.Error("health offered though the plugin does not declare it")
	}
}

// killDead kills pid with SIGKILL and returns once it is dead (gone, or a
// zombie not yet reaped): the kill happened between two calls, not during
// one (a call in flight at that instant may fail; see proc.go).
func killDead(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") || strings.Contains(string(st), ") X ") {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("pid %d survived SIGKILL", pid)
}

func TestDeadPluginIsRestartedOnNextUse(t *testing.T) {
	dir := pluginDir(t, "enclave-backend-fake", "enclave-tool-echo")
	var restarts atomic.Int32
	h := New(Options{Dir: dir, OnRestart: func(kind, name string) { restarts.Add(1) }})
	t.Cleanup(h.Kill)
	if err := h.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	echo, ok := h.Tool("echo")
	if !ok {
		t.Fatal("no echo tool")
	}
	call := tool.Call{Name: "echo", Params: json.RawMessage(`{"text":"hi"}`)}
	for round := 1; round <= 2; round++ {
		h.mu.Lock()
		p := h.tools["echo"]
		h.mu.Unlock()
		p.mu.Lock()
		pid := p.pid
		p.mu.Unlock()
		if pid <= 0 {
			t.Fatal("no plugin pid")
		}
		killDead(t, pid)
		res, err := echo.Execute(context.Background(), tool.SandboxInfo{ID: "s"}, call)
		if err != nil || res.Output != "hi" {
			t.Fatalf("round %d: first call after kill -9: %+v, %v", round, res, err)
		}
		if got := int(restarts.Load()); got != round {
			t.Errorf("round %d: %d restarts counted", round, got)
		}
	}
	for _, s := range h.Statuses() {
		if s.Name == "echo" && s.Restarts != 2 {
			t.Errorf("Statuses says %d restarts, want 2", s.Restarts)
		}
	}
	// A backend restarts the same way (and an idempotent call is retried).
	h.mu.Lock()
	bp := h.backends[0]
	h.mu.Unlock()
	bp.mu.Lock()
	pid := bp.pid
	bp.mu.Unlock()
	killDead(t, pid)
	be, _ := h.Backend("docker")
	if _, err := be.List(context.Background(), nil); err != nil {
		t.Errorf("backend call after kill -9: %v", err)
	}
}

// TestDiedJudgesTheCallsProcess: a call that failed on a process that
// another call has already replaced is retried; the fresh, live process
// is not what failed.
func TestDiedJudgesTheCallsProcess(t *testing.T) {
	dir := pluginDir(t, "enclave-backend-fake")
	h := New(Options{Dir: dir})
	t.Cleanup(h.Kill)
	if err := h.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	p := h.backends[0]
	h.mu.Unlock()
	_, oldGen, err := p.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	pid := p.pid
	p.mu.Unlock()
	killDead(t, pid)
	// Another call restarts it before the failed one asks.
	_, newGen, err := p.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if newGen == oldGen {
		t.Fatalf("the restarted process has the old generation %d", oldGen)
	}
	unavailable := fmt.Errorf("connection reset: %w", sdk.ErrUnavailable)
	if !p.died(unavailable, oldGen) {
		t.Error("a call to the killed process is not judged dead once it was replaced")
	}
	if p.died(unavailable, newGen) {
		t.Error("the live restarted process is judged dead")
	}
	if p.died(errors.New("other"), oldGen) {
		t.Error("an error that is not unavailability is judged a death")
	}
}
