//go:build remote

package main

// The snapshot rows: a snapshot of a sandbox with 100 MB of changes, a
// fork into 8 until all 8 answered a call, next to 8 cold creates of the
// base image until all 8 answered (the bound: a fork within 2× of
// that), and a pause + resume round trip.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enclave-sandbox/enclave/client"
)

// coldConfig matches no pool or spare: every create starts a container
// (a config asked for again earns a spare, so each create gets its own).
func coldConfig() map[string]any {
	return map[string]any{"tools_config": map[string]any{"python_executor": map[string]any{}, "shell_executor": map[string]any{}},
		"env_vars": map[string]string{"BENCH": "cold", "N": fmt.Sprint(coldSeq.Add(1))}}
}

var coldSeq atomic.Int64

// allAnswer runs begin, then a call in each sandbox it gave, all at once;
// it returns the wall time until every call answered, and the ids.
func allAnswer(ctx context.Context, c *client.Client, begin func() ([]string, error)) (time.Duration, []string, error) {
	start := time.Now()
	ids, err := begin()
	if err != nil {
		return 0, ids, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "print(1)"})
			if err == nil && r.Status != "success" {
				err = fmt.Errorf("call in %s: %s", id, r.Status)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return 0, ids, err
		}
	}
	return time.Since(start), ids, nil
}

func deleteAll(ctx context.Context, c *client.Client, ids []string) {
	for _, id := range ids {
		c.DeleteSandbox(ctx, id)
	}
}

func benchSnapshots(ctx context.Context, c *client.Client, add func(Result)) {
	src, err := c.CreateSandbox(ctx, "docker", coldConfig())
	must(err, "create the snapshot source")
	defer c.DeleteSandbox(ctx, src)
	r, err := c.ExecuteTool(ctx, src, "shell_executor", map[string]any{"command": "head -c 104857600 /dev/urandom > /sandbox/changes"})
	if err == nil && r.Status != "success" {
		err = fmt.Errorf("%s", r.Status)
	}
	must(err, "write 100 MB")

	var snaps []time.Duration
	for i := range 3 {
		name := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)
		t := time.Now()
		_, err := c.Snapshot(ctx, src, client.SnapshotOptions{Name: name})
		must(err, "snapshot")
		snaps = append(snaps, time.Since(t))
		must(c.DeleteSnapshot(ctx, name), "delete snapshot")
	}
	add(summarize("snapshot of a sandbox with 100 MB of changes", snaps, 0))

	var cold, forks []time.Duration
	for range 3 {
		d, ids, err := allAnswer(ctx, c, func() ([]string, error) {
			ids := make([]string, 8)
			errs := make([]error, 8)
			var wg sync.WaitGroup
			for i := range ids {
				wg.Add(1)
				go func() { defer wg.Done(); ids[i], errs[i] = c.CreateSandbox(ctx, "docker", coldConfig()) }()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					return ids, err
				}
			}
			return ids, nil
		})
		deleteAll(ctx, c, ids)
		must(err, "8 cold creates")
		cold = append(cold, d)

		d, ids, err = allAnswer(ctx, c, func() ([]string, error) { return c.Fork(ctx, src, 8) })
		deleteAll(ctx, c, ids)
		must(err, "fork into 8")
		forks = append(forks, d)
	}
	coldR := summarize("8 cold creates at once, until all 8 answered a call", cold, 0)
	add(coldR)
	fr := withFloor(summarize("fork (100 MB of changes) into 8, until all 8 answered a call", forks, 0), coldR)
	fr.Note = "ratio: to 8 cold creates (target ≤ 2)"
	add(fr)

	d, _, err := timeN(20, func() error {
		if err := c.Pause(ctx, src); err != nil {
			return err
		}
		return c.Resume(ctx, src)
	})
	must(err, "pause and resume")
	add(summarize("pause + resume round trip", d, 0))
}
