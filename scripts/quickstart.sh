#!/usr/bin/env bash
# The newcomer path (`task run`): a database, migrations, the simulators and
# the quickstart pipeline, with deliveries printed as they reach the receiver.
#
# The database, the first of these that works:
#   1. DATABASE_URL, when set;
#   2. the PostgreSQL answering on 127.0.0.1:5432 (QUICKSTART_PG_PORT), as the
#      postgres user: its own database tributary_quickstart, created if missing;
#   3. a throwaway cluster from the machine's PostgreSQL binaries
#      (/usr/lib/postgresql/*/bin) on a free loopback port, stopped again on
#      exit, its data kept in ./.data/pg, or, as root in a folder the postgres
#      user cannot enter (under /root, a `mktemp -d`), in
#      /var/tmp/tributary-<uid>-<hash>/quickstart-pg.
#
# QUICKSTART_SECONDS=N stops everything after N seconds (for CI); Ctrl-C
# otherwise, which is the normal way out and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
data=$root/.data
mkdir -p "$data" "$root/bin"
. scripts/pgcluster.sh

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

pids=()
pg_datadir=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$pg_datadir" ]; then
    say "stopping the throwaway PostgreSQL cluster (its data stays in $pg_datadir)"
    pg_cluster_stop "$pg_datadir" || true
  fi
}
trap cleanup EXIT
# Ctrl-C is how the quickstart is meant to end: a success, not an error for
# `task` to report.
trap 'exit 0' INT TERM

say "building tributary"
go build -o "$root/bin/tributary" ./cmd/tributary
tributary=$root/bin/tributary

local_port=${QUICKSTART_PG_PORT:-5432}
no_database() {
  cat >&2 <<EOM

No PostgreSQL for the quickstart: $1
Any one of these makes \`task run\` work:
  - DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=disable naming a database you may use;
  - a PostgreSQL on 127.0.0.1:$local_port that lets the postgres user in without a password
    (Debian/Ubuntu: apt-get install -y postgresql && pg_ctlcluster <version> main start);
  - the PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install -y postgresql),
    and, as root, a postgres user, for a throwaway cluster of the quickstart's own.
EOM
  exit 1
}

if [ -n "${DATABASE_URL:-}" ]; then
  say "using DATABASE_URL"
elif ! port_free "$local_port" && pg_ensure_database "$local_port" tributary_quickstart 2>"$data/local-pg.err"; then
  say "using the PostgreSQL on 127.0.0.1:$local_port (database tributary_quickstart)"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$local_port/tributary_quickstart?sslmode=disable"
else
  if ! port_free "$local_port"; then
    say "127.0.0.1:$local_port answers but cannot be used: $(head -c 300 "$data/local-pg.err")"
  fi
  pg_bindir >/dev/null || no_database "no DATABASE_URL, nothing usable on 127.0.0.1:$local_port, no /usr/lib/postgresql/*/bin."
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    no_database "running as root without a postgres user to own a throwaway cluster."
  fi
  pg_datadir=$data/pg
  if ! pg_can_use "$pg_datadir" 2>/dev/null; then
    # As root in a folder the postgres user cannot enter.
    pg_datadir=$(pg_scratch_dir quickstart-pg)
  fi
  say "starting a throwaway PostgreSQL cluster (data in $pg_datadir)"
  port=$(pg_cluster_start_free "$pg_datadir" 55432 200) || no_database "the throwaway cluster in $pg_datadir did not start (see above)."
  say "PostgreSQL on 127.0.0.1:$port"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
fi

say "applying migrations"
"$tributary" migrate

sim_port=$(free_port 8090)
admin_port=$(free_port 8081)
metrics_port=$(free_port 9464)
export TRIBUTARY_SIMULATOR_URL="http://127.0.0.1:$sim_port"
export TRIBUTARY_RECEIVER_URL="$TRIBUTARY_SIMULATOR_URL/webhook"
# The receiver checks what examples/quickstart.yaml's webhook sink sends: the
# Bearer token and the Standard Webhooks signature (same defaults as the file).
export RECEIVER_TOKEN=${RECEIVER_TOKEN:-quickstart-secret}
export TRIBUTARY_RECEIVER_SECRET=${TRIBUTARY_RECEIVER_SECRET:-whsec_cXVpY2tzdGFydC1zaWduaW5nLWtleS0zMi1ieXRlcyE=}

say "starting the simulators on 127.0.0.1:$sim_port"
"$tributary" simulate --addr "127.0.0.1:$sim_port" --receiver-token "$RECEIVER_TOKEN" \
  --receiver-secret "$TRIBUTARY_RECEIVER_SECRET" 2>"$data/simulate.log" &
pids+=($!)

say "running examples/quickstart.yaml (logs: .data/run.log)"
"$tributary" run -c examples/quickstart.yaml --admin "127.0.0.1:$admin_port" \
  --metrics-addr "127.0.0.1:$metrics_port" >"$data/run.out" 2>"$data/run.log" &
pids+=($!)

cat >&2 <<EOM

  admin page   http://127.0.0.1:$admin_port/
  metrics      http://127.0.0.1:$metrics_port/metrics   (/healthz, /readyz)
  operator     DATABASE_URL=$DATABASE_URL bin/tributary deliveries list

  Deliveries appear below as the receiver gets them. Ctrl-C stops everything.

EOM

if [ -n "${QUICKSTART_SECONDS:-}" ]; then
  sleep "$QUICKSTART_SECONDS" &
  wait $! # in `wait`, a Ctrl-C runs the trap at once
  exit 0
fi
wait -n "${pids[@]}"
echo "a process exited; see .data/run.log and .data/simulate.log" >&2
exit 1
