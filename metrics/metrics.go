// Package metrics defines every enclave metric in one place, on a registry
// the caller injects (never the global one).
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const ns = "enclave"

// Metrics holds the collectors.
type Metrics struct {
	reg *prometheus.Registry

	HTTPRequests     *prometheus.CounterVec
	HTTPDuration     *prometheus.HistogramVec
	ToolExecutions   *prometheus.CounterVec
	ToolDuration     *prometheus.HistogramVec
	ToolOutputBytes  *prometheus.HistogramVec
	ToolVerdicts     *prometheus.CounterVec
	PluginUp         *prometheus.GaugeVec
	PluginRestarts   *prometheus.CounterVec
	SandboxOps       *prometheus.CounterVec
	SandboxOpSeconds *prometheus.HistogramVec
	PluginRPCErrors  *prometheus.CounterVec
	PoolWait         prometheus.Histogram
	CleanupReaped    *prometheus.CounterVec
	SandboxCreates   *prometheus.CounterVec
	StreamedCalls    *prometheus.CounterVec
	ProcessesStarted prometheus.Counter
	TerminalsOpen    prometheus.Gauge
	TerminalsOpened  prometheus.Counter
}

// New registers every metric on reg, plus Go runtime, process and build info.
func New(reg *prometheus.Registry, version string) *Metrics {
	m := &Metrics{
		reg: reg,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "http_requests_total",
			Help: "HTTP requests by route pattern, method and status code."}, []string{"route", "method", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "http_request_duration_seconds",
			Help: "HTTP request latency by route pattern and method.", Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}},
			[]string{"route", "method"}),
		ToolExecutions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "tool_executions_total",
			Help: "Tool calls by tool and result status."}, []string{"tool", "status"}),
		ToolDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "tool_execution_duration_seconds",
			Help: "Tool call latency by tool.", Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}},
			[]string{"tool"}),
		ToolOutputBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "tool_output_bytes",
			Help: "Size of tool call output.", Buckets: prometheus.ExponentialBuckets(64, 4, 9)}, []string{"tool"}),
		ToolVerdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "tool_verdicts_total",
			Help: "Tool calls cut short, by tool and verdict (timeout, oom_killed, killed, output_truncated)."}, []string{"tool", "verdict"}),
		PluginUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "plugin_up",
			Help: "1 when the plugin process is running."}, []string{"kind", "name"}),
		PluginRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "plugin_restarts_total",
			Help: "Plugin processes restarted after they died."}, []string{"kind", "name"}),
		SandboxOps: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "sandbox_operations_total",
			Help: "Backend operations by backend, operation and result."}, []string{"backend", "operation", "result"}),
		SandboxOpSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "sandbox_operation_duration_seconds",
			Help: "Backend operation latency.", Buckets: prometheus.DefBuckets}, []string{"backend", "operation"}),
		PluginRPCErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "plugin_rpc_errors_total",
			Help: "Calls to a plugin that failed because the plugin was unreachable or died."}, []string{"kind", "name"}),
		PoolWait: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "pool_wait_seconds",
			Help:    "Time /pool/execute calls waited for a free pool member (including those that gave up).",
			Buckets: []float64{.0001, .001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}),
		CleanupReaped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "cleanup_reaped_total",
			Help: "Sandboxes deleted by the cleanup sweep, by rule (dead, age, idle)."}, []string{"reason"}),
		SandboxCreates: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "sandbox_creates_total",
			Help: "Sandboxes created, by source: a warm spare claimed (spare) or a container started (container); pool members and forks' children included."}, []string{"source"}),
		StreamedCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "streamed_calls_total",
			Help: "Tool calls answered as an event stream, by route pattern."}, []string{"route"}),
		ProcessesStarted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "background_processes_started_total",
			Help: "Background processes started in sandboxes."}),
		TerminalsOpen: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "terminals_open",
			Help: "Terminal WebSockets open now."}),
		TerminalsOpened: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "terminals_opened_total",
			Help: "Terminal WebSockets opened."}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
		Help: "Build information; always 1."}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(m.HTTPRequests, m.HTTPDuration, m.ToolExecutions, m.ToolDuration, m.ToolOutputBytes, m.ToolVerdicts,
		m.PluginUp, m.PluginRestarts, m.SandboxOps, m.SandboxOpSeconds, m.PluginRPCErrors, m.PoolWait, m.CleanupReaped, m.SandboxCreates, buildInfo,
		m.StreamedCalls, m.ProcessesStarted, m.TerminalsOpen, m.TerminalsOpened,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Operations the host measures on backends.
var backendOps = []string{"create", "inspect", "list", "stop", "remove", "exec", "session", "put_archive", "get_archive", "stats",
	"snapshot", "list_snapshots", "remove_snapshot", "prune_snapshots", "pause", "resume"}

// Init creates the series of known label combinations, so they exist (at 0)
// before the first event and rate() and absent() alerts work from the start.
func (m *Metrics) Init(backends, tools []string) {
	for _, r := range []string{"POST /sandbox/tool/execute", "POST /pool/execute"} {
		m.StreamedCalls.WithLabelValues(r)
	}
	for _, t := range tools {
		for _, s := range []string{"success", "error", "timeout"} {
			m.ToolExecutions.WithLabelValues(t, s)
		}
		for _, v := range []string{"timeout", "oom_killed", "killed", "output_truncated"} {
			m.ToolVerdicts.WithLabelValues(t, v)
		}
		m.PluginRestarts.WithLabelValues("tool", t)
		m.PluginRPCErrors.WithLabelValues("tool", t)
	}
	for _, b := range backends {
		for _, op := range backendOps {
			m.SandboxOps.WithLabelValues(b, op, "success")
			m.SandboxOps.WithLabelValues(b, op, "error")
		}
		m.PluginRestarts.WithLabelValues("backend", b)
		m.PluginRPCErrors.WithLabelValues("backend", b)
	}
	for _, r := range []string{"dead", "age", "idle"} {
		m.CleanupReaped.WithLabelValues(r)
	}
	for _, s := range []string{"spare", "container"} {
		m.SandboxCreates.WithLabelValues(s)
	}
}

// BackendOp records one backend operation (pluginhost callback).
func (m *Metrics) BackendOp(backend, op string, err error, d time.Duration) {
	result := "success"
	if err != nil {
		result = "error"
	}
	m.SandboxOps.WithLabelValues(backend, op, result).Inc()
	m.SandboxOpSeconds.WithLabelValues(backend, op).Observe(d.Seconds())
}

// PluginRPCError records a call that failed because its plugin was gone.
func (m *Metrics) PluginRPCError(kind, name string) {
	m.PluginRPCErrors.WithLabelValues(kind, name).Inc()
}

// PoolWaited implements manager.Observer.
func (m *Metrics) PoolWaited(d time.Duration) { m.PoolWait.Observe(d.Seconds()) }

// Created implements manager.Observer.
func (m *Metrics) Created(fromSpare bool) {
	source := "container"
	if fromSpare {
		source = "spare"
	}
	m.SandboxCreates.WithLabelValues(source).Inc()
}

// Reaped implements manager.Observer.
func (m *Metrics) Reaped(reason string) { m.CleanupReaped.WithLabelValues(reason).Inc() }

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Streamed implements server.Observer.
func (m *Metrics) Streamed(route string) { m.StreamedCalls.WithLabelValues(route).Inc() }

// ProcessStarted implements server.Observer.
func (m *Metrics) ProcessStarted() { m.ProcessesStarted.Inc() }

// Terminal implements server.Observer.
func (m *Metrics) Terminal(delta int) {
	m.TerminalsOpen.Add(float64(delta))
	if delta > 0 {
		m.TerminalsOpened.Inc()
	}
}

// Request implements server.Observer.
func (m *Metrics) Request(route, method string, code int, d time.Duration) {
	m.HTTPRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.HTTPDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// Tool implements server.Observer.
func (m *Metrics) Tool(tool, status, verdict string, d time.Duration, outputBytes int) {
	m.ToolExecutions.WithLabelValues(tool, status).Inc()
	m.ToolDuration.WithLabelValues(tool).Observe(d.Seconds())
	m.ToolOutputBytes.WithLabelValues(tool).Observe(float64(outputBytes))
	if verdict != "" {
		m.ToolVerdicts.WithLabelValues(tool, verdict).Inc()
	}
}

// PluginRestarted records a restart.
func (m *Metrics) PluginRestarted(kind, name string) {
	m.PluginRestarts.WithLabelValues(kind, name).Inc()
}

// PluginState records whether a plugin is up.
func (m *Metrics) PluginState(kind, name string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.PluginUp.WithLabelValues(kind, name).Set(v)
}

// Snapshot is the registry state exported at scrape time.
type Snapshot struct {
	// Sandboxes counts registered sandboxes by (type, status).
	Sandboxes map[[2]string]int
	// PoolIdle and PoolBusy count live pool members; PoolSpare the
	// started spares waiting for a /sandbox/create of their config.
	PoolIdle, PoolBusy, PoolSpare int
}

// StateCollector exports enclave_sandboxes{type,status} and
// enclave_pool_size{state} from a snapshot taken at scrape time, so the
// gauges can never drift from the registry. Known types and statuses are
// always exported, at 0 when absent.
type StateCollector struct {
	sandboxes, pool *prometheus.Desc
	types, statuses []string
	snapshot        func() Snapshot
}

// NewStateCollector returns a collector over snapshot.
func NewStateCollector(types, statuses []string, snapshot func() Snapshot) *StateCollector {
	return &StateCollector{
		sandboxes: prometheus.NewDesc(ns+"_sandboxes", "Registered sandboxes by type and status.", []string{"type", "status"}, nil),
		pool:      prometheus.NewDesc(ns+"_pool_size", "Live pool members by state (idle, busy) and warm spares waiting for a create (spare).", []string{"state"}, nil),
		types:     types, statuses: statuses, snapshot: snapshot,
	}
}

// Describe implements prometheus.Collector.
func (c *StateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sandboxes
	ch <- c.pool
}

// Collect implements prometheus.Collector.
func (c *StateCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.snapshot()
	seen := map[[2]string]bool{}
	for _, t := range c.types {
		for _, s := range c.statuses {
			k := [2]string{t, s}
			seen[k] = true
			ch <- prometheus.MustNewConstMetric(c.sandboxes, prometheus.GaugeValue, float64(snap.Sandboxes[k]), t, s)
		}
	}
	for k, n := range snap.Sandboxes {
		if !seen[k] {
			ch <- prometheus.MustNewConstMetric(c.sandboxes, prometheus.GaugeValue, float64(n), k[0], k[1])
		}
	}
	ch <- prometheus.MustNewConstMetric(c.pool, prometheus.GaugeValue, float64(snap.PoolIdle), "idle")
	ch <- prometheus.MustNewConstMetric(c.pool, prometheus.GaugeValue, float64(snap.PoolBusy), "busy")
	ch <- prometheus.MustNewConstMetric(c.pool, prometheus.GaugeValue, float64(snap.PoolSpare), "spare")
}
