package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The sandbox tools: create_sandbox, list_sandboxes, delete_sandbox.

type createIn struct {
	SandboxType string         `json:"sandbox_type,omitempty" jsonschema:"docker (default) or another type the server serves"`
	Image       string         `json:"image,omitempty" jsonschema:"the container image (default: the server's)"`
	Tools       []string       `json:"tools,omitempty" jsonschema:"the tools to enable"`
	Config      map[string]any `json:"config,omitempty" jsonschema:"further sandbox config fields (ms-enclave's create body)"`
}

type createOut struct {
	SandboxID string   `json:"sandbox_id"`
	Tools     []string `json:"tools"`
}

func (s *session) createSandbox(ctx context.Context, _ *mcp.CallToolRequest, in createIn) (*mcp.CallToolResult, createOut, error) {
	typ := in.SandboxType
	if typ == "" {
		typ = "docker"
	}
	body := map[string]any{}
	for k, v := range in.Config {
		body[k] = v
	}
	if in.Image != "" {
		body["image"] = in.Image
	}
	tools := in.Tools
	if len(tools) == 0 && body["tools_config"] == nil {
		for _, t := range s.loaded() {
			if slices.Contains(DefaultTools, t) {
				tools = append(tools, t)
			}
		}
	}
	if len(tools) > 0 {
		tc := map[string]any{}
		for _, t := range tools {
			tc[t] = map[string]any{}
		}
		body["tools_config"] = tc
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, createOut{}, err
	}
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if ended {
		return nil, createOut{}, errors.New("the session has ended")
	}
	id, err := s.m.Create(ctx, typ, raw)
	if err != nil {
		return nil, createOut{}, fmt.Errorf("create: %w", err)
	}
	s.mu.Lock()
	s.owned[id] = true
	s.mu.Unlock()
	out := createOut{SandboxID: id, Tools: []string{}}
	if info, ok := s.m.Get(id); ok {
		out.Tools = toolNames(info)
	}
	return nil, out, nil
}

func (s *session) loaded() []string {
	var names []string
	if s.o.Tools != nil {
		for _, t := range s.o.Tools() {
			names = append(names, t.Name)
		}
	}
	return names
}

func toolNames(info manager.SandboxInfo) []string {
	names := []string{}
	for _, kv := range info.Tools {
		names = append(names, kv.Key)
	}
	return names
}

type sandboxOut struct {
	SandboxID string   `json:"sandbox_id"`
	Status    string   `json:"status"`
	Image     string   `json:"image"`
	AgeSec    float64  `json:"age_seconds"`
	Tools     []string `json:"tools"`
}

type listOut struct {
	Sandboxes []sandboxOut `json:"sandboxes"`
}

func (s *session) listSandboxes(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, listOut, error) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.owned))
	for id := range s.owned {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	sort.Strings(ids)
	out := listOut{Sandboxes: []sandboxOut{}}
	for _, id := range ids {
		info, ok := s.m.Get(id)
		if !ok {
			continue // deleted underneath (reaped, or by the HTTP API)
		}
		out.Sandboxes = append(out.Sandboxes, sandboxOut{SandboxID: id, Status: string(info.Status), Image: info.Image,
			AgeSec: time.Since(info.CreatedAt).Round(time.Second).Seconds(), Tools: toolNames(info)})
	}
	return nil, out, nil
}

type sandboxIn struct {
	SandboxID string `json:"sandbox_id" jsonschema:"the sandbox"`
}

type deletedOut struct {
	Deleted string `json:"deleted"`
}

func (s *session) deleteSandbox(ctx context.Context, _ *mcp.CallToolRequest, in sandboxIn) (*mcp.CallToolResult, deletedOut, error) {
	if err := s.own(in.SandboxID); err != nil {
		return nil, deletedOut{}, err
	}
	if err := s.m.Delete(ctx, in.SandboxID); err != nil {
		return nil, deletedOut{}, fmt.Errorf("delete: %w", err)
	}
	s.mu.Lock()
	delete(s.owned, in.SandboxID)
	s.mu.Unlock()
	return nil, deletedOut{Deleted: in.SandboxID}, nil
}
