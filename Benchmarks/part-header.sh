#!/usr/bin/env bash
# A multipart upload whose first part's header line never ends, sent with the anon key to a bucket
# that does not exist (issue 11, item 1): how many MiB the server takes before it answers, how long
# that takes, and the server's peak RSS over its idle RSS meanwhile.
#
#   Benchmarks/part-header.sh [seconds=40]
#   (BENCH_BINARY=path measures a given binary, e.g. an older build, in the same way)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source Benchmarks/lib.sh

seconds=${1:-40}
bench_prepare 0
export DATABASE_URL
DATABASE_URL=$(bench_database "$WORK" part_header_bench)
server=
trap 'kill "$server" 2>/dev/null || true; stop_postgres "$WORK/postgres"' EXIT
export AUTH_JWT_SECRET=benchmark-secret-with-at-least-thirty-two-bytes LOG_LEVEL=warning STORAGE_MODE=file
export FILE_STORAGE_BACKEND_PATH="$WORK/part-header-storage" REQUEST_READ_TIMEOUT_MS=0
start_bench_server "$binary" "$WORK/part-header-server.log"
eval "$("$binary" keys)"
sleep 1
idle=$(rss_kib VmRSS)
reset_peak
read -r taken elapsed answer < <(python3 Benchmarks/part_header_client.py "$PORT" "$ANON_KEY" "$seconds")
peak=$(rss_kib VmHWM)
echo "| $(basename "$binary") ($(date -u +%Y-%m-%d), $(nproc) cores) | ${answer//_/ } | $taken | $elapsed | $(mib $((peak - idle))) |"
