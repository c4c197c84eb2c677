package manager

// The operator's settings.

import (
	"encoding/json"
	"time"

	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
)

// Options are the operator's settings.
type Options struct {
	Instance string
	// Replica names this server among several sharing Instance (empty:
	// the only one); SyncInterval is how often it reconciles with them.
	Replica         string
	SyncInterval    time.Duration
	CleanupInterval time.Duration
	PoolSize        int
	// Policy.
	AllowPrivileged bool
	AllowVolumes    []string
	AllowNetwork    bool
	ImageAllow      []string
	ImageAliases    map[string]string
	MaxSandboxes    int
	MaxMemory       int64
	MaxMemoryText   string
	MaxCPUs         float64
	PidsLimit       int64
	// MaxDisk caps disk_limit; DefaultDisk applies when a config has none.
	MaxDisk     int64
	MaxDiskText string
	DefaultDisk int64
	// Execution bounds.
	MaxOutputBytes  int64
	ExecMaxDuration time.Duration
	StartTimeout    time.Duration
	StopGrace       time.Duration
	// Pool and lifecycle.
	PoolWait     time.Duration
	PoolWaitText string
	PoolReset    bool
	IdleTTL      time.Duration
	// MaxIdleTimeout caps a sandbox's own idle_timeout and a keep-alive.
	MaxIdleTimeout time.Duration
	// ProcessOutputBytes is how much of a background process's latest
	// output is kept (at least).
	ProcessOutputBytes int64
	HealthInterval     time.Duration
	// Snapshots: how many named snapshots, and how many bytes of them
	// (what they add to their images), this instance keeps at most (0: no
	// bound); SnapshotTTL deletes a snapshot that long after its creation
	// unless its request said otherwise (0: kept until deleted).
	MaxSnapshots     int
	MaxSnapshotBytes int64
	SnapshotTTL      time.Duration
	// ReapPaused lets the idle rule delete paused sandboxes too.
	ReapPaused bool
	// Spares: how many warm spare sandboxes wait at most, in all and of
	// one config (0: none); SpareTTL forgets a config (and removes its
	// spares) not asked for in that long.
	Spares          int
	SparesPerConfig int
	SpareTTL        time.Duration
	// SpareAfter: a create's replacement spare starts when the created
	// sandbox's first operation ends, or this long after the create; a
	// claimed spare's rename waits this long (claim.go's renameLater).
	SpareAfter time.Duration
	// ChannelDir holds a directory per sandbox for its runner's channel
	// (channel.go); "" gives runners none.
	ChannelDir string
	Observer   Observer
	// ToolDefaults are operator defaults per tool (by plugin name): values of
	// parameters a call omits, and "max_output_bytes" for the output cap.
	ToolDefaults map[string]map[string]json.RawMessage
}

// caps are the resource caps a config is clamped to.
func (o Options) caps() sandboxconfig.Caps {
	return sandboxconfig.Caps{MaxMemory: o.MaxMemory, MaxMemoryText: o.MaxMemoryText, MaxCPUs: o.MaxCPUs,
		MaxDisk: o.MaxDisk, MaxDiskText: o.MaxDiskText}
}

// DefaultOptions are the contract's defaults.
func DefaultOptions() Options {
	return Options{Instance: "default", CleanupInterval: 300 * time.Second, AllowNetwork: true,
		MaxMemory: 8 << 30, MaxMemoryText: "8g", MaxCPUs: 4, PidsLimit: 1024, MaxOutputBytes: 1 << 20,
		ProcessOutputBytes: 1 << 20, MaxIdleTimeout: 24 * time.Hour,
		MaxDisk: 10 << 30, MaxDiskText: "10g", DefaultDisk: 2 << 30, MaxSnapshots: 100, MaxSnapshotBytes: 50 << 30,
		Spares: 4, SparesPerConfig: 1, SpareTTL: 10 * time.Minute, SpareAfter: time.Second,
		ExecMaxDuration: time.Hour, StartTimeout: 30 * time.Second, StopGrace: 2 * time.Second,
		PoolWait: 60 * time.Second, PoolWaitText: "60", HealthInterval: 3 * time.Second, SyncInterval: 500 * time.Millisecond,
		ImageAliases: map[string]string{"jupyter-kernel-gateway": "python:3.11-slim"}}
}
