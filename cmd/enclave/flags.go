package main

// Command-line flags, with ENCLAVE_* environment variables.

import (
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/enclave-sandbox/enclave/internal/runner"
)

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
	runnerStandbys                          int
	cleanupOnExit, allowPrivileged          bool
	allowNetwork, publicOpenAPI, noMCP      bool
	instance, pluginDir, podmanURL, replica string
	runnerChannelDir                        string
	poolSize, maxSandboxes                  int
	maxMemory, maxDisk, diskLimit, userns   string
	apiKeyFile                              string
	maxCPUs, stopGrace                      float64
	pidsLimit, maxOutput, maxBody, maxArch  int64
	maxInflight, processOutput              int64
	maxIdleTimeout, maxProcessDuration      float64
	maxSnapshots                            int
	maxSnapshotBytes                        string
	snapshotTTL                             float64
	reapPaused                              bool
	spares, sparesPerConfig                 int
	spareTTL                                float64
	logFormat, logLevel                     string
	backends                                backendConfig
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
	backendFlags(fs, &c.backends)
}

func serverFlags(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("enclave server", flag.ContinueOnError)
	fs.StringVar(&c.host, "host", "127.0.0.1", "listen address of the API")
	fs.StringVar(&c.port, "port", "8000", "listen port of the API")
	fs.StringVar(&c.apiKey, "api-key", "", "require this key in X-API-Key (or ?api_key=) on every route but /healthz; empty: no auth")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve /metrics without auth on this address (host:port) instead of the main listener")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "serve Go pprof profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; off by default (never expose it)")
	fs.BoolVar(&c.publicOpenAPI, "public-openapi", false, "serve GET /openapi.json without the API key (the /docs, /redoc and /ui pages are always public: they ask for the key before they fetch anything)")
	fs.BoolVar(&c.noMCP, "no-mcp", false, "do not serve MCP at /mcp (it is behind the API key, and each session reaches only the sandboxes it created)")
	fs.Var(&c.cors, "cors-origin", "allow CORS from this origin (repeatable; * for any); off by default")
	fs.Float64Var(&c.cleanupInterval, "cleanup-interval", 300, "seconds between cleanup sweeps (stopped/error sandboxes after 1 h, any after 48 h)")
	fs.BoolVar(&c.cleanupOnExit, "cleanup-on-exit", false, "delete every sandbox on shutdown (default: keep them)")
	fs.StringVar(&c.instance, "instance", "default", "instance label scoping this server's containers (replicas of one service share it)")
	fs.StringVar(&c.replica, "replica", "", "name of this server among several replicas serving one --instance (e.g. its pod name): they share every sandbox, each keeps its own pool; empty: the only server of its instance")
	fs.IntVar(&c.poolSize, "pool-size", 0, "default size for /pool/initialize (reported as pool_enabled)")
	fs.Float64Var(&c.poolWait, "pool-wait-timeout", 60, "seconds a /pool/execute call waits for a free sandbox (the timeout query parameter overrides)")
	fs.BoolVar(&c.poolReset, "pool-reset", false, "give every pool borrower a fresh container (no files, processes or state from earlier calls)")
	fs.Float64Var(&c.idleTTL, "idle-ttl", 0, "delete non-pool sandboxes idle (no tool call, archive operation, open terminal, running background process or keep-alive) for longer than this many seconds; 0: off (a sandbox's own idle_timeout still applies)")
	fs.Float64Var(&c.maxIdleTimeout, "max-idle-timeout", 86400, "cap in seconds on a sandbox's idle_timeout and on a keep-alive's timeout")
	fs.BoolVar(&c.reapPaused, "reap-paused", false, "let the idle rules (--idle-ttl, idle_timeout) delete paused sandboxes too; default: a paused sandbox is kept until resumed (the 48 h age rule still applies)")
	fs.IntVar(&c.maxSnapshots, "max-snapshots", 100, "how many named snapshots this instance keeps at most (0: no bound); a snapshot past it answers 409")
	fs.StringVar(&c.maxSnapshotBytes, "max-snapshot-bytes", "50g", "bound on what the named snapshots add to their images together (0: none); a snapshot past it answers 409")
	fs.Float64Var(&c.snapshotTTL, "snapshot-ttl", 0, "delete a snapshot this many seconds after it was made, unless its request set a ttl; 0: kept until deleted")
	fs.IntVar(&c.spares, "spares", 4, "warm spare sandboxes that may wait at once, over all configs: a config created a second time within --spare-ttl (a pool's at once) gets one, and a later /sandbox/create of it claims it instead of starting a container; the config used longest ago gives its spare up first; 0: no spares")
	fs.IntVar(&c.sparesPerConfig, "spares-per-config", 1, "warm spares of one config that may wait at once (raise it for clients that create several sandboxes of a config at a time)")
	fs.Float64Var(&c.spareTTL, "spare-ttl", 600, "seconds after its last create a config's spares are removed (a live pool's config keeps its spare)")
	fs.Int64Var(&c.processOutput, "process-output-bytes", 1<<20, "latest output kept per background process (at least; the log in the sandbox holds up to twice this)")
	fs.Float64Var(&c.maxProcessDuration, "max-process-duration", 0, "bound in seconds on a background process (its timeout, and what none means); 0: it may run as long as its sandbox")
	fs.BoolVar(&c.residentRunner, "resident-runner", true, "run tool processes through a resident per-sandbox runner (a fork per call) instead of a container exec per call; images without Python always use exec")
	fs.IntVar(&c.runnerStandbys, "runner-standbys", runner.DefaultStandbys, fmt.Sprintf("processes each sandbox's runner keeps forked and warm for the next calls (0 to %d; in the sandbox the fork server costs ~1.2 MiB and each standby ~1.1 MiB); 0: no fork server, every call forks the runner", runner.MaxStandbys))
	fs.StringVar(&c.runnerChannelDir, "runner-channel-dir", channelAuto, "where each sandbox's runner channel lives on this host (a directory per sandbox, mounted read-only into it, where its runner connects to the server directly instead of through the runtime's exec stream; backends that mount this host's paths only: Podman); auto: /run/enclave/channels as root, else $XDG_RUNTIME_DIR/enclave/channels; off: none")
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
	be := c.backends.env()
	for _, k := range slices.Sorted(maps.Keys(be)) {
		set(k, be[k])
	}
	return env
}
