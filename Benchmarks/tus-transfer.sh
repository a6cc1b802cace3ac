#!/usr/bin/env bash
# Resumable (TUS) uploads through storage-api (release) in both modes: a 256 MiB upload in 8 MiB
# chunks against one plain PUT of the same file, in the same run; then the server's peak RSS
# during a 2 GiB TUS upload.
#
#   Benchmarks/tus-transfer.sh [size-in-MiB] [large-size-in-MiB]     (defaults 256 and 2048)
#
# The TUS client is Benchmarks/tus_client.py (one keep-alive connection, chunks streamed from the
# file); the plain PUT is curl. The peer is SeaweedFS's own TUS server (its filer's /.tus), sent the
# same file in the same chunks by the same client, right after ours in each mode. Needs SeaweedFS
# as Benchmarks/s3-transfer.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source Benchmarks/lib.sh

bench_prepare "${1:-256}"
large_mib=${2:-2048}
chunk=$((8 * 1024 * 1024))

export DATABASE_URL
DATABASE_URL=$(bench_database "$WORK" tus_transfer)
bench_seaweedfs
server=
trap 'kill "$server" 2>/dev/null || true; stop_seaweedfs "$WORK/seaweedfs"; stop_postgres "$WORK/postgres"' EXIT

export AUTH_JWT_SECRET=benchmark-secret-with-at-least-thirty-two-bytes LOG_LEVEL=warning
export UPLOAD_FILE_SIZE_LIMIT=$((4 * 1024 * 1024 * 1024))
export S3_ENDPOINT=$endpoint S3_BUCKET=bench-tus S3_ACCESS_KEY=$access S3_SECRET_KEY=$secret
source_file=$(bench_source "$WORK" "$size_mib")
source_md5=$(md5sum "$source_file" | cut -d' ' -f1)
large_file=$(bench_source "$WORK" "$large_mib")
large_md5=$(md5sum "$large_file" | cut -d' ' -f1)

tus_upload() { python3 Benchmarks/tus_client.py "$base" "$SERVICE_KEY" bench "$1" "$2" "$chunk"; }
read -r _ _ filer _ < "$WORK/seaweedfs/ports"
weed_tus() { python3 Benchmarks/tus_client.py --plain "http://127.0.0.1:$filer/.tus/weed-tus/$1" "$2" "$chunk"; }
downloaded_md5() { curl -fs "$base/object/bench/$1" -H "$auth" | md5sum | cut -d' ' -f1; }

rows=()
for mode in file self-hosted; do
  export STORAGE_MODE=$mode FILE_STORAGE_BACKEND_PATH="$WORK/storage"
  rm -rf "$WORK/storage"
  psql "${DATABASE_URL%/*}/postgres" -qc "drop database if exists tus_transfer with (force)" -c "create database tus_transfer" >/dev/null 2>&1
  start_bench_server "$binary" "$WORK/server-$mode.log"
  eval "$("$binary" keys)"
  prepare_bench_bucket "$source_file"

  measure api_upload plain.bin "$source_file"; plain=$measured_rate plain_peak=$measured_peak
  measure tus_upload tus.bin "$source_file"; tus=$measured_rate tus_peak=$measured_peak
  [ "$(downloaded_md5 tus.bin)" = "$source_md5" ] || die "$mode: the TUS upload differs"
  [ "$(downloaded_md5 plain.bin)" = "$source_md5" ] || die "$mode: the plain upload differs"
  measure weed_tus "$mode.bin" "$source_file"; weed=$measured_rate
  [ "$(curl -fs "http://127.0.0.1:$filer/weed-tus/$mode.bin" | md5sum | cut -d' ' -f1)" = "$source_md5" ] \
    || die "$mode: SeaweedFS's TUS upload differs"

  size_mib_saved=$size_mib size_mib=$large_mib
  measure tus_upload large.bin "$large_file"; large=$measured_rate large_peak=$measured_peak
  size_mib=$size_mib_saved
  [ "$(downloaded_md5 large.bin)" = "$large_md5" ] || die "$mode: the large TUS upload differs"
  leftovers=$(psql "$DATABASE_URL" -Atc "select count(*) from storage_api.resumable_uploads where completed_at is null")
  [ "$leftovers" = 0 ] || die "$mode: $leftovers unfinished uploads left"

  rows+=("| $mode | $plain | $tus | $(ratio "$tus" "$plain") | $weed | $(ratio "$tus" "$weed") | $(mib "$idle") | $(mib "$plain_peak") / $(mib "$tus_peak") | $large | $(mib "$large_peak") |")
  kill "$server"; wait "$server" 2>/dev/null || true; server=
done

cat <<TABLE
| mode ($(date -u +%Y-%m-%d), $(nproc) cores) | plain PUT $size_mib MiB, MiB/s | TUS $size_mib MiB in 8 MiB chunks, MiB/s | TUS / PUT | SeaweedFS filer's TUS, same file and chunks, MiB/s | TUS / SeaweedFS's TUS | idle RSS MiB | peak RSS MiB (PUT / TUS) | TUS $large_mib MiB, MiB/s | peak RSS MiB during TUS $large_mib MiB |
|---|---|---|---|---|---|---|---|---|---|
TABLE
printf '%s\n' "${rows[@]}"
log "bytes verified by md5 for every upload"
