package manager

// Sandbox statuses and the container labels that carry a sandbox across restarts.

import (
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
)

// Status is a sandbox status.
type Status string

// Statuses.
const (
	StatusInitializing Status = "initializing"
	StatusRunning      Status = "running"
	StatusIdle         Status = "idle"
	StatusBusy         Status = "busy"
	StatusStopping     Status = "stopping"
	StatusStopped      Status = "stopped"
	StatusError        Status = "error"
)

// Statuses lists every status, in the contract's order.
var Statuses = []Status{StatusInitializing, StatusRunning, StatusIdle, StatusBusy, StatusStopping, StatusStopped, StatusError}

func (s Status) active() bool { return s == StatusRunning || s == StatusIdle || s == StatusBusy }

// Labels carried by every container.
const (
	LabelMSEnclave = "ms-enclave"
	LabelInstance  = "enclave.instance"
	LabelID        = "enclave.id"
	LabelType      = "enclave.type"
	LabelConfig    = "enclave.config"
	LabelCreatedAt = "enclave.created_at"
	LabelPool      = sdk.LabelPool
	// LabelOwner is the replica that made a container (docs/api.md §7.4):
	// pool members and spares are its to lend and replace.
	LabelOwner = "enclave.owner"
)

// setStatus changes a status and bumps updated_at. Caller holds m.mu.
func (sb *sandbox) setStatus(s Status) {
	sb.status = s
	sb.updated = time.Now().UTC()
}
