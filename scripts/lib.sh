# Shared helpers for scripts/run and scripts/test. Source it; do not run it.
# Everything here works on a fresh Debian machine: it installs what is missing from Debian's
# packages and keeps every piece of state under a data folder the caller names.

log() { printf '%s %s\n' "[$(date +%H:%M:%S)]" "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

apt_install() {
  log "installing $* from Debian packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The newest installed PostgreSQL server's bin directory (installs PostgreSQL 15+ if none).
postgres_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    apt_install postgresql postgresql-contrib
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  fi
  echo "$dir"
}

# Runs a PostgreSQL server binary as an unprivileged user: initdb and postgres refuse root.
as_postgres_user() {
  # From / so the postgres user never has to enter a folder it may not read.
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# start_postgres DATA_DIR PORT: initialises (once) and starts a private cluster listening on
# 127.0.0.1:PORT with password auth. Prints the DATABASE_URL of database "storage".
start_postgres() {
  local data port=$2 bin
  bin=$(postgres_bin)
  data=$(postgres_data_dir "$1")
  local cluster="$data/cluster" password_file="$data/password"
  if [ ! -s "$password_file" ]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$password_file"
  fi
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$data"; fi
  if [ ! -f "$cluster/PG_VERSION" ]; then
    log "initialising a private PostgreSQL cluster in $cluster"
    as_postgres_user "$bin/initdb" -D "$cluster" -U postgres --pwfile="$password_file" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! as_postgres_user "$bin/pg_ctl" -D "$cluster" status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$port"
    as_postgres_user "$bin/pg_ctl" -D "$cluster" -l "$data/postgres.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$cluster -c max_connections=300 -c fsync=${PG_FSYNC:-on}" \
      start >/dev/null || { cat "$data/postgres.log" >&2; die "PostgreSQL did not start"; }
  fi
  local password
  password=$(cat "$password_file")
  if ! PGPASSWORD=$password psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc \
      "select 1 from pg_database where datname = 'storage'" | grep -q 1; then
    PGPASSWORD=$password psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc 'create database storage' >/dev/null
  fi
  echo "postgres://postgres:$password@127.0.0.1:$port/storage"
}

# The folder a cluster for DATA lives in: DATA itself, unless running as root and the postgres user
# cannot reach it (a checkout under /root, say); then a folder under /var/tmp named after DATA.
postgres_data_dir() {
  local data=$1
  mkdir -p "$data"
  data=$(cd "$data" && pwd)
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$data" 2>/dev/null; then
    local fallback="/var/tmp/storage-api-postgres/$(printf '%s' "$data" | md5sum | cut -c1-12)"
    log "the postgres user cannot reach $data; keeping the cluster in $fallback"
    mkdir -p "$fallback"
    data=$fallback
  fi
  echo "$data"
}

stop_postgres() {
  local data bin
  bin=$(postgres_bin)
  data=$(postgres_data_dir "$1")
  [ -f "$data/cluster/PG_VERSION" ] || return 0
  as_postgres_user "$bin/pg_ctl" -D "$data/cluster" -m fast stop >/dev/null 2>&1 || true
}

# A secret kept under the data folder, created on first use.
persistent_secret() {
  local file=$1
  if [ ! -s "$file" ]; then
    mkdir -p "$(dirname "$file")"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$file"
    chmod 600 "$file"
  fi
  cat "$file"
}
