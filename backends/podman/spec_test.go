package main

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/containers/common/pkg/seccomp"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"

	"github.com/enclave-sandbox/enclave/sdk"
)

func TestSpecFor(t *testing.T) {
	base := sdk.Spec{Name: "sandbox-a", Image: "img", MemoryBytes: 1 << 30, CPUs: 1.5, PidsLimit: 256, WorkingDir: "/sandbox"}
	ids := &idMap{container: 0, host: 1000000000, size: 65536}
	rootful := hostFacts{idmap: ids, diskLimit: true, seccomp: "/p/seccomp.json"}
	common := containerSpec{Name: "sandbox-a", Image: "img", WorkDir: "/sandbox", Memory: 1 << 30, CPUQuota: 150000, Pids: 256,
		CapDrop: []string{"ALL"}, CapAdd: keptCaps, Terminal: true, UserNS: ids, Seccomp: "/p/seccomp.json"}
	tests := []struct {
		name   string
		mutate func(*sdk.Spec)
		facts  hostFacts
		want   func(*containerSpec)
	}{
		{"defaults: no network, caps dropped, user namespace, a terminal for the image's command", func(*sdk.Spec) {}, rootful, func(*containerSpec) {}},
		{"a command runs without a terminal", func(s *sdk.Spec) { s.Command = []string{"sleep", "9"} }, rootful,
			func(c *containerSpec) { c.Command, c.Terminal = []string{"sleep", "9"}, false }},
		{"disk limit where the host enforces it", func(s *sdk.Spec) { s.DiskBytes = 1 << 20 }, rootful,
			func(c *containerSpec) { c.StorageSize = 1 << 20 }},
		{"no disk limit where it cannot", func(s *sdk.Spec) { s.DiskBytes = 1 << 20 }, hostFacts{rootless: true},
			func(c *containerSpec) { c.UserNS, c.Seccomp = nil, "" }},
		{"privileged keeps its capabilities, the host's ids and no seccomp of ours", func(s *sdk.Spec) { s.Privileged = true }, rootful,
			func(c *containerSpec) {
				c.Privileged, c.CapDrop, c.CapAdd, c.UserNS, c.Seccomp = true, nil, nil, nil, ""
			}},
		{"network asked for: the default network", func(s *sdk.Spec) { s.NetworkEnabled, s.Network = true, "bridge" }, rootful,
			func(c *containerSpec) { c.Network = "default" }},
		{"a named network", func(s *sdk.Spec) { s.NetworkEnabled, s.Network = true, "lab" }, rootful,
			func(c *containerSpec) { c.Network = "lab" }},
		{"a network named without network_enabled is no network", func(s *sdk.Spec) { s.Network = "lab" }, rootful, func(*containerSpec) {}},
		{"empty entrypoint: the image's command is passed explicitly", func(s *sdk.Spec) { s.EntrypointSet = true }, rootful,
			func(c *containerSpec) { c.EntrypointSet, c.ImageCommandNeeded = true, true }},
		{"entrypoint with a command", func(s *sdk.Spec) {
			s.EntrypointSet, s.Entrypoint, s.Command = true, []string{"/bin/x"}, []string{"y"}
		}, rootful, func(c *containerSpec) {
			c.EntrypointSet, c.Entrypoint, c.Command, c.Terminal = true, []string{"/bin/x"}, []string{"y"}, false
		}},
		{"mounts, ports, hosts (sorted), platform", func(s *sdk.Spec) {
			s.Mounts = []sdk.Mount{{HostPath: "/h", ContainerPath: "/c", ReadOnly: true}}
			s.Ports = []sdk.Port{{ContainerPort: "80/udp", HostIP: "127.0.0.1", HostPort: 8080}, {ContainerPort: "81", HostPort: 9}}
			s.ExtraHosts = map[string]string{"z": "10.0.0.2", "a": "10.0.0.1"}
			s.Platform = "linux/arm64/v8"
		}, rootful, func(c *containerSpec) {
			c.Mounts = []bindMount{{Source: "/h", Destination: "/c", Options: []string{"rbind", "ro"}}}
			c.Ports = []portMapping{{ContainerPort: 80, HostPort: 8080, HostIP: "127.0.0.1", Protocol: "udp"}, {ContainerPort: 81, HostPort: 9, Protocol: "tcp"}}
			c.Hosts = []string{"a:10.0.0.1", "z:10.0.0.2"}
			c.ImageOS, c.ImageArc = "linux", "arm64"
		}},
		{"boot: enclave-boot is the init, with catatonit mounted for it", func(s *sdk.Spec) { s.Boot = true },
			hostFacts{idmap: ids, diskLimit: true, seccomp: "/p/seccomp.json", boot: bootFiles{"/b/enclave-boot", "/usr/libexec/podman/catatonit"}},
			func(c *containerSpec) {
				c.InitPath = "/b/enclave-boot"
				c.Mounts = []bindMount{{Source: "/usr/libexec/podman/catatonit", Destination: bootInit, Options: []string{"rbind", "ro"}}}
			}},
		{"boot asked where it cannot: Podman's init", func(s *sdk.Spec) { s.Boot = true }, rootful, func(*containerSpec) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.mutate(&s)
			want := common
			if tt.facts.idmap == nil {
				want.UserNS = nil
			}
			tt.want(&want)
			got, err := specFor(s, tt.facts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(idMap{}), cmpopts.IgnoreFields(containerSpec{}, "Rlimits"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("specFor (-want +got):\n%s", diff)
			}
			if len(got.Rlimits) != 2 {
				t.Errorf("rlimits %v, want nofile and nproc", got.Rlimits)
			}
		})
	}
}

func TestSpecForRefuses(t *testing.T) {
	ok := sdk.Spec{Image: "img", MemoryBytes: 1, CPUs: 1, PidsLimit: 1}
	for name, mutate := range map[string]func(*sdk.Spec){
		"no memory limit":  func(s *sdk.Spec) { s.MemoryBytes = 0 },
		"no CPU limit":     func(s *sdk.Spec) { s.CPUs = 0 },
		"no pids limit":    func(s *sdk.Spec) { s.PidsLimit = -1 },
		"bad port":         func(s *sdk.Spec) { s.Ports = []sdk.Port{{ContainerPort: "http"}} },
		"host port > 2^16": func(s *sdk.Spec) { s.Ports = []sdk.Port{{ContainerPort: "80", HostPort: 70000}} },
	} {
		s := ok
		mutate(&s)
		if _, err := specFor(s, hostFacts{}); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
}

func TestSandboxSeccompRefusesKeyring(t *testing.T) {
	b, err := sandboxSeccomp()
	if err != nil {
		t.Fatal(err)
	}
	var p seccomp.Seccomp
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	allowed, refused := map[string]bool{}, map[string]bool{}
	for _, s := range p.Syscalls {
		for _, n := range s.Names {
			switch s.Action {
			case seccomp.ActAllow:
				allowed[n] = true
			case seccomp.ActErrno:
				refused[n] = s.ErrnoRet != nil && *s.ErrnoRet == uint(unix.EPERM)
			}
		}
	}
	for _, n := range keyringSyscalls {
		if allowed[n] || !refused[n] {
			t.Errorf("%s: allowed %v, refused with EPERM %v", n, allowed[n], refused[n])
		}
	}
	for _, n := range []string{"read", "clone", "execve", "openat"} {
		if !allowed[n] {
			t.Errorf("%s is not allowed: the profile is not Podman's default", n)
		}
	}
}
