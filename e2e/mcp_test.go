package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpDir holds the npm clients (make mcp-deps installs them).
func mcpDir(t *testing.T) string {
	t.Helper()
	dir, _ := filepath.Abs("mcp")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		if os.Getenv("ENCLAVE_REQUIRE_NODE") == "1" {
			t.Fatal("the MCP tests need the npm clients: make mcp-deps")
		}
		t.Skip("no MCP npm clients (make mcp-deps)")
	}
	return dir
}

// node runs a script of e2e/mcp and returns its last stdout line.
func node(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %v: %v\nstdout: %s\nstderr: %s", args, err, out, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// gone waits (bounded) until the sandbox is deleted.
func gone(t *testing.T, s *server, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.C.GetSandbox(context.Background(), id); err != nil && strings.Contains(err.Error(), "404") {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("sandbox %s still exists", id)
}

// TestMCPClient drives /mcp with the official TypeScript SDK client: the
// tools and their schemas, create, calls with progress, files, the pool,
// another session's isolation, bad JSON-RPC, and a session's end deleting
// its sandboxes (e2e/mcp/client.mjs holds the checks).
func TestMCPClient(t *testing.T) {
	dir := mcpDir(t)
	const key = "mcp-key"
	s := startServer(t, key)
	if _, err := s.C.InitializePool(context.Background(), 1, "docker", poolTools); err != nil {
		t.Fatal(err)
	}
	var out struct{ Sandbox, Second, Deleted string }
	if err := json.Unmarshal([]byte(node(t, dir, "client.mjs", "http", s.URL, key)), &out); err != nil {
		t.Fatal(err)
	}
	if _, err := s.C.GetSandbox(context.Background(), out.Sandbox); err != nil {
		t.Errorf("the open session's sandbox: %v", err)
	}
	gone(t, s, out.Deleted) // delete_sandbox
	gone(t, s, out.Second)  // the terminated session's
}

// TestMCPStdio: `enclave mcp --stdio` relays a desktop agent's session to
// the server; the session's sandbox goes when stdin ends.
func TestMCPStdio(t *testing.T) {
	dir := mcpDir(t)
	const key = "mcp-stdio-key"
	s := startServer(t, key)
	bin := filepath.Join(os.Getenv("ENCLAVE_BIN_DIR"), "enclave")
	var out struct{ Sandbox string }
	if err := json.Unmarshal([]byte(node(t, dir, "client.mjs", "stdio", bin, s.URL, key)), &out); err != nil {
		t.Fatal(err)
	}
	gone(t, s, out.Sandbox)
	// Without a server to talk to, it fails clearly instead of waiting.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "mcp", "--stdio", "--url", "http://127.0.0.1:1")
	cmd.Stdin = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}` + "\n")
	if b, err := cmd.CombinedOutput(); err == nil || ctx.Err() != nil {
		t.Errorf("enclave mcp with no server: %v %s", err, b)
	}
}

// mcpApplicable are the conformance suite's server scenarios that apply to
// enclave; the others call fixture tools, prompts, resources or completions
// of the suite's own test server (docs/api.md §13.3 lists them and why).
var mcpApplicable = []string{"server-initialize", "ping", "logging-set-level", "tools-list", "resources-list",
	"prompts-list", "server-sse-multiple-streams", "dns-rebinding-protection"}

// TestMCPConformance runs the official conformance suite's applicable
// server checks against /mcp (the key in the query: the suite sends no
// headers of its own). make test-mcp-conformance prints its summary.
func TestMCPConformance(t *testing.T) {
	dir := mcpDir(t)
	const key = "conformance-key"
	s := startServer(t, key)
	passed, failed := 0, 0
	summary := regexp.MustCompile(`Passed: (\d+)/(\d+), (\d+) failed`)
	ansi := regexp.MustCompile("\x1b\\[[0-9;]*m")
	for _, sc := range mcpApplicable {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, filepath.Join(dir, "node_modules", ".bin", "conformance"), "server",
			"--url", s.URL+"/mcp?api_key="+key, "--scenario", sc)
		cmd.Dir = dir
		b, err := cmd.CombinedOutput()
		cancel()
		m := summary.FindStringSubmatch(ansi.ReplaceAllString(string(b), ""))
		if m == nil || m[3] != "0" || err != nil {
			failed++
			t.Errorf("conformance %s: %v\n%s", sc, err, tail(string(b), 40))
			continue
		}
		var p int
		fmt.Sscan(m[1], &p)
		passed += p
		t.Logf("conformance %s: %s/%s checks passed", sc, m[1], m[2])
	}
	t.Logf("mcp conformance: %d scenarios, %d checks passed, %d scenarios failed", len(mcpApplicable), passed, failed)
}

// TestChaosMCPKillServer: kill -9 of the server mid-session. The session
// is gone with the process (the client gets 404 and starts another, as the
// transport says), its sandbox is not lost, and a new session works.
func TestChaosMCPKillServer(t *testing.T) {
	s := startServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	session := mcpConnect(t, ctx, s.URL)
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "create_sandbox", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("create_sandbox: %v %+v", err, res)
	}
	id := res.StructuredContent.(map[string]any)["sandbox_id"].(string)
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()
	s2 := startServer(t, "", "--instance", s.Instance)
	_ = s2
	// The old session: an error, not a hang.
	_, err = session.CallTool(ctx, &mcp.CallToolParams{Name: "list_sandboxes", Arguments: map[string]any{}})
	if err == nil {
		t.Error("a call on the killed server's session succeeded")
	}
	session.Close()
	if _, err := s2.C.GetSandbox(ctx, id); err != nil {
		t.Errorf("the session's sandbox was lost across kill -9: %v", err)
	}
	fresh := mcpConnect(t, ctx, s2.URL)
	defer fresh.Close()
	res, err = fresh.CallTool(ctx, &mcp.CallToolParams{Name: "create_sandbox", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("create_sandbox after the restart: %v %+v", err, res)
	}
	nid := res.StructuredContent.(map[string]any)["sandbox_id"].(string)
	res, err = fresh.CallTool(ctx, &mcp.CallToolParams{Name: "python_executor", Arguments: map[string]any{"sandbox_id": nid, "code": "print(7)"}})
	if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "7\n" {
		t.Fatalf("call after the restart: %v %+v", err, res)
	}
	// The other session's sandbox stays out of reach.
	res, err = fresh.CallTool(ctx, &mcp.CallToolParams{Name: "python_executor", Arguments: map[string]any{"sandbox_id": id, "code": "print(7)"}})
	if err != nil || !res.IsError {
		t.Errorf("a new session reached the old one's sandbox: %v %+v", err, res)
	}
}

// mcpConnect opens an MCP session with the Go SDK (through the suite's
// OpenAPI-checking transport).
func mcpConnect(t *testing.T, ctx context.Context, base string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "enclave-e2e", Version: "1"}, nil)
	session, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("mcp connect: %v", err)
	}
	return session
}
