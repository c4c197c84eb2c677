package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"

	"github.com/enclave-sandbox/enclave/sdk"
)

// BootKeyFile is where, in a channel's directory, a booted runner finds its
// key, and BootFile what the sandbox's init runs to start it (a JSON argv:
// cmd/enclave-boot); both exist only until the runner connected (or the
// boot was given up).
const (
	BootKeyFile = "runner.key"
	BootFile    = "runner.boot"
)

// Boot is a runner the sandbox starts itself, when its container starts
// (its init runs Argv, with stdio on /dev/null), so that a new sandbox's
// first call does not wait for an exec session to start one. The host
// listens on the channel before the container starts and takes the one
// connection that presents the key it left in the channel's directory.
// Whatever runs in the sandbox before the runner connects can read that
// key: only the sandbox's own command does, whose author already controls
// everything the runner runs on (its image, its interpreter).
type Boot struct {
	ch  *channelListener
	key string
	dir string
	// Argv is what the sandbox must run to start the runner (in BootFile).
	Argv []string
}

// PrepareBoot listens on ch and leaves there the key and the argv of a
// runner opts describes.
func PrepareBoot(ch Channel, opts Options) (*Boot, error) {
	b := &Boot{key: newKey(), dir: ch.HostDir}
	b.Argv = append(runnerArgv(opts), path.Join(ch.SandboxDir, ChannelSocket), path.Join(ch.SandboxDir, BootKeyFile))
	argv, err := json.Marshal(b.Argv)
	if err != nil {
		return nil, err
	}
	// Readable by any uid of the sandbox: the runner runs as its user.
	for name, data := range map[string][]byte{BootKeyFile: []byte(b.key + "\n"), BootFile: argv} {
		if err := writeFileAtomic(filepath.Join(ch.HostDir, name), data, 0o444); err != nil {
			RemoveBootFiles(b.dir)
			return nil, fmt.Errorf("runner boot: %w", err)
		}
	}
	if b.ch, err = listenChannel(ch.HostDir, b.key); err != nil {
		RemoveBootFiles(b.dir)
		return nil, err
	}
	return b, nil
}

// Accept waits (bounded by ctx) for the booted runner: its connection, then
// its Ready line. The boot is over either way (Close).
func (b *Boot) Accept(ctx context.Context) (*Runner, error) {
	defer b.Close()
	var c *net.UnixConn
	select {
	case c = <-b.ch.got:
	case <-ctx.Done():
		return nil, fmt.Errorf("runner boot: no runner connected: %w", ctx.Err())
	}
	r := &Runner{sess: noSession{}, key: b.key, pending: map[int64]*waiter{}, acked: map[int64]bool{},
		dead: make(chan struct{}), sessEnded: make(chan struct{}), procDir: ProcDir}
	close(r.sessEnded) // no session to wait for: the channel's end is the runner's
	r.conn.Store(c)
	ready := make(chan struct{})
	go r.readLoop(ready, nil)
	select {
	case <-ready:
		return r, nil
	case <-r.dead:
		return nil, fmt.Errorf("runner boot: the runner ended before it was ready: %w", ErrDied)
	case <-ctx.Done():
		r.abandon(ctx.Err())
		return nil, fmt.Errorf("runner boot: %w", ctx.Err())
	}
}

// Close gives the boot up: the socket and the key file go (a runner that
// connects later finds nobody and exits).
func (b *Boot) Close() {
	b.ch.close()
	RemoveBootFiles(b.dir)
}

// RemoveBootFiles removes what a boot left in a channel's directory dir
// (also one a killed server prepared, whose runner found nobody).
func RemoveBootFiles(dir string) {
	os.Remove(filepath.Join(dir, BootKeyFile))
	os.Remove(filepath.Join(dir, BootFile))
}

// writeFileAtomic writes a file the sandbox never sees half written.
func writeFileAtomic(p string, b []byte, mode os.FileMode) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil { // past the umask
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, p)
}

// noSession stands for the session a booted runner never had.
type noSession struct{}

func (noSession) Stdin() io.WriteCloser { return nopWriteCloser{} }
func (noSession) Stdout() io.Reader     { return eofReader{} }
func (noSession) Stderr() io.Reader     { return eofReader{} }
func (noSession) Wait() (int, error)    { return 0, nil }
func (noSession) Close() error          { return nil }

type nopWriteCloser struct{}

func (nopWriteCloser) Write(b []byte) (int, error) { return len(b), nil }
func (nopWriteCloser) Close() error                { return nil }

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

var _ sdk.Session = noSession{}
