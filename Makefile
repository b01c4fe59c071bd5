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

# The report's benchmarks, then the report: docs/benchmarks.json and
# docs/benchmarks.md. Each row is package, benchmarks, runs: the costly ones
# run once, so the whole takes 10-25 minutes on 2 cores under TCG. The
# hibernated fleet is BENCH_FLEET sandboxes made within BENCH_FLEET_BUDGET
# (it reports how many it made when the budget runs out first). A benchmark
# that fails leaves its figures out; the report lists what ran. Idle CPU is
# measured in a process of its own before the fleet: measured after it, in
# the same process, it read 0.3-1.4 % of a core per guest instead of ~0.12.
BENCHTIME ?= 5x
BENCH_FLEET ?= 500
BENCH_FLEET_BUDGET ?= 8m
BENCH_RUNS = \
  "sandbox BenchmarkCreateToFirstExec$$|BenchmarkExecTrue$$|BenchmarkHibernateWake$$ $(BENCHTIME)" \
  "sandbox BenchmarkIdleCPU$$ 1x" \
  "sandbox BenchmarkFork$$|BenchmarkConcurrentCreates20$$|BenchmarkIdleAdmitted$$|BenchmarkHibernatedFleet$$ 1x" \
  "rest/live BenchmarkListSandboxes1000$$ 200x" \
  "rest/live BenchmarkExecConcurrent$$ $(BENCHTIME)" \
  "rest/live BenchmarkExecMCPvsREST$$ 20x" \
  "daemon BenchmarkUserCreatePath$$ 3x" \
  "hypervisor/qemu BenchmarkRestoreToAgent$$|BenchmarkBootToAgent$$ $(BENCHTIME)" \
  "hypervisor/qemu BenchmarkClonePSS$$ 1x" \
  "image/debian BenchmarkPullDebian$$ 1x"
bench: deps build
	{ for r in $(BENCH_RUNS); do \
	    set -- $$r; \
	    VOLANT_BENCH_FLEET=$(BENCH_FLEET) VOLANT_BENCH_FLEET_BUDGET=$(BENCH_FLEET_BUDGET) \
	      go test -run '^$$' -bench "$$2" -benchtime "$$3" -count 1 -timeout 40m -v ./$$1/ 2>&1 \
	      | grep -Ev '^(=== |    --- |--- )' ; \
	  done; } | go run ./internal/tools/benchreport -json docs/benchmarks.json -md docs/benchmarks.md

clean:
	rm -rf $(BIN)
