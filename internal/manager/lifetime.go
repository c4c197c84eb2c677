package manager

// Lifetimes (docs/api.md §12.4): a sandbox with an idle timeout (its own
// idle_timeout, or the operator's --idle-ttl) is deleted once it has been
// idle that long. Calls in flight, open terminals and running background
// processes are activity; a keep-alive is too, and may promise more time,
// which is written into the sandbox so a restarted server keeps it.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/enclave-sandbox/enclave/internal/executor"
	"github.com/enclave-sandbox/enclave/sdk"
)

// keepaliveFile holds a keep-alive's promise (Unix seconds) in the sandbox.
const keepaliveFile = "/tmp/.enclave/keepalive"

// idleLimit is how long sb may stay idle (0: for ever). Caller holds m.mu.
func (m *Manager) idleLimit(sb *sandbox) time.Duration {
	if d := sb.cfg.Idle(); d > 0 {
		return min(d, m.opts.MaxIdleTimeout)
	}
	return m.opts.IdleTTL
}

// expiresLocked is when sb will be deleted for idleness if nothing happens
// (zero: never). Caller holds m.mu.
func (m *Manager) expiresLocked(sb *sandbox, now time.Time) time.Time {
	limit := m.idleLimit(sb)
	if limit <= 0 || sb.pool || m.replicated() {
		return time.Time{}
	}
	last := sb.lastActivity
	if sb.inflight > 0 {
		last = now
	}
	exp := last.Add(limit)
	if sb.keepUntil.After(exp) {
		exp = sb.keepUntil
	}
	return exp
}

// Keepalive counts as activity on sandbox id and, with extend > 0, keeps it
// at least that long from now (capped by the operator's maximum). It
// returns when the sandbox will expire (zero: it has no idle timeout).
func (m *Manager) Keepalive(ctx context.Context, id string, extend time.Duration) (time.Time, error) {
	sb, release, err := m.activeSandbox(id, KindNotActive)
	if err != nil {
		return time.Time{}, err
	}
	release()
	if sb.pool {
		return time.Time{}, errorf(KindConflict, "Sandbox %s is a pool member: pool members are never reaped for idleness", id)
	}
	now := time.Now().UTC()
	if extend > m.opts.MaxIdleTimeout {
		extend = m.opts.MaxIdleTimeout
	}
	m.mu.Lock()
	sb.lastActivity = now
	var until time.Time
	if extend > 0 {
		until = now.Add(extend)
		if until.After(sb.keepUntil) {
			sb.keepUntil = until
		}
		until = sb.keepUntil
	}
	sb.kept = true
	exp := m.expiresLocked(sb, now)
	m.mu.Unlock()
	if !until.IsZero() {
		m.persistKeepalive(ctx, id, until)
	}
	return exp, nil
}

// persistKeepalive writes the promise into the sandbox (bounded; a failure
// costs only the promise's survival of a server restart): through the
// runner in one round trip, or with a shell where there is none.
func (m *Manager) persistKeepalive(ctx context.Context, id string, until time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := m.exec.Mark(ctx, id, keepaliveFile, fmt.Sprintf("%d\n", until.Unix()))
	if errors.Is(err, executor.ErrNoRunner) {
		script := fmt.Sprintf("mkdir -p %s && echo %d > %s.tmp && mv %s.tmp %s", path.Dir(keepaliveFile),
			until.Unix(), keepaliveFile, keepaliveFile, keepaliveFile)
		var res sdk.ExecResult
		res, err = m.exec.Exec(ctx, id, sdk.ExecRequest{Argv: []string{"sh", "-c", script}, Timeout: 5 * time.Second})
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
		}
	}
	if err != nil {
		slog.Warn("keep-alive not written into the sandbox (a server restart forgets it)", "sandbox_id", id, "err", err)
	}
}

// stillBusy is asked before an idle sandbox is reaped: it has running
// background processes, or a keep-alive written into it (by this server
// before a restart, say) that has not run out. Either counts as activity.
func (m *Manager) stillBusy(ctx context.Context, id string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	now := time.Now()
	busy := false
	switch procs, err := m.exec.Procs(ctx, id); {
	case err == nil:
		for _, p := range procs {
			busy = busy || p.Running
		}
	case errors.Is(err, executor.ErrNoRunner):
		// No runner, no background processes.
	default:
		// Unknown (a runner restarting): not reaped on a guess; the next
		// sweep asks again.
		slog.Info("idle check: background processes not listed; kept for now", "sandbox_id", id, "err", err)
		busy = true
	}
	var until time.Time
	if res, err := m.exec.Exec(ctx, id, sdk.ExecRequest{Argv: []string{"cat", keepaliveFile}, Timeout: 5 * time.Second}); err == nil && res.ExitCode == 0 {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(res.Stdout)), 10, 64); err == nil {
			until = time.Unix(n, 0).UTC()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sb, ok := m.sandboxes[id]
	if !ok {
		return true // gone already: nothing to reap
	}
	if until.After(sb.keepUntil) {
		sb.keepUntil, sb.kept = until, true
	}
	if busy {
		sb.lastActivity = now.UTC()
	}
	return busy || sb.keepUntil.After(now)
}
