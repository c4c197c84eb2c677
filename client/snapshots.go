package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// SnapshotOptions name and label a snapshot. TTL: deleted that long after
// it was made; 0: the server's --snapshot-ttl; negative: kept until
// deleted.
type SnapshotOptions struct {
	Name   string
	Labels map[string]string
	TTL    time.Duration
}

// Snapshot is a saved sandbox filesystem and config (docs/api.md §14.2).
type Snapshot struct {
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
	Config      json.RawMessage   `json:"config"`
}

// Snapshot saves a sandbox's filesystem and config as a named snapshot;
// create sandboxes from it with {"snapshot": name} in their config.
func (c *Client) Snapshot(ctx context.Context, id string, o SnapshotOptions) (*Snapshot, error) {
	in := map[string]any{}
	if o.Name != "" {
		in["name"] = o.Name
	}
	if len(o.Labels) > 0 {
		in["labels"] = o.Labels
	}
	switch {
	case o.TTL > 0:
		in["ttl"] = o.TTL.Seconds()
	case o.TTL < 0:
		in["ttl"] = 0
	}
	var out Snapshot
	if err := c.call(ctx, http.MethodPost, "/sandbox/"+url.PathEscape(id)+"/snapshot", nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Snapshots lists the snapshots carrying every given label, newest first.
func (c *Client) Snapshots(ctx context.Context, labels map[string]string) ([]Snapshot, error) {
	q := url.Values{}
	for k, v := range labels {
		q.Add("label", k+"="+v)
	}
	var out struct {
		Snapshots []Snapshot `json:"snapshots"`
	}
	if err := c.call(ctx, http.MethodGet, "/snapshots", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Snapshots, nil
}

// GetSnapshot returns one snapshot.
func (c *Client) GetSnapshot(ctx context.Context, name string) (*Snapshot, error) {
	var out Snapshot
	if err := c.call(ctx, http.MethodGet, "/snapshots/"+url.PathEscape(name), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteSnapshot deletes a snapshot; sandboxes started from it keep running.
func (c *Client) DeleteSnapshot(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/snapshots/"+url.PathEscape(name), nil, nil, nil)
}

// Fork starts count sandboxes from the current filesystem of one (all or
// none) and returns their ids.
func (c *Client) Fork(ctx context.Context, id string, count int) ([]string, error) {
	var out struct {
		SandboxIDs []string `json:"sandbox_ids"`
	}
	q := url.Values{"count": {strconv.Itoa(count)}}
	if err := c.call(ctx, http.MethodPost, "/sandbox/"+url.PathEscape(id)+"/fork", q, nil, &out); err != nil {
		return nil, err
	}
	return out.SandboxIDs, nil
}

// Pause freezes every process of a sandbox.
func (c *Client) Pause(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPost, "/sandbox/"+url.PathEscape(id)+"/pause", nil, nil, nil)
}

// Resume thaws a paused sandbox.
func (c *Client) Resume(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPost, "/sandbox/"+url.PathEscape(id)+"/resume", nil, nil, nil)
}
