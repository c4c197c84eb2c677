package server

// Streamed tool calls (docs/api.md §12.1): the same request as the blocking
// call, with Accept: text/event-stream (or ?stream=true), answered with
// Server-Sent Events: "output" events as the call's processes print, then
// one "result" event holding the ToolResult the blocking call returns. An
// error before the first event is the blocking call's JSON error, with its
// status; one after it is an "error" event.

import (
	"context"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// wantsStream reports whether the client asked for an event stream.
func wantsStream(r *http.Request) bool {
	if v := r.URL.Query().Get("stream"); v == "true" || v == "1" {
		return true
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/event-stream" {
			return true
		}
	}
	return false
}

// heartbeat is how often a silent stream gets an SSE comment, so proxies
// and clients with read timeouts keep it open.
const heartbeat = 10 * time.Second

// eventStream writes SSE events; headers go out with the first event.
type eventStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	mu      sync.Mutex
	started bool
	pending map[string][]byte // per stream: the start of a UTF-8 sequence cut by a chunk
}

func newEventStream(w http.ResponseWriter) *eventStream {
	return &eventStream{w: w, rc: http.NewResponseController(w), pending: map[string][]byte{}}
}

func (e *eventStream) startLocked() {
	if e.started {
		return
	}
	e.started = true
	h := e.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	e.w.WriteHeader(http.StatusOK)
}

// event writes one event (data: one JSON line) and flushes it.
func (e *eventStream) event(name string, v any) {
	b, err := pyjson.Marshal(v)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.startLocked()
	e.w.Write([]byte("event: " + name + "\ndata: "))
	e.w.Write(b)
	e.w.Write([]byte("\n\n"))
	e.rc.Flush()
}

// comment keeps a silent stream open.
func (e *eventStream) comment() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.startLocked()
	e.w.Write([]byte(": keep-alive\n\n"))
	e.rc.Flush()
}

func (e *eventStream) isStarted() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.started
}

type outputEvent struct {
	Stream string `json:"stream"`
	Data   string `json:"data"`
}

// output sends a chunk of one stream as text; a UTF-8 sequence split
// between chunks waits for its end (invalid bytes become U+FFFD, as in the
// result's output).
func (e *eventStream) output(stream string, data []byte) {
	e.mu.Lock()
	b := append(e.pending[stream], data...)
	cut := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	e.pending[stream] = append([]byte(nil), b[cut:]...)
	e.mu.Unlock()
	if cut > 0 {
		e.event("output", outputEvent{Stream: stream, Data: tool.Text(b[:cut])})
	}
}

// flushPending sends what is left of cut sequences (as U+FFFD).
func (e *eventStream) flushPending() {
	e.mu.Lock()
	left := e.pending
	e.pending = map[string][]byte{}
	e.mu.Unlock()
	for _, stream := range []string{"stdout", "stderr"} {
		if len(left[stream]) > 0 {
			e.event("output", outputEvent{Stream: stream, Data: tool.Text(left[stream])})
		}
	}
}

type errorEvent struct {
	Detail     any `json:"detail"`
	StatusCode int `json:"status_code"`
}

// streamCall runs call with its output streamed to w.
func (s *Server) streamCall(w http.ResponseWriter, r *http.Request, route string, call func(ctx context.Context) (manager.Result, error)) error {
	es := newEventStream(w)
	ctx := manager.WithOutput(r.Context(), es.output)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				es.comment()
			}
		}
	}()
	if s.opts.Observer != nil {
		s.opts.Observer.Streamed(route)
	}
	res, err := call(ctx)
	if err != nil {
		if !es.isStarted() {
			return err
		}
		status, detail := toHTTP(err)
		es.event("error", errorEvent{Detail: detail, StatusCode: status})
		return nil
	}
	es.flushPending()
	es.event("result", s.toolResult(res))
	return nil
}
