//go:build remote

package main

// The rows of long-running and interactive work: the first streamed byte,
// a terminal's keystroke round trip, and 100 chatty background processes
// in one sandbox (no loss within the ring, the server's RSS).

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/client"
)

func benchInteractive(ctx context.Context, c *client.Client, serverPID int, procDur time.Duration, rep report, add func(Result)) {
	fmt.Fprintln(os.Stderr, "streams, terminals, background processes:")
	id, err := c.CreateSandbox(ctx, "docker", map[string]any{"tools_config": []string{"python_executor"}, "memory_limit": "1g"})
	must(err, "create")
	defer c.DeleteSandbox(ctx, id)
	c.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "pass"})

	// First streamed byte: the chunk carries the time it was printed (the
	// container shares the host's clock); its arrival is timed here.
	var firsts []time.Duration
	start := time.Now()
	for i := 0; i < 20; i++ {
		var first time.Duration
		_, err := c.ExecuteToolStream(ctx, id, "python_executor", map[string]any{"code": "import time\nprint(repr(time.time()), flush=True)\ntime.sleep(1)\nprint(2)"},
			func(o client.Output) {
				if first == 0 {
					if f, err := strconv.ParseFloat(strings.TrimSpace(o.Data), 64); err == nil {
						first = time.Since(time.Unix(0, int64(f*1e9)))
					}
				}
			})
		must(err, "streamed call")
		firsts = append(firsts, first)
	}
	add(summarize("streamed call: first byte printed -> received", firsts, time.Since(start)))

	// Terminal: a keystroke to its echo (the tty's line discipline echoes).
	term, err := c.OpenTerminal(ctx, id, client.TerminalOptions{Command: "cat"})
	must(err, "terminal")
	var rtts []time.Duration
	buf := make([]byte, 256)
	start = time.Now()
	for i := 0; i < 200; i++ {
		t := time.Now()
		_, err := term.Write([]byte{'a' + byte(i%26)})
		must(err, "keystroke")
		_, err = term.Read(buf)
		must(err, "echo")
		rtts = append(rtts, time.Since(t))
	}
	term.Close()
	add(summarize("terminal: keystroke -> echo", rtts, time.Since(start)))

	// 100 background processes, a numbered line every 10 ms each.
	const procs = 100
	lines := int(procDur / (10 * time.Millisecond))
	rep.Memory["server_rss_before_100_processes"] = rssOf(serverPID)
	var ids []string
	start = time.Now()
	for i := 0; i < procs; i++ {
		p, err := c.StartProcess(ctx, id, client.ProcessRequest{Command: []string{"python3", "-c",
			fmt.Sprintf("import time\nfor i in range(%d):\n    print('%%03d %%06d' %% (%d, i), flush=True)\n    time.sleep(0.01)", lines, i)}})
		must(err, "start process")
		ids = append(ids, p.ProcessID)
	}
	add(summarize(fmt.Sprintf("start a background process (of %d)", procs), []time.Duration{time.Since(start) / procs}, time.Since(start)))
	// Follow a few live meanwhile, as clients would.
	var wg sync.WaitGroup
	for _, pid := range ids[:5] {
		wg.Add(1)
		go func(pid string) {
			defer wg.Done()
			c.FollowOutput(ctx, id, pid, 0, nil)
		}(pid)
	}
	for _, pid := range ids {
		_, err := c.WaitProcess(ctx, id, pid, procDur+5*time.Minute)
		must(err, "wait")
	}
	wg.Wait()
	rep.Memory["server_rss_after_100_processes"] = rssOf(serverPID)
	lost := 0
	for i, pid := range ids {
		var all strings.Builder
		var off int64
		for {
			o, err := c.ReadOutput(ctx, id, pid, off, 1<<20)
			must(err, "read output")
			if o.Dropped > 0 {
				lost += int(o.Dropped)
			}
			all.WriteString(o.Output)
			if o.NextOffset == off {
				break
			}
			off = o.NextOffset
		}
		got := strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n")
		for j := 0; j < lines; j++ {
			if j >= len(got) || got[j] != fmt.Sprintf("%03d %06d", i, j) {
				lost++
				break
			}
		}
	}
	r := summarize(fmt.Sprintf("%d processes x %d lines (10 ms apart): wall", procs, lines), []time.Duration{time.Since(start)}, time.Since(start))
	r.Note = fmt.Sprintf("%d processes lost output", lost)
	add(r)
}
