//go:build remote

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/containers/podman/v4/libpod/define"
	"github.com/containers/podman/v4/pkg/bindings/images"
	"github.com/containers/podman/v4/pkg/specgen"
	"github.com/containers/storage/pkg/idtools"
	storagetypes "github.com/containers/storage/types"

	"github.com/enclave-sandbox/enclave/sdk"
)

// requireLimits refuses a spec without memory, CPU and pids limits: no
// sandbox runs unbounded, whatever the caller forgot.
func requireLimits(s sdk.Spec) error {
	if s.MemoryBytes <= 0 || s.CPUs <= 0 || s.PidsLimit <= 0 {
		return fmt.Errorf("refusing a container without memory, CPU and pids limits (memory %d, cpus %g, pids %d): %w",
			s.MemoryBytes, s.CPUs, s.PidsLimit, sdk.ErrInvalidArgument)
	}
	return nil
}

// parseIDMap reads "CONTAINER:HOST:SIZE" (one range for uids and gids);
// "off" or "" means no user namespace.
func parseIDMap(s string) (*storagetypes.IDMappingOptions, error) {
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
	m := []idtools.IDMap{{ContainerID: n[0], HostID: n[1], Size: n[2]}}
	return &storagetypes.IDMappingOptions{UIDMap: m, GIDMap: m}, nil
}

// readHostFacts decides, from Podman's info, which protections this host
// can give, and says plainly which it cannot.
func readHostFacts(info *define.Info, userns string) (hostFacts, error) {
	var f hostFacts
	idmap, err := parseIDMap(userns)
	if err != nil {
		return f, fmt.Errorf("%w: %w", err, sdk.ErrInvalidArgument)
	}
	if info.Host != nil {
		f.rootless = info.Host.Security.Rootless
		if f.rootless && info.Host.CgroupsVersion == "v1" {
			f.warnings = append(f.warnings, "memory, CPU and pids limits are not enforced: rootless Podman on cgroups v1 (use cgroups v2 with the systemd cgroup manager, or rootful Podman)")
		}
	}
	if !f.rootless {
		f.idmap = idmap
		if idmap == nil {
			f.warnings = append(f.warnings, "sandboxes run without a user namespace: root in a sandbox is root on the host (the operator turned it off)")
		}
	}
	driver := ""
	if info.Store != nil {
		driver = info.Store.GraphDriverName
	}
	switch {
	case f.rootless:
		f.warnings = append(f.warnings, "disk limits are not enforced: rootless Podman cannot set storage quotas (run rootful Podman on btrfs storage, see README)")
	case driver != "btrfs":
		f.warnings = append(f.warnings, fmt.Sprintf("disk limits are not enforced: Podman's storage driver is %s (use btrfs storage with quotas: make podman-service sets it up, see README)", driver))
	default:
		f.diskLimit = true
	}
	return f, nil
}

// setCommand sets the container's command and entrypoint. An entrypoint of
// [] clears the image's: Podman's way is [""], and then the image's command
// no longer applies by itself, so it is passed explicitly.
func (p *Podman) setCommand(ctx context.Context, g *specgen.SpecGenerator, s sdk.Spec) error {
	if len(s.Command) > 0 {
		g.Command = s.Command
	}
	if !s.EntrypointSet {
		return nil
	}
	if len(s.Entrypoint) > 0 {
		g.Entrypoint = s.Entrypoint
		return nil
	}
	g.Entrypoint = []string{""}
	if len(s.Command) == 0 {
		img, err := images.GetImage(ctx, s.Image, nil)
		if err != nil {
			return fmt.Errorf("look up image %s: %w", s.Image, err)
		}
		if img.Config == nil || len(img.Config.Cmd) == 0 {
			return fmt.Errorf("entrypoint [] needs a command: the image %s has none: %w", s.Image, sdk.ErrInvalidArgument)
		}
		g.Command = img.Config.Cmd
	}
	return nil
}

// Health implements backend.HealthChecker: Podman answers its ping (a
// fresh connection, bounded by ctx), and what this host cannot enforce.
func (p *Podman) Health(ctx context.Context) (sdk.Health, error) {
	if _, err := p.withConn(ctx); err != nil {
		return sdk.Health{}, err
	}
	p.mu.Lock()
	dial, warnings := p.dial, p.host.warnings
	p.mu.Unlock()
	conn, err := dial(ctx)
	if err != nil {
		return sdk.Health{}, fmt.Errorf("podman does not answer: %w: %w", err, sdk.ErrUnavailable)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, "GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n"); err != nil {
		return sdk.Health{}, fmt.Errorf("podman does not answer: %w: %w", err, sdk.ErrUnavailable)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return sdk.Health{}, fmt.Errorf("podman does not answer: %w: %w", err, sdk.ErrUnavailable)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sdk.Health{}, fmt.Errorf("podman ping: HTTP %d: %w", resp.StatusCode, sdk.ErrUnavailable)
	}
	return sdk.Health{Warnings: append([]string(nil), warnings...)}, nil
}
