package manager

// The sandbox pool: lending idle members to /pool/execute calls.

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/enclave-sandbox/enclave/internal/pyjson"
)

// waiter is a /pool/execute call waiting for an idle member. The hand-off
// is a buffered channel: waiting costs no CPU and waiters are served in
// arrival order.
type waiter struct{ ch chan *sandbox }

// poolState is guarded by Manager.mu.
type poolState struct {
	idle        []*sandbox // FIFO of idle members
	waiters     []*waiter  // FIFO of waiting calls
	initialized bool
}

// PoolInit is the outcome of InitializePool.
type PoolInit struct {
	IDs    []string
	Errors []string
}

// InitializePool creates n pool members one after another through the
// normal create path (docs/api.md §3.13); concurrent calls are serialised. n <= 0 means
// the operator's --pool-size. Failed creations are logged and reported.
func (m *Manager) InitializePool(ctx context.Context, sandboxType string, n int, body json.RawMessage) (PoolInit, error) {
	m.initMu.Lock()
	defer m.initMu.Unlock()
	if n <= 0 {
		n = m.opts.PoolSize
	}
	out := PoolInit{IDs: []string{}}
	for i := 0; i < n; i++ {
		sb, err := m.create(ctx, sandboxType, body, true)
		if err != nil {
			var me *Error
			if errors.As(err, &me) && me.Kind == KindNotStarted {
				return out, err
			}
			slog.Warn("pool member creation failed", "err", err)
			out.Errors = append(out.Errors, err.Error())
			continue
		}
		out.IDs = append(out.IDs, sb.id)
	}
	if len(out.IDs) > 0 {
		m.mu.Lock()
		sb := m.sandboxes[out.IDs[0]]
		m.mu.Unlock()
		if sb != nil {
			if replenish := m.noteCreate(sb.typ, sb.cfgJSON, sb.spec.Labels[LabelImage], true); replenish != nil {
				replenish()
			}
		}
	}
	return out, nil
}

// PoolExecute borrows an idle member, runs the tool and gives the member
// back (docs/api.md §6.2). waitSeconds is the wait for a free member from the request;
// 0 means the operator's default.
func (m *Manager) PoolExecute(ctx context.Context, toolName string, params json.RawMessage, waitSeconds float64) (Result, error) {
	wait, waitText := m.opts.PoolWait, m.opts.PoolWaitText
	if waitSeconds != 0 {
		wait, waitText = time.Duration(waitSeconds*float64(time.Second)), pyjson.FloatText(waitSeconds)
	}
	m.mu.Lock()
	initialized := m.pool.initialized
	m.mu.Unlock()
	if !initialized {
		return Result{}, errorf(KindPoolEmpty, "Sandbox pool is empty, call initialize_pool first")
	}
	waitStart := time.Now()
	for attempt := 0; ; attempt++ {
		left := wait - time.Since(waitStart)
		if attempt == 0 {
			left = wait
		}
		sb, err := m.borrow(ctx, left, waitText)
		if attempt == 0 && m.opts.Observer != nil {
			m.opts.Observer.PoolWaited(time.Since(waitStart))
		}
		if err != nil {
			return Result{}, err
		}
		res, err := m.runTool(ctx, sb, toolName, params)
		m.mu.Lock()
		vanished := sb.vanished
		m.mu.Unlock()
		var me *Error
		refused := errors.As(err, &me) && (me.Kind == KindToolUnavailable || me.Kind == KindInvalidParams)
		m.giveBack(sb, !refused)
		if refused && me.Kind == KindToolUnavailable {
			err = errorf(KindBadRequest, "%s", me.Msg) // 400 here, 404 on /sandbox/tool/execute
		}
		// The member's container was gone before the tool could run: the
		// call never ran, so it is safe to run it on another member.
		if vanished && attempt < 2 && ctx.Err() == nil {
			slog.Warn("pool member vanished during a call; retrying on another", "sandbox_id", sb.id)
			continue
		}
		return res, err
	}
}

// borrow takes the head of the idle queue or waits for a member.
func (m *Manager) borrow(ctx context.Context, wait time.Duration, waitText string) (*sandbox, error) {
	timeoutErr := func() error {
		return errorf(KindPoolTimeout, "Timeout waiting for available sandbox from pool after %ss", waitText)
	}
	m.mu.Lock()
	if !m.running {
		m.mu.Unlock()
		return nil, errorf(KindNotStarted, "Sandbox manager not started")
	}
	for len(m.pool.idle) > 0 {
		sb := m.pool.idle[0]
		m.pool.idle = m.pool.idle[1:]
		if m.sandboxes[sb.id] == sb && sb.status == StatusIdle {
			m.lendLocked(sb)
			m.mu.Unlock()
			return sb, nil
		}
	}
	if wait <= 0 {
		m.mu.Unlock()
		return nil, timeoutErr()
	}
	w := &waiter{ch: make(chan *sandbox, 1)}
	m.pool.waiters = append(m.pool.waiters, w)
	m.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case sb := <-w.ch:
		if sb == nil {
			return nil, errorf(KindNotStarted, "Sandbox manager not started")
		}
		return sb, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, x := range m.pool.waiters {
		if x == w {
			m.pool.waiters = append(m.pool.waiters[:i], m.pool.waiters[i+1:]...)
			break
		}
	}
	select {
	case sb := <-w.ch: // handed over just as we gave up: put it back
		if sb != nil {
			m.returnLocked(sb)
		}
	default:
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, timeoutErr()
}

// lendLocked marks a member busy for a call. Caller holds m.mu.
func (m *Manager) lendLocked(sb *sandbox) {
	sb.setStatus(StatusBusy)
	sb.inflight++
	sb.lastActivity = time.Now().UTC()
}

// returnLocked makes a busy member available: to the first waiter, or idle
// at the tail of the queue. Caller holds m.mu.
func (m *Manager) returnLocked(sb *sandbox) {
	for len(m.pool.waiters) > 0 {
		w := m.pool.waiters[0]
		m.pool.waiters = m.pool.waiters[1:]
		m.lendLocked(sb)
		w.ch <- sb
		return
	}
	sb.setStatus(StatusIdle)
	m.pool.idle = append(m.pool.idle, sb)
}

// giveBack ends a pool call: the member goes back to the pool unless it was
// stopped, deleted or died meanwhile. First what the call left running is
// killed, so the next caller can neither observe nor tamper with it: with a
// live runner the sweep is queued on it ahead of anything the next caller
// sends (execInSandbox checks it happened), else it runs now, in the
// background, and the member stays busy until it is done. With --pool-reset
// the member gets a fresh container instead. A member that cannot be swept
// is replaced.
func (m *Manager) giveBack(sb *sandbox, ran bool) {
	m.mu.Lock()
	sb.inflight--
	sb.lastActivity = time.Now().UTC()
	if m.sandboxes[sb.id] != sb || sb.status != StatusBusy || !m.running {
		m.mu.Unlock()
		return
	}
	if !ran { // refused before anything ran: nothing to clean
		m.returnLocked(sb)
		m.mu.Unlock()
		return
	}
	sb.resetting = true
	if m.opts.PoolReset {
		m.mu.Unlock()
		go m.reset(sb)
		return
	}
	m.mu.Unlock()
	if m.exec.QueueSweep(sb.id) {
		m.mu.Lock()
		m.relendLocked(sb, nil)
		m.mu.Unlock()
		return
	}
	go func() {
		err := m.exec.Sweep(context.Background(), sb.id)
		m.mu.Lock()
		defer m.mu.Unlock()
		m.relendLocked(sb, err)
	}()
}

// relendLocked ends a member's cleaning: back to the pool, or replaced
// when it could not be cleaned. Caller holds m.mu.
func (m *Manager) relendLocked(sb *sandbox, cleanErr error) {
	sb.resetting = false
	if m.sandboxes[sb.id] != sb || sb.status != StatusBusy || !m.running {
		return
	}
	if cleanErr != nil {
		m.markDeadLocked(sb, "could not clean the member after a call: "+cleanErr.Error())
		return
	}
	m.returnLocked(sb)
}
