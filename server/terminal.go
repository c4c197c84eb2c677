package server

// Terminals (docs/api.md §12.3): GET /sandbox/{id}/terminal upgrades to a
// WebSocket carrying a shell on a pseudo-terminal in the sandbox. Binary
// frames are the terminal's bytes both ways; text frames are JSON control
// messages: {"type":"resize","rows":R,"cols":C} and {"type":"input","data":S}
// from the client, {"type":"exit","code":N} from the server before it
// closes. The key is checked before the upgrade (middleware), and errors
// before it (no such sandbox, a pool member, no runner) are JSON.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/enclave-sandbox/enclave/internal/manager"
)

const (
	terminalReadLimit = 1 << 20
	terminalPing      = 30 * time.Second
	terminalDeadAfter = 90 * time.Second
	maxTerminalSide   = 1000
)

type controlJSON struct {
	Type string `json:"type"`
	Rows int    `json:"rows,omitempty"`
	Cols int    `json:"cols,omitempty"`
	Data string `json:"data,omitempty"`
	Code *int   `json:"code,omitempty"`
	Msg  string `json:"message,omitempty"`
}

// sideQuery reads rows or cols (1..maxTerminalSide, default def).
func sideQuery(r *http.Request, name string, def int) (int, error) {
	n, has, herr := intQuery(r, name)
	if herr != nil {
		return 0, herr
	}
	if !has {
		return def, nil
	}
	if n < 1 || n > maxTerminalSide {
		return 0, invalid(validationError{Type: "value_error", Loc: []any{"query", name}, Msg: fmt.Sprintf("Value error, between 1 and %d", maxTerminalSide), Input: n})
	}
	return n, nil
}

// sameOrigin accepts browsers on the server's own origin or a CORS origin
// the operator allowed, and clients that send no Origin.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err == nil && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range s.opts.CORSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

func (s *Server) terminal(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("sandbox_id")
	annotate(r, id, "")
	if !websocket.IsWebSocketUpgrade(r) {
		return errStatus(http.StatusBadRequest, "GET /sandbox/{sandbox_id}/terminal is a WebSocket: send Connection: Upgrade and Upgrade: websocket")
	}
	if !s.sameOrigin(r) {
		return errStatus(http.StatusForbidden, "Origin not allowed (see --cors-origin)")
	}
	rows, err := sideQuery(r, "rows", 24)
	if err != nil {
		return err
	}
	cols, err := sideQuery(r, "cols", 80)
	if err != nil {
		return err
	}
	req := manager.TerminalRequest{Rows: rows, Cols: cols, Cwd: r.URL.Query().Get("cwd")}
	if c := r.URL.Query().Get("command"); c != "" {
		req.Argv = []string{"sh", "-c", c}
	}
	if containsNUL(req.Cwd) || (len(req.Argv) > 0 && containsNUL(req.Argv[2])) {
		return invalid(validationError{Type: "value_error", Loc: []any{"query"}, Msg: "Value error, no NUL bytes", Input: nil})
	}

	out := newByteQueue()
	t, err := s.m.OpenTerminal(r.Context(), id, req, out.push)
	if err != nil {
		return err
	}
	defer t.Close()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }} // checked above
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader answered the client
	}
	defer conn.Close()
	if s.opts.Observer != nil {
		s.opts.Observer.Terminal(1)
		defer s.opts.Observer.Terminal(-1)
	}
	var wmu sync.Mutex
	write := func(typ int, b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		conn.SetWriteDeadline(time.Now().Add(terminalDeadAfter))
		return conn.WriteMessage(typ, b)
	}

	// Output: the queue to the socket, credit back to the runner.
	written := make(chan struct{})
	go func() {
		defer close(written)
		for {
			b, ok := out.pop(t.Done())
			if !ok {
				return
			}
			if write(websocket.BinaryMessage, b) != nil {
				t.Close()
				return
			}
			t.Ack(len(b))
		}
	}()
	// Pings find a peer that vanished without closing.
	stopPing := make(chan struct{})
	defer close(stopPing)
	go func() {
		tk := time.NewTicker(terminalPing)
		defer tk.Stop()
		for {
			select {
			case <-stopPing:
				return
			case <-tk.C:
				wmu.Lock()
				conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second))
				wmu.Unlock()
			}
		}
	}()
	// Input: until the client goes or the terminal ends.
	conn.SetReadLimit(terminalReadLimit)
	conn.SetReadDeadline(time.Now().Add(terminalDeadAfter))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(terminalDeadAfter)) })
	go func() {
		for {
			typ, b, err := conn.ReadMessage()
			if err != nil {
				t.Close()
				return
			}
			conn.SetReadDeadline(time.Now().Add(terminalDeadAfter))
			switch typ {
			case websocket.BinaryMessage:
				t.Write(b)
			case websocket.TextMessage:
				var c controlJSON
				if json.Unmarshal(b, &c) != nil {
					write(websocket.TextMessage, mustJSON(controlJSON{Type: "error", Msg: "text frames are JSON control messages: resize or input"}))
					continue
				}
				switch {
				case c.Type == "resize" && c.Rows >= 1 && c.Rows <= maxTerminalSide && c.Cols >= 1 && c.Cols <= maxTerminalSide:
					t.Resize(c.Rows, c.Cols)
				case c.Type == "input":
					t.Write([]byte(c.Data))
				default:
					write(websocket.TextMessage, mustJSON(controlJSON{Type: "error", Msg: "unknown control message (resize with rows and cols in 1.." + strconv.Itoa(maxTerminalSide) + ", or input)"}))
				}
			}
		}
	}()
	<-t.Done()
	<-written
	code, _ := t.Code()
	write(websocket.TextMessage, mustJSON(controlJSON{Type: "exit", Code: &code}))
	wmu.Lock()
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "exit "+strconv.Itoa(code)), time.Now().Add(5*time.Second))
	wmu.Unlock()
	return nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// byteQueue hands a terminal's output from the runner's read loop (which
// must not block) to the socket writer; the runner's credit window bounds
// what it holds.
type byteQueue struct {
	mu   sync.Mutex
	bufs [][]byte
	wake chan struct{}
}

func newByteQueue() *byteQueue { return &byteQueue{wake: make(chan struct{}, 1)} }

func (q *byteQueue) push(b []byte) {
	q.mu.Lock()
	q.bufs = append(q.bufs, b)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pop returns the queued bytes, waiting for some until done; after done
// it returns what is left, then false.
func (q *byteQueue) pop(done <-chan struct{}) ([]byte, bool) {
	for {
		q.mu.Lock()
		bufs := q.bufs
		q.bufs = nil
		q.mu.Unlock()
		if len(bufs) > 0 {
			var all []byte
			for _, b := range bufs {
				all = append(all, b...)
			}
			return all, true
		}
		select {
		case <-q.wake:
		case <-done:
			q.mu.Lock()
			left := len(q.bufs) > 0
			q.mu.Unlock()
			if !left {
				return nil, false
			}
		}
	}
}
