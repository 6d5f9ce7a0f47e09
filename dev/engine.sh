#!/usr/bin/env bash
# Development engines on 127.0.0.1, REST only, in-memory H2, Spin JSON and XML:
#   camunda   Camunda 7.24.0 CE (dev/camunda)
#   operaton  Operaton 1.0.3, the community fork of Camunda 7 (dev/operaton)
#
#   dev/engine.sh ENGINE build          build the jar if missing or older than its sources; print its path
#   dev/engine.sh ENGINE start [port]   build if needed, start in the background, wait for REST; print the base URL
#   dev/engine.sh ENGINE wait  [port]   wait until GET /engine-rest/engine answers 200; print the base URL
#   dev/engine.sh ENGINE stop  [port]   SIGTERM, SIGKILL after 20 s
#   dev/engine.sh ENGINE status [port]  print "running <pid> <url>" or "stopped" (exit 1)
#   dev/engine.sh all build             build both jars
#
# dev/camunda/engine.sh and dev/operaton/engine.sh are the same with ENGINE filled in.
# port defaults to 8080. Pid and log files: dev/ENGINE/run/engine-<port>.{pid,log}.
# Environment (the same names for both engines):
#   CAMUNDA_DEV_BASIC_AUTH=user:password  create that user and require HTTP Basic on /engine-rest
#   CAMUNDA_DEV_BEARER_HS256_SECRET       require JWT bearer tokens signed with this secret (>= 32 bytes)
#   CAMUNDA_DEV_BEARER_JWKS_URI           require JWT bearer tokens signed with a key of this JWK set
#   CAMUNDA_DEV_BEARER_AUDIENCE           with bearer tokens: the required "aud"
#   CAMUNDA_DEV_BEARER_ISSUER             with bearer tokens: the required "iss"
#   CAMUNDA_DEV_JAVA_OPTS                 replace the JVM flags (default tuned for start-up:
#                                         C1 only; for throughput benchmarks use e.g. "-XX:+UseSerialGC")
#   CAMUNDA_DEV_START_TIMEOUT             seconds to wait for the REST API (default 240)
# Only stdout carries results (jar path, base URL); progress goes to stderr.
set -euo pipefail

DEV=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENGINES=(camunda operaton)
DEFAULT_JAVA_OPTS="-XX:+UseSerialGC -Xss512k -XX:TieredStopAtLevel=1"
JAVA_OPTS=${CAMUNDA_DEV_JAVA_OPTS:-$DEFAULT_JAVA_OPTS}
START_TIMEOUT=${CAMUNDA_DEV_START_TIMEOUT:-240}
STOP_TIMEOUT=20

log() { echo "engine.sh${ENGINE:+ ($ENGINE)}: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# select_engine NAME: sets ENGINE, DIR, JAR (fat jar), XJAR and JSA (extracted layout + CDS
# archive written by the same `mvn package`, see the pom: faster start-up), RUN.
select_engine() {
  ENGINE=$1
  DIR=$DEV/$ENGINE
  JAR=$DIR/target/$ENGINE-dev.jar
  XJAR=$DIR/target/$ENGINE-dev/$ENGINE-dev.jar
  JSA=$DIR/target/$ENGINE-dev/$ENGINE-dev.jsa
  RUN=$DIR/run
}

ensure_tools() {
  local missing=()
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${missing[*]} from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "${missing[@]}" >&2
  else
    die "missing tools: ${missing[*]} (install Java 17+, Maven and curl)"
  fi
}

# The jar is stale when the engine's pom or sources, or the shared sources, are newer.
needs_build() {
  [ -f "$JAR" ] || return 0
  [ -n "$(find "$DIR/pom.xml" "$DIR/src" "$DEV/common/src" -newer "$JAR" -print -quit)" ]
}

cmd_build() {
  ensure_tools
  if needs_build; then
    log "building $JAR (mvn package; the first build downloads the engine and Spring Boot from Maven Central)"
    (cd "$DIR" && mvn -B -q -Dstyle.color=never -DskipTests package) >&2 || die "mvn package failed"
    [ -f "$JAR" ] || die "mvn package did not produce $JAR"
  fi
  echo "$JAR"
}

port_arg() {
  local p=${1:-8080}
  [[ $p =~ ^[0-9]+$ ]] && [ "$p" -ge 1 ] && [ "$p" -le 65535 ] || die "bad port: $p"
  echo "$p"
}

pidfile() { echo "$RUN/engine-$1.pid"; }
logfile() { echo "$RUN/engine-$1.log"; }
base_url() { echo "http://127.0.0.1:$1/engine-rest"; }

# Prints the pid recorded for the port if that process is alive and is this engine.
live_pid() {
  local f pid
  f=$(pidfile "$1")
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$ENGINE-dev" || return 1
  echo "$pid"
}

# GET /engine is open in every mode (readiness probe); Basic credentials are sent when set.
http_code() {
  local auth=()
  [ -n "${CAMUNDA_DEV_BASIC_AUTH:-}" ] && auth=(-u "$CAMUNDA_DEV_BASIC_AUTH")
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${auth[@]}" "$(base_url "$1")/engine" 2>/dev/null || true
}

log_tail() {
  local f
  f=$(logfile "$1")
  if [ -f "$f" ]; then
    log "last lines of $f:"
    tail -n 40 "$f" >&2
  fi
}

# wait_ready PORT [PID]: polls until 200; fails early if PID dies.
wait_ready() {
  local port=$1 pid=${2:-} deadline code
  deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    code=$(http_code "$port")
    if [ "$code" = 200 ]; then
      return 0
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      log "engine (pid $pid) exited before answering on port $port"
      log_tail "$port"
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "engine did not answer 200 on $(base_url "$port")/engine within ${START_TIMEOUT}s (last status: ${code:-none})"
      log_tail "$port"
      return 1
    fi
    sleep 0.2
  done
}

cmd_start() {
  local port pid jar opts started
  port=$(port_arg "${1:-}")
  if pid=$(live_pid "$port"); then
    log "already running on port $port (pid $pid)"
    wait_ready "$port" "$pid"
    base_url "$port"
    return 0
  fi
  if [ "$(http_code "$port")" != 000 ]; then
    die "something already answers on 127.0.0.1:$port"
  fi
  cmd_build >/dev/null
  mkdir -p "$RUN"
  # shellcheck disable=SC2206 # word splitting of the option string is intended
  opts=($JAVA_OPTS)
  jar=$JAR
  if [ -f "$XJAR" ] && ! [ "$XJAR" -ot "$JAR" ]; then
    jar=$XJAR
    [ -f "$JSA" ] && opts+=("-XX:SharedArchiveFile=$JSA")
  fi
  log "starting $jar on port $port (log: $(logfile "$port"))"
  started=$SECONDS
  nohup java "${opts[@]}" -jar "$jar" --server.port="$port" >"$(logfile "$port")" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$(pidfile "$port")"
  if ! wait_ready "$port" "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$(pidfile "$port")"
    exit 1
  fi
  log "ready after $((SECONDS - started))s (pid $pid)"
  base_url "$port"
}

cmd_wait() {
  local port pid=""
  port=$(port_arg "${1:-}")
  pid=$(live_pid "$port") || pid=""
  wait_ready "$port" "$pid" || exit 1
  base_url "$port"
}

cmd_stop() {
  local port pid deadline
  port=$(port_arg "${1:-}")
  if ! pid=$(live_pid "$port"); then
    rm -f "$(pidfile "$port")"
    log "not running on port $port"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "pid $pid still alive after ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$(pidfile "$port")"
  log "stopped (port $port, pid $pid)"
}

cmd_status() {
  local port pid
  port=$(port_arg "${1:-}")
  if pid=$(live_pid "$port"); then
    echo "running $pid $(base_url "$port")"
  else
    echo "stopped"
    return 1
  fi
}

case "${1:-}" in
  camunda | operaton) select_engine "$1" ;;
  all)
    [ "${2:-}" = build ] || usage
    for e in "${ENGINES[@]}"; do
      select_engine "$e"
      cmd_build
    done
    exit 0
    ;;
  *) usage ;;
esac

case "${2:-}" in
  build) cmd_build ;;
  start) cmd_start "${3:-}" ;;
  wait) cmd_wait "${3:-}" ;;
  stop) cmd_stop "${3:-}" ;;
  status) cmd_status "${3:-}" ;;
  *) usage ;;
esac
