#!/usr/bin/env bash
# MCP by hand (docs/api.md §13.2): a session on /mcp, a sandbox, a Python
# call, a file read, and the session's end (which deletes its sandbox).
# Any MCP client does the same with the URL BASE_URL/mcp and the key.
# Usage: examples/curl/mcp.sh [BASE_URL]
set -euo pipefail
BASE=${1:-http://localhost:8000}
KEY=${ENCLAVE_API_KEY:-}
h=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
[ -n "$KEY" ] && h+=(-H "X-API-Key: $KEY")

# initialize: the answer's Mcp-Session-Id header names the session.
sid=$(curl -sS -f -D - -o /dev/null "${h[@]}" "$BASE/mcp" -d '{"jsonrpc":"2.0","id":1,"method":"initialize",
  "params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}' |
  sed -n 's/^mcp-session-id: *//Ip' | tr -d '\r')
echo "session: $sid"
h+=(-H "Mcp-Session-Id: $sid")
trap 'curl -sS -X DELETE "${h[@]}" "$BASE/mcp" >/dev/null' EXIT
curl -sS -f "${h[@]}" "$BASE/mcp" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'

# call NAME ARGS: a tools/call; prints the result's JSON (the SSE data line).
n=1
call() {
  n=$((n + 1))
  curl -sS -f "${h[@]}" "$BASE/mcp" -d "{\"jsonrpc\":\"2.0\",\"id\":$n,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$2}}" |
    sed -n 's/^data: //p'
}
curl -sS -f "${h[@]}" "$BASE/mcp" -d '{"jsonrpc":"2.0","id":100,"method":"tools/list"}' | grep -o '"name":"[a-z_]*"' | tr '\n' ' '
echo
id=$(call create_sandbox '{}' | sed -E 's/.*"structuredContent":\{"sandbox_id":"([^"]+)".*/\1/')
echo "sandbox: $id"
call python_executor "{\"sandbox_id\":\"$id\",\"code\":\"print(6 * 7)\"}"
call write_file "{\"sandbox_id\":\"$id\",\"path\":\"notes/hello.txt\",\"content\":\"hello from MCP\\n\"}"
call read_file "{\"sandbox_id\":\"$id\",\"path\":\"notes/hello.txt\"}"
