package runner

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Channel is a socket the host listens on and the runner connects to, so
// the protocol skips the runtime's relays (on Podman: the service and
// conmon, a process hop each way apiece).
type Channel struct {
	// HostDir is a directory only the host writes, mounted read-only into
	// the sandbox at SandboxDir (so nothing in the sandbox can replace the
	// socket).
	HostDir, SandboxDir string
}

// ChannelSocket is the socket's name in the channel's directory. It exists
// only while a runner starts.
const ChannelSocket = "runner.sock"

// ErrNoChannel means a runner said it had connected to its channel but
// the host received no connection carrying its key.
var ErrNoChannel = errors.New("resident runner: no connection on its channel")

// channelHandshake bounds how long a connection may take to present the
// key; channelHandshakes bounds how many may try at once (anything in the
// sandbox can connect: a flood is dropped, and delays only its own runner).
const (
	channelHandshake  = 2 * time.Second
	channelHandshakes = 4
)

// channelListener accepts the one connection that presents the runner's key.
type channelListener struct {
	ln  *net.UnixListener
	got chan *net.UnixConn
}

// listenChannel listens on the channel's socket, replacing a stale one (a
// server killed while a runner started leaves its socket behind).
func listenChannel(dir, key string) (*channelListener, error) {
	path := filepath.Join(dir, ChannelSocket)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("runner channel: %w", err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("runner channel: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	// The runner may run as any user of the sandbox (and, in a user
	// namespace, any host uid): connecting takes write permission.
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("runner channel: %w", err)
	}
	l := &channelListener{ln: ln, got: make(chan *net.UnixConn, 1)}
	go l.accept([]byte(key))
	return l, nil
}

func (l *channelListener) accept(key []byte) {
	slots := make(chan struct{}, channelHandshakes)
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			return // closed
		}
		select {
		case slots <- struct{}{}:
		default:
			c.Close()
			continue
		}
		go func() {
			defer func() { <-slots }()
			if !presentsKey(c, key) {
				c.Close()
				return
			}
			select {
			case l.got <- c:
			default:
				c.Close() // a second connection with the key: the first won
			}
		}()
	}
}

// presentsKey reads the key and a newline from c, within the bound.
func presentsKey(c net.Conn, key []byte) bool {
	buf := make([]byte, len(key)+1)
	c.SetReadDeadline(time.Now().Add(channelHandshake))
	if _, err := io.ReadFull(c, buf); err != nil {
		return false
	}
	c.SetReadDeadline(time.Time{})
	return subtle.ConstantTimeCompare(buf[:len(key)], key) == 1 && buf[len(key)] == '\n'
}

// conn returns the runner's connection, waiting at most the handshake's
// bound (the runner wrote its key before it said so), and stops listening.
func (l *channelListener) conn() (*net.UnixConn, error) {
	defer l.close()
	select {
	case c := <-l.got:
		return c, nil
	case <-time.After(channelHandshake + time.Second):
		return nil, ErrNoChannel
	}
}

// close stops listening and removes the socket.
func (l *channelListener) close() { l.ln.Close() }
