package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
)

// memCgroup is a memory cgroup the runner reads (Options.CgroupRoot): the
// test writes its usage and counters, and a goroutine raises its major
// faults by faultsPerSec until the test ends.
type memCgroup struct {
	v2                      bool
	usage, limit, cache, sh int64 // bytes; limit < 0: none ("max")
	faultsPerSec            int
}

func (m memCgroup) start(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		// Whole files only: the runner may read at any moment.
		if err := os.WriteFile(p+".tmp", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			t.Fatal(err)
		}
	}
	limit := fmt.Sprint(m.limit)
	if m.limit < 0 {
		limit = "max"
	}
	stat := func(faults int) string {
		if m.v2 {
			return fmt.Sprintf("anon %d\nfile %d\nshmem %d\npgfault %d\npgmajfault %d\n", m.usage-m.cache, m.cache, m.sh, faults*10, faults)
		}
		return fmt.Sprintf("cache %d\nrss %d\nshmem %d\npgmajfault %d\ntotal_cache %d\ntotal_rss %d\ntotal_shmem %d\ntotal_pgmajfault %d\n",
			m.cache, m.usage-m.cache, m.sh, faults, m.cache, m.usage-m.cache, m.sh, faults)
	}
	statFile := "memory/memory.stat"
	if m.v2 {
		write("memory.current", fmt.Sprint(m.usage))
		write("memory.max", limit)
		statFile = "memory.stat"
	} else {
		write("memory/memory.usage_in_bytes", fmt.Sprint(m.usage))
		write("memory/memory.limit_in_bytes", limit)
	}
	write(statFile, stat(0))
	done := make(chan struct{})
	stopped := make(chan struct{})
	t.Cleanup(func() { close(done); <-stopped })
	go func() {
		defer close(stopped)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				write(statFile, stat(int(time.Since(start).Seconds()*float64(m.faultsPerSec))))
			}
		}
	}()
	return dir
}

// TestThrashWatchdog: a sandbox at its memory limit, with almost no file
// pages left and refaulting them, gets its largest process killed with the
// oom verdict; near-misses (file pages to spare, room below the limit, no
// faults, no limit) run to the end.
func TestThrashWatchdog(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name string
		cg   memCgroup
		oom  bool
	}{
		{"thrashing, cgroup v1", memCgroup{usage: 256 * mib, limit: 256 * mib, cache: mib, faultsPerSec: 1000}, true},
		{"thrashing, cgroup v2", memCgroup{v2: true, usage: 255 * mib, limit: 256 * mib, cache: 2 * mib, faultsPerSec: 1000}, true},
		{"tmpfs is not file pages", memCgroup{usage: 256 * mib, limit: 256 * mib, cache: 40 * mib, sh: 39 * mib, faultsPerSec: 1000}, true},
		{"file pages to spare", memCgroup{usage: 256 * mib, limit: 256 * mib, cache: 64 * mib, faultsPerSec: 1000}, false},
		{"room below the limit", memCgroup{usage: 200 * mib, limit: 256 * mib, cache: mib, faultsPerSec: 1000}, false},
		{"few faults", memCgroup{usage: 256 * mib, limit: 256 * mib, cache: mib, faultsPerSec: 20}, false},
		{"no limit", memCgroup{v2: true, usage: 256 * mib, limit: -1, cache: mib, faultsPerSec: 1000}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := localRunnerWith(t, Options{Standbys: 1, CgroupRoot: tt.cg.start(t)})
			// The largest process: 64 MiB touched. A watchdog that fires
			// does so after ~2.5 s; the call outlives that by a margin and
			// ends on its own, far before its deadline.
			res, err := r.Exec(context.Background(), sdk.ExecRequest{
				Argv:    []string{"python3", "-c", "import time\nx = bytearray(64 << 20)\ntime.sleep(4.5)\nprint('done')"},
				Timeout: 30 * time.Second,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.oom {
				if res.ExitCode != 137 || !res.OOMKilled || res.TimedOut || res.Killed {
					t.Errorf("want killed with the oom verdict, got %+v", res)
				}
				return
			}
			if res.ExitCode != 0 || res.OOMKilled || string(res.Stdout) != "done\n" {
				t.Errorf("want the call to run to its end, got %+v", res)
			}
		})
	}
}
