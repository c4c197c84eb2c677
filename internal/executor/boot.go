package executor

// Booted runners: a sandbox that starts its runner itself when its
// container starts (runner.Boot; on Podman, cmd/enclave-boot as its init),
// so that its first call does not wait ~100 ms for a session to start one.
// Only images a runner already started in boot: an image without Python
// (or a shell) would leave the first call waiting for a runner that never
// comes, so the first sandbox of an image starts its runner over a session,
// and a boot that fails takes the image off the list. The list outlives a
// restart in the containers that booted (the manager's enclave.boot label,
// read back at re-adoption).

import (
	"context"
	"log/slog"

	"github.com/enclave-sandbox/enclave/internal/runner"
)

// PrepareBoot readies the runner a sandbox of image is to boot on ch, or
// returns nil (no resident runners, or an image not known to boot one).
func (e *Executor) PrepareBoot(ch runner.Channel, image string) *runner.Boot {
	e.mu.Lock()
	ok := e.opts.ResidentRunner && image != "" && e.booted[image]
	e.mu.Unlock()
	if !ok {
		return nil
	}
	b, err := runner.PrepareBoot(ch, runner.Options{Standbys: e.opts.RunnerStandbys})
	if err != nil {
		slog.Warn("runner boot: not prepared; the runner starts over a session", "err", err)
		return nil
	}
	return b
}

// NoteBoot records whether image's sandboxes can boot a runner.
func (e *Executor) NoteBoot(image string, ok bool) {
	if image == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.booted == nil {
		e.booted = map[string]bool{}
	}
	if ok {
		e.booted[image] = true
	} else {
		delete(e.booted, image)
	}
}

// acceptBoot waits (bounded by the start timeout) for the runner a sandbox
// boots; nil: none came (the caller starts one over a session).
func (e *Executor) acceptBoot(en *entry, b *runner.Boot) *runner.Runner {
	if b == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.StartTimeout)
	defer cancel()
	r, err := b.Accept(ctx)
	if err != nil {
		en.runner.mu.Lock()
		removed := en.runner.closed
		en.runner.mu.Unlock()
		if !removed { // a sandbox removed meanwhile tells nothing of its image
			slog.Warn("runner boot: no runner came; starting one over a session", "sandbox_id", en.id, "image", en.target.Image, "err", err)
			e.NoteBoot(en.target.Image, false)
		}
		return nil
	}
	return r
}
