package runner

import (
	"context"
	"fmt"
	"strings"
)

// ClaimFile is where a claimed spare records whose sandbox it became
// (internal/manager/spares.go): the claim answers once the runner wrote it
// and the container's rename follows in the background, so a server killed
// in between finds the claim here at re-adoption.
const ClaimFile = "/tmp/.enclave/claimed"

// Mark writes text to path in the sandbox, whole or not at all (the runner
// accepts only paths under /tmp/.enclave/). It costs one round trip to the
// runner, no process.
func (r *Runner) Mark(ctx context.Context, path, text string) error {
	if !strings.HasPrefix(path, "/tmp/.enclave/") {
		return fmt.Errorf("%w: mark path %q is outside /tmp/.enclave/", ErrBadOp, path)
	}
	var out struct {
		Marked bool `json:"marked"`
	}
	if err := r.op(ctx, "mark", map[string]any{"path": path, "text": text}, &out); err != nil {
		return err
	}
	if !out.Marked {
		return fmt.Errorf("runner mark: no confirmation")
	}
	return nil
}
