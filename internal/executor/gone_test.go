package executor

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/sdk"
)

// settling is a backend whose container reads "running" for the first
// `running` inspects and then what `then` says, as Podman's state does
// while a podman rm -f is under way.
type settling struct {
	*fake.Backend
	mu      sync.Mutex
	running int
	then    func() (sdk.State, error)
	asked   int
}

func (b *settling) Inspect(ctx context.Context, ref string) (sdk.State, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.asked++
	if b.running < 0 || b.asked <= b.running {
		return sdk.State{ContainerID: ref, Status: "running"}, nil
	}
	return b.then()
}

func TestContainerGoneWaitsForTheRuntimeToSettle(t *testing.T) {
	exited := func() (sdk.State, error) { return sdk.State{Status: "exited"}, nil }
	missing := func() (sdk.State, error) { return sdk.State{}, sdk.ErrSandboxNotFound }
	broken := func() (sdk.State, error) { return sdk.State{}, errors.New("service down") }
	tests := []struct {
		name      string
		running   int // inspects that still say running; -1: always
		then      func() (sdk.State, error)
		want      bool
		wantAsked int // 0: more than one
	}{
		{"exited at once", 0, exited, true, 1},
		{"removed at once", 0, missing, true, 1},
		{"exited after two looks", 2, exited, true, 3},
		{"removed after three looks", 3, missing, true, 4},
		{"backend error throughout: not gone", 0, broken, false, 0},
		{"still running: the runner died on its own", -1, exited, false, 0},
		{"inspect failing, then removed", 0, failingThen(2, missing), true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &settling{Backend: fake.NewBackend(), running: tt.running, then: tt.then}
			e := New(Options{ResidentRunner: true, StartTimeout: time.Second})
			en := &entry{id: "a", target: Target{Backend: b, ContainerID: "c1"}}
			if got := e.containerGone(context.Background(), en); got != tt.want {
				t.Errorf("containerGone = %v, want %v", got, tt.want)
			}
			switch {
			case tt.wantAsked > 0 && b.asked != tt.wantAsked:
				t.Errorf("inspected %d times, want %d", b.asked, tt.wantAsked)
			case tt.wantAsked == 0 && b.asked < 2:
				t.Errorf("inspected %d times: a running container must be asked again", b.asked)
			}
		})
	}
}

// failingThen fails n inspects (as Podman's may while it removes the
// container), then answers what then says.
func failingThen(n int, then func() (sdk.State, error)) func() (sdk.State, error) {
	calls := 0
	return func() (sdk.State, error) {
		calls++
		if calls <= n {
			return sdk.State{}, errors.New("container state improper")
		}
		return then()
	}
}
