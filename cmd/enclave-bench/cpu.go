//go:build remote

package main

// Where the CPU of a throughput row goes: the server, its plugins, the
// sandboxes (every process in their containers: runner, fork server,
// calls) and the rest of the host (this client, Podman, the kernel's
// threads), per call. On a CPU-bound row this is the profile that says
// which part to make cheaper.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containers/podman/v4/pkg/bindings"
	"github.com/containers/podman/v4/pkg/bindings/containers"
)

// clockTick is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuSample is the CPU used so far by each part.
type cpuSample struct {
	server, plugins, sandboxes, host time.Duration
}

// sampleCPU reads the CPU used so far by the server (serverPID), its
// children (the plugins), the named containers and the whole host.
func sampleCPU(ctx context.Context, podmanURL string, serverPID int, names []string) (cpuSample, error) {
	var s cpuSample
	s.server = procCPU(serverPID)
	for _, pid := range childrenOf(serverPID) {
		s.plugins += procCPU(pid)
	}
	host, err := hostCPU()
	if err != nil {
		return s, err
	}
	s.host = host
	conn, err := bindings.NewConnection(ctx, podmanURL)
	if err != nil {
		return s, err
	}
	reports, err := containers.Stats(conn, names, new(containers.StatsOptions).WithStream(false))
	if err != nil {
		return s, err
	}
	for r := range reports {
		if r.Error != nil {
			return s, r.Error
		}
		for _, st := range r.Stats {
			s.sandboxes += time.Duration(st.CPUNano)
		}
	}
	return s, nil
}

// perCall describes where the CPU between two samples went, per call.
func perCall(a, b cpuSample, calls int) string {
	if calls == 0 {
		return ""
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(calls) }
	server, plugins, sandboxes := b.server-a.server, b.plugins-a.plugins, b.sandboxes-a.sandboxes
	rest := (b.host - a.host) - server - plugins - sandboxes
	return fmt.Sprintf("CPU per call: server %.2f ms, plugins %.2f, sandboxes %.2f, rest of host %.2f", ms(server), ms(plugins), ms(sandboxes), ms(max(rest, 0)))
}

// statFields is /proc/<pid>/stat after the command name (nil: gone).
func statFields(pid string) []string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
}

// procCPU is a live process's user and system time.
func procCPU(pid int) time.Duration {
	f := statFields(strconv.Itoa(pid))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * clockTick
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		f := statFields(e.Name())
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			if p, err := strconv.Atoi(e.Name()); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// hostCPU is the CPU time every core spent busy so far (/proc/stat: all
// but idle and iowait).
func hostCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest times are in user already
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * clockTick, nil
}
