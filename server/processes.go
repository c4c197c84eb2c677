package server

// Background processes and keep-alive (docs/api.md §12.2, §12.4): enclave's
// own routes, beside the ms-enclave ones.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// Bounds on a process request.
const (
	maxArgs         = 4096
	maxEnv          = 1024
	maxReadBytes    = 1 << 20
	defaultReadSize = 64 << 10
	defaultWait     = 30 * time.Second
)

// processIDPattern is what a process id looks like (runner.py's alphabet).
var processIDPattern = regexp.MustCompile(`^[a-z0-9]{1,32}$`)

type processJSON struct {
	ProcessID   string   `json:"process_id"`
	PID         *int     `json:"pid"`
	Command     []string `json:"command"`
	Cwd         string   `json:"cwd"`
	Running     bool     `json:"running"`
	ExitCode    *int     `json:"exit_code"`
	Signal      *string  `json:"signal"`
	TimedOut    bool     `json:"timed_out"`
	Lost        bool     `json:"lost"`
	StartedAt   string   `json:"started_at"`
	EndedAt     *string  `json:"ended_at"`
	OutputLimit int64    `json:"output_limit"`
	Timeout     float64  `json:"timeout"`
}

func processOf(p manager.Process) processJSON {
	out := processJSON{ProcessID: p.ID, PID: p.PID, Command: p.Command, Cwd: p.Cwd, Running: p.Running, ExitCode: p.ExitCode,
		TimedOut: p.TimedOut, Lost: p.Lost, StartedAt: pyjson.FormatTime(p.StartedAt), OutputLimit: p.RingBytes, Timeout: p.Timeout}
	if out.Command == nil {
		out.Command = []string{}
	}
	if p.Signal != "" {
		out.Signal = &p.Signal
	}
	if p.EndedAt != nil {
		t := pyjson.FormatTime(*p.EndedAt)
		out.EndedAt = &t
	}
	return out
}

// processRequestJSON is POST /sandbox/{id}/processes.
type processRequestJSON struct {
	Command json.RawMessage   `json:"command"`
	Env     map[string]string `json:"env"`
	Cwd     string            `json:"cwd"`
	Stdin   *string           `json:"stdin"`
	Timeout *float64          `json:"timeout"`
}

// parseProcessRequest validates a process request: command is a shell
// string or a non-empty argv list of strings.
func parseProcessRequest(raw json.RawMessage) (manager.ProcessRequest, error) {
	body, err := objectBody(raw, false)
	if err != nil {
		return manager.ProcessRequest{}, err
	}
	var in processRequestJSON
	if err := json.Unmarshal(body, &in); err != nil {
		return manager.ProcessRequest{}, invalid(validationError{Type: "model_type", Loc: []any{"body"},
			Msg: "Fields: command (string or list of strings), env (object of strings), cwd (string), stdin (string), timeout (number)", Input: nil})
	}
	var req manager.ProcessRequest
	switch {
	case len(in.Command) == 0 || string(in.Command) == "null":
		return req, invalid(missing("body", "command"))
	case in.Command[0] == '"':
		var sh string
		json.Unmarshal(in.Command, &sh)
		if sh == "" {
			return req, invalid(validationError{Type: "string_too_short", Loc: []any{"body", "command"}, Msg: "String should have at least 1 character", Input: sh})
		}
		req.Argv = []string{"sh", "-c", sh}
	default:
		if err := json.Unmarshal(in.Command, &req.Argv); err != nil || len(req.Argv) == 0 || len(req.Argv) > maxArgs || req.Argv[0] == "" {
			return req, invalid(validationError{Type: "value_error", Loc: []any{"body", "command"},
				Msg: fmt.Sprintf("Value error, a shell string or a list of 1 to %d strings, the first non-empty", maxArgs), Input: json.RawMessage(in.Command)})
		}
	}
	for _, a := range req.Argv {
		if !utf8.ValidString(a) || containsNUL(a) {
			return req, invalid(validationError{Type: "value_error", Loc: []any{"body", "command"}, Msg: "Value error, arguments must be text without NUL bytes", Input: nil})
		}
	}
	if len(in.Env) > maxEnv {
		return req, invalid(validationError{Type: "too_long", Loc: []any{"body", "env"}, Msg: fmt.Sprintf("at most %d variables", maxEnv), Input: nil})
	}
	for k, v := range in.Env {
		if k == "" || containsNUL(k) || containsNUL(v) || strings.IndexByte(k, '=') >= 0 {
			return req, invalid(validationError{Type: "value_error", Loc: []any{"body", "env", k}, Msg: "Value error, names must be non-empty without '=' or NUL; values without NUL", Input: v})
		}
	}
	req.Env, req.Cwd = in.Env, in.Cwd
	if containsNUL(req.Cwd) {
		return req, invalid(validationError{Type: "value_error", Loc: []any{"body", "cwd"}, Msg: "Value error, no NUL bytes", Input: nil})
	}
	if in.Stdin != nil {
		req.Stdin = []byte(*in.Stdin)
	}
	if in.Timeout != nil {
		if *in.Timeout < 0 || *in.Timeout > 7*24*3600 {
			return req, invalid(validationError{Type: "value_error", Loc: []any{"body", "timeout"}, Msg: "Value error, seconds between 0 (none) and 604800", Input: *in.Timeout})
		}
		req.Timeout = time.Duration(*in.Timeout * float64(time.Second))
	}
	return req, nil
}

func containsNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

func (s *Server) startProcess(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("sandbox_id")
	annotate(r, id, "")
	raw, err := readJSON(r)
	if err != nil {
		return err
	}
	req, err := parseProcessRequest(raw)
	if err != nil {
		return err
	}
	p, err := s.m.StartProcess(r.Context(), id, req)
	if err != nil {
		return err
	}
	if s.opts.Observer != nil {
		s.opts.Observer.ProcessStarted()
	}
	writeJSON(w, http.StatusOK, processOf(p))
	return nil
}

func (s *Server) listProcesses(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("sandbox_id")
	annotate(r, id, "")
	list, err := s.m.Processes(r.Context(), id)
	if err != nil {
		return err
	}
	out := make([]processJSON, 0, len(list))
	for _, p := range list {
		out = append(out, processOf(p))
	}
	writeJSON(w, http.StatusOK, processListJSON{Processes: out})
	return nil
}

// processPath reads the sandbox and process ids; a malformed process id is
// as unknown as a missing one.
func processPath(r *http.Request) (id, pid string, err error) {
	id, pid = r.PathValue("sandbox_id"), r.PathValue("process_id")
	annotate(r, id, "")
	if !processIDPattern.MatchString(pid) {
		return id, pid, errStatus(http.StatusNotFound, fmt.Sprintf("Process %s not found in sandbox %s", pid, id))
	}
	return id, pid, nil
}

func (s *Server) getProcess(w http.ResponseWriter, r *http.Request) error {
	id, pid, err := processPath(r)
	if err != nil {
		return err
	}
	p, err := s.m.Process(r.Context(), id, pid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, processOf(p))
	return nil
}

type chunkJSON struct {
	Stream string `json:"stream"`
	Data   string `json:"data"`
}

type outputJSON struct {
	ProcessID  string      `json:"process_id"`
	Offset     int64       `json:"offset"`
	NextOffset int64       `json:"next_offset"`
	Dropped    int64       `json:"dropped"`
	Running    bool        `json:"running"`
	Output     string      `json:"output"`
	Chunks     []chunkJSON `json:"chunks"`
}

func (s *Server) processOutput(w http.ResponseWriter, r *http.Request) error {
	id, pid, err := processPath(r)
	if err != nil {
		return err
	}
	offset, _, herr := intQuery(r, "offset")
	if herr != nil {
		return herr
	}
	limit, hasLimit, herr := intQuery(r, "limit")
	if herr != nil {
		return herr
	}
	if offset < 0 {
		return invalid(validationError{Type: "greater_than_equal", Loc: []any{"query", "offset"}, Msg: "Input should be greater than or equal to 0", Input: offset})
	}
	if !hasLimit {
		limit = defaultReadSize
	}
	if limit < 1 || limit > maxReadBytes {
		return invalid(validationError{Type: "value_error", Loc: []any{"query", "limit"}, Msg: fmt.Sprintf("Value error, between 1 and %d bytes", maxReadBytes), Input: limit})
	}
	if wantsStream(r) {
		return s.followOutput(w, r, id, pid, int64(offset))
	}
	o, err := s.m.ProcessOutput(r.Context(), id, pid, int64(offset), int64(limit))
	if err != nil {
		return err
	}
	out := outputJSON{ProcessID: pid, Offset: int64(offset), NextOffset: o.NextOffset, Dropped: o.Dropped, Running: o.Running, Chunks: []chunkJSON{}}
	var all []byte
	for _, c := range o.Chunks {
		all = append(all, c.Data...)
		out.Chunks = append(out.Chunks, chunkJSON{Stream: c.Stream, Data: tool.Text(c.Data)})
	}
	out.Output = tool.Text(all)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// followOutput streams a process's output from offset as SSE "output"
// events (stream, data, offset of the next byte) until it ends, then one
// "exit" event with the process; the client's disconnect ends it.
func (s *Server) followOutput(w http.ResponseWriter, r *http.Request, id, pid string, offset int64) error {
	ctx := r.Context()
	// The first read answers a bad id with its JSON error and status.
	o, err := s.m.ProcessOutput(ctx, id, pid, offset, maxReadBytes)
	if err != nil {
		return err
	}
	es := newEventStream(w)
	es.comment()
	pause := 5 * time.Millisecond
	lastBeat := time.Now()
	for {
		if o.Dropped > 0 {
			es.event("dropped", map[string]any{"bytes": o.Dropped})
		}
		for _, c := range o.Chunks {
			es.output(c.Stream, c.Data)
		}
		if len(o.Chunks) > 0 {
			es.event("offset", map[string]any{"next_offset": o.NextOffset})
			pause = 5 * time.Millisecond
		}
		offset = o.NextOffset
		if !o.Running && len(o.Chunks) == 0 {
			es.flushPending()
			if p, err := s.m.Process(ctx, id, pid); err == nil {
				es.event("exit", processOf(p))
			}
			return nil
		}
		if len(o.Chunks) == 0 {
			if time.Since(lastBeat) > heartbeat {
				es.comment()
				lastBeat = time.Now()
			}
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			pause = min(pause*2, 100*time.Millisecond)
		}
		if o, err = s.m.ProcessOutput(ctx, id, pid, offset, maxReadBytes); err != nil {
			if ctx.Err() == nil {
				status, detail := toHTTP(err)
				es.event("error", errorEvent{Detail: detail, StatusCode: status})
			}
			return nil
		}
	}
}

type processListJSON struct {
	Processes []processJSON `json:"processes"`
}

type stdinResultJSON struct {
	Written int  `json:"written"`
	EOF     bool `json:"eof"`
}

type signalResultJSON struct {
	OK     bool   `json:"ok"`
	Signal string `json:"signal"`
}

type keepaliveJSON struct {
	SandboxID string  `json:"sandbox_id"`
	ExpiresAt *string `json:"expires_at"`
}

type stdinJSON struct {
	Data *string `json:"data"`
	EOF  bool    `json:"eof"`
}

func (s *Server) processStdin(w http.ResponseWriter, r *http.Request) error {
	id, pid, err := processPath(r)
	if err != nil {
		return err
	}
	raw, err := jsonObject(r, false)
	if err != nil {
		return err
	}
	var in stdinJSON
	if err := json.Unmarshal(raw, &in); err != nil || (in.Data == nil && !in.EOF) {
		return invalid(validationError{Type: "value_error", Loc: []any{"body"}, Msg: `Value error, {"data": string, "eof": bool}: data, eof or both`, Input: nil})
	}
	var data []byte
	if in.Data != nil {
		data = []byte(*in.Data)
	}
	if err := s.m.ProcessStdin(r.Context(), id, pid, data, in.EOF); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, stdinResultJSON{Written: len(data), EOF: in.EOF})
	return nil
}

func (s *Server) signalProcess(w http.ResponseWriter, r *http.Request) error {
	id, pid, err := processPath(r)
	if err != nil {
		return err
	}
	raw, err := jsonObject(r, false)
	if err != nil {
		return err
	}
	var in struct {
		Signal json.RawMessage `json:"signal"`
	}
	json.Unmarshal(raw, &in)
	name, ok := signalName(in.Signal)
	if !ok {
		return invalid(validationError{Type: "enum", Loc: []any{"body", "signal"},
			Msg: fmt.Sprintf("Input should be one of %v (or its number, or its name without SIG)", manager.SignalNames()), Input: json.RawMessage(orNull(in.Signal))})
	}
	if err := s.m.SignalProcess(r.Context(), id, pid, name); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, signalResultJSON{OK: true, Signal: name})
	return nil
}

func orNull(b json.RawMessage) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// signalName reads "SIGTERM", "TERM" or 15 into an allowed signal's name.
func signalName(raw json.RawMessage) (string, bool) {
	var name string
	if json.Unmarshal(raw, &name) == nil {
		if _, ok := manager.Signals[name]; ok {
			return name, true
		}
		if _, ok := manager.Signals["SIG"+name]; ok {
			return "SIG" + name, true
		}
		return "", false
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		for k, v := range manager.Signals {
			if v == n {
				return k, true
			}
		}
	}
	return "", false
}

func (s *Server) waitProcess(w http.ResponseWriter, r *http.Request) error {
	id, pid, err := processPath(r)
	if err != nil {
		return err
	}
	secs, has, herr := floatQuery(r, "timeout")
	if herr != nil {
		return herr
	}
	d := defaultWait
	if has {
		if secs < 0 || secs > manager.MaxProcessWait.Seconds() {
			return invalid(validationError{Type: "value_error", Loc: []any{"query", "timeout"},
				Msg: "Value error, seconds between 0 and " + strconv.Itoa(int(manager.MaxProcessWait.Seconds())), Input: secs})
		}
		d = time.Duration(secs * float64(time.Second))
	}
	p, err := s.m.WaitProcess(r.Context(), id, pid, d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, processOf(p))
	return nil
}

func (s *Server) keepalive(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("sandbox_id")
	annotate(r, id, "")
	raw, err := jsonObject(r, true)
	if err != nil {
		return err
	}
	var extend time.Duration
	if raw != nil {
		var in struct {
			Timeout *float64 `json:"timeout"`
		}
		if err := json.Unmarshal(raw, &in); err != nil || (in.Timeout != nil && (*in.Timeout < 0 || *in.Timeout > 7*24*3600)) {
			return invalid(validationError{Type: "value_error", Loc: []any{"body", "timeout"}, Msg: "Value error, seconds between 0 and 604800", Input: nil})
		}
		if in.Timeout != nil {
			extend = time.Duration(*in.Timeout * float64(time.Second))
		}
	}
	exp, err := s.m.Keepalive(r.Context(), id, extend)
	if err != nil {
		return err
	}
	var expires *string
	if !exp.IsZero() {
		t := pyjson.FormatTime(exp)
		expires = &t
	}
	writeJSON(w, http.StatusOK, keepaliveJSON{SandboxID: id, ExpiresAt: expires})
	return nil
}
