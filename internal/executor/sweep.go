package executor

import (
	"context"
	"fmt"
	"time"

	"github.com/enclave-sandbox/enclave/internal/runner"
	"github.com/enclave-sandbox/enclave/sdk"
)

// Pool members are swept between callers: whatever a finished call left
// running is killed, so the next caller can neither observe nor tamper with
// it. With a live runner the sweep is queued on it ahead of anything the
// next caller sends; otherwise it runs as a one-shot exec of the same rule.

// sweepTicket is a sweep queued on a runner between two pool callers.
type sweepTicket struct {
	r    *runner.Runner
	done <-chan int // fires once the runner swept
}

// QueueSweep queues a sweep of the sandbox on its live runner and reports
// whether it did; the next process of the sandbox then starts after it. If
// it did not (no live runner), the caller must Sweep before lending the
// sandbox again.
func (e *Executor) QueueSweep(id string) bool {
	en, err := e.lookup(id)
	if err != nil {
		return false
	}
	r := en.runner.live()
	if r == nil {
		return false
	}
	if r.ForkServerLost() {
		// A caller killed or stopped its fork server: the next caller gets a
		// fresh runner (the sweep then runs through it), not one whose
		// forks would start from memory earlier callers' calls passed through.
		en.runner.retire(r)
		return false
	}
	done, err := r.SweepAsync()
	if err != nil {
		return false
	}
	e.mu.Lock()
	en.sweep = sweepTicket{r: r, done: done}
	e.mu.Unlock()
	return true
}

// Sweep kills what a finished pool call left running in a sandbox, now
// (bounded): through the runner when it has one, else by a one-shot exec.
func (e *Executor) Sweep(ctx context.Context, id string) error {
	en, err := e.lookup(id)
	if err != nil {
		return err
	}
	return e.sweep(ctx, en)
}

func (e *Executor) sweep(ctx context.Context, en *entry) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if r := e.runnerFor(ctx, en); r != nil {
		if _, err := r.Sweep(ctx); err == nil {
			return nil
		}
	}
	res, err := en.target.Backend.Exec(ctx, en.target.ContainerID, sdk.ExecRequest{Argv: []string{"sh", "-c", sweepScript}, Timeout: 10 * time.Second})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("sweep exited %d: %s", res.ExitCode, res.Stderr)
	}
	return err
}

// ensureSwept makes sure the sweep queued after the last pool caller has
// happened before anything of this call runs through r (nil: one-shot
// exec). On the runner it was queued on, and while that runner lives, the
// order of requests guarantees it; on any other path it is done now.
func (e *Executor) ensureSwept(ctx context.Context, en *entry, r *runner.Runner) error {
	e.mu.Lock()
	t := en.sweep
	e.mu.Unlock()
	if t.done == nil {
		return nil
	}
	select {
	case <-t.done:
	default:
		if t.r == r && !r.Dead() {
			return nil // ordered ahead of this call; the ticket stays until done
		}
		if err := e.sweep(ctx, en); err != nil {
			return fmt.Errorf("clean the pool member: %w", err)
		}
	}
	e.mu.Lock()
	if en.sweep == t {
		en.sweep = sweepTicket{}
	}
	e.mu.Unlock()
	return nil
}

// sweepScript is the runner's sweep for sandboxes without a runner: kill
// every process but PID 1, the oldest other process (the sandbox's command:
// an init starts it first, or in a pod it is exec'd right after the pause
// process), exec'd processes (no parent inside the container) and their
// descendants. It refuses to run where its own ancestry reaches PID 1 (not
// inside a container's exec). A few rounds catch what forks meanwhile.
const sweepScript = `for round in 1 2 3; do
for d in /proc/[0-9]*; do s=$(cat "$d/stat" 2>/dev/null) || continue; r=${s##*) }; set -- $r; [ "$1" = Z ] || echo "${d#/proc/} $2 ${20}"; done |
awk -v self=$$ '{ pid[NR] = $1; pp[$1] = $2; st[$1] = $3 }
END {
  x = self; n = 0; while ((x in pp) && pp[x] != 0 && n++ < 1000) x = pp[x]
  if (x == 1 || !(x in pp)) exit
  root = ""; for (i in pid) { p = pid[i]; if (p != 1 && (root == "" || st[p] + 0 < st[root] + 0)) root = p }
  keep[1] = 1; if (root != "") keep[root] = 1
  for (i in pid) { p = pid[i]; if (pp[p] == 0) keep[p] = 1 }
  for (changed = 1; changed; ) { changed = 0; for (i in pid) { p = pid[i]; if (!(p in keep) && (pp[p] in keep) && pp[p] != 1) { keep[p] = 1; changed = 1 } } }
  for (i in pid) { p = pid[i]; if (!(p in keep)) print p }
}' | while read -r p; do kill -9 "$p" 2>/dev/null; done
done; exit 0`
