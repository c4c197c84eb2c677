//go:build remote

package main

// The batch row: 1,000 print(i) calls in one POST /pool/execute_batch over
// the pool of 8, end to end (the figures per call are each call's own
// execution time; per second is the whole batch's).

import (
	"context"
	"fmt"
	"time"

	"github.com/enclave-sandbox/enclave/client"
)

func benchBatch(ctx context.Context, c *client.Client, add func(Result)) {
	calls := make([]client.BatchCall, 1000)
	for i := range calls {
		calls[i] = client.BatchCall{ToolName: "python_executor", Parameters: map[string]any{"code": fmt.Sprintf("print(%d)", i)}}
	}
	for round := range 3 {
		start := time.Now()
		res, err := c.ExecuteInPoolBatch(ctx, calls, client.BatchOptions{})
		wall := time.Since(start)
		must(err, "batch")
		var ds []time.Duration
		failed := 0
		for i, r := range res {
			if r.Status != "success" || r.Output != fmt.Sprintf("%d\n", i) {
				failed++
			}
			ds = append(ds, time.Duration(r.ExecutionTime*float64(time.Second)))
		}
		r := summarize(fmt.Sprintf("/pool/execute_batch 1000 x print(i), pool of 8 (round %d)", round+1), ds, wall)
		r.Note = fmt.Sprintf("%d wrong; p50..p99 are the calls' own times", failed)
		add(r)
	}
}
