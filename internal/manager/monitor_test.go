package manager_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/sdk"
)

// TestStrayContainerRemoved: a container of this instance that no sandbox,
// create or spare owns (a create whose removal failed while the runtime
// was down) is removed by the health monitor; sandboxes are kept.
func TestStrayContainerRemoved(t *testing.T) {
	m, b := newManager(t, func(o *manager.Options) { o.HealthInterval = 20 * time.Millisecond })
	ctx := context.Background()
	id, err := m.Create(ctx, "docker", json.RawMessage(`{"tools_config":["echo"]}`))
	if err != nil {
		t.Fatal(err)
	}
	// The stray is a child of a fork that failed: its image (unnamed, of
	// this instance) goes with it.
	in, _ := m.Get(id)
	img, err := b.Snapshot(ctx, in.ContainerID, sdk.SnapshotRequest{Labels: map[string]string{manager.LabelInstance: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{manager.LabelMSEnclave: "true", manager.LabelInstance: "default", manager.LabelID: "stray001"}
	stray, err := b.Create(ctx, sdk.Spec{Name: "sandbox-stray001", Image: img.ID, Labels: labels}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	other := map[string]string{manager.LabelMSEnclave: "true", manager.LabelInstance: "another", manager.LabelID: "other001"}
	if _, err := b.Create(ctx, sdk.Spec{Name: "sandbox-other001", Image: "python:3.11-slim", Labels: other}, time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stray container removed", func() bool {
		_, err := b.Inspect(ctx, stray.ContainerID)
		return err != nil
	})
	waitFor(t, "the stray's fork image removed", func() bool {
		list, _ := b.Snapshots(ctx, map[string]string{manager.LabelInstance: "default"})
		return len(list) == 0
	})
	if in, ok := m.Get(id); !ok || in.Status != manager.StatusRunning {
		t.Errorf("the sandbox beside the stray: %+v %v", in, ok)
	}
	if _, err := b.Inspect(ctx, "sandbox-other001"); err != nil {
		t.Errorf("another instance's container was removed: %v", err)
	}
}
