// Package mcpserver serves enclave over the Model Context Protocol
// (streamable HTTP, the official Go SDK): tools to create, list and delete
// sandboxes, every enclave tool in a sandbox and from the pool with the
// tool's own parameter schema, and file reads and writes. Each MCP session
// reaches only the sandboxes it created, and those are deleted when the
// session ends.
package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/enclave-sandbox/enclave/internal/manager"
)

// Manager is what the MCP tools need of the core (server.Manager has it).
type Manager interface {
	Create(ctx context.Context, sandboxType string, body json.RawMessage) (string, error)
	Get(id string) (manager.SandboxInfo, bool)
	Delete(ctx context.Context, id string) error
	Execute(ctx context.Context, id, toolName string, params json.RawMessage) (manager.Result, error)
	PoolExecute(ctx context.Context, toolName string, params json.RawMessage, waitSeconds float64) (manager.Result, error)
	PutArchive(ctx context.Context, id, targetDir string, r io.Reader) error
	GetArchive(ctx context.Context, id, path string, w io.Writer) error
}

// ToolSchema is an enclave tool and its OpenAI function schema
// ({"type":"function","function":{"name","description","parameters"}}).
type ToolSchema struct {
	Name   string
	Schema json.RawMessage
}

// Options configure the MCP endpoint.
type Options struct {
	Version string
	// Tools lists the loaded enclave tools.
	Tools  func() []ToolSchema
	Logger *slog.Logger
	// SessionTimeout closes (and cleans up) a session idle this long.
	SessionTimeout time.Duration
	// MaxFileBytes caps read_file and write_file.
	MaxFileBytes int64
}

// DefaultTools are the tools a create_sandbox without "tools" gets (those
// of them that are loaded).
var DefaultTools = []string{"python_executor", "shell_executor", "file_operation"}

// progressEvery is how often a long call without output reports progress.
const progressEvery = 5 * time.Second

// Handler is the /mcp endpoint: one MCP server per session.
func Handler(m Manager, o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 30 * time.Minute
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 8 << 20
	}
	return guard(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server {
		return newSession(m, o).server
	}, &mcp.StreamableHTTPOptions{Logger: o.Logger, SessionTimeout: o.SessionTimeout}))
}

// session is one MCP session's state: the sandboxes it created.
type session struct {
	m      Manager
	o      Options
	server *mcp.Server

	mu    sync.Mutex
	owned map[string]bool
	ended bool
}

func newSession(m Manager, o Options) *session {
	s := &session{m: m, o: o, owned: map[string]bool{}}
	s.server = mcp.NewServer(&mcp.Implementation{Name: "enclave", Title: "enclave sandboxes", Version: o.Version}, &mcp.ServerOptions{
		Instructions: "Run untrusted code in isolated enclave sandboxes. create_sandbox first, then call a tool with its " +
			"sandbox_id; pool_<tool> runs one call in a pooled sandbox without creating one. A session's sandboxes are " +
			"deleted when it ends.",
		Logger: o.Logger,
		InitializedHandler: func(_ context.Context, req *mcp.InitializedRequest) {
			go func() {
				req.Session.Wait()
				s.end()
			}()
		},
	})
	s.addTools()
	return s
}

// end deletes the session's sandboxes.
func (s *session) end() {
	s.mu.Lock()
	ids := make([]string, 0, len(s.owned))
	for id := range s.owned {
		ids = append(ids, id)
	}
	s.owned, s.ended = map[string]bool{}, true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range ids {
		if err := s.m.Delete(ctx, id); err != nil {
			s.o.Logger.Warn("mcp: delete a closed session's sandbox", "sandbox_id", id, "err", err)
		}
	}
}

// own checks that the session may reach id. A sandbox of another session
// (or of none) answers as if it did not exist.
func (s *session) own(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.owned[id] {
		return fmt.Errorf("sandbox %q not found in this session (create_sandbox makes one)", id)
	}
	return nil
}

func (s *session) addTools() {
	mcp.AddTool(s.server, &mcp.Tool{Name: "create_sandbox", Description: "Create a sandbox and return its sandbox_id. " +
		"Defaults: sandbox_type docker, the server's default image, tools " + strings.Join(DefaultTools, ", ") + ", no network."},
		s.createSandbox)
	mcp.AddTool(s.server, &mcp.Tool{Name: "list_sandboxes", Description: "List this session's sandboxes with status, image, age and tools."},
		s.listSandboxes)
	mcp.AddTool(s.server, &mcp.Tool{Name: "delete_sandbox", Description: "Delete one of this session's sandboxes."}, s.deleteSandbox)
	mcp.AddTool(s.server, &mcp.Tool{Name: "read_file", Description: "Read a file of a sandbox (UTF-8 text, or base64 for binary content)."},
		s.readFile)
	mcp.AddTool(s.server, &mcp.Tool{Name: "write_file", Description: "Write a file into a sandbox, creating its directory."},
		s.writeFile)
	if s.o.Tools == nil {
		return
	}
	for _, t := range s.o.Tools() {
		desc, params, err := splitSchema(t.Schema)
		if err != nil {
			s.o.Logger.Warn("mcp: tool schema not usable", "tool", t.Name, "err", err)
			continue
		}
		inSandbox, err := withSandboxID(params)
		if err != nil {
			s.o.Logger.Warn("mcp: tool schema not usable", "tool", t.Name, "err", err)
			continue
		}
		name := t.Name
		s.server.AddTool(&mcp.Tool{Name: name, Description: desc + " (in one of this session's sandboxes: give sandbox_id)",
			InputSchema: inSandbox}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return s.callInSandbox(ctx, req, name)
		})
		s.server.AddTool(&mcp.Tool{Name: "pool_" + name, Description: desc + " (in a pooled sandbox, lent for this one call)",
			InputSchema: params}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return s.callInPool(ctx, req, name)
		})
	}
}

// splitSchema reads an OpenAI function schema.
func splitSchema(raw json.RawMessage) (string, json.RawMessage, error) {
	var f struct {
		Function struct {
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return "", nil, err
	}
	if len(f.Function.Parameters) == 0 {
		f.Function.Parameters = json.RawMessage(`{"type":"object"}`)
	}
	return f.Function.Description, f.Function.Parameters, nil
}

// withSandboxID adds a required sandbox_id to a tool's parameter schema.
func withSandboxID(params json.RawMessage) (json.RawMessage, error) {
	var s map[string]any
	if err := json.Unmarshal(params, &s); err != nil {
		return nil, err
	}
	if s["type"] != "object" {
		return nil, errors.New("parameters are not an object schema")
	}
	props, _ := s["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	props["sandbox_id"] = map[string]any{"type": "string", "description": "the sandbox to run in (create_sandbox returns it)"}
	s["properties"] = props
	req, _ := s["required"].([]any)
	s["required"] = append([]any{"sandbox_id"}, req...)
	return json.Marshal(s)
}
