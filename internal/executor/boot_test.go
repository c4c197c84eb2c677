package executor

import (
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/internal/runner"
)

// TestBootOnlyKnownImages: a sandbox boots its runner only if its image
// ran one here before; a boot nobody answered takes the image off the list,
// unless its sandbox was removed meanwhile (which tells nothing of the
// image); without resident runners nothing boots.
func TestBootOnlyKnownImages(t *testing.T) {
	prepare := func(e *Executor, image string) *runner.Boot {
		t.Helper()
		d := t.TempDir()
		b := e.PrepareBoot(runner.Channel{HostDir: d, SandboxDir: d}, image)
		if b != nil {
			t.Cleanup(b.Close)
		}
		return b
	}
	e := New(Options{ResidentRunner: true, StartTimeout: 100 * time.Millisecond})
	if prepare(e, "img") != nil {
		t.Fatal("an image that never ran a runner here boots")
	}
	e.NoteBoot("img", true)
	b := prepare(e, "img")
	if b == nil {
		t.Fatal("an image that ran a runner does not boot")
	}
	if prepare(e, "other") != nil || prepare(e, "") != nil {
		t.Error("another image, or none, boots")
	}

	// Its sandbox removed while the boot waited: the image stays.
	removed := &entry{id: "a", target: Target{Backend: fake.NewBackend(), Image: "img"}}
	removed.runner.closed = true
	if r := e.acceptBoot(removed, b); r != nil {
		t.Fatal("a boot nobody answered gave a runner")
	}
	if prepare(e, "img") == nil {
		t.Error("a removed sandbox's boot took its image off the list")
	}
	// Nobody answered a live sandbox's boot: the image goes.
	live := &entry{id: "b", target: Target{Backend: fake.NewBackend(), Image: "img"}}
	if r := e.acceptBoot(live, prepare(e, "img")); r != nil {
		t.Fatal("a boot nobody answered gave a runner")
	}
	if prepare(e, "img") != nil {
		t.Error("an image whose boot failed still boots")
	}

	off := New(Options{ResidentRunner: false, StartTimeout: time.Second})
	off.NoteBoot("img", true)
	if prepare(off, "img") != nil {
		t.Error("a boot without resident runners")
	}
}
