package runner

// Sweeping a pool member between callers (runner.py's "sweep" request).

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// SweepAsync asks for a Sweep and returns once the request is written: the
// runner serves requests in order, so every call sent after it starts after
// the sweep. The channel yields the count when the sweep is done.
func (r *Runner) SweepAsync() (<-chan int, error) {
	id, w, err := r.register(nil, false)
	if err != nil {
		return nil, err
	}
	ch := w.ch
	b, _ := json.Marshal(map[string]any{"id": id, "sweep": true})
	sent := make(chan error, 1)
	go func() { sent <- r.write(append(b, '\n')) }()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case err := <-sent:
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDied, err)
		}
	case <-t.C:
		r.abandon(fmt.Errorf("%w: it does not read its requests", ErrWedged))
		return nil, ErrWedged
	}
	done := make(chan int, 1)
	go func() {
		select {
		case rep := <-ch:
			done <- rep.Swept
		case <-r.dead:
		}
	}()
	return done, nil
}

// Sweep kills every process in the sandbox that no running call, no other
// session and not the sandbox's own command owns (what finished calls left
// behind), and reports how many it killed. Between two pool callers.
func (r *Runner) Sweep(ctx context.Context) (int, error) {
	id, w, err := r.register(nil, false)
	if err != nil {
		return 0, err
	}
	ch := w.ch
	go r.send(map[string]any{"id": id, "sweep": true})
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case rep := <-ch:
		return rep.Swept, nil
	case <-t.C:
		r.abandon(fmt.Errorf("%w: sweep did not answer", ErrWedged))
		return 0, ErrWedged
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-r.dead:
		return 0, ErrDied
	}
}
