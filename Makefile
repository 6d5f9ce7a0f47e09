# camunda-waitroom. `make test` is the test command CI runs (through .ci/run).
SHELL := /bin/bash
GO ?= go
DEV_ENGINE := dev/engine.sh
GOFLAGS_TEST ?= -count=1 -timeout 25m
# The engine(s) the integration tests run against: both (Camunda 7.24, then Operaton), camunda
# or operaton. Read by internal/enginetest as well (there: camunda or operaton).
WAITROOM_TEST_ENGINE ?= both
# The engine engine-start and engine-stop run: camunda or operaton.
ENGINE ?= camunda
# Packages whose tests start an engine (their tests import internal/enginetest): `make test`
# runs them once per engine. The fault suite (internal/faultsuite, about 2.5 minutes) runs once,
# on the first engine: it exercises the daemon's protocols, which the engine packages' second
# pass already covers engine by engine. The contract test (internal/contracttest, about a
# minute: schemathesis against the HTTP API) runs once too, for the same reason.
ENGINE_PKGS = $(shell $(GO) list -test -f '{{if .ForTest}}{{.ForTest}}{{range .Deps}} {{.}}{{end}}{{end}}' ./... \
	| awk '{ for (i = 2; i <= NF; i++) if ($$i ~ /\/internal\/enginetest$$/) { print $$1; break } }' \
	| grep -v -E '/internal/(faultsuite|contracttest)$$' | sort -u)

# staticcheck, pinned: `go run` fetches this release once through the Go module proxy and
# caches it (2026.2.x, v0.8.x, checks Go 1.26 code). Change the version here and nowhere else.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build vet fmt-check tidy-check staticcheck lint test test-unit engine engine-start engine-stop run demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o bin/worker ./cmd/worker

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# go.mod and go.sum must be what `go mod tidy` makes of them.
tidy-check:
	@$(GO) mod tidy -diff || { echo "make: go.mod or go.sum is not tidy (diff above): run 'go mod tidy'"; exit 1; }

staticcheck:
	$(GO) run $(STATICCHECK) ./...

# The static gates `make test` runs before any test: formatting, go vet, a tidy go.mod,
# staticcheck. Each fails the build on any finding.
lint: fmt-check vet tidy-check staticcheck

# The engines used by integration tests, benchmarks and the demo (cached jars): Camunda 7.24
# and Operaton, or only the one WAITROOM_TEST_ENGINE names.
engine:
	@case "$(WAITROOM_TEST_ENGINE)" in camunda|operaton) $(DEV_ENGINE) $(WAITROOM_TEST_ENGINE) build ;; *) $(DEV_ENGINE) all build ;; esac

engine-start:
	$(DEV_ENGINE) $(ENGINE) start $${ENGINE_PORT:-8080}

engine-stop:
	$(DEV_ENGINE) $(ENGINE) stop $${ENGINE_PORT:-8080}

# The static gates (lint), then every test this machine can run: unit tests, the store
# conformance suite on SQLite and, when WAITROOM_TEST_PG_DSN is set, PostgreSQL (with CI=true a
# missing DSN fails the PostgreSQL tests instead of skipping them), and the integration tests
# against real engines that the tests start from the harness jars: all packages with Camunda
# 7.24, then the engine packages (ENGINE_PKGS) again with Operaton. WAITROOM_TEST_ENGINE=camunda
# or =operaton runs all packages once, with that engine. SQL Server runs when
# WAITROOM_TEST_MSSQL_DSN is set.
test: lint engine
	@if [ "$${CI:-}" = "true" ] && [ -z "$${WAITROOM_TEST_PG_DSN:-}" ]; then \
		echo "make test: CI=true but WAITROOM_TEST_PG_DSN is not set: PostgreSQL tests were expected (run scripts/postgres.sh)"; exit 1; fi
	@if [ -z "$${WAITROOM_TEST_MSSQL_DSN:-}" ]; then \
		$(GO) test -count=1 -v -run '^TestConformance$$' ./repo/mssql | grep -E -- 'not set' || true; fi
	@case "$(WAITROOM_TEST_ENGINE)" in \
		both) first=camunda; second=operaton ;; \
		camunda|operaton) first=$(WAITROOM_TEST_ENGINE); second= ;; \
		*) echo "make test: WAITROOM_TEST_ENGINE=$(WAITROOM_TEST_ENGINE): want both, camunda or operaton"; exit 2 ;; \
	esac; \
	rc=0; began=$$SECONDS; \
	echo "make test: all packages, engine tests on $$first"; \
	WAITROOM_TEST_ENGINE=$$first $(GO) test $(GOFLAGS_TEST) ./... || rc=1; \
	echo "make test: all packages ($$first) took $$((SECONDS - began))s"; \
	if [ -n "$$second" ]; then \
		began=$$SECONDS; \
		echo "make test: engine packages again on $$second:" $(ENGINE_PKGS); \
		WAITROOM_TEST_ENGINE=$$second $(GO) test $(GOFLAGS_TEST) $(ENGINE_PKGS) || rc=1; \
		echo "make test: engine packages ($$second) took $$((SECONDS - began))s"; \
	fi; \
	exit $$rc

# Unit tests only: quick feedback while editing. -short skips every test that needs an engine
# (internal/enginetest's StartT and topicstest.Main start none) and the fault suite.
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
