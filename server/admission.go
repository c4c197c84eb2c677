package server

import (
	"context"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// admission bounds the request bytes the server holds at once. JSON bodies
// are read whole (to decode them), so without a bound N concurrent large
// bodies cost N times their size. A request with a body of at least
// admissionMin bytes waits for room (at most admissionWait, and never past
// its own context), else it gets 503. When the last large request is done,
// the memory is handed back to the OS.
type admission struct {
	sem   *semaphore.Weighted
	total int64

	mu       sync.Mutex
	inflight int64
	free     *time.Timer
}

const (
	admissionMin  = 1 << 20
	admissionWait = 30 * time.Second
	// freeAfter lets a burst of large requests finish before memory is
	// returned (a forced GC and scavenge cost a few milliseconds).
	freeAfter = time.Second
)

func newAdmission(total int64) *admission {
	return &admission{sem: semaphore.NewWeighted(total), total: total}
}

// admit reserves room for r's body (its announced length, or the route's
// limit when unannounced); release must be called. It answers with an
// error (503 or the context's) when no room came in time.
func (a *admission) admit(r *http.Request, limit int64) (release func(), err error) {
	n := r.ContentLength
	if n < 0 || n > limit {
		n = limit
	}
	if n < admissionMin || a == nil {
		return func() {}, nil
	}
	n = min(n, a.total)
	ctx, cancel := context.WithTimeout(r.Context(), admissionWait)
	defer cancel()
	if err := a.sem.Acquire(ctx, n); err != nil {
		return nil, errStatus(http.StatusServiceUnavailable, "Server busy: too many large request bodies in flight; retry later")
	}
	a.mu.Lock()
	a.inflight += n
	a.mu.Unlock()
	return func() {
		a.sem.Release(n)
		a.mu.Lock()
		defer a.mu.Unlock()
		a.inflight -= n
		if a.inflight > 0 {
			return
		}
		if a.free == nil {
			a.free = time.AfterFunc(freeAfter, a.returnMemory)
		} else {
			a.free.Reset(freeAfter)
		}
	}, nil
}

func (a *admission) returnMemory() {
	a.mu.Lock()
	idle := a.inflight == 0
	a.mu.Unlock()
	if idle {
		debug.FreeOSMemory()
	}
}
