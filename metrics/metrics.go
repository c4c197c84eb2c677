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
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
		Help: "Build information; always 1."}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(m.HTTPRequests, m.HTTPDuration, m.ToolExecutions, m.ToolDuration, m.ToolOutputBytes, m.ToolVerdicts,
		m.PluginUp, m.PluginRestarts, m.SandboxOps, m.SandboxOpSeconds, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// InitTools creates the series of known tools so they exist before the
// first call.
func (m *Metrics) InitTools(tools []string) {
	for _, t := range tools {
		for _, s := range []string{"success", "error", "timeout"} {
			m.ToolExecutions.WithLabelValues(t, s)
		}
	}
}

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
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

// SandboxCollector exports enclave_sandboxes{type,status} from a snapshot
// function at scrape time, so the gauge can never drift from the registry.
type SandboxCollector struct {
	desc     *prometheus.Desc
	snapshot func() map[[2]string]int
}

// NewSandboxCollector returns a collector over snapshot (type, status → n).
func NewSandboxCollector(snapshot func() map[[2]string]int) *SandboxCollector {
	return &SandboxCollector{desc: prometheus.NewDesc(ns+"_sandboxes", "Registered sandboxes by type and status.",
		[]string{"type", "status"}, nil), snapshot: snapshot}
}

// Describe implements prometheus.Collector.
func (c *SandboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *SandboxCollector) Collect(ch chan<- prometheus.Metric) {
	for k, n := range c.snapshot() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}
