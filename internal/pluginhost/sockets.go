package pluginhost

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A go-plugin plugin serves gRPC on a Unix socket it creates in
// PLUGIN_UNIX_SOCKET_DIR (else the temp dir) and removes when it exits
// cleanly. A plugin killed with SIGKILL (by the chaos suite, the OOM killer,
// or the kernel when a killed server takes its plugins along) leaves its
// socket behind: one file per death, forever. So every host gives its
// plugins a directory of its own, holds an flock on it while it lives,
// gives each plugin process a directory in it, removed with whatever socket
// it holds when the process dies (at its restart, or its failed start),
// removes the whole directory when it stops, and at start removes the
// directories of hosts that died (their flock went with them) and the one
// socket such a host had to leave in the temp dir itself
// (sweepDeadSockets).

const (
	socketDirPrefix = "enclave-plugins-"
	socketLockName  = ".lock"
	// socketDirGrace spares a directory a starting host has just made but
	// not locked yet.
	socketDirGrace = 10 * time.Second
)

// socketDir is one host's directory of plugin sockets.
type socketDir struct {
	path   string
	lock   *os.File
	closed sync.Once
	procs  atomic.Uint64 // names the plugin processes' directories (procDir)
}

// openSocketDir sweeps base of dead hosts' directories and sockets, then
// makes and locks this host's own directory.
func openSocketDir(base string) (*socketDir, error) {
	sweepSocketDirs(base, time.Now())
	sweepDeadSockets(base, time.Now())
	path, err := os.MkdirTemp(base, socketDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("plugin socket dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(path, socketLockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(path)
		return nil, fmt.Errorf("lock plugin socket dir: %w", err)
	}
	return &socketDir{path: path, lock: lock}, nil
}

// close removes the directory (the plugins have stopped) and drops its lock.
func (d *socketDir) close() {
	if d == nil {
		return
	}
	d.closed.Do(func() {
		if err := os.RemoveAll(d.path); err != nil {
			slog.Warn("remove plugin socket dir", "dir", d.path, "err", err)
		}
		d.lock.Close()
	})
}

// sweepSocketDirs removes the socket directories in base whose host is gone:
// nobody holds their lock, and they are older than socketDirGrace. Another
// user's directories, or ones that cannot be read, are left alone.
func sweepSocketDirs(base string, now time.Time) {
	dirs, _ := filepath.Glob(filepath.Join(base, socketDirPrefix+"*"))
	for _, dir := range dirs {
		st, err := os.Lstat(dir)
		if err != nil || !st.IsDir() || now.Sub(st.ModTime()) < socketDirGrace {
			continue
		}
		if held, err := lockHeld(filepath.Join(dir, socketLockName)); err != nil || held {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			slog.Debug("remove a dead host's plugin socket dir", "dir", dir, "err", err)
			continue
		}
		slog.Info("removed a dead server's plugin sockets", "dir", dir)
	}
}

// sweepDeadSockets removes the go-plugin sockets in base that a killed host
// left: go-plugin makes the host's own end of a plugin's callbacks (the
// broker serving SandboxHost) in the temp dir, with no way to choose another.
// Only sockets named like go-plugin's, of this user, older than
// socketDirGrace, that refuse a connection (nothing listens: their process
// is gone) are removed.
func sweepDeadSockets(base string, now time.Time) {
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		name := e.Name()
		digits := strings.TrimPrefix(name, "plugin")
		if digits == name || digits == "" || strings.Trim(digits, "0123456789") != "" || e.Type()&fs.ModeSocket == 0 {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < socketDirGrace {
			continue
		}
		if st, ok := info.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() {
			continue
		}
		path := filepath.Join(base, name)
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			continue
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			os.Remove(path)
		}
	}
}

// lockHeld reports whether a live process holds the flock on path. A missing
// lock file counts as not held (a host that died while making it).
func lockHeld(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	return false, err
}

// procDir makes the directory one plugin process makes its socket in: the
// host removes it whole when the process dies (removeProcDir), so a socket
// goes with its process even when the host never learned its name (a
// process killed between making its socket and its handshake). Named by a
// counter: a socket's path must stay short (sun_path). "" without a
// directory of the host's own.
func (d *socketDir) procDir() (string, error) {
	if d == nil {
		return "", nil
	}
	dir := filepath.Join(d.path, strconv.FormatUint(d.procs.Add(1), 10))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("plugin socket dir: %w", err)
	}
	return dir, nil
}

// removeProcDir removes the socket directory of a plugin process that died
// (only one inside this host's directory: nothing else is ours to remove).
func (d *socketDir) removeProcDir(dir string) {
	if d == nil || dir == "" || filepath.Dir(dir) != d.path {
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		slog.Debug("remove a dead plugin's socket dir", "path", dir, "err", err)
	}
}
