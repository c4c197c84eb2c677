// Command enclave is a sandbox server for AI agents and evaluation harnesses,
// wire-compatible with ms-enclave's HTTP API.
//
//	enclave server [flags]   serve the HTTP API
//	enclave plugins [flags]  list the plugins found in the plugin directory
//	enclave version          print the version
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/enclave-sandbox/enclave/internal/executor"
	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/pluginhost"
	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
	"github.com/enclave-sandbox/enclave/metrics"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/server"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "0.1.0-dev"

const usage = `enclave: isolated sandboxes for AI agents, over an ms-enclave-compatible HTTP API

Usage:
  enclave server [flags]    serve the HTTP API (enclave server --help lists the flags)
  enclave plugins [flags]   list the plugins in the plugin directory and check them
  enclave version           print the version

Every flag can also be set as ENCLAVE_<NAME> (upper case, '-' -> '_'); repeatable
flags take a comma-separated list there. Flags win over the environment.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = runServer(os.Args[2:])
	case "plugins":
		err = runPlugins(os.Args[2:])
	case "version", "--version", "-v":
		fmt.Printf("enclave %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "enclave: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "enclave:", err)
		os.Exit(1)
	}
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

type config struct {
	host, port, apiKey, metricsAddr         string
	debugAddr                               string
	cors, allowVolume, imageAllow, aliases  listFlag
	toolDefaults                            listFlag
	cleanupInterval, execMax, shutdownGrace float64
	poolWait, idleTTL, healthInterval       float64
	poolReset, residentRunner               bool
	cleanupOnExit, allowPrivileged          bool
	allowNetwork                            bool
	instance, pluginDir, podmanURL          string
	poolSize, maxSandboxes                  int
	maxMemory, maxDisk, diskLimit, userns   string
	apiKeyFile                              string
	maxCPUs, stopGrace                      float64
	pidsLimit, maxOutput, maxBody, maxArch  int64
	maxInflight                             int64
	logFormat, logLevel                     string
}

func defaultPluginDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "plugins"
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	return filepath.Join(filepath.Dir(exe), "plugins")
}

func commonFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.pluginDir, "plugin-dir", defaultPluginDir(), "directory holding enclave-backend-* and enclave-tool-* plugin executables")
	fs.StringVar(&c.podmanURL, "podman-url", "", "Podman service URL (unix:///run/podman/podman.sock, tcp://host:port); empty: the default socket of this uid, else a private Podman service started on demand")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

func serverFlags(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("enclave server", flag.ContinueOnError)
	fs.StringVar(&c.host, "host", "127.0.0.1", "listen address of the API")
	fs.StringVar(&c.port, "port", "8000", "listen port of the API")
	fs.StringVar(&c.apiKey, "api-key", "", "require this key in X-API-Key (or ?api_key=) on every route but /healthz; empty: no auth")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve /metrics without auth on this address (host:port) instead of the main listener")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "serve Go pprof profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; off by default (never expose it)")
	fs.Var(&c.cors, "cors-origin", "allow CORS from this origin (repeatable; * for any); off by default")
	fs.Float64Var(&c.cleanupInterval, "cleanup-interval", 300, "seconds between cleanup sweeps (stopped/error sandboxes after 1 h, any after 48 h)")
	fs.BoolVar(&c.cleanupOnExit, "cleanup-on-exit", false, "delete every sandbox on shutdown (default: keep them)")
	fs.StringVar(&c.instance, "instance", "default", "instance label scoping this server's containers")
	fs.IntVar(&c.poolSize, "pool-size", 0, "default size for /pool/initialize (reported as pool_enabled)")
	fs.Float64Var(&c.poolWait, "pool-wait-timeout", 60, "seconds a /pool/execute call waits for a free sandbox (the timeout query parameter overrides)")
	fs.BoolVar(&c.poolReset, "pool-reset", false, "give every pool borrower a fresh container (no files, processes or state from earlier calls)")
	fs.Float64Var(&c.idleTTL, "idle-ttl", 0, "delete non-pool sandboxes idle (no tool call, archive operation or creation) for longer than this many seconds; 0: off")
	fs.BoolVar(&c.residentRunner, "resident-runner", true, "run tool processes through a resident per-sandbox runner (a fork per call) instead of a container exec per call; images without Python always use exec")
	fs.Float64Var(&c.healthInterval, "health-interval", 3, "seconds between checks for containers that died or were removed outside enclave; 0: off")
	fs.BoolVar(&c.allowPrivileged, "allow-privileged", false, "allow privileged sandboxes")
	fs.Var(&c.allowVolume, "allow-volume", "allow host volumes under this path prefix (repeatable); none by default")
	fs.BoolVar(&c.allowNetwork, "allow-network", true, "honour network_enabled: true in sandbox configs (sandboxes have no network unless they ask)")
	fs.Var(&c.imageAllow, "image-allow", "allow only images matching this pattern (path.Match syntax; repeatable); default: all")
	fs.Var(&c.aliases, "image-alias", "map an image name to another reference, FROM=TO (repeatable), e.g. python:3.11-slim=localhost/enclave-python:3.11")
	fs.Var(&c.toolDefaults, "tool-default", "operator default for a tool, TOOL.PARAM=VALUE (repeatable): the value (JSON, or a plain string) of a parameter calls omit, e.g. python_executor.timeout=60; TOOL.max_output_bytes=N lowers that tool's output cap")
	fs.IntVar(&c.maxSandboxes, "max-sandboxes", 0, "maximum registered sandboxes (0: unlimited)")
	fs.StringVar(&c.maxMemory, "max-memory", "8g", "cap on a sandbox's memory_limit")
	fs.Float64Var(&c.maxCPUs, "max-cpus", 4, "cap on a sandbox's cpu_limit")
	fs.Int64Var(&c.pidsLimit, "pids-limit", 1024, "pids limit of every sandbox")
	fs.Int64Var(&c.maxOutput, "max-output-bytes", 1<<20, "cap per output stream of a tool call (verdict output_truncated)")
	fs.Float64Var(&c.execMax, "exec-max-duration", 3600, "bound in seconds of any tool call, even one without a timeout")
	fs.Int64Var(&c.maxBody, "max-body-bytes", 64<<20, "largest JSON request body (413 beyond)")
	fs.Int64Var(&c.maxArch, "max-archive-bytes", 1<<30, "largest archive upload (413 beyond)")
	fs.Int64Var(&c.maxInflight, "max-inflight-bytes", 0, "request bodies of 1 MiB or more held in memory at once; others wait (30 s at most), then 503; 0: 4 × --max-body-bytes")
	fs.Float64Var(&c.shutdownGrace, "shutdown-timeout", 30, "seconds to drain in-flight requests on SIGTERM/SIGINT")
	fs.StringVar(&c.apiKeyFile, "api-key-file", "", "read API keys from this file, one per line (blank lines and # comments skipped); any of them is accepted, so keys rotate without downtime. Prefer it to --api-key, which other users can read in ps")
	fs.StringVar(&c.maxDisk, "max-disk", "10g", "cap on a sandbox's disk_limit (what it may write to its filesystem)")
	fs.StringVar(&c.diskLimit, "disk-limit", "2g", "disk limit of a sandbox whose config sets none (within --max-disk)")
	fs.StringVar(&c.userns, "userns", "0:1000000000:65536", "user namespace of rootful sandboxes, CONTAINER:HOST:SIZE: root in a sandbox is host uid HOST; \"off\" runs sandboxes as host root (only for images that need real root; a container escape is then root on the host)")
	fs.Float64Var(&c.stopGrace, "stop-grace", 2, "seconds a stopping sandbox gets between SIGTERM (SIGHUP for a terminal) and SIGKILL")
	commonFlags(fs, c)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: enclave server [flags]\n\nServes the ms-enclave-compatible HTTP API. Every flag can also be set as\nENCLAVE_<NAME> (e.g. ENCLAVE_API_KEY, ENCLAVE_PORT); repeatable flags take a\ncomma-separated list there. Flags win over the environment.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parse applies ENCLAVE_* environment variables, then the arguments.
func parse(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "ENCLAVE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(env)
		if !ok || err != nil {
			return
		}
		vals := []string{v}
		if _, repeat := f.Value.(*listFlag); repeat {
			vals = strings.Split(v, ",")
		}
		for _, x := range vals {
			if x = strings.TrimSpace(x); x == "" {
				continue
			}
			if serr := f.Value.Set(x); serr != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, serr)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}

func setupLogging(c *config) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.logFormat {
	case "text":
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, opts)))
	case "json":
		slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, opts)))
	default:
		return fmt.Errorf("--log-format must be text or json, not %q", c.logFormat)
	}
	return nil
}

// pluginEnv passes settings to plugins through the environment. go-plugin
// appends the host's own environment after a command's Env, so the resolved
// value is set in this process's environment too: otherwise an inherited
// ENCLAVE_PODMAN_URL would beat --podman-url.
func pluginEnv(c *config) []string {
	var env []string
	set := func(k, v string) {
		if v == "" {
			os.Unsetenv(k)
			return
		}
		os.Setenv(k, v)
		env = append(env, k+"="+v)
	}
	set("ENCLAVE_PODMAN_URL", c.podmanURL)
	set("ENCLAVE_USERNS", c.userns)
	return env
}

func runServer(args []string) error {
	var c config
	fs := serverFlags(&c)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := setupLogging(&c); err != nil {
		return err
	}
	opts := manager.DefaultOptions()
	opts.Instance = c.instance
	opts.CleanupInterval = time.Duration(c.cleanupInterval * float64(time.Second))
	opts.PoolSize = c.poolSize
	opts.PoolWait = time.Duration(c.poolWait * float64(time.Second))
	opts.PoolWaitText = strconv.FormatFloat(c.poolWait, 'f', -1, 64)
	opts.PoolReset = c.poolReset
	opts.IdleTTL = time.Duration(c.idleTTL * float64(time.Second))
	opts.HealthInterval = time.Duration(c.healthInterval * float64(time.Second))
	opts.AllowPrivileged, opts.AllowNetwork = c.allowPrivileged, c.allowNetwork
	opts.AllowVolumes, opts.ImageAllow = c.allowVolume, c.imageAllow
	opts.MaxSandboxes, opts.MaxCPUs, opts.PidsLimit = c.maxSandboxes, c.maxCPUs, c.pidsLimit
	opts.MaxOutputBytes = c.maxOutput
	opts.ExecMaxDuration = time.Duration(c.execMax * float64(time.Second))
	if err := limits(&c, &opts); err != nil {
		return err
	}
	keys, err := apiKeys(c.apiKey, c.apiKeyFile)
	if err != nil {
		return err
	}
	for _, a := range c.aliases {
		from, to, ok := strings.Cut(a, "=")
		if !ok || from == "" || to == "" {
			return fmt.Errorf("--image-alias %q: want FROM=TO", a)
		}
		opts.ImageAliases[from] = to
	}

	reg := prometheus.NewRegistry()
	met := metrics.New(reg, version)
	// Tool plugins call back into the executor; the manager registers its
	// sandboxes with it.
	exec := executor.New(executor.Options{ResidentRunner: c.residentRunner, StartTimeout: opts.StartTimeout,
		MaxDuration: opts.ExecMaxDuration, MaxOutputBytes: opts.MaxOutputBytes})
	host := pluginhost.New(pluginhost.Options{Dir: c.pluginDir, Env: pluginEnv(&c), Sandboxes: exec,
		OnRestart: met.PluginRestarted, OnUp: met.PluginState, OnBackendOp: met.BackendOp, OnRPCError: met.PluginRPCError})
	defer host.Kill()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := host.Load(ctx); err != nil {
		return err
	}
	backends, tools := host.Names()
	met.Init(backends, tools)
	opts.Observer = met
	if opts.ToolDefaults, err = toolDefaults(c.toolDefaults, host); err != nil {
		return err
	}

	mgr := manager.New(opts, host, exec)
	statuses := make([]string, len(manager.Statuses))
	for i, s := range manager.Statuses {
		statuses[i] = string(s)
	}
	reg.MustRegister(metrics.NewStateCollector(servedTypes(host.SandboxTypes()), statuses, func() metrics.Snapshot {
		snap := metrics.Snapshot{Sandboxes: map[[2]string]int{}}
		for _, in := range mgr.List("") {
			snap.Sandboxes[[2]string{in.Type, string(in.Status)}]++
		}
		snap.PoolIdle, snap.PoolBusy = mgr.PoolCounts()
		return snap
	}))
	mgr.Start(ctx)

	if h := mgr.Health(ctx); len(h.Warnings) > 0 || !h.Healthy {
		for _, w := range h.Warnings {
			slog.Warn("not enforced on this host", "what", w)
		}
		for _, e := range h.Errors {
			slog.Warn("backend does not answer", "err", e)
		}
	}
	// Request bodies are the server's big allocations; a soft memory limit
	// above what may be in flight makes the GC return garbage bodies before
	// the heap doubles (GOMEMLIMIT, when set, wins).
	inflight := c.maxInflight
	if inflight <= 0 {
		inflight = 4 * c.maxBody
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(inflight + 256<<20)
	}
	sopts := server.Options{Version: version, APIKeys: keys, MaxBodyBytes: c.maxBody, MaxArchive: c.maxArch, MaxInflightBytes: c.maxInflight,
		SandboxTypes: host.SandboxTypes, CORSOrigins: c.cors, Observer: met}
	if c.metricsAddr == "" {
		sopts.Metrics = met.Handler()
	}
	api := &http.Server{Addr: net.JoinHostPort(c.host, c.port), Handler: server.New(mgr, sopts),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	ln, err := net.Listen("tcp", api.Addr)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- api.Serve(ln) }()
	var metricsSrv *http.Server
	if c.metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", met.Handler())
		metricsSrv = &http.Server{Addr: c.metricsAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- metricsSrv.ListenAndServe() }()
	}
	if c.debugAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go func() {
			errc <- (&http.Server{Addr: c.debugAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}).ListenAndServe()
		}()
	}
	slog.Info("enclave serving", "addr", ln.Addr().String(), "version", version, "auth", len(keys) > 0,
		"plugin_dir", c.pluginDir, "sandbox_types", host.SandboxTypes(), "tools", tools)

	select {
	case <-ctx.Done():
		slog.Info("shutting down: draining requests", "timeout_s", c.shutdownGrace)
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.shutdownGrace*float64(time.Second)))
	defer cancel()
	mgr.BeginShutdown() // waiting pool calls end now; running calls drain
	if err := api.Shutdown(sctx); err != nil {
		slog.Warn("drain incomplete", "err", err)
	}
	if metricsSrv != nil {
		metricsSrv.Shutdown(sctx)
	}
	mgr.Shutdown(sctx, c.cleanupOnExit)
	return nil
}

// limits reads the resource caps; every sandbox gets a memory, CPU, pids
// and disk limit, so none of them may be turned off.
func limits(c *config, opts *manager.Options) error {
	mem, err := sandboxconfig.ParseSize(c.maxMemory)
	if err != nil || mem <= 0 {
		return fmt.Errorf("--max-memory %q: want a positive size such as 8g", c.maxMemory)
	}
	opts.MaxMemory, opts.MaxMemoryText = mem, c.maxMemory
	maxDisk, err := sandboxconfig.ParseSize(c.maxDisk)
	if err != nil || maxDisk <= 0 {
		return fmt.Errorf("--max-disk %q: want a positive size such as 10g", c.maxDisk)
	}
	disk, err := sandboxconfig.ParseSize(c.diskLimit)
	if err != nil || disk <= 0 {
		return fmt.Errorf("--disk-limit %q: want a positive size such as 2g", c.diskLimit)
	}
	opts.MaxDisk, opts.MaxDiskText, opts.DefaultDisk = maxDisk, c.maxDisk, disk
	if c.maxCPUs <= 0 {
		return fmt.Errorf("--max-cpus %g: want a positive number", c.maxCPUs)
	}
	if c.pidsLimit <= 0 {
		return fmt.Errorf("--pids-limit %d: want a positive number", c.pidsLimit)
	}
	// Whatever the API accepts must fit the plugin messages it becomes (a
	// body's code or file content, both output streams of a call).
	const most = sdk.MaxMessageBytes / 4
	if c.maxBody <= 0 || c.maxBody > most {
		return fmt.Errorf("--max-body-bytes %d: want 1 to %d", c.maxBody, most)
	}
	if c.maxOutput <= 0 || c.maxOutput > most {
		return fmt.Errorf("--max-output-bytes %d: want 1 to %d", c.maxOutput, most)
	}
	if c.stopGrace < 0 {
		return fmt.Errorf("--stop-grace %g: want >= 0", c.stopGrace)
	}
	opts.StopGrace = time.Duration(c.stopGrace * float64(time.Second))
	return nil
}

// apiKeys gathers the accepted keys: --api-key and the lines of
// --api-key-file.
func apiKeys(flagKey, file string) ([]string, error) {
	var keys []string
	if flagKey != "" {
		keys = append(keys, flagKey)
	}
	if file == "" {
		return keys, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--api-key-file: %w", err)
	}
	n := len(keys)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	if len(keys) == n {
		return nil, fmt.Errorf("--api-key-file %s holds no key", file)
	}
	return keys, nil
}

// toolDefaults parses --tool-default values and checks each names a loaded
// tool and one of its parameters, so a typo fails at start, not per call.
func toolDefaults(flags []string, host *pluginhost.Host) (map[string]map[string]json.RawMessage, error) {
	out := map[string]map[string]json.RawMessage{}
	for _, f := range flags {
		key, val, ok := strings.Cut(f, "=")
		toolName, param, ok2 := strings.Cut(key, ".")
		if !ok || !ok2 || toolName == "" || param == "" {
			return nil, fmt.Errorf("--tool-default %q: want TOOL.PARAM=VALUE", f)
		}
		t, found := host.Tool(toolName)
		if !found {
			return nil, fmt.Errorf("--tool-default %q: no tool %s is loaded", f, toolName)
		}
		raw := json.RawMessage(val)
		if !json.Valid(raw) {
			raw, _ = json.Marshal(val)
		}
		if param != "max_output_bytes" {
			var sch struct {
				Function struct {
					Parameters struct {
						Properties map[string]json.RawMessage `json:"properties"`
					} `json:"parameters"`
				} `json:"function"`
			}
			json.Unmarshal(t.Info().Schema, &sch)
			if _, ok := sch.Function.Parameters.Properties[param]; !ok {
				return nil, fmt.Errorf("--tool-default %q: tool %s has no parameter %s", f, toolName, param)
			}
		}
		if out[toolName] == nil {
			out[toolName] = map[string]json.RawMessage{}
		}
		out[toolName][param] = raw
	}
	return out, nil
}

func runPlugins(args []string) error {
	var c config
	fs := flag.NewFlagSet("enclave plugins", flag.ContinueOnError)
	commonFlags(fs, &c)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := setupLogging(&c); err != nil {
		return err
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	host := pluginhost.New(pluginhost.Options{Dir: c.pluginDir, Env: pluginEnv(&c)})
	defer host.Kill()
	if err := host.Load(context.Background()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tVERSION\tSANDBOX TYPES\tFILE\tSTATUS")
	for _, s := range host.Statuses() {
		status := "ok"
		if s.Problem != "" {
			status = "rejected: " + s.Problem
		}
		types := strings.Join(s.Types, ",")
		if types == "" {
			types = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Kind, orDash(s.Name), orDash(s.Version), types, filepath.Base(s.Path), status)
	}
	tw.Flush()
	if len(host.Statuses()) == 0 {
		fmt.Printf("no plugins in %s\n", c.pluginDir)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// servedTypes are the types sandboxes are registered under (podman is
// registered as docker), from what the loaded backends serve.
func servedTypes(declared []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range declared {
		if c := sdk.CanonicalType(t); !seen[c] && !sdk.LookupType(c).Unserved {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}
