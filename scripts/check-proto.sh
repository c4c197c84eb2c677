#!/usr/bin/env bash
# Checks the plugin proto: it compiles, and the committed generated code is
# exactly what the pinned generators make of it (a proto edited without
# `make generate`, or generated code edited by hand, fails).
# Needs protoc (Debian: protobuf-compiler) and GEN_BIN holding the pinned
# protoc-gen-go and protoc-gen-go-grpc (the Makefile installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
proto=sdk/proto/enclave/plugin/v1/plugin.proto
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
PATH="$GEN_BIN:$PATH" protoc -I sdk/proto --go_out="$out" --go_opt=paths=source_relative \
  --go-grpc_out="$out" --go-grpc_opt=paths=source_relative "$proto"
status=0
for f in plugin.pb.go plugin_grpc.pb.go; do
  if ! diff -u "sdk/proto/enclave/plugin/v1/$f" "$out/enclave/plugin/v1/$f" >/dev/null; then
    echo "sdk/proto/enclave/plugin/v1/$f is not what $proto generates: run make generate" >&2
    status=1
  fi
done
exit $status
