package sdktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// DefaultMaxDuration is the operator bound the suite passes to tools.
const DefaultMaxDuration = time.Minute

// LocalHost is a tool.Sandboxes that runs processes on the test machine, in a
// temporary working directory standing in for a sandbox. It keeps the
// contract's process rules (own process group, deadline kills the group,
// stdin at EOF, output caps) so tool logic can be tested without a
// container runtime. It is not isolation: use it for tests only.
type LocalHost struct {
	Dir string
	ID  string
}

// NewLocalHost returns a host rooted in a fresh temporary directory.
func NewLocalHost(t *testing.T) *LocalHost {
	return &LocalHost{Dir: t.TempDir(), ID: "localtst"}
}

// Info describes the stand-in sandbox.
func (h *LocalHost) Info() tool.SandboxInfo {
	return tool.SandboxInfo{ID: h.ID, Type: "local", WorkingDir: h.Dir, Env: map[string]string{}}
}

func (h *LocalHost) check(id string) error {
	if id != h.ID {
		return fmt.Errorf("sandbox %s: %w", id, sdk.ErrSandboxNotFound)
	}
	return nil
}

type capWriter struct {
	buf       bytes.Buffer
	max       int64
	truncated bool
}

func (w *capWriter) Write(p []byte) (int, error) {
	if w.max > 0 && int64(w.buf.Len()+len(p)) > w.max {
		w.truncated = true
		p = p[:max(0, int(w.max)-w.buf.Len())]
	}
	w.buf.Write(p)
	return len(p), nil
}

// RunPython implements tool.Sandboxes as the host's one-shot path does: the
// file, then `python file`.
func (h *LocalHost) RunPython(ctx context.Context, id string, script tool.PythonScript, req sdk.ExecRequest) (sdk.ExecResult, error) {
	if err := h.check(id); err != nil {
		return sdk.ExecResult{}, err
	}
	if err := os.WriteFile(script.Path, script.Source, 0o644); err != nil {
		return sdk.ExecResult{}, err
	}
	defer os.Remove(script.Path)
	py, err := exec.LookPath("python3")
	if err != nil {
		py = "python"
	}
	req.Argv = []string{py, script.Path}
	return h.Exec(ctx, id, req)
}

// Exec implements tool.Sandboxes.
func (h *LocalHost) Exec(ctx context.Context, id string, req sdk.ExecRequest) (sdk.ExecResult, error) {
	if err := h.check(id); err != nil {
		return sdk.ExecResult{}, err
	}
	if len(req.Argv) == 0 {
		return sdk.ExecResult{}, sdk.ErrInvalidArgument
	}
	cmd := exec.Command(req.Argv[0], req.Argv[1:]...)
	cmd.Dir = h.Dir
	if req.WorkingDir != "" {
		cmd.Dir = req.WorkingDir
	}
	cmd.Env = os.Environ()
	for k, v := range req.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = bytes.NewReader(req.Stdin)
	stdout, stderr := &capWriter{max: req.MaxOutputBytes}, &capWriter{max: req.MaxOutputBytes}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return sdk.ExecResult{Stderr: []byte(err.Error()), ExitCode: 127}, nil
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var deadline <-chan time.Time
	if req.Timeout > 0 {
		tm := time.NewTimer(req.Timeout)
		defer tm.Stop()
		deadline = tm.C
	}
	res := sdk.ExecResult{}
	select {
	case <-done:
	case <-deadline:
		res.TimedOut = true
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	case <-ctx.Done():
		res.Killed = true
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	res.ExitCode = cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.ExitCode = 128 + int(ws.Signal())
	}
	res.Stdout, res.Stderr = stdout.buf.Bytes(), stderr.buf.Bytes()
	res.StdoutTruncated, res.StderrTruncated = stdout.truncated, stderr.truncated
	return res, nil
}

// Session implements tool.Sandboxes with a local process and pipes.
func (h *LocalHost) Session(ctx context.Context, id string, req sdk.ExecRequest) (sdk.Session, error) {
	if err := h.check(id); err != nil {
		return nil, err
	}
	if len(req.Argv) == 0 {
		return nil, sdk.ErrInvalidArgument
	}
	cmd := exec.Command(req.Argv[0], req.Argv[1:]...)
	cmd.Dir = h.path(req.WorkingDir)
	cmd.Env = os.Environ()
	for k, v := range req.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &localSession{cmd: cmd, stdin: stdin, stdout: stdout, stderr: stderr, done: make(chan struct{})}
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

type localSession struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr io.Reader
	once           sync.Once
	done           chan struct{}
	code           int
}

func (s *localSession) Stdin() io.WriteCloser { return s.stdin }
func (s *localSession) Stdout() io.Reader     { return s.stdout }
func (s *localSession) Stderr() io.Reader     { return s.stderr }

func (s *localSession) Wait() (int, error) {
	s.once.Do(func() {
		s.cmd.Wait()
		s.code = s.cmd.ProcessState.ExitCode()
		if ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			s.code = 128 + int(ws.Signal())
		}
		close(s.done)
	})
	return s.code, nil
}

func (s *localSession) Close() error {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	return nil
}

// PutArchive implements tool.Sandboxes by extracting with tar(1).
func (h *LocalHost) PutArchive(ctx context.Context, id, dir string, r io.Reader) error {
	if err := h.check(id); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "tar", "-x", "-C", h.path(dir))
	cmd.Stdin = r
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("extract: %s: %w", out, err)
	}
	return nil
}

// GetArchive implements tool.Sandboxes with tar(1).
func (h *LocalHost) GetArchive(ctx context.Context, id, p string, w io.Writer) error {
	if err := h.check(id); err != nil {
		return err
	}
	full := h.path(p)
	if _, err := os.Lstat(full); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w", p, sdk.ErrPathNotFound)
	}
	cmd := exec.CommandContext(ctx, "tar", "-c", "-C", filepath.Dir(full), filepath.Base(full))
	cmd.Stdout = w
	return cmd.Run()
}

func (h *LocalHost) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(h.Dir, p)
}
