package tool

// A call's id travels with it: the host names the call in the context of
// Tool.Execute, and every SandboxHost request a tool makes with that
// context (or one derived from it) carries the id back, so the host can
// stream the output of the call's processes to the caller as they print
// it. Tools need do nothing but pass their Execute context on, as they
// already must.

import (
	"context"

	"google.golang.org/grpc/metadata"
)

// callIDHeader is the gRPC metadata key of the id.
const callIDHeader = "enclave-call-id"

type callIDKey struct{}

// WithCallID names the call ctx belongs to.
func WithCallID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, callIDKey{}, id)
}

// CallID is the id of the call ctx belongs to ("" when none).
func CallID(ctx context.Context) string {
	id, _ := ctx.Value(callIDKey{}).(string)
	return id
}

// outgoing puts ctx's call id on a gRPC request.
func outgoing(ctx context.Context) context.Context {
	if id := CallID(ctx); id != "" {
		return metadata.AppendToOutgoingContext(ctx, callIDHeader, id)
	}
	return ctx
}

// incoming takes the call id off a gRPC request into ctx.
func incoming(ctx context.Context) context.Context {
	if v := metadata.ValueFromIncomingContext(ctx, callIDHeader); len(v) == 1 && v[0] != "" {
		return WithCallID(ctx, v[0])
	}
	return ctx
}
