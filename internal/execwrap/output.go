package execwrap

// Capturing exec output: capped streams, the wrapper's marker line and
// timeout's notices.

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
)

// Capped keeps at most max bytes (0 = unlimited) and records the overflow;
// it never fails a write, so the process is not stopped by its own output.
type Capped struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	max       int64
	truncated bool
}

// NewCapped returns a stream that keeps max bytes (0 = all).
func NewCapped(max int64) *Capped { return &Capped{max: max} }

func (c *Capped) Write(p []byte) (int, error) {
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

// Bytes returns a copy of what was kept.
func (c *Capped) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf.Bytes()...)
}

// Truncated reports whether anything was dropped.
func (c *Capped) Truncated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.truncated
}

// MarkerWriter strips the wrapper's marker line from the head of stderr
// and remembers what it said.
type MarkerWriter struct {
	next io.Writer

	mu    sync.Mutex
	head  []byte
	done  bool
	pid   int
	oom   int // the OOM-kill counter when the call started, -1 unknown
	found chan struct{}
}

// NewMarkerWriter passes everything after the marker line to next.
func NewMarkerWriter(next io.Writer) *MarkerWriter {
	return &MarkerWriter{next: next, oom: -1, found: make(chan struct{})}
}

// PID is the process-group leader's pid, once the marker has been read.
func (m *MarkerWriter) PID() (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pid, m.pid > 0
}

// Found is closed when the marker line has been read.
func (m *MarkerWriter) Found() <-chan struct{} { return m.found }

// OOM is the cgroup's OOM-kill count when the process started (-1 unknown).
func (m *MarkerWriter) OOM() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.oom
}

func (m *MarkerWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	if m.done {
		m.mu.Unlock()
		return m.next.Write(p)
	}
	n := len(p)
	m.head = append(m.head, p...)
	i := bytes.IndexByte(m.head, '\n')
	if i < 0 {
		if len(m.head) > 64 { // not our marker: pass through
			m.done = true
			head := m.head
			m.mu.Unlock()
			_, err := m.next.Write(head)
			return n, err
		}
		m.mu.Unlock()
		return n, nil
	}
	m.done = true
	line := string(m.head[:i])
	rest := m.head[i+1:]
	fields := strings.Fields(strings.TrimPrefix(line, PIDMarker))
	pid, err := 0, error(nil)
	if len(fields) > 0 {
		pid, err = strconv.Atoi(fields[0])
	}
	if strings.HasPrefix(line, PIDMarker) && len(fields) > 0 && err == nil && pid > 0 {
		if len(fields) > 1 {
			if n, err := strconv.Atoi(fields[1]); err == nil {
				m.oom = n
			}
		}
		m.pid = pid
		close(m.found)
	} else {
		rest = m.head
	}
	m.mu.Unlock()
	if len(rest) > 0 {
		if _, err := m.next.Write(rest); err != nil {
			return n, err
		}
	}
	return n, nil
}

// StripTimeoutLines removes timeout's --verbose lines and reports whether
// any were present (the deadline fired).
func StripTimeoutLines(b []byte) ([]byte, bool) {
	if !bytes.Contains(b, []byte(TimeoutNotice)) {
		return b, false
	}
	var out []byte
	fired := false
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte(TimeoutNotice)) {
			fired = true
			continue
		}
		out = append(out, line...)
	}
	return out, fired
}

// Collect fills res's output fields from the captured streams: timeout's
// notices are stripped (a 124 or 137 exit after one is the deadline) and
// truncation recorded. It reports whether the exit was a SIGKILL that
// neither the deadline nor a cancellation explains, which only the OOM
// counter can tell (OOMKillsSince).
func Collect(res *sdk.ExecResult, stdout, stderr *Capped, mw *MarkerWriter) (oomBefore int, ask bool) {
	res.Stdout = stdout.Bytes()
	var fired bool
	res.Stderr, fired = StripTimeoutLines(stderr.Bytes())
	if fired && (res.ExitCode == 124 || res.ExitCode == 137) {
		res.TimedOut = true
	}
	res.StdoutTruncated, res.StderrTruncated = stdout.Truncated(), stderr.Truncated()
	return mw.OOM(), res.ExitCode == 137 && !res.TimedOut && !res.Killed && mw.OOM() >= 0
}

// OOMKillsSince reports whether the sandbox's cgroup OOM-killed a process
// since the counter read before, asking with run (a backend's Exec, with
// its own bound: the caller's context is usually done).
func OOMKillsSince(ctx context.Context, run func(context.Context, sdk.ExecRequest) (sdk.ExecResult, error), before int) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	r, err := run(ctx, sdk.ExecRequest{Argv: []string{"sh", "-c", OOMCount + `echo "$o"`}, Timeout: 10 * time.Second})
	if err != nil || r.ExitCode != 0 {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(r.Stdout)))
	return err == nil && n > before
}
