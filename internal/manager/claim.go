package manager

// Claiming a spare (spares.go) and what makes a claim survive a crash.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/enclave-sandbox/enclave/internal/archive"
	"github.com/enclave-sandbox/enclave/internal/runner"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// claim makes a spare sb's container sandbox-<id>. Where the backend's
// names are bookkeeping only, the runner writes runner.ClaimFile (one round
// trip, and proof that the spare is alive) and the rename, Podman's slow
// step (its database written with an fsync), follows in the background:
// re-adoption takes a spare-* container whose claim file names its own
// sandbox for a sandbox. Elsewhere, or without a runner, the rename happens
// here, beside an inspect that tells a dead spare.
func (m *Manager) claim(ctx context.Context, sb *sandbox) error {
	rn, _ := backend.Renames(sb.backend) // spares exist only where it does
	if backend.Has(sb.backend, sdk.CapLazyRename) {
		if err := m.exec.Mark(ctx, sb.id, runner.ClaimFile, sb.id); err == nil {
			m.renameLater(rn, sb)
			return nil
		} else if ctx.Err() != nil {
			return err
		}
	}
	// Both at once: renaming a spare that turns out dead costs nothing, it
	// is removed either way.
	renamed := make(chan error, 1)
	go func() { renamed <- rn.Rename(ctx, sb.containerID, "sandbox-"+sb.id) }()
	st, err := sb.backend.Inspect(ctx, sb.containerID)
	if rerr := <-renamed; err == nil && st.Status != "running" {
		err = errors.New("spare is not running (" + st.Status + ")")
	} else if err == nil {
		err = rerr
	}
	return err
}

// renameLater renames a claimed spare in the background, retrying (the
// runtime may be restarting) for up to renameFor; shutdown waits for it
// (waitCreates) and cuts the pauses short. A rename that keeps failing is
// left to re-adoption, which finds the claim file.
//
// Unless other replicas read the names (replicas.go), the rename waits
// Options.SpareAfter and is skipped if the sandbox is gone by then: Podman's
// rename, a database write with an fsync, would compete with the calls
// that follow a create, and a delete right after them would wait for it.
func (m *Manager) renameLater(rn backend.Renamer, sb *sandbox) {
	m.mu.Lock()
	m.renaming++
	stop := m.stop
	m.mu.Unlock()
	wait := m.opts.SpareAfter
	if m.replicated() {
		wait = 0
	}
	go func() {
		defer func() {
			m.mu.Lock()
			m.renaming--
			m.mu.Unlock()
		}()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-stop: // renamed now; the retries below see the shutdown too
				t.Stop()
			}
			if m.gone(sb) {
				return // its container went with it: no round trip to the runtime
			}
		}
		deadline := time.Now().Add(renameFor)
		var err error
		for pause := 100 * time.Millisecond; ; pause = min(2*pause, 5*time.Second) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err = rn.Rename(ctx, sb.containerID, "sandbox-"+sb.id)
			cancel()
			if err == nil || errors.Is(err, sdk.ErrSandboxNotFound) {
				return // renamed, or deleted meanwhile
			}
			if time.Now().Add(pause).After(deadline) {
				break
			}
			select {
			case <-time.After(pause):
			case <-stop:
				// Shutdown waits: a few more quick tries, then the claim
				// file covers it.
				stop, pause = nil, 50*time.Millisecond
				deadline = time.Now().Add(min(renameAtShutdown, time.Until(deadline)))
			}
		}
		slog.Warn("claimed spare not renamed; re-adoption will find its claim file", "sandbox_id", sb.id, "err", err)
	}()
}

// gone reports whether sb has left the registry (deleted, or its create
// failed after the claim).
func (m *Manager) gone(sb *sandbox) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sandboxes[sb.id] != sb
}

// renameFor bounds a claimed spare's background rename retries;
// renameAtShutdown what is left of them once shutdown begins.
const (
	renameFor        = 5 * time.Minute
	renameAtShutdown = 3 * time.Second
)

// claimedAtAdoption: whether a spare-* container found at re-adoption was
// claimed (its claim file names its own sandbox) by a server killed before
// the rename, which it then makes. unsure: the claim could not be read,
// so the container is neither adopted nor removed (the next start looks
// again).
func (m *Manager) claimedAtAdoption(ctx context.Context, be backend.Backend, st sdk.State) (claimed, unsure bool) {
	rn, ok := backend.Renames(be)
	if !ok || !backend.Has(be, sdk.CapLazyRename) || st.Labels[LabelID] == "" {
		return false, false
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var buf bytes.Buffer
	err := be.GetArchive(ctx, st.ContainerID, runner.ClaimFile, &limitedWriter{w: &buf, n: 64 << 10})
	if errors.Is(err, sdk.ErrPathNotFound) {
		return false, false
	}
	var id []byte
	if err == nil {
		id, err = archive.FirstFile(&buf, 256)
	}
	if err != nil {
		slog.Error("re-adoption: cannot read a spare's claim file; leaving the container", "container", st.ContainerID, "err", err)
		return false, true
	}
	if string(id) != st.Labels[LabelID] {
		return false, false
	}
	if err := rn.Rename(ctx, st.ContainerID, "sandbox-"+st.Labels[LabelID]); err != nil {
		slog.Warn("re-adoption: rename a claimed spare (its claim file still holds it)", "sandbox_id", st.Labels[LabelID], "err", err)
	}
	return true, false
}

// limitedWriter takes at most n bytes, then fails: a claim file is a few
// bytes, whatever a sandbox put there instead.
type limitedWriter struct {
	w io.Writer
	n int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, errors.New("claim file archive too large")
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}
