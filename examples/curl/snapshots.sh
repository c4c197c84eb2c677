#!/usr/bin/env bash
# Snapshots, forks, pause and resume (docs/api.md §14.2, §14.3): prepare a
# sandbox once, save it, start a sandbox and a pool from it, fork it, freeze
# it. Usage: examples/curl/snapshots.sh [BASE_URL]
set -euo pipefail
BASE=${1:-http://localhost:8000}
KEY=${ENCLAVE_API_KEY:-}
auth=()
[ -n "$KEY" ] && auth=(-H "X-API-Key: $KEY")
json=(-H 'Content-Type: application/json')
name="prepared-$RANDOM"
ids=()
cleanup() {
  for x in "${ids[@]}"; do curl -sS "${auth[@]}" -X DELETE "$BASE/sandbox/$x" >/dev/null; done
  curl -sS "${auth[@]}" -X DELETE "$BASE/snapshots/$name" >/dev/null
}
trap cleanup EXIT
sid() { sed -E 's/.*"sandbox_id":"([^"]+)".*/\1/'; }
shell() { # shell ID COMMAND: the command's output
  curl -sS -f "${auth[@]}" "${json[@]}" -X POST "$BASE/sandbox/tool/execute" \
    -d "{\"sandbox_id\":\"$1\",\"tool_name\":\"shell_executor\",\"parameters\":{\"command\":\"$2\"}}" \
    | sed -E 's/.*"output":"([^"]*)".*/\1/'
  echo
}

id=$(curl -sS -f "${auth[@]}" "${json[@]}" -X POST "$BASE/sandbox/create?sandbox_type=docker" \
  -d '{"tools_config":{"shell_executor":{}},"env_vars":{"STAGE":"prepared"}}' | sid)
ids+=("$id")
echo "source: $id"
shell "$id" 'echo ready > /sandbox/state' >/dev/null

# Save it; list it by label.
curl -sS -f "${auth[@]}" "${json[@]}" -X POST "$BASE/sandbox/$id/snapshot" -d "{\"name\":\"$name\",\"labels\":{\"task\":\"demo\"}}" \
  | sed -E 's/.*("name":"[^"]+").*("size_bytes":[0-9]+).*/snapshot: \1 \2\n/'
curl -sS -f "${auth[@]}" "$BASE/snapshots?label=task=demo" | grep -o "\"name\":\"$name\"" | sed 's/^/listed: /'

# A sandbox from it: the source's files and config.
from=$(curl -sS -f "${auth[@]}" "${json[@]}" -X POST "$BASE/sandbox/create?sandbox_type=docker" -d "{\"snapshot\":\"$name\"}" | sid)
ids+=("$from")
echo "from the snapshot: $(shell "$from" 'cat /sandbox/state; echo $STAGE')"

# Two children of the source as it is now.
kids=$(curl -sS -f "${auth[@]}" -X POST "$BASE/sandbox/$id/fork?count=2" | sed -E 's/.*"sandbox_ids":\[([^]]*)\].*/\1/' | tr -d '"' | tr ',' ' ')
for k in $kids; do
  ids+=("$k")
  echo "fork child $k: $(shell "$k" 'cat /sandbox/state')"
done

# Frozen: calls answer 409 until resumed.
curl -sS -f "${auth[@]}" -X POST "$BASE/sandbox/$id/pause"; echo
curl -sS "${auth[@]}" "${json[@]}" -X POST "$BASE/sandbox/tool/execute" \
  -d "{\"sandbox_id\":\"$id\",\"tool_name\":\"shell_executor\",\"parameters\":{\"command\":\"true\"}}"; echo
curl -sS -f "${auth[@]}" -X POST "$BASE/sandbox/$id/resume"; echo
echo "after resume: $(shell "$id" 'cat /sandbox/state')"
