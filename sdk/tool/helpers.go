package tool

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/enclave-sandbox/enclave/sdk"
)

// Deadline is a resolved tool deadline.
type Deadline struct {
	// D is the deadline to enforce (never 0: "none" means the operator bound).
	D time.Duration
	// Text renders the deadline in messages as the request wrote it.
	Text string
}

// DeadlineRule says what an omitted, null or 0 timeout means.
type DeadlineRule struct {
	Default     time.Duration // used when omitted (and for null/0 unless NoneOnNull)
	DefaultText string
	// NoneOnNull: null and 0 mean "no in-sandbox deadline" (only the
	// operator's bound), as for python_executor and shell_executor.
	NoneOnNull bool
}

// ParseDeadline resolves a timeout parameter (seconds, any JSON number) as
// ms-enclave's tools do. raw is nil when the parameter was omitted. max is the
// operator bound, which also caps any requested value.
func ParseDeadline(raw json.RawMessage, rule DeadlineRule, max time.Duration) Deadline {
	maxD := Deadline{D: max, Text: SecondsText(max)}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		if rule.Default > 0 && (max <= 0 || rule.Default <= max) {
			return Deadline{D: rule.Default, Text: rule.DefaultText}
		}
		return maxD
	}
	if string(raw) == "null" {
		if rule.NoneOnNull {
			return maxD
		}
		return ParseDeadline(nil, rule, max)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f <= 0 {
		if rule.NoneOnNull {
			return maxD
		}
		return ParseDeadline(nil, rule, max)
	}
	d := time.Duration(f * float64(time.Second))
	if max > 0 && d > max {
		return maxD
	}
	return Deadline{D: d, Text: string(raw)}
}

// SecondsText renders a duration as whole seconds when it is whole.
func SecondsText(d time.Duration) string {
	s := d.Seconds()
	if s == float64(int64(s)) {
		return strconv.FormatInt(int64(s), 10)
	}
	return strconv.FormatFloat(s, 'f', -1, 64)
}

// Text decodes process output as UTF-8, each invalid byte becoming U+FFFD
// (Python's errors="replace").
func Text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}

// FromExec maps a process result to a tool result the way python_executor
// and shell_executor do: stdout is the output; stderr is the
// error, or a message naming the exit code or deadline when it is empty.
func FromExec(r sdk.ExecResult, d Deadline) Result {
	out := Result{Output: Text(r.Stdout), ExitCode: r.ExitCode}
	stderr := Text(r.Stderr)
	errOr := func(msg string) *string {
		if stderr != "" {
			return ErrorText(stderr)
		}
		return ErrorText(msg)
	}
	switch {
	case r.TimedOut:
		out.Status, out.ExitCode, out.Verdict = StatusTimeout, -1, VerdictTimeout
		out.Error = errOr(fmt.Sprintf("Command timed out after %s seconds", d.Text))
		return out
	case r.ExitCode == 0:
		out.Status = StatusSuccess
		if stderr != "" {
			out.Error = ErrorText(stderr)
		}
	default:
		out.Status = StatusError
		out.Error = errOr(fmt.Sprintf("Command failed with exit code %d", r.ExitCode))
	}
	out.Verdict = Verdict(r)
	return out
}

// Verdict returns the verdict of a finished process, by the spec's
// precedence: timeout > oom_killed > killed > output_truncated.
func Verdict(r sdk.ExecResult) string {
	switch {
	case r.TimedOut:
		return VerdictTimeout
	case r.OOMKilled:
		return VerdictOOMKilled
	case r.Killed:
		return VerdictKilled
	case r.StdoutTruncated || r.StderrTruncated:
		return VerdictOutputTruncated
	}
	return ""
}

// Failed is the result of a call that could not be carried out.
func Failed(msg string) Result {
	return Result{Status: StatusError, Error: ErrorText(msg), ExitCode: -1}
}
