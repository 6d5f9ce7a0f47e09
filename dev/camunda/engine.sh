#!/usr/bin/env bash
# Development Camunda 7.24.0 CE engine (REST only, in-memory H2, Spin JSON) on 127.0.0.1.
#
#   dev/camunda/engine.sh build          build the jar if missing or older than pom.xml/src; print its path
#   dev/camunda/engine.sh start [port]   build if needed, start in the background, wait for REST; print the base URL
#   dev/camunda/engine.sh wait  [port]   wait until GET /engine-rest/engine answers 200; print the base URL
#   dev/camunda/engine.sh stop  [port]   SIGTERM, SIGKILL after 20 s
#   dev/camunda/engine.sh status [port]  print "running <pid> <url>" or "stopped" (exit 1)
#
# port defaults to 8080. Pid and log files: dev/camunda/run/engine-<port>.{pid,log}.
# Environment:
#   CAMUNDA_DEV_BASIC_AUTH=user:password  create that user and require HTTP Basic on /engine-rest
#   CAMUNDA_DEV_JAVA_OPTS                 replace the JVM flags (default tuned for start-up:
#                                         C1 only; for throughput benchmarks use e.g. "-XX:+UseSerialGC")
#   CAMUNDA_DEV_START_TIMEOUT             seconds to wait for the REST API (default 240)
# Only stdout carries results (jar path, base URL); progress goes to stderr.
set -euo pipefail

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
JAR=$DIR/target/camunda-dev.jar
# Extracted layout + CDS archive written by the same `mvn package` (see pom.xml): faster start-up.
XJAR=$DIR/target/camunda-dev/camunda-dev.jar
JSA=$DIR/target/camunda-dev/camunda-dev.jsa
RUN=$DIR/run
DEFAULT_JAVA_OPTS="-XX:+UseSerialGC -Xss512k -XX:TieredStopAtLevel=1"
JAVA_OPTS=${CAMUNDA_DEV_JAVA_OPTS:-$DEFAULT_JAVA_OPTS}
START_TIMEOUT=${CAMUNDA_DEV_START_TIMEOUT:-240}
STOP_TIMEOUT=20

log() { echo "engine.sh: $*" >&2; }
die() { log "$*"; exit 1; }

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

needs_build() {
  [ -f "$JAR" ] || return 0
  [ -n "$(find "$DIR/pom.xml" "$DIR/src" -newer "$JAR" -print -quit)" ]
}

cmd_build() {
  ensure_tools
  if needs_build; then
    log "building $JAR (mvn package; the first build downloads Camunda and Spring Boot from Maven Central)"
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

# Prints the pid recorded for the port if that process is alive and is our engine.
live_pid() {
  local f pid
  f=$(pidfile "$1")
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'camunda-dev' || return 1
  echo "$pid"
}

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

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case "${1:-}" in
  build) cmd_build ;;
  start) cmd_start "${2:-}" ;;
  wait) cmd_wait "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  status) cmd_status "${2:-}" ;;
  *) usage ;;
esac
