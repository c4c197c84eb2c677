#!/usr/bin/env bash
# The ms-enclave curl session, unchanged, against an enclave server
# (`make run` serves on :8000). Usage: examples/curl/session.sh [BASE_URL]
set -euo pipefail
BASE=${1:-http://localhost:8000}
KEY=${ENCLAVE_API_KEY:-}
auth=()
[ -n "$KEY" ] && auth=(-H "X-API-Key: $KEY")

# Create a sandbox with the Python tool.
id=$(curl -sS -f "${auth[@]}" -X POST "$BASE/sandbox/create?sandbox_type=docker" \
  -H 'Content-Type: application/json' \
  -d '{"image":"python:3.11-slim","tools_config":{"python_executor":{},"shell_executor":{},"file_operation":{}}}' \
  | sed -E 's/.*"sandbox_id":"([^"]+)".*/\1/')
echo "sandbox: $id"

# Run Python in it.
curl -sS -f "${auth[@]}" -X POST "$BASE/sandbox/tool/execute" -H 'Content-Type: application/json' \
  -d "{\"sandbox_id\":\"$id\",\"tool_name\":\"python_executor\",\"parameters\":{\"code\":\"print(40 + 2)\"}}"
echo

# A shell command, a file, and the tools the sandbox offers.
curl -sS -f "${auth[@]}" -X POST "$BASE/sandbox/tool/execute" -H 'Content-Type: application/json' \
  -d "{\"sandbox_id\":\"$id\",\"tool_name\":\"shell_executor\",\"parameters\":{\"command\":\"uname -s && id -u\"}}"
echo
curl -sS -f "${auth[@]}" -X POST "$BASE/sandbox/tool/execute" -H 'Content-Type: application/json' \
  -d "{\"sandbox_id\":\"$id\",\"tool_name\":\"file_operation\",\"parameters\":{\"operation\":\"write\",\"file_path\":\"notes/hello.txt\",\"content\":\"hi\"}}"
echo
curl -sS -f "${auth[@]}" "$BASE/sandbox/$id/tools" | head -c 200
echo " ..."

# Upload a tar, download a directory.
tmp=$(mktemp -d)
echo "from the host" > "$tmp/input.txt"
tar -C "$tmp" -cf "$tmp/in.tar" input.txt
curl -sS -f "${auth[@]}" -X POST "$BASE/sandbox/$id/archive?target_dir=/data" -H 'Content-Type: application/x-tar' --data-binary "@$tmp/in.tar"
echo
curl -sS -f "${auth[@]}" "$BASE/sandbox/$id/archive?path=notes" -o "$tmp/notes.tar"
tar -tf "$tmp/notes.tar"
rm -rf "$tmp"

# Clean up.
curl -sS -f "${auth[@]}" -X DELETE "$BASE/sandbox/$id"
echo
