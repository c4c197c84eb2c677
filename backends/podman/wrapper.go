package main

// The exec wrapper: every one-shot process runs under it, so a deadline
// reaches its whole process group and the OOM killer can be told apart.

import (
	"sort"
	"strconv"
	"time"
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
