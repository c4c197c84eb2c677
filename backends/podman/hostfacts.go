package main

// What the connected Podman host can enforce, decided from its info (read
// by the tagged code in host.go) without the bindings.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/enclave-sandbox/enclave/sdk"
)

// hostFacts is what the connected Podman can and cannot enforce.
type hostFacts struct {
	rootless bool
	// diskLimit: per-container storage size limits work (rootful, btrfs
	// storage with quotas).
	diskLimit bool
	idmap     *idMap // nil: no user namespace
	// seccomp is the path of the sandboxes' seccomp profile on the Podman
	// host (seccomp.go); "": Podman's default.
	seccomp string
	// boot: what a sandbox needs to boot its runner (boot.go); zero: none.
	boot     bootFiles
	warnings []string
}

// idMap is one id range mapped for both uids and gids.
type idMap struct{ container, host, size int }

// podmanHost is the part of Podman's info the decision needs.
type podmanHost struct {
	rootless       bool
	cgroupsVersion string // "v1" or "v2"
	graphDriver    string
}

// parseIDMap reads "CONTAINER:HOST:SIZE" (one range for uids and gids);
// "off" or "" means no user namespace.
func parseIDMap(s string) (*idMap, error) {
	if s == "" || s == "off" {
		return nil, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return nil, fmt.Errorf("user namespace map %q: want CONTAINER:HOST:SIZE", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil || (i == 2 && v == 0) {
			return nil, fmt.Errorf("user namespace map %q: %q is not a valid id or size", s, p)
		}
		n[i] = int(v)
	}
	if n[1] == 0 {
		return nil, fmt.Errorf("user namespace map %q: mapping to host uid 0 keeps root on the host", s)
	}
	return &idMap{container: n[0], host: n[1], size: n[2]}, nil
}

// decideHostFacts decides which protections this host can give, and says
// plainly which it cannot.
func decideHostFacts(h podmanHost, userns string) (hostFacts, error) {
	var f hostFacts
	idmap, err := parseIDMap(userns)
	if err != nil {
		return f, fmt.Errorf("%w: %w", err, sdk.ErrInvalidArgument)
	}
	f.rootless = h.rootless
	if f.rootless && h.cgroupsVersion == "v1" {
		f.warnings = append(f.warnings, "memory, CPU and pids limits are not enforced: rootless Podman on cgroups v1 (use cgroups v2 with the systemd cgroup manager, or rootful Podman)")
	}
	if !f.rootless {
		f.idmap = idmap
		if idmap == nil {
			f.warnings = append(f.warnings, "sandboxes run without a user namespace: root in a sandbox is root on the host (the operator turned it off)")
		}
	}
	switch {
	case f.rootless:
		f.warnings = append(f.warnings, "disk limits are not enforced: rootless Podman cannot set storage quotas (run rootful Podman on btrfs storage, see README)")
	case h.graphDriver != "btrfs":
		f.warnings = append(f.warnings, fmt.Sprintf("disk limits are not enforced: Podman's storage driver is %s (use btrfs storage with quotas: make podman-service sets it up, see README)", h.graphDriver))
	default:
		f.diskLimit = true
	}
	return f, nil
}
