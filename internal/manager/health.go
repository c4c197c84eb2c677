package manager

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// Health is the answer of /health: whether a backend's runtime answers, and
// what the runtime cannot enforce on this host.
type Health struct {
	Healthy  bool
	Warnings []string
	Errors   []string
}

// healthTTL keeps /health cheap: one probe per backend at most this often;
// healthProbe bounds each probe.
const (
	healthTTL   = 2 * time.Second
	healthProbe = 2 * time.Second
)

type healthCache struct {
	mu   sync.Mutex // held during a probe: concurrent callers share it
	at   time.Time
	last Health
}

// Health probes the backends (their runtime, not only the plugin process),
// at most once per healthTTL.
func (m *Manager) Health(ctx context.Context) Health {
	c := &m.health
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < healthTTL {
		return c.last
	}
	h := Health{}
	for _, be := range m.plugins.Backends() {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), healthProbe)
		warnings, err := probe(pctx, be)
		cancel()
		if err != nil {
			h.Errors = append(h.Errors, err.Error())
			continue
		}
		h.Healthy = true
		h.Warnings = append(h.Warnings, warnings...)
	}
	c.at, c.last = time.Now(), h
	return h
}

func probe(ctx context.Context, be backend.Backend) ([]string, error) {
	if hc, ok := backend.HealthCheck(be); ok {
		h, err := hc.Health(ctx)
		if err == nil || !errors.Is(err, sdk.ErrUnsupported) {
			return h.Warnings, err
		}
	}
	if _, err := be.Info(ctx); err != nil {
		return nil, fmt.Errorf("backend plugin does not answer: %w", err)
	}
	return nil, nil
}
