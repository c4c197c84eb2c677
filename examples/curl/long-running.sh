#!/usr/bin/env bash
# enclave's own routes for long-running work (docs/api.md §12): a streamed
# call, a background HTTP server queried by a later call, its log, a
# signal, and a keep-alive. Usage: examples/curl/long-running.sh [BASE_URL]
set -euo pipefail
BASE=${1:-http://localhost:8000}
KEY=${ENCLAVE_API_KEY:-}
auth=()
[ -n "$KEY" ] && auth=(-H "X-API-Key: $KEY")
json=(-H 'Content-Type: application/json')

id=$(curl -sS -f "${auth[@]}" "${json[@]}" -X POST "$BASE/sandbox/create?sandbox_type=docker" \
  -d '{"idle_timeout":600,"tools_config":{"python_executor":{},"shell_executor":{}}}' \
  | sed -E 's/.*"sandbox_id":"([^"]+)".*/\1/')
trap 'curl -sS "${auth[@]}" -X DELETE "$BASE/sandbox/$id" >/dev/null' EXIT
echo "sandbox: $id"

# A streamed call: output events as printed, then the ToolResult.
curl -sS -N -f "${auth[@]}" "${json[@]}" -H 'Accept: text/event-stream' -X POST "$BASE/sandbox/tool/execute" \
  -d "{\"sandbox_id\":\"$id\",\"tool_name\":\"python_executor\",\"parameters\":{\"code\":\"import time\\nprint('tick', flush=True)\\ntime.sleep(0.5)\\nprint('tock')\"}}"

# A background HTTP server; a later call queries it.
pid=$(curl -sS -f "${auth[@]}" "${json[@]}" -X POST "$BASE/sandbox/$id/processes" \
  -d '{"command":["python3","-m","http.server","8123","--bind","127.0.0.1"]}' \
  | sed -E 's/.*"process_id":"([^"]+)".*/\1/')
echo "process: $pid"
curl -sS -f "${auth[@]}" "${json[@]}" -X POST "$BASE/sandbox/tool/execute" \
  -d "{\"sandbox_id\":\"$id\",\"tool_name\":\"python_executor\",\"parameters\":{\"code\":\"import time, urllib.request\\nfor _ in range(100):\\n    try:\\n        print('served', urllib.request.urlopen('http://127.0.0.1:8123/').status); break\\n    except OSError:\\n        time.sleep(0.1)\"}}"
echo
curl -sS -f "${auth[@]}" "${json[@]}" -X POST "$BASE/sandbox/$id/processes/$pid/signal" -d '{"signal":"SIGTERM"}'
echo
curl -sS -f "${auth[@]}" -X POST "$BASE/sandbox/$id/processes/$pid/wait?timeout=10"
echo
curl -sS -f "${auth[@]}" "$BASE/sandbox/$id/processes/$pid/output?offset=0"
echo

# Keep it an hour more than its idle timeout.
curl -sS -f "${auth[@]}" "${json[@]}" -X POST "$BASE/sandbox/$id/keepalive" -d '{"timeout":3600}'
echo
