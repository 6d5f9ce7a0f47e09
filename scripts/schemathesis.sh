#!/usr/bin/env bash
# Creates (once) a Python virtualenv with schemathesis, the contract test's fuzzer, installed
# from PyPI with every version pinned by hash (internal/contracttest/requirements.txt), and
# prints where it is. Used by .ci/run and by developers:
#   eval "$(bash scripts/schemathesis.sh env)"
#   go test -count=1 -v ./internal/contracttest
# The virtualenv lives outside the work tree (WAITROOM_TEST_VENV_DIR, default
# ~/.cache/camunda-waitroom), one per requirements file: a changed pin makes a new one.
set -euo pipefail
cd "$(dirname "$0")/.."

req=internal/contracttest/requirements.txt
log() { echo "schemathesis.sh: $*" >&2; }

python=${WAITROOM_TEST_PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1 || ! "$python" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  if [ "$python" = python3 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing python3 and python3-venv from Debian packages (schemathesis needs Python 3.11 or later)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq python3 python3-venv >&2
  fi
  "$python" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' ||
    { log "$python is not Python 3.11 or later with venv: set WAITROOM_TEST_PYTHON"; exit 1; }
fi

sum=$(sha256sum "$req" | cut -c1-12)
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
venv=${WAITROOM_TEST_VENV_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/camunda-waitroom}/schemathesis-py$pyver-$sum
# .installed is written last, so a virtualenv whose install was cut short is made again.
if [ ! -e "$venv/.installed" ]; then
  log "creating $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  # --require-hashes: every package must be pinned with a matching hash; --no-deps: nothing
  # beyond the file is resolved.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps -r "$req" >&2
  "$venv/bin/pip" check >&2
  touch "$venv/.installed"
fi
log "$("$venv/bin/schemathesis" --version)"

if [ "${1:-}" = env ]; then
  echo "export WAITROOM_TEST_SCHEMATHESIS='$venv/bin/schemathesis'"
else
  echo "$venv/bin/schemathesis"
fi
