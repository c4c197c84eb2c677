package executor

// Streamed calls: the manager registers a sink under a call's id
// (tool.WithCallID); every process the call's tool runs then hands its
// output to the sink as the runner reads it. Without a runner (one-shot
// exec) the output reaches the sink when the process ends.

import (
	"context"
	"sync"

	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// Sink gets a streamed call's output in order ("stdout", "stderr"). It may
// block (it writes to a client): chunks wait in a queue, never on the
// runner, whose one session other calls share. The queue is bounded by the
// calls' output caps.
type Sink func(stream string, data []byte)

// chunkQueue delivers one call's chunks to its sink, in order.
type chunkQueue struct {
	mu      sync.Mutex
	pending []chunk
	wake    chan struct{}
	closed  bool
	drained chan struct{}
}

type chunk struct {
	stream string
	data   []byte
}

// Stream registers sink for callID. done unregisters it and returns once
// every chunk has been delivered, so whatever the caller writes after it
// (the call's result) comes after the output.
func (e *Executor) Stream(callID string, sink Sink) (done func()) {
	q := &chunkQueue{wake: make(chan struct{}, 1), drained: make(chan struct{})}
	e.mu.Lock()
	if e.streams == nil {
		e.streams = map[string]*chunkQueue{}
	}
	e.streams[callID] = q
	e.mu.Unlock()
	go func() {
		defer close(q.drained)
		for {
			q.mu.Lock()
			batch, closed := q.pending, q.closed
			q.pending = nil
			q.mu.Unlock()
			for _, c := range batch {
				sink(c.stream, c.data)
			}
			if closed && len(batch) == 0 {
				return
			}
			if len(batch) == 0 {
				<-q.wake
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			delete(e.streams, callID)
			e.mu.Unlock()
			q.mu.Lock()
			q.closed = true
			q.mu.Unlock()
			q.signal()
			<-q.drained
		})
	}
}

func (q *chunkQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *chunkQueue) push(stream string, data []byte) {
	q.mu.Lock()
	if !q.closed {
		q.pending = append(q.pending, chunk{stream, data})
	}
	q.mu.Unlock()
	q.signal()
}

// sinkFor is the push function of the call ctx belongs to (nil: none).
func (e *Executor) sinkFor(ctx context.Context) func(stream string, data []byte) {
	id := tool.CallID(ctx)
	if id == "" {
		return nil
	}
	e.mu.Lock()
	q := e.streams[id]
	e.mu.Unlock()
	if q == nil {
		return nil
	}
	return func(stream string, data []byte) {
		switch stream {
		case "out":
			stream = "stdout"
		case "err":
			stream = "stderr"
		}
		q.push(stream, data)
	}
}
