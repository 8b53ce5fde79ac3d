#!/usr/bin/env bash
# Makes sure the PostgreSQL that tests use is up and has the `test` database.
# Uses TRIBUTARY_TEST_DATABASE_URL's server when set; otherwise the machine's
# cluster on 127.0.0.1:5432, started with pg_ctlcluster if it is down.
set -euo pipefail
host=127.0.0.1 port=5432
if ! pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL $(ls /etc/postgresql)" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
  fi
  for _ in $(seq 1 30); do pg_isready -q -h "$host" -p "$port" && break; sleep 1; done
fi
pg_isready -h "$host" -p "$port" >/dev/null || { echo "PostgreSQL is not reachable at $host:$port" >&2; exit 1; }
psql -h "$host" -p "$port" -U postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 ||
  psql -h "$host" -p "$port" -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null
# Parallel integration tests each open a database and a pool; 100 connections is tight.
max=$(psql -h "$host" -p "$port" -U postgres -d postgres -Atc "SHOW max_connections")
if [ "$max" -lt 300 ] && command -v pg_ctlcluster >/dev/null; then
  echo "raising max_connections from $max to 300" >&2
  psql -h "$host" -p "$port" -U postgres -d postgres -c "ALTER SYSTEM SET max_connections = 300" >/dev/null
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main restart
  for _ in $(seq 1 30); do pg_isready -q -h "$host" -p "$port" && break; sleep 1; done
fi
