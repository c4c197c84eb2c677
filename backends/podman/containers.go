//go:build remote

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/containers/podman/v4/libpod/define"
	"github.com/containers/podman/v4/pkg/bindings/containers"
	"github.com/containers/podman/v4/pkg/bindings/images"

	"github.com/enclave-sandbox/enclave/sdk"
)

// Creating, inspecting, listing, stopping, removing and renaming containers.

// ensureImage pulls a missing image.
func (p *Podman) ensureImage(ctx context.Context, image, platform string) error {
	ok, err := images.Exists(ctx, image, nil)
	if err != nil {
		return fmt.Errorf("look up image %s: %w", image, err)
	}
	if ok {
		return nil
	}
	opts := new(images.PullOptions).WithQuiet(true)
	if platform != "" {
		parts := strings.Split(platform, "/")
		opts = opts.WithOS(parts[0])
		if len(parts) > 1 {
			opts = opts.WithArch(parts[1])
		}
	}
	if _, err := images.Pull(ctx, image, opts); err != nil {
		return fmt.Errorf("%s: %w", err.Error(), sdk.ErrImageNotFound)
	}
	return nil
}

// Create implements backend.Backend.
func (p *Podman) Create(ctx context.Context, s sdk.Spec, startTimeout time.Duration) (sdk.State, error) {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return sdk.State{}, err
	}
	p.mu.Lock()
	facts := p.host
	p.mu.Unlock()
	cs, err := specFor(s, facts)
	if err != nil {
		return sdk.State{}, err
	}
	if err := p.ensureImage(ctx, s.Image, s.Platform); err != nil {
		return sdk.State{}, err
	}
	if cs.ImageCommandNeeded {
		if cs.Command, err = imageCommand(ctx, s.Image); err != nil {
			return sdk.State{}, err
		}
	}
	g := toSpecGenerator(cs)
	created, err := containers.CreateWithSpec(ctx, g, nil)
	if err != nil {
		return sdk.State{}, fmt.Errorf("%s: %w", err.Error(), sdk.ErrStartFailed)
	}
	fail := func(err error) (sdk.State, error) {
		// A failed create leaves no container behind.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := p.remove(rctx, created.ID); rerr != nil {
			slog.Warn("remove after failed start", "container", created.ID, "err", rerr)
		}
		return sdk.State{}, err
	}
	if err := containers.Start(ctx, created.ID, nil); err != nil {
		return fail(fmt.Errorf("%s: %w", err.Error(), sdk.ErrStartFailed))
	}
	if startTimeout <= 0 {
		startTimeout = 30 * time.Second
	}
	deadline := time.Now().Add(startTimeout)
	for {
		st, err := p.inspect(ctx, created.ID)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", err.Error(), sdk.ErrStartFailed))
		}
		if st.Status == "running" {
			return st, nil
		}
		if st.Status == "exited" || st.Status == "stopped" {
			return fail(fmt.Errorf("container exited at start with code %d: %w", st.ExitCode, sdk.ErrStartFailed))
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("container not running after %s (status %s): %w", startTimeout, st.Status, sdk.ErrStartFailed))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *Podman) inspect(ctx context.Context, ref string) (sdk.State, error) {
	d, err := containers.Inspect(ctx, ref, nil)
	if err != nil {
		return sdk.State{}, mapErr(err, "inspect container")
	}
	st := sdk.State{ContainerID: d.ID, Name: d.Name, Image: d.ImageName}
	if d.Config != nil {
		st.Labels = d.Config.Labels
	}
	if d.State != nil {
		st.Status = d.State.Status
		st.ExitCode = int(d.State.ExitCode)
		st.OOMKilled = d.State.OOMKilled
	}
	return st, nil
}

// Inspect implements backend.Backend.
func (p *Podman) Inspect(ctx context.Context, ref string) (sdk.State, error) {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return sdk.State{}, err
	}
	return p.inspect(ctx, ref)
}

// List implements backend.Backend.
func (p *Podman) List(ctx context.Context, labels map[string]string) ([]sdk.State, error) {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return nil, err
	}
	var filters []string
	for k, v := range labels {
		filters = append(filters, k+"="+v)
	}
	opts := new(containers.ListOptions).WithAll(true).WithFilters(map[string][]string{"label": filters})
	list, err := containers.List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]sdk.State, 0, len(list))
	for _, c := range list {
		name := ""
		if len(c.Names) > 0 {
			name = c.Names[0]
		}
		out = append(out, sdk.State{ContainerID: c.ID, Name: name, Status: c.State, Labels: c.Labels, ExitCode: int(c.ExitCode), Image: c.Image})
	}
	return out, nil
}

// Stop implements backend.Backend: SIGTERM (SIGHUP for a sandbox whose
// command runs on a terminal: an interactive shell ignores SIGTERM and ends
// on a hangup), SIGKILL once grace has passed. The grace is timed here, not
// by Podman, whose stop timeout counts whole seconds.
func (p *Podman) Stop(ctx context.Context, ref string, grace time.Duration) error {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return err
	}
	d, err := containers.Inspect(ctx, ref, nil)
	if err != nil {
		return mapErr(err, "stop container")
	}
	if d.State == nil || !d.State.Running {
		return nil
	}
	sig := "TERM"
	if d.Config != nil && d.Config.Tty {
		sig = "HUP"
	}
	if err := containers.Kill(ctx, ref, new(containers.KillOptions).WithSignal(sig)); err != nil {
		if err := mapErr(err, "stop container"); errors.Is(err, sdk.ErrSandboxNotFound) {
			return nil
		}
	}
	if grace > 0 {
		wctx, cancel := context.WithTimeout(ctx, grace)
		_, werr := containers.Wait(wctx, ref, new(containers.WaitOptions).WithCondition([]define.ContainerStatus{define.ContainerStateStopped, define.ContainerStateExited}))
		cancel()
		if werr == nil {
			return nil
		}
	}
	return mapErr(containers.Stop(ctx, ref, new(containers.StopOptions).WithTimeout(0)), "stop container")
}

// remove force-removes a container. Podman sometimes races its own cleanup
// of a just-killed container ("unlinkat .../shm: device or resource
// busy"); such a removal is retried a few times before it is an error.
func (p *Podman) remove(ctx context.Context, ref string) error {
	var err error
	for attempt := 0; attempt < 6; attempt++ {
		if err = p.removeOnce(ctx, ref); err == nil || !strings.Contains(err.Error(), "resource busy") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
	}
	return err
}

func (p *Podman) removeOnce(ctx context.Context, ref string) error {
	reports, err := containers.Remove(ctx, ref, new(containers.RemoveOptions).WithForce(true).WithVolumes(true).WithTimeout(0))
	if err = mapErr(err, "remove container"); errors.Is(err, sdk.ErrSandboxNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	for _, r := range reports {
		if r.Err != nil {
			if err := mapErr(r.Err, "remove container"); !errors.Is(err, sdk.ErrSandboxNotFound) {
				return err
			}
		}
	}
	return nil
}

// Remove implements backend.Backend.
func (p *Podman) Remove(ctx context.Context, ref string) error {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return err
	}
	return p.remove(ctx, ref)
}

// MountsLocally implements backend.LocalMounter (socket.go's
// mountsLocally).
func (p *Podman) MountsLocally() bool { return mountsLocally(p.cfg.URL) }

// catatonitPaths are where distributions install Podman's init.
var catatonitPaths = []string{"/usr/libexec/podman/catatonit", "/usr/libexec/catatonit/catatonit", "/usr/bin/catatonit"}

// hereBootFiles is findBootFiles for this plugin.
func hereBootFiles() (bootFiles, bool) {
	exe, err := os.Executable()
	if err != nil {
		return bootFiles{}, false
	}
	return findBootFiles(exe, catatonitPaths)
}

// Boots implements backend.Booter: with a Podman service on this host and
// enclave-boot and catatonit found (boot.go).
func (p *Podman) Boots() bool {
	_, ok := hereBootFiles()
	return ok && p.MountsLocally()
}

// RenamesLazily implements backend.LazyRenamer: nothing here depends on a
// container's name (every call goes by id).
func (p *Podman) RenamesLazily() {}

// Rename implements backend.Renamer.
func (p *Podman) Rename(ctx context.Context, ref, name string) error {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return err
	}
	return mapErr(containers.Rename(ctx, ref, new(containers.RenameOptions).WithName(name)), "rename container")
}
