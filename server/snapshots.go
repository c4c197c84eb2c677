package server

// Snapshots, forks, pause and resume (docs/api.md §14.2, §14.3).

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
)

// maxSnapshotTTL bounds a snapshot's ttl (a year).
const maxSnapshotTTL = 365 * 24 * 3600

type snapshotRequestJSON struct {
	// Name: 1 to 63 of A-Z a-z 0-9 _ . -, starting with a letter or digit;
	// omitted: snap-<8 characters>.
	Name *string `json:"name,omitempty"`
	// Labels: at most 32; keys like names, values at most 256 bytes.
	Labels map[string]string `json:"labels,omitempty"`
	// TTL: seconds after which the snapshot is deleted (0: kept until
	// deleted); omitted: the operator's --snapshot-ttl.
	TTL *float64 `json:"ttl,omitempty"`
}

type snapshotJSON struct {
	Name        string            `json:"name"`
	SandboxID   string            `json:"sandbox_id"`
	SandboxType string            `json:"sandbox_type"`
	Image       string            `json:"image"`
	ImageID     string            `json:"image_id"`
	Labels      map[string]string `json:"labels"`
	SizeBytes   int64             `json:"size_bytes"`
	CreatedAt   string            `json:"created_at"`
	ExpiresAt   *string           `json:"expires_at"`
	InUse       int               `json:"in_use"`
	Config      any               `json:"config"`
}

type snapshotListJSON struct {
	Snapshots []snapshotJSON `json:"snapshots"`
}

type forkJSON struct {
	SandboxIDs []string `json:"sandbox_ids"`
}

type pauseJSON struct {
	SandboxID string  `json:"sandbox_id"`
	Paused    bool    `json:"paused"`
	PausedAt  *string `json:"paused_at"`
}

func snapshotOf(s manager.Snapshot) snapshotJSON {
	out := snapshotJSON{Name: s.Name, SandboxID: s.SandboxID, SandboxType: s.Type, Image: s.Image, ImageID: s.ID,
		Labels: s.Labels, SizeBytes: s.SizeBytes, CreatedAt: pyjson.FormatTime(s.CreatedAt), InUse: s.InUse, Config: s.Config}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if !s.ExpiresAt.IsZero() {
		t := pyjson.FormatTime(s.ExpiresAt)
		out.ExpiresAt = &t
	}
	return out
}

// parseSnapshotRequest validates POST /sandbox/{id}/snapshot's body (none
// is an empty one).
func parseSnapshotRequest(raw json.RawMessage) (manager.SnapshotRequest, error) {
	var req manager.SnapshotRequest
	body, err := objectBody(raw, true)
	if err != nil || body == nil {
		return req, err
	}
	var in snapshotRequestJSON
	if err := json.Unmarshal(body, &in); err != nil {
		return req, invalid(validationError{Type: "model_type", Loc: []any{"body"},
			Msg: "Fields: name (string), labels (object of strings), ttl (number of seconds)", Input: nil})
	}
	if in.Name != nil {
		if !sandboxconfig.ValidSnapshotName(*in.Name) {
			return req, invalid(validationError{Type: "string_pattern_mismatch", Loc: []any{"body", "name"},
				Msg: "String should be 1 to 63 of A-Z a-z 0-9 _ . -, starting with a letter or digit", Input: *in.Name})
		}
		req.Name = *in.Name
	}
	if err := manager.ValidateSnapshotLabels(in.Labels); err != nil {
		return req, invalid(validationError{Type: "value_error", Loc: []any{"body", "labels"}, Msg: "Value error, " + err.Error(), Input: nil})
	}
	req.Labels = in.Labels
	if in.TTL != nil {
		ttl := *in.TTL
		if math.IsNaN(ttl) || ttl < 0 || ttl > maxSnapshotTTL {
			return req, invalid(validationError{Type: "value_error", Loc: []any{"body", "ttl"},
				Msg: fmt.Sprintf("Value error, seconds between 0 and %d (0: kept until deleted)", maxSnapshotTTL), Input: ttl})
		}
		req.TTL = time.Duration(ttl * float64(time.Second))
		if req.TTL == 0 {
			req.TTL = -1 // kept until deleted, whatever the operator's default
		}
	}
	return req, nil
}

// labelQuery reads ?label=key=value filters (repeatable).
func labelQuery(r *http.Request) (map[string]string, error) {
	out := map[string]string{}
	for _, l := range r.URL.Query()["label"] {
		k, v, ok := strings.Cut(l, "=")
		if !ok || !sandboxconfig.ValidSnapshotName(k) {
			return nil, invalid(validationError{Type: "value_error", Loc: []any{"query", "label"}, Msg: "Value error, key=value with a valid label key", Input: l})
		}
		out[k] = v
	}
	return out, nil
}

func (s *Server) takeSnapshot(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("sandbox_id")
	annotate(r, id, "")
	raw, err := jsonObject(r, true)
	if err != nil {
		return err
	}
	req, err := parseSnapshotRequest(raw)
	if err != nil {
		return err
	}
	snap, err := s.m.TakeSnapshot(r.Context(), id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, snapshotOf(snap))
	return nil
}

func (s *Server) listSnapshots(w http.ResponseWriter, r *http.Request) error {
	labels, err := labelQuery(r)
	if err != nil {
		return err
	}
	list, err := s.m.Snapshots(r.Context(), labels)
	if err != nil {
		return err
	}
	out := snapshotListJSON{Snapshots: make([]snapshotJSON, 0, len(list))}
	for _, sn := range list {
		out.Snapshots = append(out.Snapshots, snapshotOf(sn))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getSnapshot(w http.ResponseWriter, r *http.Request) error {
	snap, err := s.m.GetSnapshot(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, snapshotOf(snap))
	return nil
}

func (s *Server) deleteSnapshot(w http.ResponseWriter, r *http.Request) error {
	if err := s.m.DeleteSnapshot(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, messageJSON{Message: "Snapshot deleted successfully"})
	return nil
}

func (s *Server) forkSandbox(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("sandbox_id")
	annotate(r, id, "")
	n, set, herr := intQuery(r, "count")
	if herr != nil {
		return herr
	}
	if !set {
		n = 1
	}
	if n < 1 || n > manager.MaxFork {
		return invalid(validationError{Type: "value_error", Loc: []any{"query", "count"},
			Msg: fmt.Sprintf("Value error, between 1 and %d", manager.MaxFork), Input: r.URL.Query().Get("count")})
	}
	ids, err := s.m.Fork(r.Context(), id, n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, forkJSON{SandboxIDs: ids})
	return nil
}

func (s *Server) pauseSandbox(w http.ResponseWriter, r *http.Request) error {
	return s.setPaused(w, r, true)
}

func (s *Server) resumeSandbox(w http.ResponseWriter, r *http.Request) error {
	return s.setPaused(w, r, false)
}

func (s *Server) setPaused(w http.ResponseWriter, r *http.Request, pause bool) error {
	id := r.PathValue("sandbox_id")
	annotate(r, id, "")
	op := s.m.Resume
	if pause {
		op = s.m.Pause
	}
	if err := op(r.Context(), id); err != nil {
		return err
	}
	info, ok := s.m.Get(id)
	if !ok {
		return errStatus(http.StatusNotFound, "Sandbox not found")
	}
	out := pauseJSON{SandboxID: id, Paused: !info.PausedAt.IsZero()}
	if out.Paused {
		t := pyjson.FormatTime(info.PausedAt)
		out.PausedAt = &t
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
