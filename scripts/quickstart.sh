#!/usr/bin/env bash
# The newcomer path (`task run`): a database, migrations, the simulators and
# the quickstart pipeline, with deliveries printed as they reach the receiver.
#
#   DATABASE_URL set   → use that database.
#   otherwise          → a throwaway PostgreSQL cluster in ./.data/pg on a free
#                        loopback port, from the machine's PostgreSQL binaries
#                        (/usr/lib/postgresql/*/bin), stopped again on exit.
#
# QUICKSTART_SECONDS=N stops everything after N seconds (for CI); Ctrl-C otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
data=$root/.data
mkdir -p "$data" "$root/bin"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p=$1
  while ! port_free "$p"; do p=$((p + 1)); done
  echo "$p"
}

say "building tributary"
go build -o "$root/bin/tributary" ./cmd/tributary
tributary=$root/bin/tributary

pids=()
pg_started=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$pg_started" ]; then
    say "stopping the local PostgreSQL cluster (data stays in .data/pg)"
    as_pg "$pgbin/pg_ctl" -D "$data/pg" -m fast -w stop >/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# as_pg runs a PostgreSQL server binary: initdb and postgres refuse to run as
# root, so as root they run as the postgres user (which owns .data/pg).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ -z "${DATABASE_URL:-}" ]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
    echo "No DATABASE_URL and no PostgreSQL binaries in /usr/lib/postgresql/*/bin." >&2
    echo "Install PostgreSQL (e.g. apt-get install -y postgresql) or set DATABASE_URL." >&2
    exit 1
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "Running as root without a postgres user: set DATABASE_URL or create the user." >&2
    exit 1
  fi
  mkdir -p "$data/pg" "$data/run"
  [ "$(id -u)" = 0 ] && chown postgres "$data/pg" "$data/run" && chmod 700 "$data/pg"
  if [ ! -f "$data/pg/PG_VERSION" ]; then
    say "creating a throwaway PostgreSQL cluster in .data/pg ($pgbin)"
    as_pg "$pgbin/initdb" -D "$data/pg" -U postgres --auth=trust -E UTF8 --no-sync >"$data/initdb.log"
  fi
  port=$(free_port 55432)
  say "starting PostgreSQL on 127.0.0.1:$port"
  as_pg "$pgbin/pg_ctl" -D "$data/pg" -l "$data/run/postgres.log" -w -t 60 start \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $data/run -c max_connections=200 -c fsync=off" >/dev/null
  pg_started=1
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
else
  say "using DATABASE_URL"
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
  sleep "$QUICKSTART_SECONDS"
  exit 0
fi
wait -n "${pids[@]}"
echo "a process exited; see .data/run.log and .data/simulate.log" >&2
exit 1
