package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/internal/runner"
	"github.com/enclave-sandbox/enclave/sdk"
)

// sweepTicket is a sweep queued on a runner between two pool callers.
type sweepTicket struct {
	r    *runner.Runner
	done <-chan int // fires once the runner swept
}

// liveRunner returns the sandbox's runner if it has a live one.
func (m *Manager) liveRunner(sb *sandbox) *runner.Runner {
	slot := m.runnerSlot(sb)
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.r != nil && !slot.r.Dead() {
		return slot.r
	}
	return nil
}

// ensureSwept makes sure the sweep queued after the last pool caller has
// happened before anything of this call runs through r (nil: one-shot
// exec). On the runner it was queued on, and while that runner lives, the
// order of requests guarantees it; on any other path it is done now.
func (m *Manager) ensureSwept(ctx context.Context, sb *sandbox, r *runner.Runner) error {
	m.mu.Lock()
	t := sb.sweep
	m.mu.Unlock()
	if t.done == nil {
		return nil
	}
	select {
	case <-t.done:
	default:
		if t.r == r && !r.Dead() {
			return nil // ordered ahead of this call; the ticket stays until done
		}
		if err := m.sweepMember(ctx, sb); err != nil {
			return fmt.Errorf("clean the pool member: %w", err)
		}
	}
	m.mu.Lock()
	if sb.sweep == t {
		sb.sweep = sweepTicket{}
	}
	m.mu.Unlock()
	return nil
}

// runnerSlot is a sandbox's resident runner (see package runner).
type runnerSlot struct {
	mu       sync.Mutex
	r        *runner.Runner
	starting chan struct{} // closed when a start attempt ends
	noPython bool          // or no sessions: one-shot exec for good
	failedAt time.Time     // last failed start: retried after a pause
}

// fallbackPython runs a Python request as a one-shot process: the script
// arrives on stdin and the shell replaces itself with the interpreter.
const fallbackPython = `cat >"$0" || exit 1
` + runPython

// runPython runs the script "$0" with the sandbox's Python (sdk.PythonPath,
// the rule every path follows).
const runPython = `exec ` + sdk.PythonPath + ` "$0"`

func (m *Manager) runnerSlot(sb *sandbox) *runnerSlot {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sb.runner == nil {
		sb.runner = &runnerSlot{}
	}
	return sb.runner
}

// startRunner starts a sandbox's runner in the background (at creation, so
// the first call finds it warm).
func (m *Manager) startRunner(sb *sandbox) {
	if !m.opts.ResidentRunner {
		return
	}
	slot := m.runnerSlot(sb)
	slot.mu.Lock()
	if slot.starting != nil || slot.noPython || (slot.r != nil && !slot.r.Dead()) || time.Since(slot.failedAt) < 30*time.Second {
		slot.mu.Unlock()
		return
	}
	done := make(chan struct{})
	slot.starting = done
	slot.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), m.opts.StartTimeout)
		defer cancel()
		containerID := m.containerOf(sb)
		r, err := runner.Start(ctx, context.Background(), func(ctx context.Context, req sdk.ExecRequest) (sdk.Session, error) {
			req.WorkingDir = sb.cfg.WorkingDir
			return sb.backend.Session(ctx, containerID, req)
		})
		slot.mu.Lock()
		defer slot.mu.Unlock()
		slot.starting = nil
		close(done)
		switch {
		case errors.Is(err, runner.ErrNoPython), errors.Is(err, sdk.ErrUnsupported):
			slot.noPython = true
			slog.Info("no resident runner for this sandbox (no Python or no sessions): tool calls use one-shot exec", "sandbox_id", sb.id, "why", err)
		case err != nil:
			slot.failedAt = time.Now()
			slog.Warn("resident runner did not start; using one-shot exec", "sandbox_id", sb.id, "err", err)
		default:
			if slot.r != nil {
				slot.r.Close()
			}
			slot.r = r
		}
	}()
}

// runnerFor returns a live runner, waiting (bounded) for one being started
// and restarting one that died; nil means use one-shot exec.
func (m *Manager) runnerFor(ctx context.Context, sb *sandbox) *runner.Runner {
	if !m.opts.ResidentRunner {
		return nil
	}
	slot := m.runnerSlot(sb)
	for attempt := 0; attempt < 2; attempt++ {
		slot.mu.Lock()
		r, starting, noPython := slot.r, slot.starting, slot.noPython
		slot.mu.Unlock()
		switch {
		case noPython:
			return nil
		case r != nil && !r.Dead():
			return r
		case starting == nil:
			m.startRunner(sb)
			slot.mu.Lock()
			starting = slot.starting
			slot.mu.Unlock()
			if starting == nil {
				return nil // not starting (backing off)
			}
		}
		select {
		case <-starting:
		case <-ctx.Done():
			return nil
		case <-time.After(m.opts.StartTimeout):
			return nil
		}
	}
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.r != nil && !slot.r.Dead() {
		return slot.r
	}
	return nil
}

// closeRunner ends a sandbox's runner (stop, delete, reset, death).
func (m *Manager) closeRunner(sb *sandbox) {
	m.mu.Lock()
	slot := sb.runner
	m.mu.Unlock()
	if slot == nil {
		return
	}
	slot.mu.Lock()
	r := slot.r
	slot.r = nil
	slot.mu.Unlock()
	if r != nil {
		r.Close()
	}
}

// execInSandbox runs a tool's process: in the resident runner when the
// sandbox has one, else as a one-shot backend exec. A runner that died
// with its container reports the container as gone (sdk.ErrSandboxNotFound),
// so the caller learns the sandbox vanished rather than that a runner died.
func (m *Manager) execInSandbox(ctx context.Context, sb *sandbox, req sdk.ExecRequest) (sdk.ExecResult, error) {
	// A call the runner never read (it died first, e.g. with the backend
	// plugin that carried its session) goes to a fresh runner, once.
	var prev *runner.Runner
	for attempt := 0; attempt < 2; attempt++ {
		r := m.runnerFor(ctx, sb)
		if r == nil || r == prev {
			break
		}
		prev = r
		if err := m.ensureSwept(ctx, sb, r); err != nil {
			return sdk.ExecResult{}, err
		}
		res, err := r.Exec(ctx, req)
		if err == nil {
			if r.Cause() != nil {
				m.startRunner(sb) // it was wedged and has been killed
			}
			return res, nil
		}
		if errors.Is(err, runner.ErrDied) && m.containerGone(ctx, sb) {
			return res, fmt.Errorf("%w: %w", sdk.ErrSandboxNotFound, err)
		}
		m.startRunner(sb)
		if !errors.Is(err, runner.ErrNotSent) {
			slog.Warn("resident runner died during a call; restarting it", "sandbox_id", sb.id, "err", err)
			return res, err
		}
	}
	if err := m.ensureSwept(ctx, sb, nil); err != nil {
		return sdk.ExecResult{}, err
	}
	if req.Python != nil {
		return m.execPythonOneShot(ctx, sb, req)
	}
	return sb.backend.Exec(ctx, m.containerOf(sb), req)
}

// execPythonOneShot runs a Python request without a runner: the script is
// written to its path (from stdin of a first exec when the call has stdin of
// its own), then run as `python path`, and removed afterwards.
func (m *Manager) execPythonOneShot(ctx context.Context, sb *sandbox, req sdk.ExecRequest) (sdk.ExecResult, error) {
	path, src := req.Python.Path, req.Python.Source
	req.Python = nil
	containerID := m.containerOf(sb)
	defer func() {
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			sb.backend.Exec(ctx, containerID, sdk.ExecRequest{Argv: []string{"rm", "-f", "--", path}, Timeout: 30 * time.Second})
		}()
	}()
	if req.Stdin == nil {
		req.Argv, req.Stdin = []string{"sh", "-c", fallbackPython, path}, src
		return sb.backend.Exec(ctx, containerID, req)
	}
	w, err := sb.backend.Exec(ctx, containerID, sdk.ExecRequest{Argv: []string{"sh", "-c", `cat >"$0"`, path}, Stdin: src, Env: req.Env,
		WorkingDir: req.WorkingDir, Timeout: req.Timeout})
	if err != nil {
		return sdk.ExecResult{}, err
	}
	if w.ExitCode != 0 {
		return w, nil
	}
	req.Argv = []string{"sh", "-c", runPython, path}
	return sb.backend.Exec(ctx, containerID, req)
}

// sweepScript is the runner's sweep for sandboxes without a runner: kill
// every process but PID 1, the oldest child of PID 1 (the sandbox's
// command), exec'd processes (no parent inside the container) and their
// descendants. It refuses to run where its own ancestry reaches PID 1 (not
// inside a container's exec). A few rounds catch what forks meanwhile.
const sweepScript = `for round in 1 2 3; do
for d in /proc/[0-9]*; do s=$(cat "$d/stat" 2>/dev/null) || continue; r=${s##*) }; set -- $r; echo "${d#/proc/} $2 ${20}"; done |
awk -v self=$$ '{ pid[NR] = $1; pp[$1] = $2; st[$1] = $3 }
END {
  x = self; n = 0; while ((x in pp) && pp[x] != 0 && n++ < 1000) x = pp[x]
  if (x == 1 || !(x in pp)) exit
  root = ""; for (i in pid) { p = pid[i]; if (pp[p] == 1 && (root == "" || st[p] + 0 < st[root] + 0)) root = p }
  keep[1] = 1; if (root != "") keep[root] = 1
  for (i in pid) { p = pid[i]; if (pp[p] == 0) keep[p] = 1 }
  for (changed = 1; changed; ) { changed = 0; for (i in pid) { p = pid[i]; if (!(p in keep) && (pp[p] in keep) && pp[p] != 1) { keep[p] = 1; changed = 1 } } }
  for (i in pid) { p = pid[i]; if (!(p in keep)) print p }
}' | while read -r p; do kill -9 "$p" 2>/dev/null; done
done; exit 0`

// containerGone asks the backend (bounded) whether a sandbox's container
// is missing or no longer running.
func (m *Manager) containerGone(ctx context.Context, sb *sandbox) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	st, err := sb.backend.Inspect(ctx, m.containerOf(sb))
	if errors.Is(err, sdk.ErrSandboxNotFound) {
		return true
	}
	return err == nil && st.Status != "running"
}

// sweepMember kills what a finished pool call left running in a member, so the
// next caller can neither observe nor tamper with it. Runner-less members
// are swept by a one-shot exec of the same rule.
func (m *Manager) sweepMember(ctx context.Context, sb *sandbox) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if r := m.runnerFor(ctx, sb); r != nil {
		if _, err := r.Sweep(ctx); err == nil {
			return nil
		}
	}
	res, err := sb.backend.Exec(ctx, m.containerOf(sb), sdk.ExecRequest{Argv: []string{"sh", "-c", sweepScript}, Timeout: 10 * time.Second})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("sweep exited %d: %s", res.ExitCode, res.Stderr)
	}
	return err
}
