package backend_test

import (
	"context"
	"testing"

	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/sdk/sdktest"
)

// declares wraps a backend whose optional methods exist whatever the
// plugin behind it supports (as the host's plugin adapter does).
type declares struct {
	*fake.Backend
	caps []string
}

func (d declares) Capabilities() []string { return d.caps }

// noRename has no optional capability at all.
type noRename struct{ backend.Backend }

// eagerRename renames, but its names are not bookkeeping only (as on
// Kubernetes, where a claim also drops the pod's owner).
type eagerRename struct{ backend.Backend }

func (e eagerRename) Rename(context.Context, string, string) error { return nil }

// localMounts mounts this host's paths when local says so (as Podman's
// containers do when its service runs here).
type localMounts struct {
	backend.Backend
	local bool
}

func (l localMounts) MountsLocally() bool { return l.local }

// boots starts its runners itself when on says so.
type boots struct {
	backend.Backend
	on bool
}

func (b boots) Boots() bool { return b.on }

func TestHas(t *testing.T) {
	f := fake.NewBackend()
	tests := []struct {
		name string
		b    backend.Backend
		cap  string
		want bool
	}{
		{"implements Rename", f, sdk.CapRename, true},
		{"implements nothing optional", noRename{f}, sdk.CapRename, false},
		{"declares nothing though it has the method", declares{f, nil}, sdk.CapRename, false},
		{"declares rename", declares{f, []string{sdk.CapRename}}, sdk.CapRename, true},
		{"declares health only", declares{f, []string{sdk.CapHealth}}, sdk.CapRename, false},
		{"implements RenamesLazily", f, sdk.CapLazyRename, true},
		{"renames, not lazily", eagerRename{f}, sdk.CapLazyRename, false},
		{"renames, not lazily, still renames", eagerRename{f}, sdk.CapRename, true},
		{"declares rename only", declares{f, []string{sdk.CapRename}}, sdk.CapLazyRename, false},
		{"mounts locally", localMounts{f, true}, sdk.CapLocalMounts, true},
		{"mounts on another host", localMounts{f, false}, sdk.CapLocalMounts, false},
		{"does not say", f, sdk.CapLocalMounts, false},
		{"declares local mounts", declares{f, []string{sdk.CapLocalMounts}}, sdk.CapLocalMounts, true},
		{"boots", boots{f, true}, sdk.CapBoot, true},
		{"cannot boot here", boots{f, false}, sdk.CapBoot, false},
		{"does not say it boots", f, sdk.CapBoot, false},
	}
	for _, tt := range tests {
		if got := backend.Has(tt.b, tt.cap); got != tt.want {
			t.Errorf("%s: Has(%s) = %v, want %v", tt.name, tt.cap, got, tt.want)
		}
	}
}

// TestServeDeclares: over the plugin boundary, Info carries what the
// implementation has.
func TestServeDeclares(t *testing.T) {
	f := fake.NewBackend()
	for _, tt := range []struct {
		impl backend.Backend
		want bool
	}{{f, true}, {noRename{f}, false}} {
		c := sdktest.BackendClient(t, tt.impl)
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.Has(sdk.CapRename) != tt.want {
			t.Errorf("%T: capabilities %v", tt.impl, info.Capabilities)
		}
	}
}
