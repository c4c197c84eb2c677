package client

// Terminals (docs/api.md §12.3): a WebSocket to a shell on a
// pseudo-terminal in a sandbox.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/gorilla/websocket"
)

// TerminalOptions open a terminal; zero values are the server's defaults
// (24×80, the image's bash or sh in the sandbox's working dir).
type TerminalOptions struct {
	Rows, Cols int
	Command    string // a shell command instead of the shell
	Cwd        string
}

// Terminal is an open terminal: Read its output, Write keystrokes.
type Terminal struct {
	conn *websocket.Conn
	wmu  sync.Mutex
	buf  []byte
	code *int
	err  error
}

// OpenTerminal connects a terminal in sandbox id.
func (c *Client) OpenTerminal(ctx context.Context, id string, o TerminalOptions) (*Terminal, error) {
	u, err := url.Parse(c.BaseURL + "/sandbox/" + url.PathEscape(id) + "/terminal")
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	q := url.Values{}
	if o.Rows > 0 {
		q.Set("rows", strconv.Itoa(o.Rows))
	}
	if o.Cols > 0 {
		q.Set("cols", strconv.Itoa(o.Cols))
	}
	if o.Command != "" {
		q.Set("command", o.Command)
	}
	if o.Cwd != "" {
		q.Set("cwd", o.Cwd)
	}
	u.RawQuery = q.Encode()
	h := http.Header{}
	if c.APIKey != "" {
		h.Set("X-API-Key", c.APIKey)
	}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil {
			defer resp.Body.Close()
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			var e struct {
				Detail json.RawMessage `json:"detail"`
			}
			if json.Unmarshal(b, &e) != nil || e.Detail == nil {
				e.Detail, _ = json.Marshal(strings.TrimSpace(string(b)))
			}
			return nil, &APIError{Status: resp.StatusCode, Detail: e.Detail}
		}
		return nil, err
	}
	return &Terminal{conn: conn}, nil
}

// Read reads the terminal's output; io.EOF once it has exited (ExitCode
// then has its status).
func (t *Terminal) Read(p []byte) (int, error) {
	for len(t.buf) == 0 {
		if t.err != nil {
			return 0, t.err
		}
		typ, b, err := t.conn.ReadMessage()
		if err != nil {
			if t.code != nil || websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.err = io.EOF
			} else {
				t.err = err
			}
			continue
		}
		if typ == websocket.BinaryMessage {
			t.buf = b
			continue
		}
		var m struct {
			Type    string `json:"type"`
			Code    *int   `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &m) == nil {
			switch m.Type {
			case "exit":
				t.code = m.Code
			case "error":
				t.err = errors.New("terminal: " + m.Message)
			}
		}
	}
	n := copy(p, t.buf)
	t.buf = t.buf[n:]
	return n, nil
}

// Write types into the terminal.
func (t *Terminal) Write(p []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if err := t.conn.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Resize sets the terminal's size.
func (t *Terminal) Resize(rows, cols int) error {
	b, _ := json.Marshal(map[string]any{"type": "resize", "rows": rows, "cols": cols})
	t.wmu.Lock()
	defer t.wmu.Unlock()
	return t.conn.WriteMessage(websocket.TextMessage, b)
}

// ExitCode is the shell's exit status once Read returned io.EOF.
func (t *Terminal) ExitCode() (int, error) {
	if t.code == nil {
		return -1, fmt.Errorf("terminal: no exit status (yet)")
	}
	return *t.code, nil
}

// Close ends the terminal (its processes are killed).
func (t *Terminal) Close() error {
	t.wmu.Lock()
	t.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	t.wmu.Unlock()
	return t.conn.Close()
}
