// Package batch runs many tool calls with bounded concurrency: each call
// has its own deadline, one failing call never fails the others, and
// cancelling the batch's context cancels every call not yet finished
// (their processes die with them, as any cancelled call's do).
package batch

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Call is one call of a batch.
type Call struct {
	Tool   string
	Params []byte
	// Timeout bounds this call (0: only the batch's deadline).
	Timeout time.Duration
}

// Outcome is a finished (or never started) call.
type Outcome[R any] struct {
	Index  int
	Result R
	Err    error // the call was refused or not run (ErrNotStarted)
	// DeadlineExceeded: the call's own deadline ended it.
	DeadlineExceeded bool
}

// ErrNotStarted is the error of a call the batch's end came before.
var ErrNotStarted = errors.New("the batch ended before this call started")

// Run runs calls, at most n at a time, in request order as slots free up,
// and hands each outcome to emit as it completes (emit is never called
// concurrently). It returns when every call has an outcome.
func Run[R any](ctx context.Context, calls []Call, n int, run func(context.Context, Call) (R, error), emit func(Outcome[R])) {
	n = max(1, min(n, len(calls)))
	var mu sync.Mutex
	out := func(o Outcome[R]) {
		mu.Lock()
		defer mu.Unlock()
		emit(o)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out(one(ctx, i, calls[i], run))
			}
		}()
	}
	i := 0
feed:
	for ; i < len(calls); i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for ; i < len(calls); i++ {
		out(Outcome[R]{Index: i, Err: ErrNotStarted})
	}
}

func one[R any](ctx context.Context, i int, c Call, run func(context.Context, Call) (R, error)) Outcome[R] {
	if ctx.Err() != nil {
		return Outcome[R]{Index: i, Err: ErrNotStarted}
	}
	callCtx := ctx
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	start := time.Now()
	res, err := run(callCtx, c)
	// The deadline travels to the plugin, which may see it a moment before
	// this context's timer fires: the elapsed time decides too.
	expired := errors.Is(callCtx.Err(), context.DeadlineExceeded) || (c.Timeout > 0 && time.Since(start) >= c.Timeout)
	return Outcome[R]{Index: i, Result: res, Err: err, DeadlineExceeded: expired && ctx.Err() == nil}
}
