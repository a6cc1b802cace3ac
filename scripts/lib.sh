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

# libvips (headers and pkg-config data for the build, the `vips` command for benchmarks).
ensure_libvips() {
  if ! pkg-config --exists vips 2>/dev/null || ! command -v vips >/dev/null; then
    apt_install libvips-dev libvips-tools pkg-config
  fi
}

# Chromium, for the headless-browser compatibility test (a page on another origin calls the server).
# rclone and s3cmd (Debian) for the S3 protocol tests; the AWS CLI comes from PyPI with the suite.
ensure_s3_tools() {
  local missing=()
  command -v rclone >/dev/null || missing+=(rclone)
  command -v s3cmd >/dev/null || missing+=(s3cmd)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

ensure_chromium() {
  if ! command -v chromium >/dev/null; then
    apt_install chromium
  fi
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

# PgBouncer (Debian's pgbouncer), for the pooled-connection tests.
ensure_pgbouncer() {
  command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || apt_install pgbouncer
}

# start_pgbouncer DATA_DIR DATABASE_URL: PgBouncer in transaction-pooling mode on 127.0.0.1 in
# front of the Postgres of DATABASE_URL (every database name passes through to the same-named
# database), SCRAM authentication with that URL's user and password, at most POOL_SIZE (default
# 20) server connections per database. Prints its port; the pid is in DATA_DIR/pgbouncer.pid.
start_pgbouncer() {
  local data url=$2 user password host port listen bin
  ensure_pgbouncer
  bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
  # postgres://user:password@host:port/db
  user=$(printf '%s' "$url" | sed -E 's|^[a-z]+://([^:@]+).*|\1|')
  password=$(printf '%s' "$url" | sed -E 's|^[a-z]+://[^:@]+:([^@]*)@.*|\1|')
  host=$(printf '%s' "$url" | sed -E 's|^[^@]+@([^:/]+).*|\1|')
  port=$(printf '%s' "$url" | sed -E 's|^[^@]+@[^:/]+:([0-9]+).*|\1|')
  # It refuses to run as root: as root it runs as the postgres user, on files that user can reach.
  data=$(postgres_data_dir "$1")
  listen=$(free_low_port)
  printf '"%s" "%s"\n' "$user" "$password" > "$data/userlist.txt"
  cat > "$data/pgbouncer.ini" <<INI
[databases]
* = host=$host port=$port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $listen
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $data/userlist.txt
admin_users = $user
pool_mode = transaction
default_pool_size = ${POOL_SIZE:-20}
max_client_conn = 2000
server_login_retry = 1
logfile = $data/pgbouncer.log
pidfile = $data/pgbouncer.pid
INI
  chmod 600 "$data/userlist.txt"
  stop_pgbouncer "$1"
  rm -f "$data/pgbouncer.pid"
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres:postgres "$data"
    "$bin" -d -u postgres "$data/pgbouncer.ini" >> "$data/pgbouncer.out" 2>&1
  else
    "$bin" -d "$data/pgbouncer.ini" >> "$data/pgbouncer.out" 2>&1
  fi || { cat "$data/pgbouncer.out" "$data/pgbouncer.log" >&2 2>/dev/null; die "PgBouncer did not start"; }
  local through="${url%@*}@127.0.0.1:$listen/${url##*/}"
  for _ in $(seq 100); do
    if psql "$through" -Atqc 'select 1' >/dev/null 2>&1; then
      echo "$listen"
      return 0
    fi
    sleep 0.1
  done
  tail -20 "$data/pgbouncer.log" >&2
  die "PgBouncer did not become ready"
}

stop_pgbouncer() {
  local data pid
  data=$(postgres_data_dir "$1")
  pid=$(cat "$data/pgbouncer.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
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

# A free TCP port below 32768 (outside Linux's ephemeral range, which SeaweedFS can collide with).
free_low_port() {
  python3 - <<'PY'
import random, socket
for _ in range(200):
    port = random.randint(20000, 32000)
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
        with socket.socket() as s:
            s.bind(("127.0.0.1", port + 10000))
        print(port)
        break
    except OSError:
        pass
PY
}

# start_seaweedfs WEED DATA_DIR ACCESS_KEY SECRET_KEY: an all-in-one SeaweedFS with its S3 gateway on
# 127.0.0.1, credentials enforced (-s3.config), AWS-like bucket behaviour. Prints the S3 endpoint
# and leaves the pid in DATA_DIR/weed.pid. Waits until a signed PUT and GET succeed.
start_seaweedfs() {
  local weed=$1 data=$2 access=$3 secret=$4
  mkdir -p "$data/volumes"
  cat > "$data/s3.json" <<JSON
{"identities": [{"name": "storage-api", "credentials": [{"accessKey": "$access", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
JSON
  local master volume filer s3
  if [ -s "$data/ports" ]; then
    # A restart on the same data keeps its ports, so clients' endpoint stays valid.
    read -r master volume filer s3 < "$data/ports"
  else
    master=$(free_low_port); volume=$(free_low_port); filer=$(free_low_port); s3=$(free_low_port)
    echo "$master $volume $filer $s3" > "$data/ports"
  fi
  "$weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$data/volumes" \
    -master.port="$master" -master.port.grpc=$((master + 10000)) -master.volumeSizeLimitMB=64 \
    -master.telemetry=false -master.resumeState=false \
    -volume.port="$volume" -volume.port.grpc=$((volume + 10000)) -volume.max=0 -volume.preStopSeconds=0 \
    -filer -filer.port="$filer" -filer.port.grpc=$((filer + 10000)) \
    -s3 -s3.port="$s3" -s3.port.grpc=$((s3 + 10000)) -s3.config="$data/s3.json" \
    -s3.autoCreateBucket=false -s3.allowDeleteBucketNotEmpty=false -s3.port.iceberg=0 -s3.port.lance=0 \
    >> "$data/weed.log" 2>&1 &
  echo $! > "$data/weed.pid"
  echo "$s3" > "$data/s3.port"
  local endpoint="http://127.0.0.1:$s3" probe="seaweedfs-ready-$RANDOM"
  for _ in $(seq 300); do
    if curl -fs --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret" -X PUT "$endpoint/$probe" -o /dev/null \
      && curl -fs --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret" -X PUT "$endpoint/$probe/ready" \
           -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --data-binary ok -o /dev/null \
      && curl -fs --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret" "$endpoint/$probe/ready" \
           -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -o /dev/null; then
      echo "$endpoint"
      return 0
    fi
    kill -0 "$(cat "$data/weed.pid")" 2>/dev/null || { tail -20 "$data/weed.log" >&2; die "SeaweedFS exited"; }
    sleep 0.2
  done
  tail -20 "$data/weed.log" >&2
  die "SeaweedFS did not become ready"
}

# stop_seaweedfs DATA_DIR: SIGINT (its clean stop), SIGKILL after 30 s.
stop_seaweedfs() {
  local data=$1 pid
  pid=$(cat "$data/weed.pid" 2>/dev/null) || return 0
  kill -INT "$pid" 2>/dev/null || return 0
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# ClamAV's clamd (Debian's clamav-daemon) and sigtool (clamav).
ensure_clamav() {
  if ! command -v clamd >/dev/null && [ ! -x /usr/sbin/clamd ]; then
    apt_install clamav-daemon clamav
  elif ! command -v sigtool >/dev/null; then
    apt_install clamav
  fi
}

# The EICAR anti-virus test file: harmless bytes every scanner reports.
eicar() { printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'; }

# start_clamd DATA_DIR: clamd on 127.0.0.1 with its own configuration and a signature database made
# here from the EICAR string (there is no internet for freshclam): one body signature matching it
# anywhere in a file. Streams up to 4000 MB (the most clamd takes). Prints host:port; the pid is in
# DATA_DIR/clamd.pid.
start_clamd() {
  local data=$1 port clamd
  ensure_clamav
  clamd=$(command -v clamd || echo /usr/sbin/clamd)
  rm -rf "$data"; mkdir -p "$data/db"
  printf 'Eicar-Test-Signature:0:*:%s\n' "$(eicar | sigtool --hex-dump)" > "$data/db/eicar.ndb"
  port=$(free_low_port)
  cat > "$data/clamd.conf" <<CONF
Foreground yes
TCPSocket $port
TCPAddr 127.0.0.1
DatabaseDirectory $data/db
LogFile $data/clamd.log
PidFile $data/clamd.pid.self
StreamMaxLength 4000M
MaxScanSize 4000M
MaxFileSize 4000M
MaxThreads 4
CONF
  "$clamd" --config-file="$data/clamd.conf" >> "$data/clamd.out" 2>&1 &
  echo $! > "$data/clamd.pid"
  for _ in $(seq 600); do
    if printf 'zPING\0' | timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; head -c 4 <&3" 2>/dev/null | grep -q PONG; then
      echo "127.0.0.1:$port"
      return 0
    fi
    kill -0 "$(cat "$data/clamd.pid")" 2>/dev/null || { tail -20 "$data/clamd.out" "$data/clamd.log" >&2; die "clamd exited"; }
    sleep 0.1
  done
  tail -20 "$data/clamd.log" >&2
  die "clamd did not become ready"
}

# stop_clamd DATA_DIR
stop_clamd() {
  local pid
  pid=$(cat "$1/clamd.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
