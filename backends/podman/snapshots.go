//go:build remote

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/containers/podman/v4/pkg/bindings/containers"
	"github.com/containers/podman/v4/pkg/bindings/images"

	"github.com/enclave-sandbox/enclave/sdk"
)

// Snapshots are committed images (podman commit): named ones are tagged
// snapshotRepo:<name>, unnamed ones (forks) carry no tag and are pruned once
// no container uses them. Pause and resume are Podman's (the cgroup freezer).

const (
	snapshotRepo = "localhost/enclave-snapshot"
	// labelBase is the image a snapshot was made from; it marks the
	// images Snapshots lists.
	labelBase = "enclave.snapshot.base"
)

// Snapshot implements backend.Snapshotter.
func (p *Podman) Snapshot(ctx context.Context, ref string, req sdk.SnapshotRequest) (sdk.Snapshot, error) {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return sdk.Snapshot{}, err
	}
	if req.Name != "" && !validTag(req.Name) {
		return sdk.Snapshot{}, fmt.Errorf("snapshot name %q: %w", req.Name, sdk.ErrInvalidArgument)
	}
	d, err := containers.Inspect(ctx, ref, nil)
	if err != nil {
		return sdk.Snapshot{}, mapErr(err, "snapshot")
	}
	// The image inherits the container's labels; every label given here
	// replaces the inherited one of its key.
	changes := make([]string, 0, len(req.Labels)+1)
	for k, v := range req.Labels {
		if !safeLabel.matches(k) {
			return sdk.Snapshot{}, fmt.Errorf("label key %q: %w", k, sdk.ErrInvalidArgument)
		}
		changes = append(changes, "LABEL "+k+"="+encodeLabel(v))
	}
	changes = append(changes, "LABEL "+labelBase+"="+d.Image)
	// A running container is paused while its filesystem is read, so the
	// snapshot is one instant of it; a paused one already is.
	opts := new(containers.CommitOptions).WithChanges(changes).WithPause(d.State != nil && d.State.Running && !d.State.Paused)
	if req.Name != "" {
		opts = opts.WithRepo(snapshotRepo).WithTag(req.Name)
	}
	id, err := containers.Commit(ctx, ref, opts)
	if err != nil {
		return sdk.Snapshot{}, mapErr(err, "commit container")
	}
	return p.snapshot(ctx, id.ID)
}

// snapshot reads one image back as a snapshot.
func (p *Podman) snapshot(ctx context.Context, id string) (sdk.Snapshot, error) {
	list, err := p.snapshots(ctx, nil, id)
	if err != nil {
		return sdk.Snapshot{}, err
	}
	if len(list) != 1 {
		return sdk.Snapshot{}, fmt.Errorf("image %s after commit: %w", id, sdk.ErrImageNotFound)
	}
	return list[0], nil
}

// Snapshots implements backend.Snapshotter.
func (p *Podman) Snapshots(ctx context.Context, labels map[string]string) ([]sdk.Snapshot, error) {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return nil, err
	}
	return p.snapshots(ctx, labels, "")
}

// snapshots lists the committed images carrying every label (and, with
// id, only that one). Podman 4.3 matches several label filters of one
// image list wrongly (none), so it is asked for one and the rest are
// matched here.
func (p *Podman) snapshots(ctx context.Context, labels map[string]string, id string) ([]sdk.Snapshot, error) {
	filters := map[string][]string{"label": {labelBase}}
	if id != "" {
		filters["id"] = []string{id}
	}
	list, err := images.List(ctx, new(images.ListOptions).WithAll(true).WithFilters(filters))
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]sdk.Snapshot, 0, len(list))
next:
	for _, im := range list {
		if im.Labels[labelBase] == "" {
			continue
		}
		s := sdk.Snapshot{ID: strings.TrimPrefix(im.ID, "sha256:"), Labels: map[string]string{}, Containers: im.Containers,
			Created: time.Unix(im.Created, 0).UTC()}
		for k, v := range im.Labels {
			if k != labelBase {
				s.Labels[k] = decodeLabel(v)
			}
		}
		for k, v := range labels {
			if s.Labels[k] != v {
				continue next
			}
		}
		for _, t := range im.RepoTags {
			if name, ok := strings.CutPrefix(t, snapshotRepo+":"); ok {
				s.Name = name
			}
		}
		if s.SizeBytes, err = p.layerSize(ctx, s.ID); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// layerSize is what a committed image adds to its base: the size of its
// top layer (images do not change, so it is kept).
func (p *Podman) layerSize(ctx context.Context, id string) (int64, error) {
	p.mu.Lock()
	n, ok := p.layerSizes[id]
	p.mu.Unlock()
	if ok {
		return n, nil
	}
	hist, err := images.History(ctx, id, nil)
	if err != nil {
		return 0, mapErr(err, "image history")
	}
	if len(hist) > 0 {
		n = hist[0].Size
	}
	p.mu.Lock()
	if p.layerSizes == nil {
		p.layerSizes = map[string]int64{}
	}
	p.layerSizes[id] = n
	p.mu.Unlock()
	return n, nil
}

// RemoveSnapshot implements backend.Snapshotter: the tag goes now, the
// image once no container uses it (PruneSnapshots).
func (p *Podman) RemoveSnapshot(ctx context.Context, name string) error {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return err
	}
	if !validTag(name) {
		return fmt.Errorf("snapshot name %q: %w", name, sdk.ErrInvalidArgument)
	}
	ref := snapshotRepo + ":" + name
	im, err := images.GetImage(ctx, ref, nil)
	if err = mapErr(err, "look up snapshot"); errors.Is(err, sdk.ErrSandboxNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if err := images.Untag(ctx, ref, name, snapshotRepo, nil); err != nil {
		if err = mapErr(err, "untag snapshot"); !errors.Is(err, sdk.ErrSandboxNotFound) {
			return err
		}
	}
	p.removeUnused(ctx, im.ID)
	return nil
}

// removeUnused removes an image unless something still uses it (then a
// later prune does).
func (p *Podman) removeUnused(ctx context.Context, id string) bool {
	rep, errs := images.Remove(ctx, []string{id}, nil)
	return len(errs) == 0 && rep != nil && len(rep.Deleted) > 0
}

// PruneSnapshots implements backend.Snapshotter.
func (p *Podman) PruneSnapshots(ctx context.Context, labels map[string]string) (int, error) {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return 0, err
	}
	list, err := p.snapshots(ctx, labels, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range list {
		if s.Name == "" && s.Containers == 0 && p.removeUnused(ctx, s.ID) {
			p.mu.Lock()
			delete(p.layerSizes, s.ID)
			p.mu.Unlock()
			n++
		}
	}
	return n, nil
}

// Pause implements backend.Pauser; a paused container is left as it is.
func (p *Podman) Pause(ctx context.Context, ref string) error {
	return p.setPaused(ctx, ref, true)
}

// Resume implements backend.Pauser; a running one is left as it is.
func (p *Podman) Resume(ctx context.Context, ref string) error {
	return p.setPaused(ctx, ref, false)
}

func (p *Podman) setPaused(ctx context.Context, ref string, pause bool) error {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return err
	}
	d, err := containers.Inspect(ctx, ref, nil)
	if err != nil {
		return mapErr(err, "inspect container")
	}
	if d.State == nil || (!d.State.Running && !d.State.Paused) {
		return fmt.Errorf("container is not running: %w", sdk.ErrInvalidArgument)
	}
	if d.State.Paused == pause {
		return nil
	}
	if pause {
		return mapErr(containers.Pause(ctx, ref, nil), "pause container")
	}
	return mapErr(containers.Unpause(ctx, ref, nil), "resume container")
}
