// Package execwrap is what every backend runs a one-shot process under, so
// that a deadline reaches the process's whole group, a cancelled call can
// kill that group, and the OOM killer can be told apart from a SIGKILL: the
// shell wrapper, its marker line and the capture of its output. Backends
// whose runtime exec cannot set env or a working directory (the Kubernetes
// exec subresource) ask for the inline form.
package execwrap

import (
	"sort"
	"strconv"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
)

// PIDMarker starts the first line the wrapper writes to stderr: the pid of
// the process-group leader (and the cgroup's OOM-kill count).
const PIDMarker = "@@ENCLAVE-PGID "

// Script runs argv under GNU timeout, which makes itself a process-group
// leader (pgid = the pid printed) and at the deadline signals the whole
// group (grandchildren included), then SIGKILLs it after the grace period.
// --verbose makes timeout say when it fired, so a command that merely exits
// 124 or dies of SIGKILL before its deadline is not mistaken for a timeout.
// Positional arguments: grace, timeout, argv.
const Script = OOMCount + `echo "` + PIDMarker + `$$ $o" >&2; g=$1; t=$2; shift 2; exec timeout --verbose -s TERM -k "$g" "$t" "$@"`

// inlinePrelude enters the working directory and sets the environment
// inside the wrapper: positional arguments dir, then NAME=VALUE words up to
// "--", then Script's own.
const inlinePrelude = `cd -- "$1" || exit 126; shift; while [ "$1" != -- ]; do export "$1"; shift; done; shift; `

// OOMCount sets $o to the cgroup's oom_kill counter (-1 when unknown),
// with shell builtins only.
const OOMCount = `o=-1; for f in /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do if [ -r "$f" ]; then while read -r k v; do [ "$k" = oom_kill ] && o=$v; done < "$f"; break; fi; done; `

// sessionScript announces a session's pid, then becomes argv.
const sessionScript = `echo "` + PIDMarker + `$$" >&2; exec "$@"`

// KillScript SIGKILLs the process group $1 (or the pid itself: sessions
// are not group leaders).
const KillScript = `kill -s KILL -- "-$1" 2>/dev/null || kill -s KILL -- "$1"`

// TimeoutNotice starts the lines GNU timeout --verbose writes when it fires.
const TimeoutNotice = "timeout: sending signal "

// DefaultGrace is the time between SIGTERM and SIGKILL at a deadline.
const DefaultGrace = 5 * time.Second

// Grace is req's kill grace, or the default.
func Grace(req sdk.ExecRequest) time.Duration {
	if req.KillGrace > 0 {
		return req.KillGrace
	}
	return DefaultGrace
}

// Argv is req's argv under the wrapper; env and working dir are left to
// the runtime's exec.
func Argv(req sdk.ExecRequest) []string {
	return append([]string{"sh", "-c", Script, "enclave-exec", Seconds(Grace(req)), Seconds(req.Timeout)}, req.Argv...)
}

// InlineArgv is Argv with the working dir and env set by the wrapper
// itself.
func InlineArgv(req sdk.ExecRequest) []string {
	return append(append([]string{"sh", "-c", inlinePrelude + Script, "enclave-exec"}, inline(req)...),
		append([]string{Seconds(Grace(req)), Seconds(req.Timeout)}, req.Argv...)...)
}

// SessionArgv is a session's argv: it announces its pid first. With inline,
// the working dir and env are set by the shell.
func SessionArgv(req sdk.ExecRequest, inlineEnv bool) []string {
	if !inlineEnv {
		return append([]string{"sh", "-c", sessionScript, "enclave-session"}, req.Argv...)
	}
	return append(append([]string{"sh", "-c", inlinePrelude + sessionScript, "enclave-session"}, inline(req)...), req.Argv...)
}

func inline(req sdk.ExecRequest) []string {
	dir := req.WorkingDir
	if dir == "" {
		dir = "."
	}
	return append(append([]string{dir}, EnvList(req.Env)...), "--")
}

// Seconds formats d for timeout(1).
func Seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// EnvList is env as sorted NAME=VALUE words.
func EnvList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
