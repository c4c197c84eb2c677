package manager

// The container spec of a sandbox.

import (
	"fmt"
	"time"

	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
	"github.com/enclave-sandbox/enclave/sdk"
)

// diskBytes is a config's disk limit in bytes: its own, else the default
// (within the cap).
func (m *Manager) diskBytes(cfg *sandboxconfig.Config) int64 {
	if d := cfg.DiskBytes(); d > 0 {
		return d
	}
	return min(m.opts.DefaultDisk, m.opts.MaxDisk)
}

// buildSpec is the container spec of a sandbox; labels carry everything
// needed to rebuild the sandbox after a restart (docs/api.md §7.3).
func (m *Manager) buildSpec(id, typ string, cfg *sandboxconfig.Config, cfgJSON []byte, pool bool, created time.Time) sdk.Spec {
	spec := sdk.Spec{
		Name: "sandbox-" + id, Image: m.resolveImage(cfg.Image), Command: cfg.Argv(), WorkingDir: cfg.WorkingDir,
		Env: cfg.Env(), MemoryBytes: cfg.MemoryBytes(), CPUs: float64(cfg.CPULimit), PidsLimit: m.opts.PidsLimit, DiskBytes: m.diskBytes(cfg),
		NetworkEnabled: cfg.NetworkEnabled, Network: cfg.Network, Privileged: cfg.Privileged, ExtraHosts: cfg.Hosts(),
		Mounts: cfg.Mounts(), Ports: cfg.PortBindings(),
		Labels: map[string]string{LabelMSEnclave: "true", LabelInstance: m.opts.Instance, LabelID: id, LabelType: typ,
			LabelConfig: string(cfgJSON), LabelCreatedAt: pyjson.FormatTime(created), LabelPool: fmt.Sprint(pool)},
	}
	if m.replicated() {
		spec.Labels[LabelOwner] = m.opts.Replica
	}
	if cfg.Platform != nil {
		spec.Platform = *cfg.Platform
	}
	spec.Entrypoint, spec.EntrypointSet = cfg.EntrypointArgv()
	return spec
}
