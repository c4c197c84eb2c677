package metrics

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

var update = flag.Bool("update", false, "rewrite testdata/scrape.prom")

// fixture is a registry after a fixed series of events.
func fixture(t *testing.T) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	m := New(reg, "1.2.3")
	m.Init([]string{"podman"}, []string{"python_executor", "shell_executor"})
	reg.MustRegister(NewStateCollector([]string{"docker"}, []string{"running", "idle", "busy"}, func() Snapshot {
		return Snapshot{Sandboxes: map[[2]string]int{{"docker", "running"}: 2, {"docker", "idle"}: 3}, PoolIdle: 3, PoolBusy: 1}
	}))
	m.Request("POST /sandbox/tool/execute", "POST", 200, 12*time.Millisecond)
	m.Request("GET /sandbox/{sandbox_id}", "GET", 404, time.Millisecond)
	m.Tool("python_executor", "success", "", 11*time.Millisecond, 3)
	m.Tool("python_executor", "timeout", "timeout", 2*time.Second, 0)
	m.BackendOp("podman", "exec", nil, 90*time.Millisecond)
	m.BackendOp("podman", "create", errors.New("boom"), 200*time.Millisecond)
	m.PoolWaited(3 * time.Millisecond)
	m.Reaped("dead")
	m.Created(true)
	m.Created(false)
	m.Created(false)
	m.PluginRestarted("backend", "podman")
	m.PluginState("backend", "podman", true)
	m.PluginRPCError("backend", "podman")
	return reg
}

// enclaveText renders the enclave_* families in the text format.
func enclaveText(t *testing.T, reg *prometheus.Registry) []byte {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "enclave_") {
			if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The Go version is the toolchain's, not part of the contract.
	return bytes.ReplaceAll(b.Bytes(), []byte(`goversion="`+runtime.Version()+`"`), []byte(`goversion="GOVERSION"`))
}

func TestExposition(t *testing.T) {
	reg := fixture(t)
	want := map[string]struct {
		typ    dto.MetricType
		labels []string
	}{
		"enclave_http_requests_total":                {dto.MetricType_COUNTER, []string{"code", "method", "route"}},
		"enclave_http_request_duration_seconds":      {dto.MetricType_HISTOGRAM, []string{"method", "route"}},
		"enclave_sandboxes":                          {dto.MetricType_GAUGE, []string{"status", "type"}},
		"enclave_sandbox_operations_total":           {dto.MetricType_COUNTER, []string{"backend", "operation", "result"}},
		"enclave_sandbox_operation_duration_seconds": {dto.MetricType_HISTOGRAM, []string{"backend", "operation"}},
		"enclave_tool_executions_total":              {dto.MetricType_COUNTER, []string{"status", "tool"}},
		"enclave_tool_execution_duration_seconds":    {dto.MetricType_HISTOGRAM, []string{"tool"}},
		"enclave_tool_output_bytes":                  {dto.MetricType_HISTOGRAM, []string{"tool"}},
		"enclave_tool_verdicts_total":                {dto.MetricType_COUNTER, []string{"tool", "verdict"}},
		"enclave_pool_size":                          {dto.MetricType_GAUGE, []string{"state"}},
		"enclave_pool_wait_seconds":                  {dto.MetricType_HISTOGRAM, nil},
		"enclave_cleanup_reaped_total":               {dto.MetricType_COUNTER, []string{"reason"}},
		"enclave_sandbox_creates_total":              {dto.MetricType_COUNTER, []string{"source"}},
		"enclave_plugin_up":                          {dto.MetricType_GAUGE, []string{"kind", "name"}},
		"enclave_plugin_restarts_total":              {dto.MetricType_COUNTER, []string{"kind", "name"}},
		"enclave_plugin_rpc_errors_total":            {dto.MetricType_COUNTER, []string{"kind", "name"}},
		"enclave_build_info":                         {dto.MetricType_GAUGE, []string{"goversion", "version"}},
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf
	}
	for name, w := range want {
		mf, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if mf.GetType() != w.typ || mf.GetHelp() == "" {
			t.Errorf("%s: type %v help %q, want %v and a help text", name, mf.GetType(), mf.GetHelp(), w.typ)
		}
		var labels []string
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, lp.GetName())
		}
		sort.Strings(labels)
		if strings.Join(labels, ",") != strings.Join(w.labels, ",") {
			t.Errorf("%s: labels %v, want %v", name, labels, w.labels)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := got[name]; !ok {
			t.Errorf("runtime collector metric %s missing", name)
		}
	}
	// Series exist before the first event.
	if v := testutil.ToFloat64(prometheusCounter(t, reg, "enclave_tool_executions_total", map[string]string{"tool": "shell_executor", "status": "error"})); v != 0 {
		t.Errorf("pre-initialised series = %v", v)
	}
	// Counts reflect the events.
	expected := `# HELP enclave_pool_size Live pool members by state (idle, busy) and warm spares waiting for a create (spare).
# TYPE enclave_pool_size gauge
enclave_pool_size{state="busy"} 1
enclave_pool_size{state="idle"} 3
enclave_pool_size{state="spare"} 0
# HELP enclave_plugin_restarts_total Plugin processes restarted after they died.
# TYPE enclave_plugin_restarts_total counter
enclave_plugin_restarts_total{kind="backend",name="podman"} 1
enclave_plugin_restarts_total{kind="tool",name="python_executor"} 0
enclave_plugin_restarts_total{kind="tool",name="shell_executor"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "enclave_pool_size", "enclave_plugin_restarts_total"); err != nil {
		t.Error(err)
	}
}

// prometheusCounter finds one series in a gather, as a collector for ToFloat64.
func prometheusCounter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) prometheus.Collector {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, m.GetCounter().GetValue)
		}
	}
	t.Fatalf("series %s%v not found", name, labels)
	return nil
}

func TestLint(t *testing.T) {
	problems, err := testutil.GatherAndLint(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestGoldenScrape(t *testing.T) {
	got := enclaveText(t, fixture(t))
	golden := "testdata/scrape.prom"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./metrics -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("exposition differs from %s (go test ./metrics -update rewrites it after a deliberate change)", golden)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("ENCLAVE_REQUIRE_TOOLS") == "1" {
			t.Fatal("promtool not installed and ENCLAVE_REQUIRE_TOOLS=1")
		}
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(want)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
