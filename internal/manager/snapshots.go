package manager

// Snapshots: a sandbox's filesystem and config saved through its backend
// (docs/api.md §14.2). The backend keeps them (Podman: committed images),
// labelled with everything needed to list them after a restart; there is
// no other record.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/internal/runner"
	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// Labels of snapshot images (besides LabelInstance, LabelType and
// LabelConfig, which hold the source sandbox's).
const (
	labelSnapName    = "enclave.snapshot.name"
	labelSnapKind    = "enclave.snapshot.kind" // "named" or "fork"
	labelSnapSource  = "enclave.snapshot.source"
	labelSnapLabels  = "enclave.snapshot.labels"
	labelSnapCreated = "enclave.snapshot.created_at"
	labelSnapExpires = "enclave.snapshot.expires_at"
	// LabelImage is the image a sandbox started from a snapshot or fork
	// runs (its config keeps the image it was asked for).
	LabelImage = "enclave.image"
)

// MaxSnapshotLabels bounds a snapshot's labels; keys are 1 to 63 of
// [A-Za-z0-9_.-], values at most 256 bytes.
const MaxSnapshotLabels = 32

// SnapshotRequest is POST /sandbox/{id}/snapshot.
type SnapshotRequest struct {
	Name   string
	Labels map[string]string
	// TTL deletes the snapshot that long after its creation; 0: the
	// operator's --snapshot-ttl; negative: kept until deleted.
	TTL time.Duration
}

// Snapshot is a snapshot as the API shows it.
type Snapshot struct {
	Name      string
	ID        string
	SandboxID string
	Type      string
	Image     string
	Labels    map[string]string
	Config    json.RawMessage
	SizeBytes int64
	CreatedAt time.Time
	ExpiresAt time.Time
	// InUse counts the sandboxes started from it that still exist.
	InUse int
}

// snapshotKey is the backend's name for a snapshot: unique per instance.
func (m *Manager) snapshotKey(name string) string {
	h := sha256.Sum256([]byte(m.opts.Instance))
	return name + "." + hex.EncodeToString(h[:4])
}

// snapshotter is a sandbox's backend as a Snapshotter, or a clear refusal.
func snapshotter(be backend.Backend) (backend.Snapshotter, error) {
	if sn, ok := backend.Snapshots(be); ok {
		return sn, nil
	}
	return nil, errorf(KindUnsupported, "Snapshots are not supported by this sandbox's backend (docs/api.md §14.2)")
}

// ValidateSnapshotLabels checks a request's labels.
func ValidateSnapshotLabels(labels map[string]string) error {
	if len(labels) > MaxSnapshotLabels {
		return fmt.Errorf("at most %d labels", MaxSnapshotLabels)
	}
	for k, v := range labels {
		if !sandboxconfig.ValidSnapshotName(k) {
			return fmt.Errorf("label key %q: 1 to 63 of A-Z a-z 0-9 _ . -, starting with a letter or digit", k)
		}
		if len(v) > 256 {
			return fmt.Errorf("label %q: value longer than 256 bytes", k)
		}
	}
	return nil
}

// sourceSandbox is a sandbox a snapshot or fork can be taken of: active or
// paused, not a pool member (lent per call, its state is nobody's). It is
// counted in flight until release.
func (m *Manager) sourceSandbox(id string) (*sandbox, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sb, err := m.activeLocked(id, KindConflict)
	if err != nil {
		return nil, nil, err
	}
	if sb.pool {
		return nil, nil, errorf(KindConflict, "Sandbox %s is a pool member: pool members are lent per call", id)
	}
	sb.inflight++
	m.snapping++
	return sb, func() {
		m.mu.Lock()
		sb.inflight--
		m.snapping--
		sb.lastActivity = time.Now().UTC()
		m.mu.Unlock()
	}, nil
}

// TakeSnapshot saves a sandbox's filesystem and config as a named snapshot.
func (m *Manager) TakeSnapshot(ctx context.Context, id string, req SnapshotRequest) (Snapshot, error) {
	if req.Name != "" && !sandboxconfig.ValidSnapshotName(req.Name) {
		return Snapshot{}, errorf(KindBadRequest, "invalid snapshot name %q", req.Name)
	}
	if err := ValidateSnapshotLabels(req.Labels); err != nil {
		return Snapshot{}, errorf(KindBadRequest, "invalid labels: %v", err)
	}
	sb, release, err := m.sourceSandbox(id)
	if err != nil {
		return Snapshot{}, err
	}
	defer release()
	sn, err := snapshotter(sb.backend)
	if err != nil {
		return Snapshot{}, err
	}
	if req.Name == "" {
		req.Name = "snap-" + randomID()
	}
	done, err := m.claimSnapshotName(ctx, sn, req.Name)
	if err != nil {
		return Snapshot{}, err
	}
	defer done()

	now := time.Now().UTC()
	ttl := req.TTL
	if ttl == 0 {
		ttl = m.opts.SnapshotTTL
	}
	userLabels, _ := json.Marshal(req.Labels)
	if req.Labels == nil {
		userLabels = []byte("{}")
	}
	labels := m.snapshotLabels(sb, "named", now)
	labels[labelSnapName] = req.Name
	labels[labelSnapLabels] = string(userLabels)
	if ttl > 0 {
		labels[labelSnapExpires] = pyjson.FormatTime(now.Add(ttl))
	}
	m.mu.Lock()
	containerID := sb.containerID
	m.mu.Unlock()
	snap, err := sn.Snapshot(ctx, containerID, sdk.SnapshotRequest{Name: m.snapshotKey(req.Name), Labels: labels})
	if err != nil {
		return Snapshot{}, backendErr("snapshot", err)
	}
	return snapshotOf(snap), nil
}

// snapshotLabels are the labels of a snapshot image of sb.
func (m *Manager) snapshotLabels(sb *sandbox, kind string, now time.Time) map[string]string {
	return map[string]string{LabelInstance: m.opts.Instance, labelSnapKind: kind, labelSnapSource: sb.id,
		LabelType: sb.typ, LabelConfig: string(sb.cfgJSON), labelSnapCreated: pyjson.FormatTime(now)}
}

// claimSnapshotName holds name while its snapshot is made: it must be
// free, and the quota must have room for one more. done releases it.
func (m *Manager) claimSnapshotName(ctx context.Context, sn backend.Snapshotter, name string) (func(), error) {
	m.mu.Lock()
	if m.namingSnap[name] {
		m.mu.Unlock()
		return nil, errorf(KindConflict, "Snapshot %s already exists", name)
	}
	m.namingSnap[name] = true
	pending := len(m.namingSnap) - 1
	m.mu.Unlock()
	done := func() {
		m.mu.Lock()
		delete(m.namingSnap, name)
		m.mu.Unlock()
	}
	list, err := m.listSnapshots(ctx, sn)
	if err != nil {
		done()
		return nil, err
	}
	var total int64
	for _, s := range list {
		if s.Name == name {
			done()
			return nil, errorf(KindConflict, "Snapshot %s already exists", name)
		}
		total += s.SizeBytes
	}
	if m.opts.MaxSnapshots > 0 && len(list)+pending >= m.opts.MaxSnapshots {
		done()
		return nil, errorf(KindConflict, "Snapshot quota reached (%d snapshots; delete one, or raise --max-snapshots)", m.opts.MaxSnapshots)
	}
	if m.opts.MaxSnapshotBytes > 0 && total >= m.opts.MaxSnapshotBytes {
		done()
		return nil, errorf(KindConflict, "Snapshot quota reached (%d bytes of snapshots; delete one, or raise --max-snapshot-bytes)", total)
	}
	return done, nil
}

// listSnapshots is one backend's named snapshots of this instance.
func (m *Manager) listSnapshots(ctx context.Context, sn backend.Snapshotter) ([]Snapshot, error) {
	list, err := sn.Snapshots(ctx, map[string]string{LabelInstance: m.opts.Instance, labelSnapKind: "named"})
	if err != nil {
		return nil, backendErr("list snapshots", err)
	}
	out := make([]Snapshot, 0, len(list))
	for _, s := range list {
		if s.Name == "" {
			continue // deleted; the image waits for its last sandbox
		}
		out = append(out, snapshotOf(s))
	}
	return out, nil
}

// snapshotOf reads a snapshot back from its labels.
func snapshotOf(s sdk.Snapshot) Snapshot {
	out := Snapshot{Name: s.Labels[labelSnapName], ID: s.ID, SandboxID: s.Labels[labelSnapSource], Type: s.Labels[LabelType],
		Config: json.RawMessage(s.Labels[LabelConfig]), SizeBytes: s.SizeBytes, InUse: s.Containers, Labels: map[string]string{}}
	if out.Name == "" {
		out.Name = s.Name
	}
	_ = json.Unmarshal([]byte(s.Labels[labelSnapLabels]), &out.Labels)
	if t, err := pyjson.ParseTime(s.Labels[labelSnapCreated]); err == nil {
		out.CreatedAt = t
	} else {
		out.CreatedAt = s.Created
	}
	if t, err := pyjson.ParseTime(s.Labels[labelSnapExpires]); err == nil {
		out.ExpiresAt = t
	}
	if !json.Valid(out.Config) {
		out.Config = json.RawMessage("{}")
	}
	var cfg struct {
		Image string `json:"image"`
	}
	_ = json.Unmarshal(out.Config, &cfg)
	out.Image = cfg.Image
	return out
}

// snapshotBackends are the loaded backends that keep snapshots.
func (m *Manager) snapshotBackends() []backend.Snapshotter {
	var out []backend.Snapshotter
	for _, be := range m.plugins.Backends() {
		if sn, ok := backend.Snapshots(be); ok {
			out = append(out, sn)
		}
	}
	return out
}

// Snapshots lists the named snapshots carrying every given label, newest
// first.
func (m *Manager) Snapshots(ctx context.Context, labels map[string]string) ([]Snapshot, error) {
	out := []Snapshot{}
	for _, sn := range m.snapshotBackends() {
		list, err := m.listSnapshots(ctx, sn)
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			match := true
			for k, v := range labels {
				match = match && s.Labels[k] == v
			}
			if match {
				out = append(out, s)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// findSnapshot is the named snapshot on one backend.
func (m *Manager) findSnapshot(ctx context.Context, sn backend.Snapshotter, name string) (Snapshot, bool, error) {
	list, err := sn.Snapshots(ctx, map[string]string{LabelInstance: m.opts.Instance, labelSnapKind: "named", labelSnapName: name})
	if err != nil {
		return Snapshot{}, false, backendErr("look up snapshot", err)
	}
	for _, s := range list {
		if s.Name == m.snapshotKey(name) {
			return snapshotOf(s), true, nil
		}
	}
	return Snapshot{}, false, nil
}

// GetSnapshot returns one named snapshot.
func (m *Manager) GetSnapshot(ctx context.Context, name string) (Snapshot, error) {
	if !sandboxconfig.ValidSnapshotName(name) {
		return Snapshot{}, errorf(KindNotFound, "Snapshot %s not found", name)
	}
	for _, sn := range m.snapshotBackends() {
		s, ok, err := m.findSnapshot(ctx, sn, name)
		if err != nil {
			return Snapshot{}, err
		}
		if ok {
			return s, nil
		}
	}
	return Snapshot{}, errorf(KindNotFound, "Snapshot %s not found", name)
}

// DeleteSnapshot deletes a named snapshot: its name is free at once;
// sandboxes started from it keep running, and its storage goes with the
// last of them.
func (m *Manager) DeleteSnapshot(ctx context.Context, name string) error {
	if !sandboxconfig.ValidSnapshotName(name) {
		return errorf(KindNotFound, "Snapshot %s not found", name)
	}
	for _, sn := range m.snapshotBackends() {
		_, ok, err := m.findSnapshot(ctx, sn, name)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := sn.RemoveSnapshot(ctx, m.snapshotKey(name)); err != nil {
			return backendErr("delete snapshot", err)
		}
		m.discardSpares(func(cfg *sandboxconfig.Config) bool { return cfg.Snapshot == name })
		return nil
	}
	return errorf(KindNotFound, "Snapshot %s not found", name)
}

// collectSnapshots is the cleanup sweep's part for snapshots: expired
// named ones are deleted, and images no sandbox uses any more (a fork's,
// a deleted snapshot's) are removed (Delete also prunes when a sandbox
// from one goes).
func (m *Manager) collectSnapshots(ctx context.Context) {
	now := time.Now().UTC()
	for _, sn := range m.snapshotBackends() {
		list, err := m.listSnapshots(ctx, sn)
		if err != nil {
			slog.Warn("cleanup: list snapshots", "err", err)
			continue
		}
		for _, s := range list {
			if !s.ExpiresAt.IsZero() && now.After(s.ExpiresAt) {
				if err := m.DeleteSnapshot(ctx, s.Name); err != nil {
					slog.Warn("cleanup: delete expired snapshot", "snapshot", s.Name, "err", err)
				} else {
					slog.Info("cleanup: deleted", "snapshot", s.Name, "rule", "snapshot expired")
				}
			}
		}
		m.prune(ctx, sn)
	}
}

// pruneImages removes the images of be no sandbox uses any more.
func (m *Manager) pruneImages(ctx context.Context, be backend.Backend) {
	if sn, ok := backend.Snapshots(be); ok {
		m.prune(ctx, sn)
	}
}

// prune removes this instance's unnamed snapshot images that no container
// uses, unless a snapshot or fork is being made (its image has no
// container yet).
func (m *Manager) prune(ctx context.Context, sn backend.Snapshotter) {
	m.mu.Lock()
	busy := m.snapping > 0
	m.mu.Unlock()
	if busy {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if n, err := sn.PruneSnapshots(ctx, map[string]string{LabelInstance: m.opts.Instance}); err != nil {
		slog.Warn("prune snapshot images", "err", err)
	} else if n > 0 {
		slog.Info("removed unused snapshot images", "count", n)
	}
}

// fromSnapshot resolves a config's snapshot: the config it starts from and
// the image it runs.
func (m *Manager) fromSnapshot(ctx context.Context, typ string, be backend.Backend, body json.RawMessage, name string) (*sandboxconfig.Config, string, error) {
	sn, err := snapshotter(be)
	if err != nil {
		return nil, "", err
	}
	s, ok, err := m.findSnapshot(ctx, sn, name)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", createErr("snapshot %s not found", name)
	}
	if s.Type != typ {
		return nil, "", createErr("snapshot %s is of a %s sandbox, not %s", name, s.Type, typ)
	}
	cfg, err := sandboxconfig.ParseOver(typ, s.Config, body)
	if err != nil {
		return nil, "", createErr("%s", err.Error())
	}
	return cfg, s.ID, nil
}

// freshen clears what a sandbox started from a snapshot or fork inherited
// but does not own: its source's background-process records, keep-alive
// (the processes did not come along) and claim file (spares.go).
func (m *Manager) freshen(ctx context.Context, id string) error {
	res, err := m.exec.Exec(ctx, id, sdk.ExecRequest{Argv: []string{"rm", "-rf", runner.ProcDir, keepaliveFile, runner.ClaimFile}, Timeout: 30 * time.Second})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("rm exited with %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return err
}

// backendErr maps a backend failure of a snapshot operation.
func backendErr(op string, err error) error {
	var me *Error
	switch {
	case errors.As(err, &me):
		return err
	case errors.Is(err, sdk.ErrUnsupported):
		return &Error{Kind: KindUnsupported, Msg: "Failed to " + op + ": not supported by this sandbox's backend", Err: err}
	case errors.Is(err, sdk.ErrSandboxNotFound):
		return &Error{Kind: KindConflict, Msg: "Failed to " + op + ": the sandbox's container is gone", Err: err}
	case errors.Is(err, sdk.ErrInvalidArgument):
		return &Error{Kind: KindConflict, Msg: "Failed to " + op + ": " + err.Error(), Err: err}
	}
	return &Error{Kind: KindInternal, Msg: "Failed to " + op + ": " + err.Error(), Err: err}
}

// randomID is a fresh id that reserves nothing (snapshot names).
func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, len(b))
	for i, x := range b {
		out[i] = idAlphabet[int(x)%len(idAlphabet)]
	}
	return string(out)
}
