package runner

// Background processes (runner.py's monitors) and the op requests that
// reach them. Their state is files in the sandbox, so any runner, of this
// server or the next, sees the same processes.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ProcDir is where background processes keep their state in a sandbox.
const ProcDir = "/tmp/.enclave/procs"

// Errors of process ops.
var (
	ErrNoProcess = errors.New("no such process")
	ErrFinished  = errors.New("the process has finished")
	ErrBadOp     = errors.New("invalid process request")
)

// opBound is how long an op may take in the runner: they read a few files.
const opBound = 10 * time.Second

// ProcSpec starts a background process.
type ProcSpec struct {
	ID      string
	Argv    []string
	Env     map[string]string
	Cwd     string
	Stdin   []byte
	Timeout time.Duration // 0: none
	Grace   time.Duration
	// RingBytes is how much of the latest output is kept (at least).
	RingBytes int64
}

// ProcInfo is what the sandbox knows of a background process.
type ProcInfo struct {
	ID       string   `json:"process_id"`
	PID      *int     `json:"pid"`
	Argv     []string `json:"argv"`
	Cwd      string   `json:"cwd"`
	Started  float64  `json:"started"`
	Ended    *float64 `json:"ended"`
	Running  bool     `json:"running"`
	Code     *int     `json:"code"`
	Signal   *int     `json:"signal"`
	TimedOut bool     `json:"timed_out"`
	// Lost: its monitor was killed from inside the sandbox, so its end is
	// unknown.
	Lost    bool    `json:"lost"`
	Ring    int64   `json:"ring"`
	Timeout float64 `json:"timeout"`
}

// Chunk is a piece of output of one stream ("out", "err").
type Chunk struct {
	Stream string
	Data   []byte
}

// Output is a read of a process's output log.
type Output struct {
	Chunks []Chunk
	// Next is the offset to read from next; Dropped how many bytes before
	// the offset asked for were no longer kept.
	Next, Dropped int64
	Running       bool
}

// op sends one op request and decodes its result into out.
func (r *Runner) op(ctx context.Context, op string, args map[string]any, out any) error {
	id, w, err := r.register(nil, false)
	if err != nil {
		return err
	}
	forget := func() {
		r.mu.Lock()
		delete(r.pending, id)
		r.mu.Unlock()
	}
	args["id"], args["op"] = id, op
	b, err := json.Marshal(args)
	if err != nil {
		forget()
		return err
	}
	sent := make(chan error, 1)
	go func() { sent <- r.write(append(b, '\n')) }()
	t := time.NewTimer(opBound)
	defer t.Stop()
	for {
		select {
		case err := <-sent:
			sent = nil
			if err != nil {
				forget()
				return fmt.Errorf("%w: %v", ErrDied, err)
			}
		case rep := <-w.ch:
			switch {
			case rep.Error == "":
				return json.Unmarshal(rep.Result, out)
			case rep.Status == "not_found":
				return ErrNoProcess
			case rep.Status == "finished":
				return fmt.Errorf("%w: %s", ErrFinished, rep.Error)
			case rep.Status == "invalid":
				return fmt.Errorf("%w: %s", ErrBadOp, rep.Error)
			default:
				return fmt.Errorf("runner %s: %s", op, rep.Error)
			}
		case <-t.C:
			forget()
			r.abandon(fmt.Errorf("%w: %s did not answer in %s", ErrWedged, op, opBound))
			return ErrWedged
		case <-ctx.Done():
			forget()
			return ctx.Err()
		case <-r.dead:
			return ErrDied
		}
	}
}

// Spawn starts a background process and returns at once.
func (r *Runner) Spawn(ctx context.Context, s ProcSpec) (ProcInfo, error) {
	grace := s.Grace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	var info ProcInfo
	err := r.op(ctx, "spawn", map[string]any{"dir": r.procDir, "process_id": s.ID, "argv": s.Argv, "env": s.Env, "cwd": s.Cwd,
		"stdin": base64.StdEncoding.EncodeToString(s.Stdin), "timeout": s.Timeout.Seconds(), "grace": grace.Seconds(),
		"ring": s.RingBytes}, &info)
	return info, err
}

// Procs lists the sandbox's background processes, oldest first.
func (r *Runner) Procs(ctx context.Context) ([]ProcInfo, error) {
	var out struct {
		Processes []ProcInfo `json:"processes"`
	}
	err := r.op(ctx, "list", map[string]any{"dir": r.procDir}, &out)
	return out.Processes, err
}

// Proc inspects one background process.
func (r *Runner) Proc(ctx context.Context, id string) (ProcInfo, error) {
	var info ProcInfo
	err := r.op(ctx, "info", map[string]any{"dir": r.procDir, "process_id": id}, &info)
	return info, err
}

// ReadOutput reads at most max bytes of a process's output from offset.
func (r *Runner) ReadOutput(ctx context.Context, id string, offset, max int64) (Output, error) {
	var out struct {
		Chunks  [][2]string `json:"chunks"`
		Next    int64       `json:"next_offset"`
		Dropped int64       `json:"dropped"`
		Running bool        `json:"running"`
	}
	if err := r.op(ctx, "read", map[string]any{"dir": r.procDir, "process_id": id, "offset": offset, "max": max}, &out); err != nil {
		return Output{}, err
	}
	o := Output{Next: out.Next, Dropped: out.Dropped, Running: out.Running}
	for _, c := range out.Chunks {
		b, err := base64.StdEncoding.DecodeString(c[1])
		if err != nil {
			return Output{}, fmt.Errorf("runner read: %w", err)
		}
		o.Chunks = append(o.Chunks, Chunk{Stream: c[0], Data: b})
	}
	return o, nil
}

// WriteStdin feeds a running process's stdin; eof closes it after.
func (r *Runner) WriteStdin(ctx context.Context, id string, data []byte, eof bool) error {
	var out struct{}
	return r.op(ctx, "stdin", map[string]any{"dir": r.procDir, "process_id": id, "data": base64.StdEncoding.EncodeToString(data), "eof": eof}, &out)
}

// Signal sends sig to a running process's group.
func (r *Runner) Signal(ctx context.Context, id string, sig int) error {
	var out struct{}
	return r.op(ctx, "signal", map[string]any{"dir": r.procDir, "process_id": id, "signal": sig}, &out)
}
