// Package client is a Go client of enclave's HTTP API (and of ms-enclave's:
// the API is the same). It is the counterpart of ms-enclave's
// HttpSandboxManager.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Client talks to one enclave server.
type Client struct {
	BaseURL string
	APIKey  string
	HTTP    *http.Client
}

// New returns a client for baseURL (e.g. http://127.0.0.1:8000).
func New(baseURL, apiKey string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), APIKey: apiKey, HTTP: &http.Client{}}
}

// APIError is a non-2xx answer.
type APIError struct {
	Status int
	// Detail is the raw "detail" value: a string, or a list for 422s.
	Detail json.RawMessage
}

func (e *APIError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message()) }

// Message is the detail as text.
func (e *APIError) Message() string {
	var s string
	if json.Unmarshal(e.Detail, &s) == nil {
		return s
	}
	return string(e.Detail)
}

// StatusOf returns the HTTP status of an *APIError, or 0.
func StatusOf(err error) int {
	if e, ok := err.(*APIError); ok {
		return e.Status
	}
	return 0
}

// ToolResult is a tool call's result.
type ToolResult struct {
	Status        string  `json:"status"`
	ExecutionTime float64 `json:"execution_time"`
	Timestamp     string  `json:"timestamp"`
	ToolName      string  `json:"tool_name"`
	Output        string  `json:"output"`
	Metadata      struct {
		ExitCode   int    `json:"exit_code"`
		DurationMS int64  `json:"duration_ms"`
		Verdict    string `json:"verdict,omitempty"`
		// StatusCode (batches): the status a refused call would have had.
		StatusCode int `json:"status_code,omitempty"`
	} `json:"metadata"`
	Error *string `json:"error"`
}

// SandboxInfo describes a sandbox.
type SandboxInfo struct {
	ID             string                     `json:"id"`
	Status         string                     `json:"status"`
	Type           string                     `json:"type"`
	Config         map[string]any             `json:"config"`
	CreatedAt      string                     `json:"created_at"`
	UpdatedAt      string                     `json:"updated_at"`
	Metadata       map[string]any             `json:"metadata"`
	AvailableTools map[string]json.RawMessage `json:"available_tools"`
}

// Stats is the /stats object.
type Stats struct {
	ManagerType     string         `json:"manager_type"`
	TotalSandboxes  int            `json:"total_sandboxes"`
	StatusCounts    map[string]int `json:"status_counts"`
	SandboxTypes    map[string]int `json:"sandbox_types"`
	Running         bool           `json:"running"`
	CleanupInterval int            `json:"cleanup_interval"`
	PoolSize        int            `json:"pool_size"`
	PoolEnabled     bool           `json:"pool_enabled"`
	PoolInitialized bool           `json:"pool_initialized"`
}

// Health is the /health object.
type Health struct {
	Healthy bool `json:"healthy"`
	// Warnings: limits the host cannot enforce; Errors: why no backend
	// answers.
	Warnings        []string `json:"warnings"`
	Errors          []string `json:"errors"`
	Version         string   `json:"version"`
	Uptime          float64  `json:"uptime"`
	ActiveSandboxes int      `json:"active_sandboxes"`
	SystemInfo      Stats    `json:"system_info"`
}

// PoolInit is the /pool/initialize answer.
type PoolInit struct {
	Message    string   `json:"message"`
	PoolSize   int      `json:"pool_size"`
	SandboxIDs []string `json:"sandbox_ids"`
	Errors     []string `json:"errors,omitempty"`
}

// Do sends a request and returns the response; non-2xx answers become
// *APIError. The caller closes the body.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string) (*http.Response, error) {
	u := c.BaseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.APIKey != "" {
		req.Header.Set("X-API-Key", c.APIKey)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e struct {
			Detail json.RawMessage `json:"detail"`
		}
		if json.Unmarshal(b, &e) != nil || e.Detail == nil {
			e.Detail, _ = json.Marshal(string(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Detail: e.Detail}
	}
	return resp, nil
}

func (c *Client) call(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.Do(ctx, method, path, q, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Health calls GET /health.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	return &h, c.call(ctx, http.MethodGet, "/health", nil, nil, &h)
}

// Healthz calls GET /healthz.
func (c *Client) Healthz(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// Stats calls GET /stats.
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	var s Stats
	return &s, c.call(ctx, http.MethodGet, "/stats", nil, nil, &s)
}

// CreateSandbox creates a sandbox; config is any JSON-encodable object (nil
// for the defaults).
func (c *Client) CreateSandbox(ctx context.Context, sandboxType string, config any) (string, error) {
	var out struct {
		SandboxID string `json:"sandbox_id"`
	}
	err := c.call(ctx, http.MethodPost, "/sandbox/create", url.Values{"sandbox_type": {sandboxType}}, config, &out)
	return out.SandboxID, err
}

// ListSandboxes calls GET /sandboxes; status "" lists all.
func (c *Client) ListSandboxes(ctx context.Context, status string) ([]SandboxInfo, error) {
	var q url.Values
	if status != "" {
		q = url.Values{"status": {status}}
	}
	var out []SandboxInfo
	return out, c.call(ctx, http.MethodGet, "/sandboxes", q, nil, &out)
}

// GetSandbox calls GET /sandbox/{id}.
func (c *Client) GetSandbox(ctx context.Context, id string) (*SandboxInfo, error) {
	var s SandboxInfo
	return &s, c.call(ctx, http.MethodGet, "/sandbox/"+url.PathEscape(id), nil, nil, &s)
}

// StopSandbox calls POST /sandbox/{id}/stop.
func (c *Client) StopSandbox(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPost, "/sandbox/"+url.PathEscape(id)+"/stop", nil, nil, nil)
}

// DeleteSandbox calls DELETE /sandbox/{id}.
func (c *Client) DeleteSandbox(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/sandbox/"+url.PathEscape(id), nil, nil, nil)
}

// ExecuteTool calls POST /sandbox/tool/execute.
func (c *Client) ExecuteTool(ctx context.Context, id, tool string, params any) (*ToolResult, error) {
	var r ToolResult
	in := map[string]any{"sandbox_id": id, "tool_name": tool, "parameters": params, "timeout": nil}
	return &r, c.call(ctx, http.MethodPost, "/sandbox/tool/execute", nil, in, &r)
}

// Tools calls GET /sandbox/{id}/tools and returns the raw JSON object.
func (c *Client) Tools(ctx context.Context, id string) (json.RawMessage, error) {
	resp, err := c.Do(ctx, http.MethodGet, "/sandbox/"+url.PathEscape(id)+"/tools", nil, nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// PutArchive uploads a tar stream and extracts it into targetDir.
func (c *Client) PutArchive(ctx context.Context, id, targetDir string, tar io.Reader) error {
	resp, err := c.Do(ctx, http.MethodPost, "/sandbox/"+url.PathEscape(id)+"/archive", url.Values{"target_dir": {targetDir}}, tar, "application/x-tar")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// GetArchive downloads a tar of path; the caller closes it.
func (c *Client) GetArchive(ctx context.Context, id, path string) (io.ReadCloser, error) {
	resp, err := c.Do(ctx, http.MethodGet, "/sandbox/"+url.PathEscape(id)+"/archive", url.Values{"path": {path}}, nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// InitializePool calls POST /pool/initialize.
func (c *Client) InitializePool(ctx context.Context, size int, sandboxType string, config any) (*PoolInit, error) {
	q := url.Values{"pool_size": {strconv.Itoa(size)}}
	if sandboxType != "" {
		q.Set("sandbox_type", sandboxType)
	}
	var out PoolInit
	return &out, c.call(ctx, http.MethodPost, "/pool/initialize", q, config, &out)
}

// ExecuteInPool calls POST /pool/execute; wait is the wait for a free
// sandbox in seconds (0: the server's default).
func (c *Client) ExecuteInPool(ctx context.Context, tool string, params any, wait float64) (*ToolResult, error) {
	q := url.Values{"tool_name": {tool}}
	if wait > 0 {
		q.Set("timeout", strconv.FormatFloat(wait, 'f', -1, 64))
	}
	var r ToolResult
	return &r, c.call(ctx, http.MethodPost, "/pool/execute", q, params, &r)
}

// Metrics returns the Prometheus exposition of GET /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.Do(ctx, http.MethodGet, "/metrics", nil, nil, "")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
