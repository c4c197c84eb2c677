//go:build remote

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/containers/podman/v4/libpod/define"
	"github.com/containers/podman/v4/pkg/bindings/images"
	"github.com/containers/storage/pkg/idtools"
	storagetypes "github.com/containers/storage/types"

	"github.com/enclave-sandbox/enclave/sdk"
)

// readHostFacts reads what the decision needs from Podman's info.
func readHostFacts(info *define.Info, userns string) (hostFacts, error) {
	var h podmanHost
	if info.Host != nil {
		h.rootless, h.cgroupsVersion = info.Host.Security.Rootless, info.Host.CgroupsVersion
	}
	if info.Store != nil {
		h.graphDriver = info.Store.GraphDriverName
	}
	return decideHostFacts(h, userns)
}

// idMappings is an idMap as Podman's storage takes it.
func idMappings(m *idMap) *storagetypes.IDMappingOptions {
	ids := []idtools.IDMap{{ContainerID: m.container, HostID: m.host, Size: m.size}}
	return &storagetypes.IDMappingOptions{UIDMap: ids, GIDMap: ids}
}

// imageCommand is the image's own command, passed explicitly when an
// entrypoint of [] clears the image's (Podman's [""] drops the command too).
func imageCommand(ctx context.Context, image string) ([]string, error) {
	img, err := images.GetImage(ctx, image, nil)
	if err != nil {
		return nil, fmt.Errorf("look up image %s: %w", image, err)
	}
	if img.Config == nil || len(img.Config.Cmd) == 0 {
		return nil, fmt.Errorf("entrypoint [] needs a command: the image %s has none: %w", image, sdk.ErrInvalidArgument)
	}
	return img.Config.Cmd, nil
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
