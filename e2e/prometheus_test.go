package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("ENCLAVE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is not installed and ENCLAVE_REQUIRE_TOOLS=1", name)
		}
		t.Skipf("%s is not installed (apt-get install prometheus; make test does)", name)
	}
	return p
}

// TestPrometheusExamples checks the example config, alert rules and their
// unit tests with promtool.
func TestPrometheusExamples(t *testing.T) {
	promtool := requireTool(t, "promtool")
	dir := "../examples/prometheus"
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

type promResult struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		} `json:"result"`
	} `json:"data"`
	Error string `json:"error"`
}

func promQuery(base, q string) (promResult, error) {
	var r promResult
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&r)
	return r, err
}

// TestPrometheusScrapes starts Debian's Prometheus with the example scrape
// config pointed at a real server, makes tool calls, and waits (bounded)
// until Prometheus has scraped them.
func TestPrometheusScrapes(t *testing.T) {
	promBin := requireTool(t, "prometheus")
	const key = "prom-scrape-key"
	s := startServer(t, key)
	dir := t.TempDir()
	cfg, err := os.ReadFile("../examples/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(s.URL, "http://")
	text := strings.NewReplacer("CHANGE-ME", key, "127.0.0.1:8000", target, "15s", "1s").Replace(string(cfg))
	os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(text), 0o644)
	rules, _ := os.ReadFile("../examples/prometheus/alerts.yml")
	os.WriteFile(filepath.Join(dir, "alerts.yml"), rules, 0o644)
	port := freePort(t)
	prom := exec.Command(promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+port, "--log.level=warn")
	prom.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var plog strings.Builder
	prom.Stdout, prom.Stderr = &plog, &plog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-prom.Process.Pid, syscall.SIGKILL)
		prom.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", tail(plog.String(), 30))
		}
	})
	base := "http://127.0.0.1:" + port

	id := s.sandbox(t, nil)
	const calls = 3
	for i := 0; i < calls; i++ {
		if r := s.exec(t, id, "python_executor", map[string]any{"code": fmt.Sprintf("print(%d)", i)}); r.Status != "success" {
			t.Fatalf("call %d: %+v", i, r)
		}
	}
	q := `enclave_tool_executions_total{tool="python_executor",status="success"}`
	deadline := time.Now().Add(90 * time.Second)
	for {
		r, err := promQuery(base, q)
		if err == nil && r.Status == "success" && len(r.Data.Result) == 1 {
			if v, _ := strconv.ParseFloat(fmt.Sprint(r.Data.Result[0].Value[1]), 64); v >= calls {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never saw %d python_executor successes (last: %+v, %v)", calls, r, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The scrape is authenticated and healthy, the rules are loaded.
	if r, _ := promQuery(base, `up{job="enclave"}`); len(r.Data.Result) != 1 || fmt.Sprint(r.Data.Result[0].Value[1]) != "1" {
		t.Errorf("up{job=enclave} = %+v", r)
	}
	resp, err := http.Get(base + "/api/v1/rules")
	if err == nil {
		var rr struct {
			Data struct {
				Groups []struct {
					Rules []any `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&rr)
		resp.Body.Close()
		if len(rr.Data.Groups) != 1 || len(rr.Data.Groups[0].Rules) != 7 {
			t.Errorf("loaded rule groups: %+v", rr.Data.Groups)
		}
	}
	// Every query of the Grafana dashboard is valid PromQL on real data.
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, _ := os.ReadFile("../examples/prometheus/grafana-dashboard.json")
	if err := json.Unmarshal(b, &dash); err != nil || len(dash.Panels) == 0 {
		t.Fatalf("dashboard JSON: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			expr := strings.ReplaceAll(tg.Expr, "$instance", ".*")
			if r, err := promQuery(base, expr); err != nil || r.Status != "success" {
				t.Errorf("panel %q: %s: %v %s", p.Title, expr, err, r.Error)
			}
		}
	}
}
