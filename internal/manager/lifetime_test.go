package manager_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/internal/manager"
)

func TestIdleTimeoutAndKeepalive(t *testing.T) {
	opts := manager.DefaultOptions()
	opts.CleanupInterval = 20 * time.Millisecond
	m := manager.New(opts, plugins{fake.NewBackend()}, newExec(opts))
	m.Start(context.Background())
	defer m.Shutdown(context.Background(), false)
	ctx := context.Background()
	create := func(cfg string) string {
		id, err := m.Create(ctx, "docker", json.RawMessage(cfg))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	idle := create(`{"idle_timeout":1}`)
	kept := create(`{"idle_timeout":1}`)
	forever := create(`{}`)
	if info, _ := m.Get(idle); info.ExpiresAt.IsZero() || time.Until(info.ExpiresAt) > 2*time.Second {
		t.Errorf("expiry of a sandbox with idle_timeout 1: %v", info.ExpiresAt)
	}
	if info, _ := m.Get(forever); !info.ExpiresAt.IsZero() {
		t.Errorf("a sandbox without an idle timeout shows an expiry: %v", info.ExpiresAt)
	}
	exp, err := m.Keepalive(ctx, kept, time.Hour)
	if err != nil || time.Until(exp) < 59*time.Minute {
		t.Fatalf("keepalive for an hour: %v, %v", exp, err)
	}
	if exp, err := m.Keepalive(ctx, forever, 0); err != nil || !exp.IsZero() {
		t.Errorf("keepalive of a sandbox without an idle timeout: %v, %v", exp, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := m.Get(idle); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an idle sandbox with idle_timeout 1 was not reaped in 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range []string{kept, forever} {
		if _, ok := m.Get(id); !ok {
			t.Errorf("sandbox %s reaped with the idle one", id)
		}
	}
	var me *manager.Error
	if _, err := m.Keepalive(ctx, "nosuchid", 0); !errors.As(err, &me) || me.Kind != manager.KindNotFound {
		t.Errorf("keepalive of a missing sandbox: %v", err)
	}
	if _, err := m.StartProcess(ctx, forever, manager.ProcessRequest{Argv: []string{"true"}}); !errors.As(err, &me) || me.Kind != manager.KindConflict {
		t.Errorf("a process on a backend without sessions: %v, want a conflict", err)
	}
	if err := m.SignalProcess(ctx, forever, "p1", "SIGSEGV"); !errors.As(err, &me) || me.Kind != manager.KindInvalidParams {
		t.Errorf("a signal outside the allow-list: %v", err)
	}
}
