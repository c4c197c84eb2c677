// Package runner keeps a resident process in a sandbox that forks per call:
// a fork inside the sandbox costs well under a millisecond where a container
// exec costs ~100 ms. The runner (runner.py, stdlib-only Python) is started
// once over an interactive session; calls are multiplexed on it by id.
package runner

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
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

const startScript = `command -v python3 >/dev/null 2>&1 && exec python3 -u -c "$0"
command -v python >/dev/null 2>&1 && exec python -u -c "$0"
exit 200`

// Opener opens a session in the sandbox (the backend's Session, bound to a
// container).
type Opener func(ctx context.Context, req sdk.ExecRequest) (sdk.Session, error)

type reply struct {
	ID       int64  `json:"id"`
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
}

// Runner is one resident runner.
type Runner struct {
	sess sdk.Session

	writeMu sync.Mutex
	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan reply
	dead    chan struct{}
	exit    int
}

// Start launches a runner and waits (bounded by ctx) until it is ready.
// life bounds the runner's session: it outlives single calls.
func Start(ctx, life context.Context, open Opener) (*Runner, error) {
	sess, err := open(life, sdk.ExecRequest{Argv: []string{"sh", "-c", startScript, source}})
	if err != nil {
		return nil, fmt.Errorf("start runner: %w", err)
	}
	r := &Runner{sess: sess, pending: map[int64]chan reply{}, dead: make(chan struct{})}
	ready := make(chan struct{})
	go io.Copy(io.Discard, sess.Stderr())
	go r.readLoop(ready)
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

func (r *Runner) readLoop(ready chan struct{}) {
	defer func() {
		r.exit, _ = r.sess.Wait()
		r.mu.Lock()
		close(r.dead)
		r.mu.Unlock()
	}()
	sc := bufio.NewScanner(r.sess.Stdout())
	sc.Buffer(make([]byte, 1<<20), 64<<20) // base64 of two capped streams
	once := sync.Once{}
	for sc.Scan() {
		var rep reply
		if json.Unmarshal(sc.Bytes(), &rep) != nil {
			continue
		}
		if rep.Ready {
			once.Do(func() { close(ready) })
			continue
		}
		r.mu.Lock()
		ch := r.pending[rep.ID]
		delete(r.pending, rep.ID)
		r.mu.Unlock()
		if ch != nil {
			ch <- rep
		}
	}
}

// Dead reports whether the runner has ended.
func (r *Runner) Dead() bool {
	select {
	case <-r.dead:
		return true
	default:
		return false
	}
}

// Close ends the runner (and the calls it runs). Closing its stdin makes it
// kill its calls and exit by itself, which costs no container round trip;
// the session is torn down once it has, or after a bound.
func (r *Runner) Close() {
	r.writeMu.Lock()
	r.sess.Stdin().Close()
	r.writeMu.Unlock()
	go func() {
		select {
		case <-r.dead:
		case <-time.After(5 * time.Second):
		}
		r.sess.Close()
	}()
}

func (r *Runner) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	_, err = r.sess.Stdin().Write(append(b, '\n'))
	return err
}

// Exec runs one call in the runner with the ExecRequest semantics of the
// one-shot path: own process group, deadline on the group (TERM, then KILL
// after the grace), stdin then EOF, per-stream caps. A cancelled ctx kills
// the call's group.
func (r *Runner) Exec(ctx context.Context, req sdk.ExecRequest) (sdk.ExecResult, error) {
	r.mu.Lock()
	if r.Dead() {
		r.mu.Unlock()
		return sdk.ExecResult{}, fmt.Errorf("%w: %w", ErrNotSent, ErrDied)
	}
	r.nextID++
	id := r.nextID
	ch := make(chan reply, 1)
	r.pending[id] = ch
	r.mu.Unlock()

	grace := req.KillGrace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	msg := map[string]any{"id": id, "env": req.Env, "cwd": req.WorkingDir, "timeout": req.Timeout.Seconds(),
		"grace": grace.Seconds(), "max": req.MaxOutputBytes}
	if req.Python != nil {
		msg["py_path"], msg["py_src"] = req.Python.Path, string(req.Python.Source)
	} else {
		msg["argv"] = req.Argv
		if req.Stdin != nil {
			msg["stdin"] = base64.StdEncoding.EncodeToString(req.Stdin)
		}
	}
	if err := r.send(msg); err != nil {
		r.mu.Lock()
		delete(r.pending, id)
		r.mu.Unlock()
		return sdk.ExecResult{}, fmt.Errorf("%w: %w: %v", ErrNotSent, ErrDied, err)
	}
	// The same outer bound as the one-shot path: deadline + grace + 5 s.
	var hard <-chan time.Time
	if req.Timeout > 0 {
		t := time.NewTimer(req.Timeout + grace + 5*time.Second)
		defer t.Stop()
		hard = t.C
	}
	killed := false
	done := ctx.Done()
	for {
		select {
		case rep := <-ch:
			return result(rep, killed)
		case <-done:
			// Kill the call's group, then wait (bounded) for its reply.
			killed, done = true, nil
			r.send(map[string]any{"id": id, "kill": true})
			t := time.NewTimer(10 * time.Second)
			defer t.Stop()
			hard = t.C
		case <-hard:
			r.send(map[string]any{"id": id, "kill": true})
			return sdk.ExecResult{ExitCode: -1, TimedOut: !killed, Killed: killed}, nil
		case <-r.dead:
			return sdk.ExecResult{}, ErrDied
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
