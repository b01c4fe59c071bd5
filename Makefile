# Volant's build. `make run` starts Volant; `make test` runs every test.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

BIN        ?= bin
STATE_DIR  ?= $(if $(filter 0,$(shell id -u)),/var/lib/volant,$(HOME)/.local/share/volant)
LISTEN     ?= 127.0.0.1:7777
GOFLAGS_STATIC := CGO_ENABLED=0
TEST_TIMEOUT ?= 25m

.PHONY: all deps test-deps build image run test test-short bench fuzz lint clean k8s-bins

all: build

deps:
	@scripts/deps.sh

# What only the tests need (Chromium, matplotlib), on top of deps.
test-deps:
	@scripts/deps.sh --test

# bin/volant-browser is the browser plugin's workload (runtimes/browser/
# plugin.json takes it from there): static, it runs in the plugin's root.
build:
	@mkdir -p $(BIN)
	go build -o $(BIN)/volantd ./cmd/volantd
	go build -o $(BIN)/volar ./cmd/volar
	$(GOFLAGS_STATIC) go build -trimpath -ldflags='-s -w -buildid=' -o $(BIN)/kestrel ./cmd/kestrel
	$(GOFLAGS_STATIC) go build -trimpath -ldflags='-s -w -buildid=' -o $(BIN)/volant-browser ./runtimes/browser/cmd/volant-browser

image: deps build
	$(BIN)/volantd image build --state-dir $(STATE_DIR) --kestrel $(BIN)/kestrel

run: image
	$(BIN)/volantd serve --listen $(LISTEN) --state-dir $(STATE_DIR)

# kube-apiserver and etcd for the kubelet tests, built once from the Go
# module proxy (test/k8s/tools) and cached outside the clone.
k8s-bins:
	@scripts/k8s-bins.sh >/dev/null

# Every test, including the ones that boot real guests under QEMU.
test: deps test-deps build k8s-bins
	go vet ./...
	scripts/lint-openapi.sh
	KUBEBUILDER_ASSETS=$$(scripts/k8s-bins.sh) go test -count=1 -timeout $(TEST_TIMEOUT) -p 2 ./...

# Unit tests only (no guest boots).
test-short:
	go test -short -count=1 ./...

# Fuzz targets (package:target). `make test` runs their seed corpora
# (testdata/fuzz) as ordinary tests; `make fuzz` fuzzes each for FUZZTIME.
FUZZTIME ?= 30s
FUZZ_TARGETS := plugins:FuzzParseManifest plugins:FuzzActionsFromOpenAPI \
	kestrel/client:FuzzDecoders kestrel/proc:FuzzDecodeRequest \
	kestrel/files:FuzzExtract sandbox:FuzzSpecValidate

fuzz:
	@set -eo pipefail; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$pkg $$name ($(FUZZTIME))"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg 2>&1 | grep -E '^(fuzz: elapsed|--- FAIL|FAIL|ok|PASS)' | tail -3; \
	done

# Every benchmark, then the report: docs/benchmarks.json and docs/benchmarks.md.
BENCHTIME ?= 5x
bench: deps build
	set -o pipefail; go test -run '^$$' -bench . -benchtime $(BENCHTIME) -count 1 -timeout 60m ./... \
	  | go run ./internal/tools/benchreport -json docs/benchmarks.json -md docs/benchmarks.md

clean:
	rm -rf $(BIN)
