package manager

// Forks: N sandboxes started from the current filesystem of one
// (docs/api.md §14.2).

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
)

// MaxFork bounds the children of one fork.
const MaxFork = 64

// forkParallel is how many children start at once.
const forkParallel = 8

// Fork saves a sandbox's filesystem as an unnamed image and starts count
// sandboxes from it with the source's config. All start, or none: a child
// that fails deletes the others. The image goes with the last child
// (the cleanup sweep prunes it).
func (m *Manager) Fork(ctx context.Context, id string, count int) ([]string, error) {
	if count < 1 || count > MaxFork {
		return nil, errorf(KindBadRequest, "count must be between 1 and %d", MaxFork)
	}
	sb, release, err := m.sourceSandbox(id)
	if err != nil {
		return nil, err
	}
	defer release()
	sn, err := snapshotter(sb.backend)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	room := m.opts.MaxSandboxes <= 0 || len(m.sandboxes)+m.creating+count <= m.opts.MaxSandboxes
	containerID := sb.containerID
	m.mu.Unlock()
	if !room {
		return nil, errorf(KindConflict, "Sandbox limit reached (%d; raise with --max-sandboxes)", m.opts.MaxSandboxes)
	}
	snap, err := sn.Snapshot(ctx, containerID, sdk.SnapshotRequest{Labels: m.snapshotLabels(sb, "fork", time.Now().UTC())})
	if err != nil {
		return nil, backendErr("fork", err)
	}
	ids := make([]string, count)
	errs := make([]error, count)
	sem := make(chan struct{}, forkParallel)
	var wg sync.WaitGroup
	for i := range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			child, err := m.createFrom(ctx, sb.typ, sb.backend, sb.cfg, snap.ID, false, false)
			if err != nil {
				errs[i] = err
				return
			}
			ids[i] = child.id
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			continue
		}
		// All or none: the started children go, and with them the image.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, cid := range ids {
			if cid != "" {
				if derr := m.Delete(dctx, cid); derr != nil {
					slog.Warn("fork: delete a child of a failed fork", "sandbox_id", cid, "err", derr)
				}
			}
		}
		if _, perr := sn.PruneSnapshots(dctx, map[string]string{LabelInstance: m.opts.Instance, labelSnapKind: "fork", labelSnapSource: sb.id}); perr != nil {
			slog.Warn("fork: remove the image of a failed fork", "err", perr)
		}
		return nil, err
	}
	return ids, nil
}
