package executor

// Background processes and terminals run in a sandbox's resident runner
// (package runner): they need Python in the image, like the runner.

import (
	"context"
	"errors"
	"fmt"

	"github.com/enclave-sandbox/enclave/internal/runner"
	"github.com/enclave-sandbox/enclave/sdk"
)

// ErrNoRunner means the sandbox has no resident runner (no Python in its
// image, or a backend without sessions), which processes and terminals
// need.
var ErrNoRunner = errors.New("background processes and terminals need the resident runner: Python 3 in the sandbox image and a backend with sessions")

// runnerOf is a sandbox's live runner.
func (e *Executor) runnerOf(ctx context.Context, id string) (*runner.Runner, *entry, error) {
	en, err := e.lookup(id)
	if err != nil {
		return nil, nil, err
	}
	r := e.runnerFor(ctx, en)
	if r == nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, ErrNoRunner
	}
	return r, en, nil
}

// onRunner runs op on a sandbox's runner; a read-only op whose runner died
// under it is retried once on a fresh one. A runner that died with its
// container reports the container gone.
func (e *Executor) onRunner(ctx context.Context, id string, readOnly bool, op func(*runner.Runner) error) error {
	var prev *runner.Runner
	for attempt := 0; attempt < 2; attempt++ {
		r, en, err := e.runnerOf(ctx, id)
		if err != nil {
			return err
		}
		if r == prev {
			break
		}
		prev = r
		err = op(r)
		if !errors.Is(err, runner.ErrDied) && !errors.Is(err, runner.ErrWedged) {
			return err
		}
		if e.containerGone(ctx, en) {
			if en.target.Vanished != nil {
				en.target.Vanished()
			}
			return fmt.Errorf("%w: %w", sdk.ErrSandboxNotFound, err)
		}
		e.startRunner(en)
		if !readOnly {
			return err
		}
	}
	return runner.ErrDied
}

// Spawn starts a background process in sandbox id.
func (e *Executor) Spawn(ctx context.Context, id string, s runner.ProcSpec) (info runner.ProcInfo, err error) {
	if max := e.opts.MaxProcessDuration; max > 0 && (s.Timeout <= 0 || s.Timeout > max) {
		s.Timeout = max
	}
	err = e.onRunner(ctx, id, false, func(r *runner.Runner) (err error) { info, err = r.Spawn(ctx, s); return })
	return
}

// Procs lists sandbox id's background processes.
func (e *Executor) Procs(ctx context.Context, id string) (list []runner.ProcInfo, err error) {
	err = e.onRunner(ctx, id, true, func(r *runner.Runner) (err error) { list, err = r.Procs(ctx); return })
	return
}

// Proc inspects one.
func (e *Executor) Proc(ctx context.Context, id, pid string) (info runner.ProcInfo, err error) {
	err = e.onRunner(ctx, id, true, func(r *runner.Runner) (err error) { info, err = r.Proc(ctx, pid); return })
	return
}

// ReadOutput reads one's output from offset.
func (e *Executor) ReadOutput(ctx context.Context, id, pid string, offset, max int64) (out runner.Output, err error) {
	err = e.onRunner(ctx, id, true, func(r *runner.Runner) (err error) { out, err = r.ReadOutput(ctx, pid, offset, max); return })
	return
}

// WriteStdin feeds one's stdin.
func (e *Executor) WriteStdin(ctx context.Context, id, pid string, data []byte, eof bool) error {
	return e.onRunner(ctx, id, false, func(r *runner.Runner) error { return r.WriteStdin(ctx, pid, data, eof) })
}

// Signal signals one's process group.
func (e *Executor) Signal(ctx context.Context, id, pid string, sig int) error {
	return e.onRunner(ctx, id, false, func(r *runner.Runner) error { return r.Signal(ctx, pid, sig) })
}

// OpenPTY starts a terminal in sandbox id.
func (e *Executor) OpenPTY(ctx context.Context, id string, spec runner.PTYSpec, onOutput func([]byte)) (p *runner.PTY, err error) {
	if spec.Cwd == "" {
		if en, lerr := e.lookup(id); lerr == nil {
			spec.Cwd = en.target.WorkingDir
		}
	}
	err = e.onRunner(ctx, id, false, func(r *runner.Runner) (err error) { p, err = r.OpenPTY(ctx, spec, onOutput); return })
	return
}

// Mark writes a small file in sandbox id through its runner (see
// runner.Runner.Mark); ErrNoRunner where it has none.
func (e *Executor) Mark(ctx context.Context, id, path, text string) error {
	return e.onRunner(ctx, id, true, func(r *runner.Runner) error { return r.Mark(ctx, path, text) })
}
