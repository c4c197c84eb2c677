package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

var version = "dev"

// Schema is served byte-for-byte.
const Schema = `{"type":"function","function":{"name":"notebook_executor","description":"Execute Python code in a Jupyter kernel environment","parameters":{"type":"object","properties":{"code":{"type":"string","description":"Python code to execute in the notebook kernel"},"timeout":{"type":"integer","description":"Execution timeout in seconds","default":30}},"required":["code"],"additionalProperties":false}}}`

//go:embed kernel.py
var kernelSource string

// startKernel runs the kernel source ($0) with the sandbox's Python.
const startKernel = `exec ` + sdk.PythonPath + ` -u -c "$0"`

// How long an interrupted cell may take to return before the kernel is
// killed and replaced.
const interruptGrace = 2 * time.Second

type params struct {
	Code    string          `json:"code"`
	Timeout json.RawMessage `json:"timeout"`
}

type reply struct {
	Ready     bool   `json:"ready"`
	Pid       int    `json:"pid"`
	Status    string `json:"status"`
	Output    string `json:"output"`
	Error     string `json:"error"`
	Truncated bool   `json:"truncated"`
}

// kernel is one running interpreter.
type kernel struct {
	sess    sdk.Session
	pid     int
	replies chan reply // closed when the kernel's output ends
	exited  chan struct{}
	code    int
	err     error
}

func (k *kernel) deathReason() string {
	<-k.exited
	switch {
	case k.err != nil:
		return k.err.Error()
	case k.code == 137:
		return "killed by SIGKILL, exit status 137: out of memory?"
	case k.code > 128:
		return fmt.Sprintf("killed by signal %d", k.code-128)
	default:
		return fmt.Sprintf("exit code %d", k.code)
	}
}

// slot serialises the calls of one sandbox in arrival order and holds its
// kernel.
type slot struct {
	mu      sync.Mutex
	waiters []chan struct{}
	busy    bool
	k       *kernel
}

func (s *slot) lock(ctx context.Context) error {
	s.mu.Lock()
	if !s.busy {
		s.busy = true
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	s.waiters = append(s.waiters, ch)
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, w := range s.waiters {
			if w == ch {
				s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
				return ctx.Err()
			}
		}
		// Handed the lock just as we gave up: pass it on.
		s.unlockLocked()
		return ctx.Err()
	}
}

func (s *slot) unlock() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unlockLocked()
}

func (s *slot) unlockLocked() {
	if len(s.waiters) == 0 {
		s.busy = false
		return
	}
	next := s.waiters[0]
	s.waiters = s.waiters[1:]
	close(next)
}

// Notebook is the notebook_executor tool.
type Notebook struct {
	// life bounds the kernels: they outlive single calls, so they run under
	// the plugin's lifetime, not a request's context.
	life context.Context

	mu    sync.Mutex
	slots map[string]*slot
}

// New returns the tool.
func New() *Notebook {
	return &Notebook{life: context.Background(), slots: map[string]*slot{}}
}

// Info implements tool.Tool.
func (*Notebook) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "notebook_executor", Kind: sdk.KindTool, Version: version, APIVersions: []uint32{sdk.APIVersion},
		Description: "Stateful Python cells in a persistent interpreter", Schema: json.RawMessage(Schema),
		SandboxTypes: []string{sdk.TypeNotebook}}, nil
}

func (n *Notebook) slot(id string) *slot {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.slots[id]
	if !ok {
		s = &slot{}
		n.slots[id] = s
	}
	return s
}

// start launches a kernel and waits for its ready line.
func (n *Notebook) start(ctx context.Context, sb tool.Sandbox, maxOutput int64) (*kernel, error) {
	env := map[string]string{}
	for k, v := range sb.Env() {
		env[k] = v
	}
	env["ENCLAVE_MAX_OUTPUT"] = strconv.FormatInt(maxOutput, 10)
	sess, err := sb.Session(n.life, sdk.ExecRequest{Argv: []string{"sh", "-c", startKernel, kernelSource}, Env: env, WorkingDir: sb.WorkingDir()})
	if err != nil {
		return nil, err
	}
	k := &kernel{sess: sess, replies: make(chan reply, 1), exited: make(chan struct{})}
	go io.Copy(io.Discard, sess.Stderr())
	go func() {
		defer close(k.replies)
		r := bufio.NewReaderSize(sess.Stdout(), 64<<10)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				var rep reply
				if json.Unmarshal(line, &rep) == nil {
					k.replies <- rep
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		k.code, k.err = sess.Wait()
		close(k.exited)
	}()
	select {
	case rep, ok := <-k.replies:
		if !ok || !rep.Ready {
			sess.Close()
			return nil, fmt.Errorf("kernel did not start (%s)", k.deathReason())
		}
		k.pid = rep.Pid
		return k, nil
	case <-time.After(30 * time.Second):
		sess.Close()
		return nil, errors.New("kernel did not start within 30s")
	case <-ctx.Done():
		sess.Close()
		return nil, ctx.Err()
	}
}

func (n *Notebook) signal(ctx context.Context, sb tool.Sandbox, k *kernel, sig string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	pid := strconv.Itoa(k.pid)
	// The kernel leads its process group; fall back to the pid alone.
	sb.Exec(ctx, sdk.ExecRequest{Argv: []string{"sh", "-c", `kill -s "$0" -- "-$1" 2>/dev/null || kill -s "$0" -- "$1"`, sig, pid}, Timeout: 10 * time.Second})
}

func died(reason string) tool.Result {
	return tool.Failed(fmt.Sprintf("Execution failed: notebook kernel died (%s); state was lost and a fresh kernel has been started", reason))
}

// Execute implements tool.Tool.
func (n *Notebook) Execute(ctx context.Context, sb tool.Sandbox, call tool.Call) (tool.Result, error) {
	var p params
	if err := json.Unmarshal(call.Params, &p); err != nil {
		return tool.Failed("Execution failed: " + err.Error()), nil
	}
	d := tool.ParseDeadline(p.Timeout, tool.DeadlineRule{Default: 30 * time.Second, DefaultText: "30"}, call.MaxDuration)
	s := n.slot(sb.ID())
	if err := s.lock(ctx); err != nil {
		return tool.Failed("Execution failed: " + err.Error()), nil
	}
	defer s.unlock()

	// A kernel that died between calls is reported by this call, whose code
	// does not run; a fresh kernel is ready for the next one.
	if s.k != nil {
		select {
		case <-s.k.exited:
			reason := s.k.deathReason()
			s.k = nil
			if k, err := n.start(ctx, sb, call.MaxOutputBytes); err == nil {
				s.k = k
			}
			return died(reason), nil
		default:
		}
	}
	if s.k == nil {
		k, err := n.start(ctx, sb, call.MaxOutputBytes)
		if err != nil {
			return tool.Failed("Execution failed: " + err.Error()), nil
		}
		s.k = k
	}
	k := s.k
	req, _ := json.Marshal(map[string]string{"code": p.Code})
	if _, err := k.sess.Stdin().Write(append(req, '\n')); err != nil {
		return n.lost(ctx, sb, s, call), nil
	}
	timer := time.NewTimer(d.D)
	defer timer.Stop()
	select {
	case rep, ok := <-k.replies:
		if !ok {
			return n.lost(ctx, sb, s, call), nil
		}
		return result(rep), nil
	case <-ctx.Done():
		// The client left: interrupt the cell as at a deadline.
		n.interrupt(ctx, sb, s, call)
		res := tool.Failed("Execution failed: call cancelled")
		res.Verdict = tool.VerdictKilled
		return res, nil
	case <-timer.C:
		n.interrupt(ctx, sb, s, call)
		return tool.Result{Status: tool.StatusTimeout, Error: tool.ErrorText(fmt.Sprintf("Execution timed out after %s seconds", d.Text)),
			ExitCode: -1, Verdict: tool.VerdictTimeout}, nil
	}
}

// interrupt raises KeyboardInterrupt in the running cell and waits for the
// kernel to become idle; a kernel still busy after the grace is replaced.
func (n *Notebook) interrupt(ctx context.Context, sb tool.Sandbox, s *slot, call tool.Call) {
	k := s.k
	n.signal(ctx, sb, k, "INT")
	select {
	case _, ok := <-k.replies:
		if ok {
			return
		}
	case <-time.After(interruptGrace):
		slog.Warn("notebook kernel stuck after interrupt; restarting it", "sandbox_id", sb.ID())
		n.signal(ctx, sb, k, "KILL")
	}
	k.sess.Close()
	s.k = nil
	if fresh, err := n.start(ctx, sb, call.MaxOutputBytes); err == nil {
		s.k = fresh
	}
}

// lost reports a kernel that died during the call and starts a fresh one.
func (n *Notebook) lost(ctx context.Context, sb tool.Sandbox, s *slot, call tool.Call) tool.Result {
	reason := s.k.deathReason()
	s.k.sess.Close()
	s.k = nil
	if k, err := n.start(ctx, sb, call.MaxOutputBytes); err == nil {
		s.k = k
	}
	return died(reason)
}

func result(rep reply) tool.Result {
	var r tool.Result
	switch rep.Status {
	case "ok":
		r = tool.Result{Status: tool.StatusSuccess, Output: rep.Output}
	case "error":
		r = tool.Result{Status: tool.StatusError, Error: tool.ErrorText(rep.Error), ExitCode: 1}
	default:
		r = tool.Failed("Execution failed: unexpected kernel reply " + rep.Status)
	}
	if rep.Truncated {
		r.Verdict = tool.VerdictOutputTruncated
	}
	return r
}
