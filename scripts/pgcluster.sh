# shellcheck shell=bash
# Helpers for a PostgreSQL cluster of our own, made from the machine's
# PostgreSQL binaries (/usr/lib/postgresql/*/bin). Sourced by test-postgres.sh
# and quickstart.sh; nothing here touches a server it did not create.
#
# initdb and postgres refuse to run as root, so as root the cluster belongs to
# the `postgres` user, and its directory must be one that user can enter: not a
# checkout under /root or in a `mktemp -d` folder (both mode 700).

# pg_bindir prints the newest /usr/lib/postgresql/*/bin holding initdb.
pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

# as_pg runs a server binary as the cluster's owner: the postgres user as root
# (from /, as the current directory may be one that user cannot enter).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# pg_can_use DIR: whether the server user can create and use DIR (made if missing).
pg_can_use() {
  mkdir -p "$1" 2>/dev/null || return 1
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || return 1
    chown postgres: "$1" && chmod 700 "$1" || return 1
  fi
  as_pg test -r "$1" -a -w "$1" -a -x "$1"
}

# checkout_hash prints 10 hex digits naming this checkout (its real path): the
# tests' cluster and the quickstart's database and NATS store are per checkout.
checkout_hash() {
  printf '%s' "$(pwd -P)" | sha256sum | cut -c1-10
}

# pg_scratch_dir NAME prints a per-checkout, per-user directory outside the
# checkout that the server user can reach: /var/tmp/tributary-<uid>-<hash>/NAME.
pg_scratch_dir() {
  local base=${TRIBUTARY_PG_SCRATCH:-/var/tmp}
  local top=$base/tributary-$(id -u)-$(checkout_hash)
  mkdir -p "$top" && chmod 755 "$top" # the postgres user passes through it as root
  echo "$top/$1"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p=$1
  while ! port_free "$p"; do p=$((p + 1)); done
  echo "$p"
}

# pg_cluster_start_free DATADIR FIRST_PORT MAX_CONNECTIONS starts the
# cluster on the first free port from FIRST_PORT and prints that port.
# Another server may take a port between the probe and the bind (tests
# start clusters of their own at the same time): then it tries the next.
pg_cluster_start_free() {
  local datadir=$1 port maxconn=$3 tries=1
  port=$(free_port "$2")
  until pg_cluster_start "$datadir" "$port" "$maxconn" >&2; do
    [ "$tries" -lt 5 ] || return 1
    tries=$((tries + 1))
    port=$(free_port $((port + 1)))
    echo "port taken meanwhile; retrying on 127.0.0.1:$port" >&2
  done
  echo "$port"
}

# pg_running_port DATADIR prints the port of the cluster running in DATADIR
# (from postmaster.pid), or fails if it is not running.
pg_running_port() {
  local bindir
  bindir=$(pg_bindir) || return 1
  as_pg "$bindir/pg_ctl" -D "$1" status >/dev/null 2>&1 || return 1
  sed -n 4p "$1/postmaster.pid"
}

# pg_cluster_start DATADIR PORT MAX_CONNECTIONS: initdb DATADIR if it is empty,
# then start the server on 127.0.0.1:PORT, with its sockets and log beside
# DATADIR. The settings live in DATADIR/tributary.conf so that a plain
# `pg_ctl restart` keeps them.
pg_cluster_start() {
  local datadir=$1 port=$2 maxconn=$3 bindir
  bindir=$(pg_bindir) || { echo "no PostgreSQL binaries in /usr/lib/postgresql/*/bin" >&2; return 1; }
  local run=$datadir.run
  pg_can_use "$datadir" && pg_can_use "$run" || {
    echo "the server user cannot use $datadir" >&2
    return 1
  }
  if [ ! -f "$datadir/PG_VERSION" ]; then
    as_pg "$bindir/initdb" -D "$datadir" -U postgres --auth=trust -E UTF8 --no-sync >"$run/initdb.log" 2>&1 || {
      cat "$run/initdb.log" >&2
      return 1
    }
  fi
  # Also for a cluster that an older version of these scripts made.
  grep -qx "include_if_exists = 'tributary.conf'" "$datadir/postgresql.conf" ||
    echo "include_if_exists = 'tributary.conf'" | as_pg tee -a "$datadir/postgresql.conf" >/dev/null
  # A throwaway cluster: durability is not wanted, speed is.
  as_pg tee "$datadir/tributary.conf" >/dev/null <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$run'
max_connections = $maxconn
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  as_pg "$bindir/pg_ctl" -D "$datadir" -l "$run/postgres.log" -w -t 60 start >/dev/null || {
    tail -n 20 "$run/postgres.log" >&2
    return 1
  }
}

# pg_cluster_stop DATADIR stops the cluster in DATADIR if it runs.
pg_cluster_stop() {
  local bindir
  bindir=$(pg_bindir) || return 0
  [ -f "$1/postmaster.pid" ] || return 0
  as_pg "$bindir/pg_ctl" -D "$1" -m fast -w -t 60 stop >/dev/null
}

# pg_psql PORT DB SQL runs SQL as the postgres user over loopback.
pg_psql() {
  local psql
  psql=$(command -v psql || true)
  [ -n "$psql" ] || psql=$(pg_bindir)/psql
  "$psql" -X -q -w -h 127.0.0.1 -p "$1" -U postgres -d "$2" -v ON_ERROR_STOP=1 -Atc "$3" # -w: never ask for a password
}

# pg_ensure_database PORT NAME creates database NAME if it is missing.
pg_ensure_database() {
  [ "$(pg_psql "$1" postgres "SELECT 1 FROM pg_database WHERE datname = '$2'")" = 1 ] ||
    pg_psql "$1" postgres "CREATE DATABASE \"$2\""
}
