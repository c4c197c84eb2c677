package pluginhost

import (
	"context"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/sdk/tool"
)

func TestSweepSocketDirs(t *testing.T) {
	tests := []struct {
		name string
		// make lays out the entry under base; it may return an open file
		// holding the entry's lock (closed after the sweep).
		make func(t *testing.T, path string) *os.File
		age  time.Duration
		kept bool
	}{
		{"a live host's dir", lockedDir, time.Minute, true},
		{"a dead host's dir", unlockedDir, time.Minute, false},
		{"a dir whose host died making its lock", bareDir, time.Minute, false},
		{"a dead host's dir made a moment ago", unlockedDir, time.Second, true},
		{"a file of that name", func(t *testing.T, path string) *os.File {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return nil
		}, time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			path := filepath.Join(base, socketDirPrefix+"x")
			other := filepath.Join(base, "plugin123")
			if err := os.WriteFile(other, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if f := tt.make(t, path); f != nil {
				defer f.Close()
			}
			sweepSocketDirs(base, time.Now().Add(tt.age))
			_, err := os.Lstat(path)
			if kept := err == nil; kept != tt.kept {
				t.Errorf("kept = %v, want %v", kept, tt.kept)
			}
			if _, err := os.Lstat(other); err != nil {
				t.Errorf("a socket outside any host's dir was touched: %v", err)
			}
		})
	}
}

func bareDir(t *testing.T, path string) *os.File {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "plugin1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return nil
}

func unlockedDir(t *testing.T, path string) *os.File {
	t.Helper()
	bareDir(t, path)
	if err := os.WriteFile(filepath.Join(path, socketLockName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return nil
}

// lockedDir holds the lock through its own open file, as another host would.
func lockedDir(t *testing.T, path string) *os.File {
	t.Helper()
	unlockedDir(t, path)
	f, err := os.OpenFile(filepath.Join(path, socketLockName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestKilledPluginLeavesNoSocket: the sockets of plugins killed with SIGKILL
// go (at the restart), and the host's directory goes when it stops.
func TestKilledPluginLeavesNoSocket(t *testing.T) {
	dir := pluginDir(t, "enclave-backend-fake", "enclave-tool-echo")
	base := shortTempDir(t)
	h := New(Options{Dir: dir, SocketBase: base})
	t.Cleanup(h.Kill)
	if err := h.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	p := h.tools["echo"]
	h.mu.Unlock()
	p.mu.Lock()
	pid, sockDir := p.pid, p.sockDir
	p.mu.Unlock()
	socks := socketsUnder(t, sockDir)
	if filepath.Dir(sockDir) != h.sockets.path || filepath.Dir(h.sockets.path) != base || len(socks) != 1 {
		t.Fatalf("plugin sockets %v in %q, want one in a directory of its own in the host's dir under %s", socks, sockDir, base)
	}
	sock := socks[0]
	killDead(t, pid)
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("the killed plugin's socket is already gone (%v): this test cannot tell", err)
	}
	echo, _ := h.Tool("echo")
	res, err := echo.Execute(context.Background(), tool.SandboxInfo{ID: "s"}, tool.Call{Name: "echo", Params: json.RawMessage(`{"text":"hi"}`)})
	if err != nil || res.Output != "hi" {
		t.Fatalf("call after kill -9: %+v, %v", res, err)
	}
	if _, err := os.Lstat(sockDir); !os.IsNotExist(err) {
		t.Errorf("the killed plugin's socket directory is still there after its restart (%v)", err)
	}
	h.Kill()
	left, _ := filepath.Glob(filepath.Join(base, "*"))
	if len(left) != 0 {
		t.Errorf("left in the temp dir after the host stopped: %v", left)
	}
}

// TestPluginKilledWhileStartingLeavesNoSocket: a plugin process killed
// during its start (while the host asks its Info, or before its handshake
// told the host its socket; in the chaos suite, killed as it was being
// restarted) could not remove its socket: the host does, so its directory
// holds one socket per running plugin.
func TestPluginKilledWhileStartingLeavesNoSocket(t *testing.T) {
	dir := pluginDir(t, "enclave-backend-fake", "enclave-tool-echo", "enclave-tool-dieininfo", "enclave-tool-dieatlisten")
	h := New(Options{Dir: dir, SocketBase: shortTempDir(t)})
	t.Cleanup(h.Kill)
	if err := h.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, tools := h.Names(); !slices.Equal(tools, []string{"echo"}) {
		t.Fatalf("tools %v, want only echo", tools)
	}
	if socks := socketsUnder(t, h.sockets.path); len(socks) != 2 {
		t.Errorf("%d sockets for 2 running plugins: %v", len(socks), socks)
	}
}

func TestSweepDeadSockets(t *testing.T) {
	base := t.TempDir()
	listen := func(name string, alive bool) {
		l, err := net.Listen("unix", filepath.Join(base, name))
		if err != nil {
			t.Fatal(err)
		}
		if alive {
			t.Cleanup(func() { l.Close() })
			return
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
	}
	listen("plugin111", true)  // a live host's
	listen("plugin222", false) // a killed host's
	listen("other333", false)  // not go-plugin's
	listen("plugin", false)    // not go-plugin's name either
	if err := os.WriteFile(filepath.Join(base, "plugin444"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sweepDeadSockets(base, time.Now()) // all too young
	if _, err := os.Lstat(filepath.Join(base, "plugin222")); err != nil {
		t.Fatalf("a socket younger than the grace was removed: %v", err)
	}
	sweepDeadSockets(base, time.Now().Add(time.Minute))
	for name, kept := range map[string]bool{"plugin111": true, "plugin222": false, "other333": true, "plugin": true, "plugin444": true} {
		if _, err := os.Lstat(filepath.Join(base, name)); (err == nil) != kept {
			t.Errorf("%s: kept = %v, want %v", name, err == nil, kept)
		}
	}
}

// socketsUnder lists the sockets anywhere under dir.
func socketsUnder(t *testing.T, dir string) []string {
	t.Helper()
	var socks []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSocket != 0 {
			socks = append(socks, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return socks
}

// shortTempDir is a temporary directory with a short path: a test's own
// (t.TempDir, named after the test) can make a plugin's socket path longer
// than a socket address holds.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ph")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
