//go:build remote

// Command enclave-bench measures enclave over HTTP and prints, per path,
// p50/p90/p99 and throughput next to the floors measured in the same run
// (a raw Podman exec and create/remove through the bindings, a raw fork in a
// container), as ratios. It starts its own server from --bin unless --url
// is given. Figures go to stdout as a table and to --json as JSON.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/enclave-sandbox/enclave/client"
)

// Result is one measured path.
type Result struct {
	Name       string  `json:"name"`
	N          int     `json:"n"`
	P50ms      float64 `json:"p50_ms"`
	P90ms      float64 `json:"p90_ms"`
	P99ms      float64 `json:"p99_ms"`
	PerSec     float64 `json:"per_second"`
	Floor      string  `json:"floor,omitempty"`
	FloorP50ms float64 `json:"floor_p50_ms,omitempty"`
	Ratio      float64 `json:"ratio_to_floor,omitempty"`
	Note       string  `json:"note,omitempty"`
}

type report struct {
	Time    string            `json:"time"`
	Host    string            `json:"host"`
	Results []Result          `json:"results"`
	Memory  map[string]string `json:"memory"`
}

func summarize(name string, ds []time.Duration, wall time.Duration) Result {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(p float64) float64 {
		if len(ds) == 0 {
			return 0
		}
		i := int(float64(len(ds)-1) * p)
		return float64(ds[i].Microseconds()) / 1000
	}
	r := Result{Name: name, N: len(ds), P50ms: q(0.5), P90ms: q(0.9), P99ms: q(0.99)}
	if wall > 0 {
		r.PerSec = float64(len(ds)) / wall.Seconds()
	}
	return r
}

func timeN(n int, f func() error) ([]time.Duration, time.Duration, error) {
	var ds []time.Duration
	start := time.Now()
	for i := 0; i < n; i++ {
		t := time.Now()
		if err := f(); err != nil {
			return ds, time.Since(start), err
		}
		ds = append(ds, time.Since(t))
	}
	return ds, time.Since(start), nil
}

func withFloor(r Result, floor Result) Result {
	r.Floor, r.FloorP50ms = floor.Name, floor.P50ms
	if floor.P50ms > 0 {
		r.Ratio = r.P50ms / floor.P50ms
	}
	return r
}

func must(err error, what string) {
	if err != nil {
		log.Fatalf("%s: %v", what, err)
	}
}

func rssOf(pid int) string {
	kb, ok := rssKiB(pid)
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
}

// rssKiB is a process's VmRSS in KiB (false: gone).
func rssKiB(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb, true
		}
	}
	return 0, false
}

// memAvailable is the host's MemAvailable in KiB (0: unknown).
func memAvailable() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemAvailable:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	return 0
}

// pluginRSS sums the RSS of the server's child processes (the plugins).
func pluginRSS(serverPID int) string {
	total := 0
	for _, pid := range childrenOf(serverPID) {
		kb, _ := rssKiB(pid)
		total += kb
	}
	return fmt.Sprintf("%.1f MiB", float64(total)/1024)
}

func tarOf(name string, size int) *bytes.Reader {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg})
	tw.Write(bytes.Repeat([]byte("x"), size))
	tw.Close()
	return bytes.NewReader(b.Bytes())
}

func main() {
	bin := flag.String("bin", "bin", "directory with the built enclave binary and plugins/ (used when --url is empty)")
	url := flag.String("url", "", "benchmark a running server instead of starting one")
	podmanURL := flag.String("podman-url", "unix:///run/enclave/podman.sock", "Podman service for the server and the floors")
	image := flag.String("image", "localhost/enclave-python:3.11", "sandbox image")
	n := flag.Int("n", 200, "calls per sequential warm path")
	dur := flag.Duration("duration", 5*time.Second, "duration of each throughput run")
	out := flag.String("json", "", "write the figures as JSON to this file (default bench-<time>.json)")
	kubeconfig := flag.String("kubeconfig", os.Getenv("ENCLAVE_K8S_KUBECONFIG"), "also measure the kubernetes rows on this cluster (make bench brings the test cluster up and sets ENCLAVE_K8S_KUBECONFIG)")
	kubeOnly := flag.Bool("kube-only", false, "measure only the kubernetes rows")
	procDur := flag.Duration("process-duration", time.Minute, "how long each of the 100 background processes prints")
	flag.IntVar(&idleSandboxes, "idle-sandboxes", 100, "idle sandboxes the memory row creates (issue 14's target is measured with 1000: each takes ~12 MiB of the host's memory)")
	rows := flag.String("rows", "", "measure only these groups of rows, comma-separated: "+strings.Join(rowGroups, ", ")+" (default: all; the Podman floors are always measured)")
	flag.Parse()
	must(selectRows(*rows), "--rows")
	ctx := context.Background()
	var serverPID int
	if *url == "" && !*kubeOnly {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		cmd := exec.Command(filepath.Join(*bin, "enclave"), "server", "--port", port, "--plugin-dir", filepath.Join(*bin, "plugins"),
			"--podman-url", *podmanURL, "--instance", "bench", "--log-level", "warn", "--image-alias", "python:3.11-slim="+*image,
			"--max-cpus", "2", "--pids-limit", "512")
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM} // dies with the bench, even on log.Fatal
		must(cmd.Start(), "start server")
		defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
		serverPID = cmd.Process.Pid
		*url = "http://127.0.0.1:" + port
		for i := 0; i < 300; i++ {
			if c := client.New(*url, ""); c.Healthz(ctx) == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	c := client.New(*url, os.Getenv("ENCLAVE_API_KEY"))
	rep := report{Time: time.Now().UTC().Format(time.RFC3339), Memory: map[string]string{}}
	rep.Host, _ = os.Hostname()
	var results []Result
	add := func(r Result) {
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "  %-52s p50 %8.2f ms  (n=%d)\n", r.Name, r.P50ms, r.N)
	}
	if serverPID > 0 {
		time.Sleep(time.Second)
		rep.Memory["server_rss_idle"] = rssOf(serverPID)
		rep.Memory["plugins_rss_idle"] = pluginRSS(serverPID)
	}

	if !*kubeOnly {
		benchPodman(ctx, c, *podmanURL, *image, *n, *dur, serverPID, rep, add)
		if want("interactive") {
			benchInteractive(ctx, c, serverPID, *procDur, rep, add)
		}
	}
	if *kubeconfig != "" && want("kube") {
		benchKube(ctx, *bin, *kubeconfig, *image, *n, *dur, add)
	}
	rep.Results = results
	printReport(rep, *out)
}

// benchPodman measures the Podman rows, next to the Podman floors.
func benchPodman(ctx context.Context, c *client.Client, podmanURL, image string, n int, dur time.Duration, serverPID int, rep report, add func(Result)) {
	fmt.Fprintln(os.Stderr, "floors (Podman bindings, same run):")
	fl := measureFloors(ctx, podmanURL, image)
	for _, r := range []Result{fl.exec, fl.fork, fl.create} {
		add(r)
	}
	fmt.Fprintln(os.Stderr, "enclave over HTTP:")
	if want("cold") {
		benchCold(ctx, c, fl, add)
	}
	if want("warm") || want("files") {
		benchWarm(ctx, c, n, fl, add)
	}
	if want("pool") || want("batch") || want("spares") {
		benchPool(ctx, c, podmanURL, serverPID, dur, fl, add)
	}
	if want("snapshots") {
		benchSnapshots(ctx, c, add)
	}
	if want("spares") {
		withDelete, firstResult := benchRepeatedConfig(ctx, c)
		add(withFloor(withDelete, fl.create))
		add(firstResult)
	}
	if serverPID > 0 && want("memory") {
		benchMemory(ctx, c, serverPID, idleSandboxes, rep)
	}
}

// benchCold times create, first call, delete.
func benchCold(ctx context.Context, c *client.Client, fl floors, add func(Result)) {
	ds, wall, err := timeN(10, func() error {
		id, err := c.CreateSandbox(ctx, "docker", coldConfig())
		if err != nil {
			return err
		}
		if _, err := c.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "print(1)"}); err != nil {
			return err
		}
		return c.DeleteSandbox(ctx, id)
	})
	must(err, "cold path")
	add(withFloor(summarize("cold: create -> print(1) -> delete", ds, wall), fl.create))
}

// benchWarm times sequential calls and file transfers on one warm sandbox.
func benchWarm(ctx context.Context, c *client.Client, n int, fl floors, add func(Result)) {
	tools := map[string]any{"tools_config": []string{"python_executor", "shell_executor", "file_operation"}}
	id, err := c.CreateSandbox(ctx, "docker", tools)
	must(err, "create")
	defer c.DeleteSandbox(ctx, id)
	c.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "pass"}) // warm
	for _, tc := range []struct {
		name, tool string
		params     map[string]any
		floor      Result
	}{
		{"python_executor print(40+2), warm, sequential", "python_executor", map[string]any{"code": "print(40+2)"}, fl.exec},
		{"shell_executor echo hi, warm, sequential", "shell_executor", map[string]any{"command": "echo hi"}, fl.exec},
	} {
		ds, wall, err := timeN(n, func() error {
			r, err := c.ExecuteTool(ctx, id, tc.tool, tc.params)
			if err == nil && r.Status != "success" {
				err = fmt.Errorf("%s: %s", r.Status, *r.Error)
			}
			return err
		})
		must(err, tc.name)
		add(withFloor(summarize(tc.name, ds, wall), tc.floor))
	}
	// An agent calls, then thinks: with a pause between calls the runner's
	// next standby is ready when a call arrives (the rows above measure
	// back-to-back calls, which wait for it). Per s counts busy time only.
	const gap = 50 * time.Millisecond
	name := fmt.Sprintf("python_executor print(40+2), warm, %d ms apart", gap.Milliseconds())
	var ds []time.Duration
	var busy time.Duration
	for i := 0; i < n/2; i++ {
		time.Sleep(gap)
		t := time.Now()
		r, err := c.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "print(40+2)"})
		if err == nil && r.Status != "success" {
			err = fmt.Errorf("%s: %s", r.Status, *r.Error)
		}
		must(err, name)
		ds = append(ds, time.Since(t))
		busy += ds[i]
	}
	add(withFloor(summarize(name, ds, busy), fl.exec))
	if !want("files") {
		return
	}
	mib := strings.Repeat("a", 1<<20)
	ds, wall, err := timeN(20, func() error {
		if _, err := c.ExecuteTool(ctx, id, "file_operation", map[string]any{"operation": "write", "file_path": "/tmp/bench.txt", "content": mib}); err != nil {
			return err
		}
		r, err := c.ExecuteTool(ctx, id, "file_operation", map[string]any{"operation": "read", "file_path": "/tmp/bench.txt"})
		if err == nil && len(r.Output) != 1<<20 {
			err = fmt.Errorf("read %d bytes", len(r.Output))
		}
		return err
	})
	must(err, "file 1 MiB")
	add(withFloor(summarize("file_operation write + read 1 MiB", ds, wall), fl.exec))
	ds, wall, err = timeN(10, func() error { return c.PutArchive(ctx, id, "/tmp/arch", tarOf("big.bin", 10<<20)) })
	must(err, "archive upload")
	add(summarize("archive upload 10 MiB", ds, wall))
	ds, wall, err = timeN(10, func() error {
		rc, err := c.GetArchive(ctx, id, "/tmp/arch/big.bin")
		if err != nil {
			return err
		}
		defer rc.Close()
		nb, err := io.Copy(io.Discard, rc)
		if err == nil && nb < 10<<20 {
			err = fmt.Errorf("downloaded %d bytes", nb)
		}
		return err
	})
	must(err, "archive download")
	add(summarize("archive download 10 MiB", ds, wall))
}

// benchPool measures the pool: throughput, batches, and a create that
// claims the pool's spare.
// With the server's pid (this bench started it), the concurrency-8 row
// also says where its CPU went (cpu.go).
func benchPool(ctx context.Context, c *client.Client, podmanURL string, serverPID int, dur time.Duration, fl floors, add func(Result)) {
	pool, err := c.InitializePool(ctx, 8, "docker", map[string]any{"tools_config": []string{"python_executor"}})
	must(err, "pool initialize")
	time.Sleep(2 * time.Second) // runners warm
	defer func() {
		for _, pid := range pool.SandboxIDs {
			c.DeleteSandbox(ctx, pid)
		}
	}()
	if want("pool") {
		names := make([]string, len(pool.SandboxIDs))
		for i, id := range pool.SandboxIDs {
			names[i] = "sandbox-" + id
		}
		for _, conc := range []int{1, 8, 32} {
			profile := conc == 8 && serverPID > 0
			var before cpuSample
			if profile {
				before, err = sampleCPU(ctx, podmanURL, serverPID, names)
				profile = err == nil
			}
			r := poolThroughput(ctx, fmt.Sprintf("/pool/execute print(1), concurrency %d, pool of 8", conc), []*client.Client{c}, conc, dur)
			if after, err := sampleCPU(ctx, podmanURL, serverPID, names); profile && err == nil {
				r.Note = strings.TrimSpace(r.Note + " " + perCall(before, after, r.N))
			}
			add(withFloor(r, fl.exec))
		}
	}
	if want("batch") {
		benchBatch(ctx, c, add)
	}
	if !want("spares") {
		return
	}
	// Create from the pool's spare: same config as the pool. The spare is
	// replenished in the background between iterations (not timed).
	poolCfg := map[string]any{"tools_config": []string{"python_executor"}}
	var spareDs []time.Duration
	spareStart := time.Now()
	for i := 0; i < 10; i++ {
		time.Sleep(1500 * time.Millisecond)
		t := time.Now()
		sid, err := c.CreateSandbox(ctx, "docker", poolCfg)
		must(err, "create from spare")
		_, err = c.ExecuteTool(ctx, sid, "python_executor", map[string]any{"code": "print(1)"})
		must(err, "call on spare")
		must(c.DeleteSandbox(ctx, sid), "delete spare")
		spareDs = append(spareDs, time.Since(t))
	}
	add(withFloor(summarize("create from the pool's spare -> print(1) -> delete", spareDs, time.Since(spareStart)), fl.create))
}

// idleSandboxes is how many sandboxes the memory row creates (a flag).
var idleSandboxes int

// benchMemory records the server's and plugins' RSS with n idle sandboxes.
func benchMemory(ctx context.Context, c *client.Client, serverPID, n int, rep report) {
	fmt.Fprintf(os.Stderr, "creating %d sandboxes for the memory figure...\n", n)
	start, availBefore := time.Now(), memAvailable()
	var ids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if sid, err := c.CreateSandbox(ctx, "docker", map[string]any{"tools_config": []string{"python_executor"}, "memory_limit": "64m"}); err == nil {
				mu.Lock()
				ids = append(ids, sid)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Fprintf(os.Stderr, "created %d in %s\n", len(ids), time.Since(start).Round(time.Second))
	time.Sleep(2 * time.Second)
	rep.Memory["sandboxes"] = strconv.Itoa(len(ids))
	rep.Memory[fmt.Sprintf("server_rss_%d_sandboxes", n)] = rssOf(serverPID)
	rep.Memory[fmt.Sprintf("plugins_rss_%d_sandboxes", n)] = pluginRSS(serverPID)
	if len(ids) > 0 && availBefore > 0 {
		// What one idle sandbox costs the host: its processes, conmon,
		// Podman's and the kernel's share.
		rep.Memory["host_memory_per_idle_sandbox"] = fmt.Sprintf("%.1f MiB", float64(availBefore-memAvailable())/1024/float64(len(ids)))
	}
	for _, sid := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func(sid string) {
			defer wg.Done()
			defer func() { <-sem }()
			c.DeleteSandbox(ctx, sid)
		}(sid)
	}
	wg.Wait()
}

func printReport(rep report, out string) {
	results := rep.Results
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tn\tp50 ms\tp90 ms\tp99 ms\tper s\tfloor p50 ms\tx floor\t")
	for _, r := range results {
		floor, ratio := "", ""
		if r.FloorP50ms > 0 {
			floor, ratio = fmt.Sprintf("%.2f", r.FloorP50ms), fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%s\t  %s\n", r.Name, r.N, r.P50ms, r.P90ms, r.P99ms, r.PerSec, floor, ratio, r.Note)
	}
	tw.Flush()
	fmt.Println()
	fmt.Println("floors: exec = raw Podman exec of python3 -c 'print(40+2)' (bindings: create, attach, inspect); fork = os.fork()+waitpid inside a container; create = bindings create+start+remove")
	keys := make([]string, 0, len(rep.Memory))
	for k := range rep.Memory {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%s: %s\n", k, rep.Memory[k])
	}
	if out == "" {
		out = "bench-" + time.Now().UTC().Format("20060102T150405") + ".json"
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	must(os.WriteFile(out, b, 0o644), "write json")
	fmt.Println("figures written to", out)
}

// benchRepeatedConfig times create -> print(1) -> delete of a config
// created again and again without a pool: from the second create on, a
// spare of it waits (replenished between iterations, untimed).
func benchRepeatedConfig(ctx context.Context, c *client.Client) (withDelete, firstResult Result) {
	cfg := map[string]any{"tools_config": []string{"python_executor", "shell_executor"}, "env_vars": map[string]string{"BENCH": "repeat"}}
	var ds, firsts []time.Duration
	start := time.Now()
	for i := range 12 {
		if i >= 2 {
			time.Sleep(1500 * time.Millisecond)
		}
		t := time.Now()
		id, err := c.CreateSandbox(ctx, "docker", cfg)
		must(err, "create of a repeated config")
		_, err = c.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "print(1)"})
		must(err, "call on a repeated config")
		first := time.Since(t)
		must(c.DeleteSandbox(ctx, id), "delete of a repeated config")
		if i >= 2 { // the first two are cold: they earn the spare
			ds = append(ds, time.Since(t))
			firsts = append(firsts, first)
		}
	}
	wall := time.Since(start)
	return summarize("create of a config asked for before (its warm spare) -> print(1) -> delete", ds, wall),
		summarize("create of a config asked for before (its warm spare) -> first result of print(1)", firsts, wall)
}
