#!/usr/bin/env bash
# make demo: from a fresh clone, build and start the local Camunda 7.24 engine, run the worker
# with the embedded SQLite default, deploy onboard-user (the worker deploys it at start), send
# one sync request through the HTTP API, print the request, the answer and the time taken, and
# keep running for you to try more. Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE_PORT=${ENGINE_PORT:-8080}
API_PORT=${API_PORT:-8088}
DEMO_DIR=${DEMO_DIR:-$(mktemp -d /tmp/waitroom-demo.XXXXXX)}
ENGINE_URL="http://127.0.0.1:$ENGINE_PORT/engine-rest"
API="http://127.0.0.1:$API_PORT"

say() { printf '\033[1m%s\033[0m\n' "$*" >&2; }

worker_pid=""
engine_started=""
cleanup() {
  trap - INT TERM EXIT
  say "stopping"
  if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then
    kill -TERM "$worker_pid" 2>/dev/null || true
    wait "$worker_pid" 2>/dev/null || true
  fi
  if [ -n "$engine_started" ]; then
    bash dev/camunda/engine.sh stop "$ENGINE_PORT" >/dev/null || true
  fi
  say "stopped (worker log and SQLite file kept in $DEMO_DIR)"
}
trap cleanup INT TERM EXIT

if curl -fsS "$ENGINE_URL/engine" >/dev/null 2>&1; then
  say "using the Camunda engine already running at $ENGINE_URL"
else
  say "building and starting Camunda 7.24 on $ENGINE_URL (the first build downloads from Maven Central)"
  bash dev/camunda/engine.sh start "$ENGINE_PORT" >/dev/null
  engine_started=1
fi

say "building the worker"
CGO_ENABLED=0 go build -o "$DEMO_DIR/worker" ./cmd/worker

say "starting the worker (SQLite store $DEMO_DIR/waitroom.db, HTTP API on $API)"
(
  cd "$DEMO_DIR"
  exec env WAITROOM_CAMUNDA_URL="$ENGINE_URL" PORT="$API_PORT" WAITROOM_LOG_FORMAT=console \
    ./worker run >"$DEMO_DIR/worker.log" 2>&1
) &
worker_pid=$!

for _ in $(seq 1 120); do
  if curl -fsS "$API/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$worker_pid" 2>/dev/null; then
    say "the worker exited; its log:"; tail -n 40 "$DEMO_DIR/worker.log" >&2; exit 1
  fi
  sleep 0.5
done
curl -fsS "$API/readyz" >/dev/null || { say "the worker is not ready; its log:"; tail -n 40 "$DEMO_DIR/worker.log" >&2; exit 1; }

body='{"variables":{"email":"ada@example.com","name":"Ada Lovelace"}}'
say "request:"
echo "  curl -s -X POST $API/process/onboard-user/start -H 'Content-Type: application/json' -d '$body'"
start=$(date +%s%N)
answer=$(curl -sS -w '\n%{http_code}' -X POST "$API/process/onboard-user/start" -H 'Content-Type: application/json' -d "$body")
end=$(date +%s%N)
code=$(tail -n1 <<<"$answer")
say "answer (HTTP $code, $(( (end - start) / 1000000 )) ms end to end):"
head -n -1 <<<"$answer"

cat >&2 <<TXT

Try more while it runs (Ctrl-C stops the worker and the engine):
  curl -s -X POST $API/process/onboard-user/start -H 'Content-Type: application/json' \\
       -d '{"variables":{"email":"grace@example.com","name":"Grace Hopper"}}'
  curl -s -X POST $API/process/onboard-user/start -H 'Content-Type: application/json' \\
       -d '{"variables":{"email":"not-an-email","name":""}}'          # 422: the process ends in ERROR
  curl -s $API/metrics | grep camunda_waitroom_
Worker log: $DEMO_DIR/worker.log
TXT
wait "$worker_pid"
