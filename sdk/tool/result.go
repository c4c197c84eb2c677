package tool

// Results: mapping a process's outcome to a tool result.

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/enclave-sandbox/enclave/sdk"
)

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
