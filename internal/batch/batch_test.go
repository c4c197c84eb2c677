package batch

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		calls []Call
		n     int
	}{
		{"one at a time", calls(5, 0), 1},
		{"more slots than calls", calls(3, 0), 16},
		{"bounded", calls(40, 0), 4},
	}
	for _, tt := range tests {
		var running, peak atomic.Int32
		seen := make([]bool, len(tt.calls))
		Run(context.Background(), tt.calls, tt.n, func(_ context.Context, c Call) (string, error) {
			now := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
			}
			if c.Tool == "bad" {
				return "", errors.New("refused")
			}
			return "ran " + c.Tool, nil
		}, func(o Outcome[string]) {
			if seen[o.Index] {
				t.Errorf("%s: index %d twice", tt.name, o.Index)
			}
			seen[o.Index] = true
			if want := "ran " + tt.calls[o.Index].Tool; o.Err != nil || o.Result != want {
				t.Errorf("%s: %d: %q %v, want %q", tt.name, o.Index, o.Result, o.Err, want)
			}
		})
		for i, s := range seen {
			if !s {
				t.Errorf("%s: no outcome for %d", tt.name, i)
			}
		}
		if int(peak.Load()) > tt.n {
			t.Errorf("%s: %d at once, bound %d", tt.name, peak.Load(), tt.n)
		}
	}
}

func calls(n int, timeout time.Duration) []Call {
	out := make([]Call, n)
	for i := range out {
		out[i] = Call{Tool: fmt.Sprint("t", i), Timeout: timeout}
	}
	return out
}

// A failing call and a call past its own deadline leave the others alone.
func TestRunIsolatesCalls(t *testing.T) {
	cs := []Call{{Tool: "ok"}, {Tool: "bad"}, {Tool: "slow", Timeout: 10 * time.Millisecond}, {Tool: "ok"}}
	got := map[int]Outcome[string]{}
	Run(context.Background(), cs, 2, func(ctx context.Context, c Call) (string, error) {
		switch c.Tool {
		case "bad":
			return "", errors.New("refused")
		case "slow":
			<-ctx.Done() // the call's deadline ends it
			return "cut", nil
		}
		return "fine", nil
	}, func(o Outcome[string]) { got[o.Index] = o })
	if got[0].Result != "fine" || got[3].Result != "fine" || got[1].Err == nil || !got[2].DeadlineExceeded || got[0].DeadlineExceeded {
		t.Errorf("outcomes %+v", got)
	}
}

// Cancelling the batch ends the calls in flight and starts no more.
func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{}, 10)
	var outcomes []Outcome[string]
	go func() { <-started; <-started; cancel() }()
	Run(ctx, calls(10, 0), 2, func(ctx context.Context, c Call) (string, error) {
		started <- struct{}{}
		<-ctx.Done()
		return "", ctx.Err()
	}, func(o Outcome[string]) { outcomes = append(outcomes, o) })
	if len(outcomes) != 10 {
		t.Fatalf("%d outcomes, want 10", len(outcomes))
	}
	notStarted := 0
	for _, o := range outcomes {
		if errors.Is(o.Err, ErrNotStarted) {
			notStarted++
		} else if !errors.Is(o.Err, context.Canceled) || o.DeadlineExceeded {
			t.Errorf("outcome %+v", o)
		}
	}
	if notStarted != 8 { // two ran (the slots), eight never started
		t.Errorf("%d calls not started", notStarted)
	}
}
