// Package runner keeps a resident process in a sandbox that forks per call:
// a fork inside the sandbox costs well under a millisecond where a container
// exec costs ~100 ms. The runner (runner.py, stdlib-only Python) is started
// once over an interactive session; calls are multiplexed on it by id.
package runner

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

//go:embed runner.py
var source string

// ErrNoPython means the image has no Python: use one-shot exec.
var ErrNoPython = errors.New("no python in the sandbox image")

// ErrDied means the runner process ended.
var ErrDied = errors.New("resident runner died")

// ErrNotSent means the call never reached the runner: it is safe to run it
// another way.
var ErrNotSent = errors.New("call not sent")

// exitNoPython is the start script's status when no interpreter exists.
const exitNoPython = 200

const startScript = `py=` + sdk.PythonPath + `
[ -n "$py" ] || exit 200
exec "$py" -u -c "$0" "$@"`

// DefaultStandbys is the operator's default for Options.Standbys: a fork
// server with one standby, so a call that finds it ready has no fork on its
// path (README, Performance).
const DefaultStandbys = 1

// MaxStandbys bounds Options.Standbys: each costs a process and ~1.1 MiB in
// the sandbox.
const MaxStandbys = 8

// Options shape a runner.
type Options struct {
	// Standbys is how many pre-forked processes the runner's fork server
	// keeps ready for calls (runner.py: the fork server); 0 runs no fork
	// server: each call is a fork of the runner itself.
	Standbys int
	// CgroupRoot is where the runner reads the sandbox's memory cgroup for
	// its memory-thrash watchdog (runner.py); "" is /sys/fs/cgroup. Tests
	// point it at files they write.
	CgroupRoot string
	// Channel, when set, carries the protocol instead of the session's
	// stdin and stdout (the session then only starts the runner, and the
	// runner outlives it: the channel's end is the runner's). A channel
	// that cannot be set up is logged and skipped.
	Channel *Channel
}

// Opener opens a session in the sandbox (the backend's Session, bound to a
// container).
type Opener func(ctx context.Context, req sdk.ExecRequest) (sdk.Session, error)

type reply struct {
	Key      string `json:"k"`
	ID       int64  `json:"id"`
	Ack      bool   `json:"ack"`
	Hardened bool   `json:"hardened"`
	Pid      int    `json:"pid"`
	// ForkServer: calls start on the runner's pre-forked standbys.
	ForkServer bool `json:"fork_server"`
	// ForkServerLost: the fork server died or was stopped (by a call).
	ForkServerLost bool `json:"fork_server_lost"`
	// Channel: the runner moved the protocol to its channel.
	Channel  bool   `json:"channel"`
	Swept    int    `json:"swept"`
	Ready    bool   `json:"ready"`
	Code     int    `json:"code"`
	TimedOut bool   `json:"timed_out"`
	Killed   bool   `json:"killed"`
	OOM      bool   `json:"oom"`
	Out      string `json:"out"`
	Err      string `json:"err"`
	OutTrunc bool   `json:"out_trunc"`
	ErrTrunc bool   `json:"err_trunc"`
	Error    string `json:"error"`
	// A streamed call's output as it is read, a terminal's output.
	Chunk  string `json:"chunk"`
	Stream string `json:"s"`
	PtyOut string `json:"pty_out"`
	// An op's answer, or its failure's kind (with Error).
	Result json.RawMessage `json:"result"`
	Status string          `json:"status"`
}

// waiter is what a request in flight waits on.
type waiter struct {
	ch chan reply
	// onChunk gets a streamed call's or a terminal's output, on the read
	// loop: it must not block.
	onChunk func(stream string, data []byte)
	// acked is closed when the runner has read the request (nil: unused).
	acked chan struct{}
}

// ErrForged means a line on the runner's output did not carry its key:
// something other than the runner wrote there, so none of its replies can
// be trusted and the runner is ended.
var ErrForged = errors.New("resident runner output failed its integrity check")

// Runner is one resident runner.
type Runner struct {
	sess sdk.Session
	key  string
	// Hardened: the runner made itself non-dumpable (calls cannot reach its
	// file descriptors through /proc).
	Hardened bool
	// Pid is the runner's process id inside the sandbox.
	Pid int
	// ForkServer: calls run on children of the runner's fork server,
	// forked before the runner read its key (see runner.py).
	ForkServer bool
	forkLost   atomic.Bool
	// conn is the channel the protocol runs on once the runner is ready
	// (nil: the session's stdin and stdout).
	conn atomic.Pointer[net.UnixConn]
	// sessEnded is closed when the session of a runner on a channel ended,
	// with its status in sessExit.
	sessEnded chan struct{}
	sessExit  int

	writeMu sync.Mutex
	mu      sync.Mutex
	nextID  int64
	pending map[int64]*waiter
	acked   map[int64]bool // calls the runner has read (they may have run)
	dead    chan struct{}
	exit    int
	cause   error // why it ended early (ErrForged, a missed deadline)
	procDir string
}

// Start launches a runner and waits (bounded by ctx) until it is ready.
// life bounds the runner's session: it outlives single calls.
func Start(ctx, life context.Context, open Opener, opts Options) (*Runner, error) {
	key := newKey()
	argv := runnerArgv(opts)
	var ch *channelListener
	if opts.Channel != nil {
		var err error
		if ch, err = listenChannel(opts.Channel.HostDir, key); err != nil {
			slog.Warn("resident runner: no channel; the protocol rides the session", "err", err)
		} else {
			argv = append(argv, path.Join(opts.Channel.SandboxDir, ChannelSocket))
			// Whatever happens to the start, the socket goes with it.
			defer ch.close()
		}
	}
	sess, err := open(life, sdk.ExecRequest{Argv: argv})
	if err != nil {
		return nil, fmt.Errorf("start runner: %w", err)
	}
	r := &Runner{sess: sess, key: key, pending: map[int64]*waiter{}, acked: map[int64]bool{}, dead: make(chan struct{}), sessEnded: make(chan struct{}), procDir: ProcDir}
	ready := make(chan struct{})
	go drain(sess.Stderr())
	go r.readLoop(ready, ch)
	// The key goes first, on stdin: never in argv or the environment, which
	// other processes in the sandbox can read.
	go r.write([]byte(r.key + "\n"))
	select {
	case <-ready:
		return r, nil
	case <-r.dead:
		if r.exit == exitNoPython {
			return nil, ErrNoPython
		}
		return nil, fmt.Errorf("runner exited at start (status %d): %w", r.exit, ErrDied)
	case <-ctx.Done():
		sess.Close()
		return nil, ctx.Err()
	}
}

// newKey is a fresh key for a runner's lines (32 hex characters).
func newKey() string {
	var k [16]byte
	rand.Read(k[:])
	return hex.EncodeToString(k[:])
}

// runnerArgv starts runner.py with opts (the channel's socket and a boot's
// key file follow).
func runnerArgv(opts Options) []string {
	standbys := min(max(opts.Standbys, 0), MaxStandbys)
	return []string{"sh", "-c", startScript, source, strconv.Itoa(standbys), opts.CgroupRoot}
}

func (r *Runner) readLoop(ready chan struct{}, ch *channelListener) {
	defer func() {
		if c := r.conn.Load(); c != nil {
			c.Close()
			r.exit = r.waitSession()
		} else {
			r.exit, _ = r.sess.Wait()
		}
		r.mu.Lock()
		close(r.dead)
		r.mu.Unlock()
	}()
	sc := r.scanner(r.sess.Stdout())
	booted := r.conn.Load() != nil
	if booted {
		sc = r.scanner(r.conn.Load()) // it speaks on its channel alone (boot.go)
	}
	once := sync.Once{}
	for sc.Scan() {
		var rep reply
		if json.Unmarshal(sc.Bytes(), &rep) != nil || subtle.ConstantTimeCompare([]byte(rep.Key), []byte(r.key)) != 1 {
			r.abandon(ErrForged)
			continue
		}
		if rep.ForkServerLost {
			r.forkLost.Store(true)
			continue
		}
		if rep.Ready {
			r.Hardened, r.Pid, r.ForkServer = rep.Hardened, rep.Pid, rep.ForkServer
			if rep.Channel && !booted {
				c, err := r.channel(ch)
				if err != nil {
					r.abandon(err)
					return
				}
				sc = r.scanner(c)
			}
			once.Do(func() { close(ready) })
			continue
		}
		r.mu.Lock()
		w := r.pending[rep.ID]
		if rep.Ack {
			if w != nil {
				r.acked[rep.ID] = true
				if w.acked != nil {
					close(w.acked)
					w.acked = nil
				}
			}
			r.mu.Unlock()
			continue
		}
		if rep.Chunk != "" || rep.PtyOut != "" {
			r.mu.Unlock()
			if w != nil && w.onChunk != nil {
				stream, data := rep.Stream, rep.Chunk
				if rep.PtyOut != "" {
					stream, data = "pty", rep.PtyOut
				}
				if b, err := base64.StdEncoding.DecodeString(data); err == nil {
					w.onChunk(stream, b)
				}
			}
			continue
		}
		delete(r.pending, rep.ID)
		delete(r.acked, rep.ID)
		r.mu.Unlock()
		if w != nil {
			w.ch <- rep
		}
	}
}

func (r *Runner) scanner(from io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(from)
	// Small at first: a runner idles most of its life, and the scanner
	// doubles the buffer for a longer line (base64 of two capped streams).
	sc.Buffer(make([]byte, 4<<10), sdk.MaxMessageBytes)
	return sc
}

// channel takes the connection the runner said it made: the protocol runs
// on it from now on (the session's stdout has nothing more to say).
func (r *Runner) channel(ch *channelListener) (*net.UnixConn, error) {
	if ch == nil {
		return nil, fmt.Errorf("%w: it was given none", ErrNoChannel)
	}
	c, err := ch.conn()
	if err != nil {
		return nil, err
	}
	r.writeMu.Lock()
	r.conn.Store(c)
	r.writeMu.Unlock()
	// The session only started the runner: it may end (with the backend
	// plugin that carried it, say) while the runner goes on serving calls
	// on the channel. Its status is the runner's once the channel ended.
	// One goroutine per idle sandbox: its stdout (which has nothing more
	// to say), then its end.
	go func() {
		drain(r.sess.Stdout())
		r.sessExit, _ = r.sess.Wait()
		close(r.sessEnded)
	}()
	return c, nil
}

// waitSession returns the exit status of a runner whose channel ended: it
// exits at the channel's EOF; one that does not is ended with its session.
func (r *Runner) waitSession() int {
	for _, end := range []func() error{nil, r.sess.Close} {
		if end != nil {
			end()
		}
		select {
		case <-r.sessEnded:
			return r.sessExit
		case <-time.After(5 * time.Second):
		}
	}
	return -1
}

// drain reads r to its end and drops what it reads, with a small buffer: a
// runner's session holds a drain for its life (io.Discard would hold 8 KiB
// per blocked read, per sandbox).
func drain(r io.Reader) {
	b := make([]byte, 256)
	for {
		if _, err := r.Read(b); err != nil {
			return
		}
	}
}

// OnChannel reports whether the protocol runs on the runner's channel.
func (r *Runner) OnChannel() bool { return r.conn.Load() != nil }

// ForkServerLost reports whether the runner lost its fork server (a call
// killed or stopped it): it forks calls itself from then on, as with no
// standbys, and its memory is what those calls start from.
func (r *Runner) ForkServerLost() bool { return r.forkLost.Load() }

// Done is closed when the runner has ended.
func (r *Runner) Done() <-chan struct{} { return r.dead }

// Dead reports whether the runner has ended.
func (r *Runner) Dead() bool {
	select {
	case <-r.dead:
		return true
	default:
		return false
	}
}

// abandon ends a runner that can no longer be trusted or is wedged: its
// session is torn down at once (killing it and its calls), and pending calls
// fail with cause.
func (r *Runner) abandon(cause error) {
	r.mu.Lock()
	if r.cause == nil {
		r.cause = cause
	}
	r.mu.Unlock()
	if c := r.conn.Load(); c != nil {
		c.Close()
	}
	go r.sess.Close()
}

// Cause says why the runner ended early (nil: it did not).
func (r *Runner) Cause() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cause
}

// Close ends the runner (and the calls it runs). Closing its stdin makes it
// kill its calls and exit by itself, which costs no container round trip;
// the session is torn down once it has, or after a bound. Close never waits
// for a write in progress (a wedged runner does not read).
func (r *Runner) Close() {
	r.sess.Stdin().Close()
	if c := r.conn.Load(); c != nil {
		c.CloseWrite() // the runner reads EOF, as on its stdin
	}
	go func() {
		select {
		case <-r.dead:
		case <-time.After(5 * time.Second):
		}
		r.sess.Close()
	}()
}

// register reserves a request id and what its replies go to.
func (r *Runner) register(onChunk func(string, []byte), wantAck bool) (int64, *waiter, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Dead() {
		return 0, nil, ErrDied
	}
	r.nextID++
	w := &waiter{ch: make(chan reply, 1), onChunk: onChunk}
	if wantAck {
		w.acked = make(chan struct{})
	}
	r.pending[r.nextID] = w
	return r.nextID, w, nil
}

func (r *Runner) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return r.write(append(b, '\n'))
}

func (r *Runner) write(b []byte) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if c := r.conn.Load(); c != nil {
		_, err := c.Write(b)
		return err
	}
	_, err := r.sess.Stdin().Write(b)
	return err
}

// ErrWedged means the runner missed a call's deadline plus grace (stopped,
// or starved): it was killed, and a fresh one takes its place.
var ErrWedged = errors.New("resident runner missed a deadline")

// hardMargin is how long past a call's deadline and kill grace the host
// waits for the runner's reply before it declares the runner wedged.
const hardMargin = 3 * time.Second

// Exec runs one call in the runner with the ExecRequest semantics of the
// one-shot path: own process group, deadline on the group (TERM, then KILL
// after the grace), stdin then EOF, per-stream caps. A cancelled ctx kills
// the call's group. A runner that misses the deadline plus grace is killed
// (its calls end) and the call answers as timed out.
// With script set, the call runs it as `python <script.Path>` would instead
// of req.Argv.
func (r *Runner) Exec(ctx context.Context, req sdk.ExecRequest, script *tool.PythonScript) (sdk.ExecResult, error) {
	return r.ExecStream(ctx, req, script, nil)
}

// ExecStream is Exec that also hands onChunk the call's output as the
// runner reads it ("out" or "err"), in order, before it returns; onChunk
// runs on the runner's read loop and must not block. The result still
// holds the whole (capped) output.
func (r *Runner) ExecStream(ctx context.Context, req sdk.ExecRequest, script *tool.PythonScript, onChunk func(stream string, data []byte)) (sdk.ExecResult, error) {
	id, w, err := r.register(onChunk, false)
	if err != nil {
		return sdk.ExecResult{}, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	ch := w.ch
	forget := func() {
		r.mu.Lock()
		delete(r.pending, id)
		delete(r.acked, id)
		r.mu.Unlock()
	}
	// read reports whether the runner got the call (it acked it).
	read := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.acked[id]
	}

	grace := req.KillGrace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	msg := map[string]any{"id": id, "env": req.Env, "cwd": req.WorkingDir, "timeout": req.Timeout.Seconds(),
		"grace": grace.Seconds(), "max": req.MaxOutputBytes}
	if script != nil {
		msg["py_path"], msg["py_src"] = script.Path, string(script.Source)
	} else {
		msg["argv"] = req.Argv
	}
	if req.Stdin != nil {
		msg["stdin"] = base64.StdEncoding.EncodeToString(req.Stdin)
	}
	if onChunk != nil {
		msg["stream"] = true
	}
	b, err := json.Marshal(msg)
	if err != nil {
		forget()
		return sdk.ExecResult{}, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	// The write runs aside: a runner that stopped reading must not hold
	// this call past its bound.
	sent := make(chan error, 1)
	go func() { sent <- r.write(append(b, '\n')) }()
	var hard <-chan time.Time
	if req.Timeout > 0 {
		t := time.NewTimer(req.Timeout + grace + hardMargin)
		defer t.Stop()
		hard = t.C
	}
	killed := false
	done := ctx.Done()
	for {
		select {
		case err := <-sent:
			sent = nil
			if err != nil {
				forget()
				return sdk.ExecResult{}, fmt.Errorf("%w: %w: %v", ErrNotSent, ErrDied, err)
			}
		case rep := <-ch:
			return result(rep, killed)
		case <-done:
			// Kill the call's group, then wait (bounded) for its reply.
			killed, done = true, nil
			go r.send(map[string]any{"id": id, "kill": true})
			t := time.NewTimer(10 * time.Second)
			defer t.Stop()
			hard = t.C
		case <-hard:
			forget()
			r.abandon(fmt.Errorf("%w: no reply %s after a call's deadline and kill grace", ErrWedged, hardMargin))
			return sdk.ExecResult{ExitCode: -1, TimedOut: !killed, Killed: killed}, nil
		case <-r.dead:
			got := read()
			forget()
			err := ErrDied
			if c := r.Cause(); c != nil {
				err = fmt.Errorf("%w: %w", ErrDied, c)
			}
			if !got {
				// It never read the call: nothing of it ran.
				return sdk.ExecResult{}, fmt.Errorf("%w: %w", ErrNotSent, err)
			}
			return sdk.ExecResult{}, err
		}
	}
}

func result(rep reply, killed bool) (sdk.ExecResult, error) {
	if rep.Error != "" {
		return sdk.ExecResult{}, fmt.Errorf("runner: %s", strings.TrimSpace(rep.Error))
	}
	out, _ := base64.StdEncoding.DecodeString(rep.Out)
	errb, _ := base64.StdEncoding.DecodeString(rep.Err)
	return sdk.ExecResult{Stdout: out, Stderr: errb, ExitCode: rep.Code, TimedOut: rep.TimedOut, Killed: rep.Killed || killed, OOMKilled: rep.OOM,
		StdoutTruncated: rep.OutTrunc, StderrTruncated: rep.ErrTrunc}, nil
}
