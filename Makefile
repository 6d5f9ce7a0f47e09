# camunda-waitroom. `make test` is the test command CI runs (through .ci/run).
SHELL := /bin/bash
GO ?= go
ENGINE := dev/camunda/engine.sh
GOFLAGS_TEST ?= -count=1 -timeout 25m

.PHONY: all build vet fmt-check test test-unit engine engine-start engine-stop run demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o bin/worker ./cmd/worker

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The Camunda 7.24 engine used by integration tests, benchmarks and the demo (cached jar).
engine:
	$(ENGINE) build

engine-start: engine
	$(ENGINE) start $${ENGINE_PORT:-8080}

engine-stop:
	$(ENGINE) stop $${ENGINE_PORT:-8080}

# Every test this machine can run: unit tests, the store conformance suite on SQLite and, when
# WAITROOM_TEST_PG_DSN is set, PostgreSQL (with CI=true a missing DSN fails the PostgreSQL tests
# instead of skipping them), and the integration tests against a real Camunda 7.24 engine that
# the tests start from the harness jar. SQL Server runs when WAITROOM_TEST_MSSQL_DSN is set.
test: fmt-check vet engine
	@if [ "$${CI:-}" = "true" ] && [ -z "$${WAITROOM_TEST_PG_DSN:-}" ]; then \
		echo "make test: CI=true but WAITROOM_TEST_PG_DSN is not set: PostgreSQL tests were expected (run scripts/postgres.sh)"; exit 1; fi
	@if [ -z "$${WAITROOM_TEST_MSSQL_DSN:-}" ]; then \
		$(GO) test -count=1 -v -run '^TestConformance$$' ./repo/mssql | grep -E -- 'not set' || true; fi
	$(GO) test $(GOFLAGS_TEST) ./...

# Unit tests only (no engine): quick feedback while editing.
test-unit:
	$(GO) test -count=1 -short ./...

# One command from a fresh clone: the engine, the worker (SQLite), one sync request, then it
# keeps running; Ctrl-C stops everything it started.
demo:
	bash scripts/demo.sh

run: build
	./bin/worker run

clean:
	rm -rf bin
