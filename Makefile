# enclave: `make run` sets everything up and serves; `make test` sets up and
# runs every test. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN := $(CURDIR)/bin
PLUGINS := $(BIN)/plugins
IMAGE := localhost/enclave-python:3.11
POLYGLOT_IMAGE := localhost/enclave-polyglot
SERVER_IMAGE := localhost/enclave:latest
POLYGLOT_PACKAGES := gcc g++ libc6-dev nodejs golang-go default-jdk-headless rustc ruby perl php-cli lua5.4 python3-pytest
PODMAN_TAGS := remote containers_image_openpgp exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper
LDFLAGS := -s -w -X main.version=$(VERSION)
TOOLS := $(notdir $(wildcard tools-plugins/*))

# Podman runs with the project's settings (runc, cgroupfs, ulimits) and
# storage (btrfs with quotas: disk limits; written by scripts/storage.sh).
export CONTAINERS_CONF := $(CURDIR)/deploy/containers.conf
export CONTAINERS_STORAGE_CONF := $(CURDIR)/.cache/storage.conf
PODMAN_SOCK ?= /run/enclave/podman.sock
ENCLAVE_HOST ?= 0.0.0.0
ENCLAVE_PORT ?= 8000
export ENCLAVE_HOST ENCLAVE_PORT

PROTOC_GEN_GO := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
GEN_BIN := $(CURDIR)/.cache/bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: setup-background web mcp-deps test-mcp-conformance image-server kube-bin test-k8s lint gen-tools bench help deps deps-test storage test-chaos test-fuzz image image-polyglot podman-service build run test test-unit test-integration test-e2e test-rootless vet fmt generate clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## install Podman, runc and friends (apt, as root)
	@scripts/deps.sh

deps-test: ## install deps plus Prometheus/promtool for the tests
	@scripts/deps.sh --test

storage: deps ## container storage with disk limits (btrfs with quotas in a loop file; ENCLAVE_STORAGE=default: none)
	@CONF=$(CONTAINERS_STORAGE_CONF) scripts/storage.sh

setup-background: storage ## start what takes longest to set up (both sandbox images, the test cluster's binaries) at the lowest priority in the background; the targets that need them wait for it
	@IMAGE=$(IMAGE) scripts/build-image.sh --background
	@IMAGE=$(POLYGLOT_IMAGE) EXTRA="$(POLYGLOT_PACKAGES)" scripts/build-image.sh --background
	@scripts/kube/build.sh --background

image: storage ## build the sandbox image localhost/enclave-python:3.11 (only when missing)
	@IMAGE=$(IMAGE) scripts/build-image.sh

image-polyglot: storage ## build localhost/enclave-polyglot (Python, C/C++, Node.js, Go, Java, Rust, Ruby, Perl, PHP, Lua) when missing
	@IMAGE=$(POLYGLOT_IMAGE) EXTRA="$(POLYGLOT_PACKAGES)" scripts/build-image.sh

podman-service: storage ## start a Podman API service on $(PODMAN_SOCK) (if none answers)
	@SOCK=$(PODMAN_SOCK) scripts/podman-service.sh

web: ## fetch the pages' pinned renderers (web/vendor.lock: Swagger UI, Redoc, xterm.js) from the npm registry into internal/webui/assets/vendor, once
	@scripts/deps.sh --web
	@scripts/web-vendor.sh

build: web ## build bin/enclave (with the pages' renderers embedded) and the plugins into bin/plugins
	@mkdir -p $(PLUGINS)
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/enclave ./cmd/enclave
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -tags '$(PODMAN_TAGS)' -o $(PLUGINS)/enclave-backend-podman ./backends/podman
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(PLUGINS)/enclave-backend-kubernetes ./backends/kubernetes
	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o $(PLUGINS)/enclave-boot ./cmd/enclave-boot
	@for t in $(TOOLS); do \
	  echo "build tool $$t"; \
	  CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(PLUGINS)/enclave-tool-$$t ./tools-plugins/$$t || exit 1; \
	done

run: deps image podman-service build ## set up everything and serve on $(ENCLAVE_HOST):$(ENCLAVE_PORT)
	$(BIN)/enclave server --plugin-dir $(PLUGINS) --podman-url unix://$(PODMAN_SOCK) \
	  --image-alias python:3.11-slim=$(IMAGE)

test: deps-test setup-background podman-service build lint test-unit test-fuzz image image-polyglot test-integration test-e2e test-mcp-conformance test-chaos test-rootless test-k8s ## set up and run unit, contract, integration, end-to-end, rootless and Kubernetes tests
	@echo "all tests passed"

test-unit: ## unit and contract tests with -race, plus go vet
	go vet ./...
	go vet -tags '$(PODMAN_TAGS)' ./backends/podman ./cmd/enclave-bench
	ENCLAVE_REQUIRE_TOOLS=1 CGO_ENABLED=1 go test -race -count=1 $$(go list ./... | grep -v -e /e2e)
	cd examples/custom-tool && go vet ./... && go test -count=1 ./...

test-integration: storage ## the Podman backend against the real Podman service
	ENCLAVE_REQUIRE_PODMAN=1 ENCLAVE_PODMAN_URL=unix://$(PODMAN_SOCK) ENCLAVE_TEST_IMAGE=$(IMAGE) \
	  CGO_ENABLED=0 go test -count=1 -timeout 15m -tags '$(PODMAN_TAGS)' ./backends/podman

test-e2e: storage mcp-deps ## the built server and plugins over real HTTP with real containers, and a real Prometheus
	ENCLAVE_REQUIRE_TOOLS=1 ENCLAVE_REQUIRE_PODMAN=1 ENCLAVE_PODMAN_URL=unix://$(PODMAN_SOCK) ENCLAVE_TEST_IMAGE=$(IMAGE) ENCLAVE_BIN_DIR=$(BIN) \
	  ENCLAVE_POLYGLOT_IMAGE=$(POLYGLOT_IMAGE) ENCLAVE_REQUIRE_BROWSER=1 ENCLAVE_REQUIRE_NODE=1 go test -count=1 -timeout 20m -skip 'TestChaos|TestRootless|TestMCPConformance' ./e2e/...

mcp-deps: ## the MCP TypeScript SDK client and conformance suite (npm, pinned by e2e/mcp/package-lock.json) for the e2e tests
	@test -d e2e/mcp/node_modules/@modelcontextprotocol/conformance || (cd e2e/mcp && npm ci --ignore-scripts --no-audit --no-fund)

test-mcp-conformance: storage mcp-deps ## the official MCP conformance suite's applicable server checks against /mcp (prints its summary)
	@set -o pipefail; ENCLAVE_REQUIRE_TOOLS=1 ENCLAVE_REQUIRE_PODMAN=1 ENCLAVE_PODMAN_URL=unix://$(PODMAN_SOCK) ENCLAVE_TEST_IMAGE=$(IMAGE) ENCLAVE_BIN_DIR=$(BIN) \
	  ENCLAVE_REQUIRE_NODE=1 go test -count=1 -timeout 10m -v -run '^TestMCPConformance$$' ./e2e/ | grep -E 'conformance|^(--- |ok|FAIL|PASS)'

test-chaos: storage ## chaos: kill -9 of server, plugins and Podman, podman rm -f, bombs, floods, hijacks, during pool calls
	ENCLAVE_REQUIRE_TOOLS=1 ENCLAVE_REQUIRE_PODMAN=1 ENCLAVE_PODMAN_URL=unix://$(PODMAN_SOCK) ENCLAVE_TEST_IMAGE=$(IMAGE) ENCLAVE_BIN_DIR=$(BIN) \
	  go test -count=1 -timeout 15m -run TestChaos ./e2e/...

# The core end-to-end cases, with every docker sandbox a pod on the cluster.
K8S_E2E := TestCurlSession|TestArchive|TestStopAndDelete|TestClientDisconnectKills|TestBackendPluginRestart|TestPythonExecutor|TestShellExecutor|TestFileOperation|TestToolSchemasAndValidation|TestOOMVerdict|TestPool|TestPoolTimeout|TestRestartKeepsSandboxes|TestCreateFromSpare|TestPoolCallerIsolation|TestRunnerHijack|TestRunnerWedge|TestStdinCannotHurtOtherCalls|TestChaosKillPlugins|TestChaosKillServer|TestStreamedCall|TestBackgroundHTTPServer|TestProcessOutlivesServer|TestTerminal|TestChaosProcessesKillBackendPlugin|TestChaosProcessesContainerRemoved|TestKube.*

image-server: storage build ## build localhost/enclave:latest, enclave's own image (static server, kubernetes backend, tools; no base image)
	@IMAGE=$(SERVER_IMAGE) BIN_DIR=$(BIN) scripts/build-server-image.sh

kube-bin: ## build the pinned test cluster's binaries (Kubernetes v1.37.2, etcd, containerd v2.3.7) once into .cache/kube/bin
	@scripts/kube/build.sh

test-k8s: storage image podman-service build image-server kube-bin ## the kubernetes backend on a real single-node cluster on loopback, brought up and torn down around the run
	IMAGE=$(IMAGE) SERVER_IMAGE=$(SERVER_IMAGE) BIN_DIR=$(BIN) PODMAN_URL=unix://$(PODMAN_SOCK) E2E_RUN='^($(K8S_E2E))$$' scripts/kube/test.sh

# A count, not a duration: Go before 1.27 can fail a duration-bounded run with
# "context deadline exceeded" and no crasher when a starved worker is busy as
# the time runs out (golang/go#75804; seen in CI here).
FUZZTIME ?= 10000x
test-fuzz: ## a short run of every Go fuzz target (FUZZTIME=1000000x for a long one)
	@set -eo pipefail; for p in $$(go list ./...); do \
	  for f in $$(go test -list '^Fuzz' $$p 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "fuzz $$p $$f"; out=$$(go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$p 2>&1) || { echo "$$out"; exit 1; }; echo "$$out" | tail -1; \
	  done; \
	done

test-rootless: storage ## core end-to-end cases with the server as an unprivileged user on rootless Podman
	@set -e; eval "$$(IMAGE=$(IMAGE) scripts/rootless.sh | sed 's/^/export /')"; \
	ENCLAVE_REQUIRE_ROOTLESS=1 go test -count=1 -timeout 10m -run TestRootless ./e2e/...

bench: deps storage image podman-service build kube-bin ## benchmark fresh servers against the Podman and Kubernetes floors (the test cluster brought up for it); prints a table, writes bench-<time>.json
	CGO_ENABLED=0 go build -tags '$(PODMAN_TAGS)' -o $(BIN)/enclave-bench ./cmd/enclave-bench
	scripts/kube/with-cluster.sh $(IMAGE) -- $(BIN)/enclave-bench --bin $(BIN) --podman-url unix://$(PODMAN_SOCK) --image $(IMAGE) $(BENCH_FLAGS)

vet: ## go vet, with and without the Podman build tags
	go vet ./...
	go vet -tags '$(PODMAN_TAGS)' ./backends/podman ./cmd/enclave-bench

lint: gen-tools ## gofmt check, go vet and staticcheck (with and without the Podman tags), and the proto against its generated code
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted" >&2; exit 1; fi
	$(MAKE) --no-print-directory vet
	go run $(STATICCHECK) ./...
	go run $(STATICCHECK) -tags '$(PODMAN_TAGS)' ./backends/podman ./cmd/enclave-bench
	cd examples/custom-tool && go vet ./... && go run $(STATICCHECK) ./...
	GEN_BIN=$(GEN_BIN) scripts/check-proto.sh

gen-tools: ## the pinned protobuf generators (and protoc, from apt) for make generate and make lint
	@command -v protoc >/dev/null || scripts/deps.sh --proto
	@test -x $(GEN_BIN)/protoc-gen-go || GOBIN=$(GEN_BIN) go install $(PROTOC_GEN_GO)
	@test -x $(GEN_BIN)/protoc-gen-go-grpc || GOBIN=$(GEN_BIN) go install $(PROTOC_GEN_GO_GRPC)

fmt: ## gofmt every Go file
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

generate: gen-tools ## regenerate the plugin protobuf code with the pinned generators
	PATH=$(GEN_BIN):$$PATH protoc -I sdk/proto --go_out=sdk/proto --go_opt=paths=source_relative \
	  --go-grpc_out=sdk/proto --go-grpc_opt=paths=source_relative sdk/proto/enclave/plugin/v1/plugin.proto

clean: ## remove build outputs
	rm -rf $(BIN) .cache
