package main

// Capturing exec output: capped streams, the wrapper's marker line and
// timeout's notices.

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"
)

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
