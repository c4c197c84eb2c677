package fake

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
)

// image is a fake snapshot: the files of the container it was made from.
type image struct {
	snap  sdk.Snapshot
	files map[string][]byte
}

// Snapshot implements backend.Snapshotter.
func (b *Backend) Snapshot(_ context.Context, ref string, req sdk.SnapshotRequest) (sdk.Snapshot, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.get(ref)
	if err != nil {
		return sdk.Snapshot{}, err
	}
	if req.Name != "" {
		for _, img := range b.images {
			if img.snap.Name == req.Name {
				return sdk.Snapshot{}, fmt.Errorf("name %s in use: %w", req.Name, sdk.ErrInvalidArgument)
			}
		}
	}
	b.seq++
	img := &image{snap: sdk.Snapshot{ID: fmt.Sprintf("img%061x", b.seq), Name: req.Name, Labels: maps.Clone(req.Labels),
		Created: time.Now().UTC()}, files: maps.Clone(c.Files)}
	for _, v := range c.Files {
		img.snap.SizeBytes += int64(len(v))
	}
	b.images[img.snap.ID] = img
	return b.withUsers(img), nil
}

// withUsers is a snapshot with its container count. Caller holds b.mu.
func (b *Backend) withUsers(img *image) sdk.Snapshot {
	s := img.snap
	for _, c := range b.containers {
		if c.Spec.Image == s.ID {
			s.Containers++
		}
	}
	return s
}

// Snapshots implements backend.Snapshotter.
func (b *Backend) Snapshots(_ context.Context, labels map[string]string) ([]sdk.Snapshot, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []sdk.Snapshot
	for _, img := range b.images {
		if hasLabels(img.snap.Labels, labels) {
			out = append(out, b.withUsers(img))
		}
	}
	return out, nil
}

// RemoveSnapshot implements backend.Snapshotter.
func (b *Backend) RemoveSnapshot(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, img := range b.images {
		if img.snap.Name == name {
			img.snap.Name = ""
			if b.withUsers(img).Containers == 0 {
				delete(b.images, id)
			}
		}
	}
	return nil
}

// PruneSnapshots implements backend.Snapshotter.
func (b *Backend) PruneSnapshots(ctx context.Context, labels map[string]string) (int, error) {
	list, _ := b.Snapshots(ctx, labels)
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range list {
		if s.Name == "" && s.Containers == 0 {
			delete(b.images, s.ID)
			n++
		}
	}
	return n, nil
}

// Pause implements backend.Pauser.
func (b *Backend) Pause(_ context.Context, ref string) error {
	return b.setPaused(ref, "running", "paused")
}

// Resume implements backend.Pauser.
func (b *Backend) Resume(_ context.Context, ref string) error {
	return b.setPaused(ref, "paused", "running")
}

func (b *Backend) setPaused(ref, from, to string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.get(ref)
	if err != nil {
		return err
	}
	if c.Status != from && c.Status != to {
		return fmt.Errorf("container is %s: %w", c.Status, sdk.ErrInvalidArgument)
	}
	c.Status = to
	return nil
}
