#!/usr/bin/env bash
# Installs (if needed) and starts a PostgreSQL server from Debian's packages on
# 127.0.0.1:5432, and creates the test database. Prints the DSN to use on stdout.
# Used by .ci/run and by developers: `eval "$(scripts/postgres.sh env)"`.
set -euo pipefail

PGUSER_NAME=${WAITROOM_PG_USER:-waitroom}
PGPASS=${WAITROOM_PG_PASSWORD:-waitroom}
PGDB=${WAITROOM_PG_DB:-waitroom_test}
PGPORT=${WAITROOM_PG_PORT:-5432}

log() { echo "postgres.sh: $*" >&2; }

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing postgresql from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql postgresql-contrib >&2
fi

ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$ver main$"; then
  log "creating cluster $ver/main"
  pg_createcluster "$ver" main --port "$PGPORT" >&2
fi
if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $4}' | grep -q online; then
  log "starting cluster $ver/main"
  pg_ctlcluster "$ver" main start >&2
fi

for _ in $(seq 1 60); do
  pg_isready -h 127.0.0.1 -p "$PGPORT" -q && break
  sleep 0.5
done
pg_isready -h 127.0.0.1 -p "$PGPORT" >&2

psql_su() { su postgres -c "psql -p $PGPORT -v ON_ERROR_STOP=1 -qAt $*"; }
if [ "$(psql_su "-c \"SELECT 1 FROM pg_roles WHERE rolname='$PGUSER_NAME'\"")" != "1" ]; then
  psql_su "-c \"CREATE ROLE $PGUSER_NAME LOGIN SUPERUSER PASSWORD '$PGPASS'\"" >&2
fi
if [ "$(psql_su "-c \"SELECT 1 FROM pg_database WHERE datname='$PGDB'\"")" != "1" ]; then
  psql_su "-c \"CREATE DATABASE $PGDB OWNER $PGUSER_NAME\"" >&2
fi

dsn="postgres://$PGUSER_NAME:$PGPASS@127.0.0.1:$PGPORT/$PGDB?sslmode=disable"
if [ "${1:-}" = env ]; then
  echo "export WAITROOM_TEST_PG_DSN='$dsn'"
else
  echo "$dsn"
fi
