#!/usr/bin/env bash
# One resumable upload sent as N one-byte PATCHes (issue 11, item 8): the mean time per PATCH
# over the first and the last 200, and the size of the upload's record (`pieces`) just before
# its last byte. Constant per-chunk cost means the two means match and the record stays small.
#
#   Benchmarks/tus-tiny-chunks.sh [patches=2000] [mode=file|self-hosted]
#   (BENCH_BINARY=path measures a given binary, e.g. an older build, in the same way)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source Benchmarks/lib.sh

count=${1:-2000}
mode=${2:-file}
bench_prepare 0
export DATABASE_URL
DATABASE_URL=$(bench_database "$WORK" tus_tiny_bench)
server=
trap 'kill "$server" 2>/dev/null || true; stop_postgres "$WORK/postgres"; [ -z "${endpoint:-}" ] || stop_seaweedfs "$WORK/seaweedfs"' EXIT
export AUTH_JWT_SECRET=benchmark-secret-with-at-least-thirty-two-bytes LOG_LEVEL=warning STORAGE_MODE=$mode
export FILE_STORAGE_BACKEND_PATH="$WORK/tus-tiny-storage"
rm -rf "$FILE_STORAGE_BACKEND_PATH"
if [ "$mode" != file ]; then
  bench_seaweedfs
  export S3_ENDPOINT=$endpoint S3_ACCESS_KEY=$access S3_SECRET_KEY=$secret S3_BUCKET=tus-tiny
fi
start_bench_server "$binary" "$WORK/tus-tiny-server.log"
eval "$("$binary" keys)"
curl -fs -X POST "$base/bucket" -H "Authorization: Bearer $SERVICE_KEY" -H 'Content-Type: application/json' \
  -d '{"name":"tiny"}' >/dev/null
read -r first last record outcome < <(python3 Benchmarks/tus_tiny_client.py "$base" "$SERVICE_KEY" "$count")
echo "| binary (mode, PATCHes) | mean ms per PATCH, first 200 | mean ms per PATCH, last 200 | upload record before the last byte (bytes of pieces JSON) | object |"
echo "|---|---|---|---|---|"
echo "| $(basename "$binary") ($mode, $count one-byte PATCHes, $(date -u +%Y-%m-%d), $(nproc) cores) | $first | $last | $record | $outcome |"
