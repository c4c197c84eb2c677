package main

// enclave server: wiring the executor, plugins, manager and HTTP server.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/enclave-sandbox/enclave/internal/executor"
	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/mcpserver"
	"github.com/enclave-sandbox/enclave/internal/pluginhost"
	"github.com/enclave-sandbox/enclave/metrics"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/server"
)

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
	opts.Replica = c.replica
	if c.replica != "" && c.idleTTL > 0 {
		slog.Warn("--idle-ttl does not apply with --replica: a replica sees only the calls it served")
	}
	opts.CleanupInterval = time.Duration(c.cleanupInterval * float64(time.Second))
	opts.PoolSize = c.poolSize
	opts.PoolWait = time.Duration(c.poolWait * float64(time.Second))
	opts.PoolWaitText = strconv.FormatFloat(c.poolWait, 'f', -1, 64)
	opts.PoolReset = c.poolReset
	opts.IdleTTL = time.Duration(c.idleTTL * float64(time.Second))
	opts.MaxIdleTimeout = time.Duration(c.maxIdleTimeout * float64(time.Second))
	if c.processOutput < 64<<10 || c.processOutput > 64<<20 {
		return fmt.Errorf("--process-output-bytes %d: want 64 KiB to 64 MiB", c.processOutput)
	}
	opts.ProcessOutputBytes = c.processOutput
	opts.HealthInterval = time.Duration(c.healthInterval * float64(time.Second))
	opts.AllowPrivileged, opts.AllowNetwork = c.allowPrivileged, c.allowNetwork
	opts.AllowVolumes, opts.ImageAllow = c.allowVolume, c.imageAllow
	opts.MaxSandboxes, opts.MaxCPUs, opts.PidsLimit = c.maxSandboxes, c.maxCPUs, c.pidsLimit
	opts.MaxOutputBytes = c.maxOutput
	opts.ExecMaxDuration = time.Duration(c.execMax * float64(time.Second))
	if err := limits(&c, &opts); err != nil {
		return err
	}
	channelDir, err := runnerChannelDir(c.runnerChannelDir, c.instance, c.replica)
	if err != nil {
		return err
	}
	opts.ChannelDir = channelDir
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

	routes, err := typeRoutes(c.backends.typeBackends)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	met := metrics.New(reg, version)
	// Tool plugins call back into the executor; the manager registers its
	// sandboxes with it.
	exec := executor.New(executor.Options{ResidentRunner: c.residentRunner, RunnerStandbys: c.runnerStandbys, StartTimeout: opts.StartTimeout,
		MaxDuration: opts.ExecMaxDuration, MaxOutputBytes: opts.MaxOutputBytes,
		MaxProcessDuration: time.Duration(c.maxProcessDuration * float64(time.Second))})
	host := pluginhost.New(pluginhost.Options{Dir: c.pluginDir, Env: pluginEnv(&c), TypeBackends: routes, Sandboxes: exec,
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
		snap.PoolSpare = mgr.Spares()
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
		SandboxTypes: host.SandboxTypes, CORSOrigins: c.cors, Observer: met, Calls: met.Calls, PublicOpenAPI: c.publicOpenAPI}
	if c.metricsAddr == "" {
		sopts.Metrics = met.Handler()
	}
	if !c.noMCP {
		sopts.MCP = mcpserver.Handler(mgr, mcpserver.Options{Version: version, Logger: slog.Default(), Tools: func() []mcpserver.ToolSchema {
			var out []mcpserver.ToolSchema
			for _, name := range tools {
				if t, ok := host.Tool(name); ok {
					out = append(out, mcpserver.ToolSchema{Name: name, Schema: t.Info().Schema})
				}
			}
			return out
		}})
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
	removeEmptyChannelDir(channelDir)
	return nil
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
