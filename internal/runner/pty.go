package runner

// Terminals: a process on a pseudo-terminal in the sandbox, relayed by the
// runner (runner.py's open_pty) over its one session.

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"
)

// PTYSpec starts a terminal.
type PTYSpec struct {
	Argv       []string
	Env        map[string]string
	Cwd        string
	Rows, Cols int
}

// PTY is a terminal running in the sandbox.
type PTY struct {
	r    *Runner
	id   int64
	done chan struct{}
	code int
	err  error
}

// OpenPTY starts spec on a new terminal. onOutput gets the terminal's
// output in order, on the runner's read loop (it must not block); the
// runner sends more only as Ack returns credit (a window of runner.py's
// PTY_WINDOW bytes), so a slow reader slows the terminal, not the host.
func (r *Runner) OpenPTY(ctx context.Context, spec PTYSpec, onOutput func([]byte)) (*PTY, error) {
	id, w, err := r.register(func(_ string, b []byte) { onOutput(b) }, true)
	if err != nil {
		return nil, err
	}
	p := &PTY{r: r, id: id, done: make(chan struct{})}
	acked := w.acked
	go func() {
		select {
		case rep := <-w.ch:
			p.code = rep.Code
			if rep.Error != "" {
				p.err = fmt.Errorf("terminal: %s", rep.Error)
			}
		case <-r.dead:
			p.code, p.err = -1, ErrDied
		}
		close(p.done)
	}()
	if err := r.send(map[string]any{"id": id, "op": "pty", "argv": spec.Argv, "env": spec.Env, "cwd": spec.Cwd,
		"rows": spec.Rows, "cols": spec.Cols}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDied, err)
	}
	t := time.NewTimer(opBound)
	defer t.Stop()
	select {
	case <-acked:
		return p, nil
	case <-p.done:
		return nil, p.err
	case <-t.C:
		r.abandon(fmt.Errorf("%w: a terminal did not start in %s", ErrWedged, opBound))
		return nil, ErrWedged
	case <-ctx.Done():
		p.Kill()
		return nil, ctx.Err()
	}
}

// Write types into the terminal.
func (p *PTY) Write(b []byte) error {
	return p.r.send(map[string]any{"id": p.id, "op": "pty_in", "data": base64.StdEncoding.EncodeToString(b)})
}

// Resize sets the terminal's size (its programs get SIGWINCH).
func (p *PTY) Resize(rows, cols int) error {
	return p.r.send(map[string]any{"id": p.id, "op": "pty_resize", "rows": rows, "cols": cols})
}

// Ack returns n bytes of output credit once they have been delivered.
func (p *PTY) Ack(n int) error {
	return p.r.send(map[string]any{"id": p.id, "op": "pty_ack", "n": n})
}

// Kill ends the terminal's session (its process group).
func (p *PTY) Kill() { go p.r.send(map[string]any{"id": p.id, "kill": true}) }

// Done is closed when the terminal's process has exited and its output
// has all been delivered.
func (p *PTY) Done() <-chan struct{} { return p.done }

// Code is the exit status once Done (-1: the runner died).
func (p *PTY) Code() (int, error) { <-p.done; return p.code, p.err }
