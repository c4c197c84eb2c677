package manager

// Streamed tool calls: the caller puts a sink in the call's context; the
// output of every process the tool runs reaches it as it is printed
// (internal/executor/streams.go), before the result is returned.

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/enclave-sandbox/enclave/internal/executor"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

type sinkKey struct{}

// WithOutput asks Execute and PoolExecute to stream the call's output to
// sink ("stdout", "stderr" chunks, in order) while it runs. sink may block;
// it is done with before Execute returns.
func WithOutput(ctx context.Context, sink executor.Sink) context.Context {
	return context.WithValue(ctx, sinkKey{}, sink)
}

// streaming registers the call's sink (if any) and returns the context
// that carries its id to the tool, and the wait for the last chunk.
func (m *Manager) streaming(ctx context.Context) (context.Context, func()) {
	sink, _ := ctx.Value(sinkKey{}).(executor.Sink)
	if sink == nil || m.exec == nil {
		return ctx, func() {}
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	return tool.WithCallID(ctx, id), m.exec.Stream(id, sink)
}
