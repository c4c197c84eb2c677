package execwrap

import (
	"bytes"
	"strings"
	"testing"
)

func TestCapped(t *testing.T) {
	tests := []struct {
		max       int64
		writes    []string
		want      string
		truncated bool
	}{
		{0, []string{"abc", "def"}, "abcdef", false},
		{4, []string{"ab", "cd"}, "abcd", false},
		{4, []string{"abc", "def"}, "abcd", true},
		{4, []string{"abcd", "e"}, "abcd", true},
	}
	for _, tt := range tests {
		c := NewCapped(tt.max)
		for _, w := range tt.writes {
			if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
				t.Errorf("Write(%q) = %d, %v: a capped stream must swallow the rest", w, n, err)
			}
		}
		if got := string(c.Bytes()); got != tt.want || c.Truncated() != tt.truncated {
			t.Errorf("max %d, writes %q: %q truncated=%v, want %q %v", tt.max, tt.writes, got, c.Truncated(), tt.want, tt.truncated)
		}
	}
}

func TestMarkerWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		pid    int // 0: no marker
		oom    int
		rest   string
	}{
		{"marker then output", []string{PIDMarker + "42 3\nerr"}, 42, 3, "err"},
		{"marker split across writes", []string{PIDMarker[:5], PIDMarker[5:] + "7 -1", "\nx", "y"}, 7, -1, "xy"},
		{"marker without the OOM count", []string{PIDMarker + "9\n"}, 9, -1, ""},
		{"no marker: everything passes", []string{"plain line\nmore"}, 0, -1, "plain line\nmore"},
		{"a long first line is not the marker", []string{strings.Repeat("x", 100)}, 0, -1, strings.Repeat("x", 100)},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		m := NewMarkerWriter(&out)
		for _, w := range tt.writes {
			m.Write([]byte(w))
		}
		pid, _ := m.PID()
		if pid != tt.pid || m.OOM() != tt.oom || out.String() != tt.rest {
			t.Errorf("%s: pid %d oom %d rest %q, want %d %d %q", tt.name, pid, m.OOM(), out.String(), tt.pid, tt.oom, tt.rest)
		}
	}
}

func TestStripTimeoutLines(t *testing.T) {
	in := "a\n" + TimeoutNotice + "TERM to command 'sleep'\nb\n"
	got, fired := StripTimeoutLines([]byte(in))
	if string(got) != "a\nb\n" || !fired {
		t.Errorf("stripTimeoutLines = %q, %v", got, fired)
	}
	if got, fired := StripTimeoutLines([]byte("plain\n")); string(got) != "plain\n" || fired {
		t.Errorf("no notice: %q, %v", got, fired)
	}
}
