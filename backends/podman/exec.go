//go:build remote

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containers/podman/v4/pkg/api/handlers"
	"github.com/containers/podman/v4/pkg/bindings/containers"
	docker "github.com/docker/docker/api/types"

	"github.com/enclave-sandbox/enclave/sdk"
)

// pidMarker is the first line the wrapper writes to stderr: the pid of the
// process-group leader, so a cancelled call can kill the whole group.
const pidMarker = "@@ENCLAVE-PGID "

// execWrapper runs argv under GNU timeout, which makes itself a process-group
// leader (pgid = the pid printed) and at the deadline signals the whole group
// (grandchildren included), then SIGKILLs it after the grace period.
// --verbose makes timeout say when it fired, so a command that merely exits
// 124 or dies of SIGKILL before its deadline is not mistaken for a timeout.
//
// The marker line also carries the cgroup's OOM-kill counter (shell builtins
// only), so a call that dies of SIGKILL can be told apart from one the
// memory limit killed.
const execWrapper = oomCount + `echo "` + pidMarker + `$$ $o" >&2; g=$1; t=$2; shift 2; exec timeout --verbose -s TERM -k "$g" "$t" "$@"`

// oomCount sets $o to the cgroup's oom_kill counter (-1 when unknown).
const oomCount = `o=-1; for f in /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do if [ -r "$f" ]; then while read -r k v; do [ "$k" = oom_kill ] && o=$v; done < "$f"; break; fi; done; `

const timeoutMsg = "timeout: sending signal "

func fmtSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// capped keeps at most max bytes (0 = unlimited) and records the overflow.
type capped struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	max       int64
	truncated bool
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 {
		room := c.max - int64(c.buf.Len())
		if room < int64(len(p)) {
			c.truncated = true
			if room > 0 {
				c.buf.Write(p[:room])
			}
			return len(p), nil
		}
	}
	c.buf.Write(p)
	return len(p), nil
}

func (c *capped) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf.Bytes()...)
}

// markerWriter strips the wrapper's pid line from the head of stderr.
type markerWriter struct {
	next  io.Writer
	head  []byte
	done  bool
	pid   chan int
	found sync.Once
	oom   int // the OOM-kill counter when the call started, -1 unknown
}

func newMarkerWriter(next io.Writer) *markerWriter {
	return &markerWriter{next: next, pid: make(chan int, 1), oom: -1}
}

func (m *markerWriter) Write(p []byte) (int, error) {
	if m.done {
		return m.next.Write(p)
	}
	n := len(p)
	m.head = append(m.head, p...)
	i := bytes.IndexByte(m.head, '\n')
	if i < 0 {
		if len(m.head) > 64 { // not our marker: pass through
			m.done = true
			_, err := m.next.Write(m.head)
			return n, err
		}
		return n, nil
	}
	m.done = true
	line := string(m.head[:i])
	rest := m.head[i+1:]
	fields := strings.Fields(strings.TrimPrefix(line, pidMarker))
	pid, err := 0, error(nil)
	if len(fields) > 0 {
		pid, err = strconv.Atoi(fields[0])
	}
	if strings.HasPrefix(line, pidMarker) && len(fields) > 0 && err == nil {
		if len(fields) > 1 {
			if n, err := strconv.Atoi(fields[1]); err == nil {
				m.oom = n
			}
		}
		m.found.Do(func() { m.pid <- pid })
	} else {
		rest = m.head
	}
	if len(rest) > 0 {
		if _, err := m.next.Write(rest); err != nil {
			return n, err
		}
	}
	return n, nil
}

// stripTimeoutLines removes timeout's --verbose lines and reports whether any
// were present (the deadline fired).
func stripTimeoutLines(b []byte) ([]byte, bool) {
	if !bytes.Contains(b, []byte(timeoutMsg)) {
		return b, false
	}
	var out []byte
	fired := false
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte(timeoutMsg)) {
			fired = true
			continue
		}
		out = append(out, line...)
	}
	return out, fired
}

// attach starts exec session id over a raw hijacked connection and copies its
// demultiplexed output to stdout/stderr until the process closes them. The
// bindings' ExecStartAndAttach swaps the shared connection's transport on
// every call, which races under concurrent execs; a connection per attach
// does not. Closing the returned conn aborts the attach.
func (p *Podman) attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer) (net.Conn, <-chan error, error) {
	conn, err := p.dial(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("dial podman: %w", err)
	}
	body := `{"Detach":false,"Tty":false}`
	req := fmt.Sprintf("POST /v4.0.0/libpod/exec/%s/start HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n%s", id, len(body), body)
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("start exec: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("start exec: %w", err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSwitchingProtocols {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		conn.Close()
		var em struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(msg, &em) == nil && em.Message != "" {
			msg = []byte(em.Message)
		}
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusConflict {
			return nil, nil, fmt.Errorf("start exec: %s: %w", msg, sdk.ErrSandboxNotFound)
		}
		return nil, nil, fmt.Errorf("start exec: HTTP %d: %s", resp.StatusCode, msg)
	}
	if stdin != nil {
		go func() {
			io.Copy(conn, stdin)
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
	}
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 32<<10)
		for {
			fd, l, err := containers.DemuxHeader(br, buf)
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					err = nil
				}
				done <- err
				return
			}
			frame, err := containers.DemuxFrame(br, buf, l)
			if err != nil {
				done <- err
				return
			}
			switch fd {
			case 1:
				stdout.Write(frame[:l])
			case 2:
				stderr.Write(frame[:l])
			case 3:
				done <- fmt.Errorf("podman: %s", frame[:l])
				return
			}
		}
	}()
	return conn, done, nil
}

func (p *Podman) createExec(ctx context.Context, ref string, argv []string, req sdk.ExecRequest, withStdin bool) (string, error) {
	cfg := &handlers.ExecCreateConfig{ExecConfig: docker.ExecConfig{
		AttachStdout: true, AttachStderr: true, AttachStdin: withStdin,
		Env: envList(req.Env), WorkingDir: req.WorkingDir, Cmd: argv,
	}}
	id, err := containers.ExecCreate(ctx, ref, cfg)
	if err != nil {
		err = mapErr(err, "create exec")
		if !errors.Is(err, sdk.ErrSandboxNotFound) && strings.Contains(err.Error(), "not running") {
			err = fmt.Errorf("%s: %w", err.Error(), sdk.ErrSandboxNotFound)
		}
		return "", err
	}
	return id, nil
}

// killGroup SIGKILLs process group pgid inside the container. It uses a
// fresh exec with its own bound: the caller's context is usually done.
func (p *Podman) killGroup(ctx context.Context, ref string, pgid int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// Sessions are not group leaders: fall back to the pid itself.
	kill := `kill -s KILL -- "-$1" 2>/dev/null || kill -s KILL -- "$1"`
	id, err := p.createExec(ctx, ref, []string{"sh", "-c", kill, "enclave-kill", strconv.Itoa(pgid)}, sdk.ExecRequest{}, false)
	if err != nil {
		slog.Warn("kill process group", "container", ref, "pgid", pgid, "err", err)
		return
	}
	if err := containers.ExecStart(ctx, id, nil); err != nil {
		slog.Warn("kill process group", "container", ref, "pgid", pgid, "err", err)
	}
}

// Exec implements backend.Backend.
func (p *Podman) Exec(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.ExecResult, error) {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	if len(req.Argv) == 0 {
		return sdk.ExecResult{}, fmt.Errorf("empty argv: %w", sdk.ErrInvalidArgument)
	}
	grace := req.KillGrace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	argv := append([]string{"sh", "-c", execWrapper, "enclave-exec", fmtSeconds(grace), fmtSeconds(req.Timeout)}, req.Argv...)
	id, err := p.createExec(ctx, ref, argv, req, req.Stdin != nil)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	stdout := &capped{max: req.MaxOutputBytes}
	stderr := &capped{max: req.MaxOutputBytes}
	mw := newMarkerWriter(stderr)
	var stdin io.Reader
	if req.Stdin != nil {
		stdin = bytes.NewReader(req.Stdin)
	}
	conn, done, err := p.attach(ctx, id, stdin, stdout, mw)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	defer conn.Close()

	// The spec's bound: the result comes back by deadline + grace + 5 s even
	// if something keeps the output streams open.
	var hard <-chan time.Time
	if req.Timeout > 0 {
		t := time.NewTimer(req.Timeout + grace + 5*time.Second)
		defer t.Stop()
		hard = t.C
	}
	res := sdk.ExecResult{ExitCode: -1}
	pgid := func() int {
		select {
		case pid := <-mw.pid:
			mw.pid <- pid
			return pid
		default:
			return 0
		}
	}
	select {
	case err := <-done:
		if err != nil {
			return sdk.ExecResult{}, fmt.Errorf("exec attach: %w", err)
		}
	case <-ctx.Done():
		if g := pgid(); g > 0 {
			p.killGroup(ctx, ref, g)
		}
		res.Killed = true
	case <-hard:
		if g := pgid(); g > 0 {
			go p.killGroup(ctx, ref, g)
		}
		res.TimedOut = true
	}
	if !res.Killed && !res.TimedOut {
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		// The stream ends a moment before podman records the exit code.
		for i := 0; i < 100; i++ {
			ins, err := containers.ExecInspect(ictx, id, nil)
			if err != nil {
				return sdk.ExecResult{}, mapErr(err, "inspect exec")
			}
			if !ins.Running {
				res.ExitCode = ins.ExitCode
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	res.Stdout = stdout.bytes()
	var fired bool
	res.Stderr, fired = stripTimeoutLines(stderr.bytes())
	if fired && (res.ExitCode == 124 || res.ExitCode == 137) {
		res.TimedOut = true
	}
	res.StdoutTruncated, res.StderrTruncated = stdout.truncated, stderr.truncated
	if res.ExitCode == 137 && !res.TimedOut && !res.Killed && mw.oom >= 0 {
		res.OOMKilled = p.oomKillsSince(ctx, ref, mw.oom)
	}
	return res, nil
}

// oomKillsSince reports whether the sandbox's cgroup OOM-killed a process
// since the counter read before. Only asked after a SIGKILL exit.
func (p *Podman) oomKillsSince(ctx context.Context, ref string, before int) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	r, err := p.Exec(ctx, ref, sdk.ExecRequest{Argv: []string{"sh", "-c", oomCount + `echo "$o"`}, Timeout: 10 * time.Second})
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(r.Stdout)))
	return err == nil && n > before
}

// Session implements backend.Backend: a long-lived process with streamed
// stdio, over one exec attach.
func (p *Podman) Session(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.Session, error) {
	cctx, err := p.withConn(ctx)
	if err != nil {
		return nil, err
	}
	if len(req.Argv) == 0 {
		return nil, fmt.Errorf("empty argv: %w", sdk.ErrInvalidArgument)
	}
	argv := append([]string{"sh", "-c", `echo "` + pidMarker + `$$" >&2; exec "$@"`, "enclave-session"}, req.Argv...)
	id, err := p.createExec(cctx, ref, argv, req, true)
	if err != nil {
		return nil, err
	}
	s := &session{p: p, ctx: cctx, ref: ref, id: id}
	var stdinR *io.PipeReader
	stdinR, s.stdinW = io.Pipe()
	s.outR, s.outW = io.Pipe()
	s.errR, s.errW = io.Pipe()
	s.mw = newMarkerWriter(s.errW)
	conn, done, err := p.attach(cctx, id, stdinR, s.outW, s.mw)
	if err != nil {
		return nil, err
	}
	s.conn = conn
	s.attached = make(chan struct{})
	go func() {
		s.attachErr = <-done
		s.outW.Close()
		s.errW.Close()
		// Writers to a process that is gone fail at once instead of
		// blocking on a pipe nobody reads.
		stdinR.CloseWithError(io.ErrClosedPipe)
		close(s.attached)
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.closed():
		}
	}()
	return s, nil
}

type session struct {
	p          *Podman
	ctx        context.Context
	ref, id    string
	conn       net.Conn
	attached   chan struct{}
	attachErr  error
	stdinW     *io.PipeWriter
	outR, errR *io.PipeReader
	outW, errW *io.PipeWriter
	mw         *markerWriter
	waitOnce   sync.Once
	closeOnce  sync.Once
	closedCh   chan struct{}
	mu         sync.Mutex
	code       int
	err        error
}

func (s *session) closed() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closedCh == nil {
		s.closedCh = make(chan struct{})
	}
	return s.closedCh
}

func (s *session) Stdin() io.WriteCloser { return s.stdinW }
func (s *session) Stdout() io.Reader     { return s.outR }
func (s *session) Stderr() io.Reader     { return s.errR }

func (s *session) Wait() (int, error) {
	s.waitOnce.Do(func() {
		<-s.attached
		s.code = -1
		if s.attachErr != nil {
			s.err = s.attachErr
			return
		}
		ictx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
		defer cancel()
		for i := 0; i < 100; i++ {
			ins, err := containers.ExecInspect(ictx, s.id, nil)
			if err != nil {
				s.err = mapErr(err, "inspect exec")
				return
			}
			if !ins.Running {
				s.code = ins.ExitCode
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return s.code, s.err
}

func (s *session) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed())
		ended := false
		select {
		case <-s.attached:
			ended = true // the process is gone: nothing to kill
		default:
		}
		select {
		case pid := <-s.mw.pid:
			if !ended {
				s.p.killGroup(s.ctx, s.ref, pid)
			}
		default:
		}
		s.stdinW.Close()
		s.conn.Close()
		s.outR.Close()
		s.errR.Close()
	})
	return nil
}
