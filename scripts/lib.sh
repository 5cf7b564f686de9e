# shellcheck shell=bash
# Helpers shared by scripts/dev and scripts/test: installing what is missing, a throwaway
# Postgres from the OS packages, and moto's server. Everything listens on 127.0.0.1 only.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL="$ROOT/.local"
VENV="$LOCAL/venv"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $* (install it yourself or use sudo)"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until something accepts TCP connections on 127.0.0.1:$1 (at most $2 seconds).
wait_for_port() {
  local port=$1 timeout=${2:-30} waited=0
  until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null; do
    sleep 0.5; waited=$((waited + 1))
    [ "$waited" -ge $((timeout * 2)) ] && return 1
  done
  return 0
}

# ---------------------------------------------------------------- Python tools (.local/venv)

ensure_venv() {
  local requirements="$ROOT/scripts/requirements-dev.txt" stamp="$VENV/.requirements"
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating Python virtualenv in .local/venv"
    mkdir -p "$LOCAL"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
      as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$VENV" || die "cannot create a Python virtualenv"
    fi
  fi
  if ! cmp -s "$requirements" "$stamp"; then
    log "installing Python tools (moto, cfn-lint, aws-sam-cli, cargo-lambda); first run takes a few minutes"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" || die "pip install failed"
    cp "$requirements" "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

# ---------------------------------------------------------------- Postgres

pg_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ] && { pg_config --bindir; return 0; }
  return 1
}

ensure_postgres() {
  if ! PG_BIN=$(pg_bindir); then
    command -v apt-get >/dev/null || die "PostgreSQL is not installed and apt-get is unavailable; install PostgreSQL 15+"
    log "installing PostgreSQL from the OS packages"
    as_root apt-get update -qq || log "apt-get update failed; trying the install anyway"
    # The package's post-install step may fail to start its own cluster where no init system
    # runs; that cluster is not used, so only the presence of the binaries matters.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
      || log "apt-get install postgresql reported an error; checking for the binaries"
    PG_BIN=$(pg_bindir) || die "PostgreSQL could not be installed (no initdb found)"
  fi
  # Postgres refuses to run as root; as root we run it as the 'postgres' user the package created.
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  fi
  export PG_BIN
}

pg_run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A directory the Postgres server user can use: $1 under .local when reachable, else under /var/tmp
# (a checkout inside /root is not traversable by the 'postgres' user).
pg_home() {
  local name=$1 dir="$LOCAL/$1"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      dir="/var/tmp/serverless-auth-$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)/$name"
      mkdir -p "$dir" && chown postgres "$dir" "$(dirname "$dir")"
    fi
  fi
  echo "$dir"
}

# start_postgres DIR PORT [extra server options]: initialises DIR/data on first use, starts the server.
start_postgres() {
  local home=$1 port=$2 extra=${3:-}
  if [ ! -s "$home/data/PG_VERSION" ]; then
    pg_run "$PG_BIN/initdb" -D "$home/data" -U postgres --auth=trust --no-locale -E UTF8 >"$home/initdb.log" 2>&1 \
      || { cat "$home/initdb.log" >&2; die "initdb failed"; }
  fi
  pg_run "$PG_BIN/pg_ctl" -D "$home/data" -l "$home/postgres.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' $extra" start >/dev/null \
    || { tail -20 "$home/postgres.log" >&2; die "Postgres did not start (log: $home/postgres.log)"; }
}

postgres_running() { [ -s "$1/data/postmaster.pid" ] && pg_run "$PG_BIN/pg_ctl" -D "$1/data" status >/dev/null 2>&1; }

stop_postgres() {
  postgres_running "$1" && pg_run "$PG_BIN/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1
  return 0
}

# create_database PORT NAME: creates NAME if it does not exist.
create_database() {
  local port=$1 name=$2
  if ! "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "select 1 from pg_database where datname = '$name'" postgres | grep -q 1; then
    "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "create database \"$name\"" postgres >/dev/null
  fi
}

# ---------------------------------------------------------------- moto (local AWS)

# start_moto PORT LOGFILE: runs moto's server in the background; sets MOTO_PID.
start_moto() {
  local port=$1 logfile=$2
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 &
  MOTO_PID=$!
  wait_for_port "$port" 30 || { cat "$logfile" >&2; die "moto server did not start"; }
}
