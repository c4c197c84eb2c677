package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCalls(t *testing.T) {
	m := New(prometheus.NewRegistry(), "test")
	if c := m.Calls(); c.Calls != 0 || c.Errors != 0 {
		t.Fatalf("fresh: %+v", c)
	}
	m.Tool("python_executor", "success", "", 2*time.Millisecond, 3)
	m.Tool("python_executor", "error", "", 40*time.Millisecond, 0)
	m.Tool("shell_executor", "timeout", "timeout", 3*time.Second, 0)
	m.Tool("shell_executor", "success", "", 2*time.Millisecond, 1)
	c := m.Calls()
	if c.Calls != 4 || c.Errors != 2 {
		t.Errorf("calls %d errors %d, want 4 and 2", c.Calls, c.Errors)
	}
	// Cumulative and summed over tools: two calls ≤ 2.5 ms, three ≤ 50 ms, four ≤ 5 s.
	want := map[float64]uint64{0.001: 0, 0.0025: 2, 0.05: 3, 2.5: 3, 5: 4}
	for _, b := range c.Buckets {
		if n, ok := want[b.LE]; ok && b.Count != n {
			t.Errorf("bucket le=%g: %d, want %d", b.LE, b.Count, n)
		}
	}
	for i := 1; i < len(c.Buckets); i++ {
		if c.Buckets[i].LE <= c.Buckets[i-1].LE || c.Buckets[i].Count < c.Buckets[i-1].Count {
			t.Fatalf("buckets not ascending and cumulative: %+v", c.Buckets)
		}
	}
}
