package manager

// What the manager needs from outside: its plugins and an observer.

import (
	"context"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// Tool is a tool as the manager sees it (a plugin client, or a fake).
type Tool interface {
	Info() sdk.Info
	Execute(ctx context.Context, sb tool.SandboxInfo, call tool.Call) (tool.Result, error)
}

// Plugins gives the manager its backends and tools.
type Plugins interface {
	// Backend returns the backend serving a sandbox type.
	Backend(sandboxType string) (backend.Backend, bool)
	// Tool returns the tool registered under name.
	Tool(name string) (Tool, bool)
	// Backends lists every loaded backend (for re-adoption and health checks).
	Backends() []backend.Backend
}

// Observer receives measurements the manager makes (metrics).
type Observer interface {
	PoolWaited(d time.Duration)
	Reaped(reason string)
	// Created counts a sandbox registered by a create, a pool's fill or a
	// fork: fromSpare when it claimed a warm spare.
	Created(fromSpare bool)
}
