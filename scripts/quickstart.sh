#!/usr/bin/env bash
# The newcomer path (`task run`): a database, migrations, the simulators and
# the quickstart pipeline, with deliveries printed as they reach the receiver.
#
# The database, the first of these that works:
#   1. DATABASE_URL, when set;
#   2. the PostgreSQL answering on 127.0.0.1:5432 (QUICKSTART_PG_PORT), as the
#      postgres user: a database of this checkout's own,
#      tributary_quickstart_<hash of the checkout's path>, created if missing, so
#      two checkouts on one machine never join each other's pipelines;
#   3. a throwaway cluster from the machine's PostgreSQL binaries
#      (/usr/lib/postgresql/*/bin) on a free loopback port, stopped again on
#      exit, its data kept in ./.data/pg, or, as root in a folder the postgres
#      user cannot enter (under /root, a `mktemp -d`), in
#      /var/tmp/tributary-<uid>-<hash>/quickstart-pg.
#
# The topics live in that database, or with TRIBUTARY_BACKEND=jetstream on NATS
# JetStream: NATS_URL when set, else a nats-server of this checkout's own (on a
# free port from 4322, its store in .data/nats), stopped again on exit.
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
  # Last started, first stopped: the pipeline before the simulators and NATS.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
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
commit=$(git rev-parse HEAD 2>/dev/null || true)
go build -ldflags "-X github.com/tributary-dev/tributary/cli.Commit=$commit" -o "$root/bin/tributary" ./cmd/tributary
tributary=$root/bin/tributary

local_port=${QUICKSTART_PG_PORT:-5432}
local_db=tributary_quickstart_$(checkout_hash)
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

# database_shown is the database for the banner: the URL without its password.
database_shown=""
if [ -n "${DATABASE_URL:-}" ]; then
  say "using DATABASE_URL"
  database_shown="$(printf '%s' "$DATABASE_URL" | sed -E 's#(://[^:/@]*):[^@/]*@#\1:****@#') (DATABASE_URL)"
elif ! port_free "$local_port" && pg_ensure_database "$local_port" "$local_db" 2>"$data/local-pg.err"; then
  say "using the PostgreSQL on 127.0.0.1:$local_port (database $local_db, this checkout's own)"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$local_port/$local_db?sslmode=disable"
  database_shown="$local_db on 127.0.0.1:$local_port (this checkout's own)"
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
  database_shown="postgres on 127.0.0.1:$port (a throwaway cluster in $pg_datadir)"
fi

export TRIBUTARY_BACKEND=${TRIBUTARY_BACKEND:-postgres}
case $TRIBUTARY_BACKEND in
postgres) backend_shown="PostgreSQL: the topics are tables of that database" ;;
jetstream)
  if [ -n "${NATS_URL:-}" ]; then
    backend_shown="NATS JetStream at $NATS_URL (NATS_URL)"
  else
    nats_bin=$(command -v nats-server || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; } || true)
    if [ -z "$nats_bin" ]; then
      echo "TRIBUTARY_BACKEND=jetstream needs NATS_URL or a nats-server to start (apt-get install -y nats-server)" >&2
      exit 1
    fi
    nats_port=$(free_port 4322)
    say "starting NATS with JetStream on 127.0.0.1:$nats_port (store in .data/nats)"
    "$nats_bin" -js -a 127.0.0.1 -p "$nats_port" -sd "$data/nats" >"$data/nats.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
      port_free "$nats_port" || break
      sleep 0.1
    done
    if port_free "$nats_port"; then
      echo "nats-server did not start; see .data/nats.log" >&2
      exit 1
    fi
    export NATS_URL="nats://127.0.0.1:$nats_port"
    backend_shown="NATS JetStream at $NATS_URL (this checkout's own server)"
  fi
  ;;
*)
  echo "TRIBUTARY_BACKEND=$TRIBUTARY_BACKEND: want postgres or jetstream" >&2
  exit 1
  ;;
esac

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

if [ -n "$pg_datadir" ] || [[ $database_shown == *"this checkout's own"* ]]; then
  operator="DATABASE_URL='$DATABASE_URL' bin/tributary deliveries list"
else
  operator="bin/tributary deliveries list   (with the same DATABASE_URL)"
fi
cat >&2 <<EOM

  database     $database_shown
  topics       $backend_shown
  console      http://127.0.0.1:$admin_port/
  metrics      http://127.0.0.1:$metrics_port/metrics   (/healthz, /readyz)
  operator     $operator

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
