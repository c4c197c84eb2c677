//go:build remote

package main

import (
	"strconv"

	nettypes "github.com/containers/common/libnetwork/types"
	"github.com/containers/podman/v4/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"
)

// toSpecGenerator is a containerSpec (spec.go) as Podman's SpecGenerator.
func toSpecGenerator(c containerSpec) *specgen.SpecGenerator {
	g := specgen.NewSpecGenerator(c.Image, false)
	g.Name, g.Labels, g.Env = c.Name, c.Labels, c.Env
	g.WorkDir = c.WorkDir
	// Docker creates a missing working directory; so does enclave.
	g.CreateWorkingDir = c.WorkDir != ""
	g.Command = c.Command
	if c.EntrypointSet {
		g.Entrypoint = c.Entrypoint
		if len(c.Entrypoint) == 0 {
			g.Entrypoint = []string{""} // Podman's way to clear the image's
		}
	}
	g.Terminal, g.Stdin = c.Terminal, c.Terminal
	if c.UserNS != nil {
		g.UserNS = specgen.Namespace{NSMode: specgen.Private}
		g.IDMappings = idMappings(c.UserNS)
	}
	if c.StorageSize > 0 {
		g.StorageOpts = map[string]string{"size": strconv.FormatInt(c.StorageSize, 10)}
	}
	g.Init = true
	g.InitPath = c.InitPath
	g.NoNewPrivileges = true
	g.Privileged = c.Privileged
	g.CapDrop, g.CapAdd = c.CapDrop, c.CapAdd
	g.SeccompProfilePath = c.Seccomp
	mem, period, quota := c.Memory, uint64(cpuPeriod), c.CPUQuota
	g.ResourceLimits = &spec.LinuxResources{
		Memory: &spec.LinuxMemory{Limit: &mem, Swap: &mem},
		CPU:    &spec.LinuxCPU{Period: &period, Quota: &quota},
		Pids:   &spec.LinuxPids{Limit: c.Pids},
	}
	for _, r := range c.Rlimits {
		g.Rlimits = append(g.Rlimits, spec.POSIXRlimit{Type: r.Type, Hard: r.Hard, Soft: r.Soft})
	}
	switch c.Network {
	case "":
		g.NetNS = specgen.Namespace{NSMode: specgen.NoNetwork}
	case "default":
	default:
		g.NetNS = specgen.Namespace{NSMode: specgen.Bridge}
		g.Networks = map[string]nettypes.PerNetworkOptions{c.Network: {}}
	}
	for _, m := range c.Mounts {
		g.Mounts = append(g.Mounts, spec.Mount{Type: "bind", Source: m.Source, Destination: m.Destination, Options: m.Options})
	}
	for _, p := range c.Ports {
		g.PortMappings = append(g.PortMappings, nettypes.PortMapping{ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIP: p.HostIP, Protocol: p.Protocol})
	}
	g.HostAdd = c.Hosts
	g.ImageOS, g.ImageArch = c.ImageOS, c.ImageArc
	return g
}
