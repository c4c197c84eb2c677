package main

// The container spec of a sandbox, decided here from sdk.Spec and what the
// host can enforce, without the Podman bindings (specgen.go turns it into
// Podman's SpecGenerator), so these rules are unit-tested by plain go test.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/enclave-sandbox/enclave/sdk"
)

// keptCaps are the capabilities every non-privileged container keeps
// (README, "Security"); all others are dropped.
var keptCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_NET_BIND_SERVICE"}

// cpuPeriod is the CFS period CPU limits are expressed in (µs).
const cpuPeriod = 100000

// containerSpec is everything the backend sets on a container.
type containerSpec struct {
	Name, Image string
	Labels, Env map[string]string
	WorkDir     string
	// Command replaces the image's command; nil keeps it.
	Command []string
	// Entrypoint replaces the image's when EntrypointSet; an empty one
	// clears it (Podman's [""]), and then the image's command must be
	// passed explicitly (ImageCommandNeeded).
	Entrypoint         []string
	EntrypointSet      bool
	ImageCommandNeeded bool
	// Terminal: the image's default command runs with a TTY and open stdin,
	// so a REPL or shell stays alive until the sandbox is stopped.
	Terminal bool
	// UserNS maps root in the container to unprivileged host ids; nil: none.
	UserNS *idMap
	// StorageSize bounds what the container writes (bytes); 0: no bound.
	StorageSize int64
	Privileged  bool
	// Seccomp is a seccomp profile's path on the Podman host; "": Podman's.
	Seccomp  string
	CapDrop  []string
	CapAdd   []string
	Memory   int64 // bytes; swap is the same (no swap beyond memory)
	CPUQuota int64 // µs per cpuPeriod
	Pids     int64
	Rlimits  []rlimit
	// Network: "" none, "default" Podman's default network, else a named one.
	Network  string
	Mounts   []bindMount
	Ports    []portMapping
	Hosts    []string // "name:ip", sorted
	ImageOS  string
	ImageArc string
	// InitPath replaces Podman's init (boot.go); "": Podman's.
	InitPath string
}

type rlimit struct {
	Type       string
	Soft, Hard uint64
}

type bindMount struct {
	Source, Destination string
	Options             []string
}

type portMapping struct {
	ContainerPort, HostPort uint16
	HostIP, Protocol        string
}

// specFor decides a container's spec. It refuses a spec without memory,
// CPU and pids limits: no sandbox runs unbounded, whatever the caller forgot.
func specFor(s sdk.Spec, facts hostFacts) (containerSpec, error) {
	if s.MemoryBytes <= 0 || s.CPUs <= 0 || s.PidsLimit <= 0 {
		return containerSpec{}, fmt.Errorf("refusing a container without memory, CPU and pids limits (memory %d, cpus %g, pids %d): %w",
			s.MemoryBytes, s.CPUs, s.PidsLimit, sdk.ErrInvalidArgument)
	}
	c := containerSpec{Name: s.Name, Image: s.Image, Labels: s.Labels, Env: s.Env, WorkDir: s.WorkingDir,
		Command: s.Command, Entrypoint: s.Entrypoint, EntrypointSet: s.EntrypointSet, Privileged: s.Privileged,
		Memory: s.MemoryBytes, CPUQuota: int64(s.CPUs * cpuPeriod), Pids: s.PidsLimit, Rlimits: rlimits()}
	if len(c.Command) == 0 {
		c.Command = nil
	}
	c.ImageCommandNeeded = s.EntrypointSet && len(s.Entrypoint) == 0 && len(s.Command) == 0
	c.Terminal = len(s.Command) == 0
	if facts.idmap != nil && !s.Privileged {
		c.UserNS = facts.idmap
	}
	if s.DiskBytes > 0 && facts.diskLimit {
		// With btrfs simple quotas (scripts/storage.sh) the limit counts
		// what the container writes, not the image it shares.
		c.StorageSize = s.DiskBytes
	}
	if !s.Privileged {
		c.CapDrop, c.CapAdd = []string{"ALL"}, keptCaps
		c.Seccomp = facts.seccomp
	}
	switch {
	case !s.NetworkEnabled:
	case s.Network == "" || s.Network == "bridge" || s.Network == "default":
		c.Network = "default"
	default:
		c.Network = s.Network
	}
	for _, m := range s.Mounts {
		opt := "rw"
		if m.ReadOnly {
			opt = "ro"
		}
		c.Mounts = append(c.Mounts, bindMount{Source: m.HostPath, Destination: m.ContainerPath, Options: []string{"rbind", opt}})
	}
	if s.Boot && facts.boot.shim != "" {
		c.InitPath = facts.boot.shim
		c.Mounts = append(c.Mounts, bindMount{Source: facts.boot.catatonit, Destination: bootInit, Options: []string{"rbind", "ro"}})
	}
	for _, pt := range s.Ports {
		num, proto, _ := strings.Cut(pt.ContainerPort, "/")
		cp, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			return containerSpec{}, fmt.Errorf("port %q: %w", pt.ContainerPort, sdk.ErrInvalidArgument)
		}
		if pt.HostPort > 65535 {
			return containerSpec{}, fmt.Errorf("host port %d: %w", pt.HostPort, sdk.ErrInvalidArgument)
		}
		if proto == "" {
			proto = "tcp"
		}
		c.Ports = append(c.Ports, portMapping{ContainerPort: uint16(cp), HostPort: uint16(pt.HostPort), HostIP: pt.HostIP, Protocol: proto})
	}
	for h, ip := range s.ExtraHosts {
		c.Hosts = append(c.Hosts, h+":"+ip)
	}
	sort.Strings(c.Hosts)
	if s.Platform != "" {
		c.ImageOS, c.ImageArc, _ = strings.Cut(s.Platform, "/")
		c.ImageArc, _, _ = strings.Cut(c.ImageArc, "/")
	}
	return c, nil
}

// rlimits are set explicitly: Podman otherwise raises nofile and nproc to
// values a host without CAP_SYS_RESOURCE cannot grant. nproc stays at this
// process's hard limit (the pids limit is the real bound); nofile gets 1024.
func rlimits() []rlimit {
	nofile := uint64(1024)
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Max < nofile {
		nofile = lim.Max
	}
	nproc := uint64(1 << 20)
	const rlimitNproc = 6
	if syscall.Getrlimit(rlimitNproc, &lim) == nil {
		nproc = lim.Max
	}
	return []rlimit{{Type: "nofile", Hard: nofile, Soft: nofile}, {Type: "nproc", Hard: nproc, Soft: nproc}}
}
