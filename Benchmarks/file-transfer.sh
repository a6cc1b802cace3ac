#!/usr/bin/env bash
# 1 GiB upload and download through storage-api (release, file backend) against dd/cat of the
# same bytes on the same disk in the same run, with the server's peak RSS during each transfer.
#
#   Benchmarks/file-transfer.sh [size-in-MiB]      (default 1024)
#
# Prints a Markdown table; Benchmarks/results/ keeps the runs we recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

size_mib=${1:-1024}
WORK=${BENCH_WORK_DIR:-$PWD/.build-bench}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

swift build -c release --product storage-api >&2
binary=$(swift build -c release --show-bin-path)/storage-api

pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
admin_url=$(start_postgres "$WORK/postgres" "$pg_port")
# A fresh database per run, so earlier runs' rows never meet this run's empty storage folder.
psql "$admin_url" -qc 'drop database if exists file_transfer with (force)' -c 'create database file_transfer' >/dev/null
export DATABASE_URL=${admin_url%/*}/file_transfer
trap 'kill "$server" 2>/dev/null || true; stop_postgres "$WORK/postgres"' EXIT

export AUTH_JWT_SECRET=benchmark-secret-with-at-least-thirty-two-bytes
export FILE_STORAGE_BACKEND_PATH="$WORK/storage" UPLOAD_FILE_SIZE_LIMIT=$((4 * 1024 * 1024 * 1024)) LOG_LEVEL=warning
export PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rm -rf "$FILE_STORAGE_BACKEND_PATH"
"$binary" serve 2>"$WORK/server.log" &
server=$!
eval "$("$binary" keys)"
base="http://127.0.0.1:$PORT/storage/v1"
for _ in $(seq 100); do curl -fs "$base/status" >/dev/null && break; sleep 0.1; done

source_file="$WORK/source.bin"
if [ ! -f "$source_file" ] || [ "$(stat -c %s "$source_file")" != $((size_mib * 1024 * 1024)) ]; then
  log "writing $size_mib MiB of random bytes"
  head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$source_file"
fi
source_md5=$(md5sum "$source_file" | cut -d' ' -f1)

rss_kib() { awk "/^$1:/ {print \$2}" "/proc/$server/status"; }
reset_peak() { echo 5 > "/proc/$server/clear_refs"; }
seconds() { python3 -c "import time; print(time.monotonic())"; }
rate() { python3 -c "print(f'{$size_mib / ($2 - $1):.0f}')"; }

auth="Authorization: Bearer $SERVICE_KEY"
curl -fs -X POST "$base/bucket" -H "$auth" -H 'Content-Type: application/json' -d '{"name":"bench"}' >/dev/null
# Warm up both directions once, so the measurement sees steady state.
head -c 1048576 "$source_file" | curl -fs -X PUT "$base/object/bench/warmup" -H "$auth" --data-binary @- >/dev/null
curl -fs "$base/object/bench/warmup" -H "$auth" -o /dev/null
idle=$(rss_kib VmRSS)
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true

# Baselines: the same bytes copied on the same disk (made durable, as the server does) and read back.
start=$(seconds); dd if="$source_file" of="$WORK/dd-copy.bin" bs=1M conv=fdatasync status=none; end=$(seconds)
dd_write=$(rate "$start" "$end")
start=$(seconds)
tee >(md5sum > /dev/null) < "$source_file" | dd of="$WORK/dd-md5-copy.bin" bs=1M conv=fdatasync status=none
end=$(seconds)
dd_md5_write=$(rate "$start" "$end")
rm -f "$WORK/dd-md5-copy.bin"
start=$(seconds); cat "$WORK/dd-copy.bin" > /dev/null; end=$(seconds)
cat_read=$(rate "$start" "$end")
start=$(seconds); cat "$WORK/dd-copy.bin" | md5sum > /dev/null; end=$(seconds)
md5_rate=$(rate "$start" "$end")
rm -f "$WORK/dd-copy.bin"

reset_peak
start=$(seconds)
curl -fs -X PUT "$base/object/bench/big.bin" -H "$auth" -H 'Content-Type: application/octet-stream' \
  -T "$source_file" -o /dev/null
end=$(seconds)
upload=$(rate "$start" "$end"); upload_peak=$(rss_kib VmHWM)

reset_peak
start=$(seconds)
download_md5=$(curl -fs "$base/object/bench/big.bin" -H "$auth" | md5sum | cut -d' ' -f1)
end=$(seconds)
download=$(rate "$start" "$end"); download_peak=$(rss_kib VmHWM)

reset_peak
start=$(seconds)
curl -fs "$base/object/bench/big.bin" -H "$auth" -o /dev/null
end=$(seconds)
download_plain=$(rate "$start" "$end"); download_plain_peak=$(rss_kib VmHWM)

[ "$download_md5" = "$source_md5" ] || die "downloaded bytes differ (md5 $download_md5, expected $source_md5)"
stored=$(curl -fs "$base/object/info/bench/big.bin" -H "$auth" | python3 -c 'import json,sys; print(json.load(sys.stdin)["etag"].strip("\""))')
[ "$stored" = "$source_md5" ] || die "stored ETag $stored is not the source MD5"

mib() { python3 -c "print(f'{$1 / 1024:.0f}')"; }
cat <<TABLE
| transfer ($size_mib MiB, $(date -u +%Y-%m-%d), $(nproc) cores) | MiB/s | ratio to its baseline | server peak RSS MiB (idle $(mib "$idle")) |
|---|---|---|---|
| baseline A: dd copy with fdatasync | $dd_write | 1.00 | – |
| baseline D: copy with fdatasync while md5sum hashes a tee of it | $dd_md5_write | 1.00 | – |
| baseline B: cat file > /dev/null | $cat_read | 1.00 | – |
| baseline C: cat file \| md5sum | $md5_rate | 1.00 | – |
| upload: curl PUT → storage-api (MD5, write, fsync, rename, row) | $upload | $(python3 -c "print(f'{$upload/$dd_write:.2f}')") (vs A), $(python3 -c "print(f'{$upload/$dd_md5_write:.2f}')") (vs D) | $(mib "$upload_peak") |
| download: storage-api → curl → md5sum | $download | $(python3 -c "print(f'{$download/$md5_rate:.2f}')") (vs C) | $(mib "$download_peak") |
| download: storage-api → curl → /dev/null | $download_plain | $(python3 -c "print(f'{$download_plain/$cat_read:.2f}')") (vs B) | $(mib "$download_plain_peak") |
TABLE
log "bytes verified: md5 $source_md5 end to end"
