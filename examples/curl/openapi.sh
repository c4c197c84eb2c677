#!/usr/bin/env bash
# The API describes itself (docs/api.md §13.1): the OpenAPI 3.1 document,
# its operations, and the pages that render it.
# Usage: examples/curl/openapi.sh [BASE_URL]
set -euo pipefail
BASE=${1:-http://localhost:8000}
KEY=${ENCLAVE_API_KEY:-}
auth=()
[ -n "$KEY" ] && auth=(-H "X-API-Key: $KEY")
curl -sS -f "${auth[@]}" "$BASE/openapi.json" -o /tmp/enclave-openapi.json
python3 - /tmp/enclave-openapi.json <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
print("openapi", doc["openapi"], "-", doc["info"]["title"], doc["info"]["version"])
for path, item in sorted(doc["paths"].items()):
    for method, op in item.items():
        print(f"  {method.upper():6} {path:55} {op['summary']}")
PY
echo "Swagger UI: $BASE/docs   Redoc: $BASE/redoc   console: $BASE/ui"
