#!/usr/bin/env bash
# The tests' own PostgreSQL cluster. `task test` and .ci/run use it, so the
# tests never reconfigure or restart a server they do not own (and tests may
# restart this one: see pgtest.RestartServer).
#
#   test-postgres.sh start   start it (initdb the first time); reuse it if it runs
#   test-postgres.sh env     start it, then print the exports for the tests:
#                            TRIBUTARY_TEST_DATABASE_URL and TRIBUTARY_TEST_PGDATA;
#                            prints nothing if TRIBUTARY_TEST_DATABASE_URL is already set
#   test-postgres.sh url     print its database URL (it must be running)
#   test-postgres.sh stop    stop it (its data stays for the next start)
#
# It lives in /var/tmp/tributary-<uid>-<hash of the checkout path>/test-pg (the
# postgres user can reach it when this runs as root; TRIBUTARY_PG_SCRATCH
# replaces /var/tmp), listens on a free loopback port from 55500 up, runs with
# fsync off and max_connections 400: the suite's parallel tests each open a
# database and a pool.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pgcluster.sh

datadir=$(pg_scratch_dir test-pg)
maxconn=${TRIBUTARY_TEST_PG_MAX_CONNECTIONS:-400}

url() {
  local port
  port=$(pg_running_port "$datadir") || { echo "the tests' PostgreSQL ($datadir) is not running" >&2; return 1; }
  echo "postgres://postgres@127.0.0.1:$port/test?sslmode=disable"
}

start() {
  pg_bindir >/dev/null || {
    echo "no PostgreSQL binaries in /usr/lib/postgresql/*/bin: install PostgreSQL (apt-get install -y postgresql)," >&2
    echo "or set TRIBUTARY_TEST_DATABASE_URL to a server the tests may use" >&2
    return 1
  }
  # Two `task test` at once on one checkout share one cluster.
  exec 9>"$(dirname "$datadir")/lock"
  flock 9
  local port
  if ! port=$(pg_running_port "$datadir"); then
    echo "starting the tests' PostgreSQL ($datadir)" >&2
    port=$(pg_cluster_start_free "$datadir" 55500 "$maxconn" 9>&-) || return 1 # the server must not inherit the lock
    echo "the tests' PostgreSQL is on 127.0.0.1:$port" >&2
  fi
  pg_ensure_database "$port" test
  exec 9>&-
}

case ${1:-} in
start) start ;;
env)
  if [ -z "${TRIBUTARY_TEST_DATABASE_URL:-}" ]; then
    start
    # Single quotes, not printf %q: the task tool's shell (mvdan/sh) keeps
    # %q's backslashes (test\?sslmode=…), and neither value holds a quote.
    printf "export TRIBUTARY_TEST_DATABASE_URL='%s'\nexport TRIBUTARY_TEST_PGDATA='%s'\n" "$(url)" "$datadir"
  fi
  ;;
url) url ;;
stop) pg_cluster_stop "$datadir" ;;
*)
  echo "usage: $0 start|env|url|stop" >&2
  exit 2
  ;;
esac
