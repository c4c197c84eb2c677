package metrics

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// CallTotals are the cumulative tool-call counters, summed over tools: what
// the console turns into calls/s, errors and p50 (a rate and a quantile of
// the differences between two reads).
type CallTotals struct {
	Calls  uint64
	Errors uint64 // calls whose status is not success
	// Buckets are the duration histogram's cumulative counts by upper bound
	// (seconds), ascending.
	Buckets []Bucket
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	LE    float64
	Count uint64
}

// Calls reads the tool-call counters.
func (m *Metrics) Calls() CallTotals {
	var out CallTotals
	byLE := map[float64]uint64{}
	collect(m.ToolExecutions, func(mt *dto.Metric) {
		n := uint64(mt.GetCounter().GetValue())
		out.Calls += n
		for _, l := range mt.GetLabel() {
			if l.GetName() == "status" && l.GetValue() != "success" {
				out.Errors += n
			}
		}
	})
	collect(m.ToolDuration, func(mt *dto.Metric) {
		for _, b := range mt.GetHistogram().GetBucket() {
			byLE[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	})
	for le, n := range byLE {
		out.Buckets = append(out.Buckets, Bucket{LE: le, Count: n})
	}
	sort.Slice(out.Buckets, func(i, j int) bool { return out.Buckets[i].LE < out.Buckets[j].LE })
	return out
}

// collect hands each metric of c to f.
func collect(c prometheus.Collector, f func(*dto.Metric)) {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	for pm := range ch {
		var mt dto.Metric
		if pm.Write(&mt) == nil {
			f(&mt)
		}
	}
}
