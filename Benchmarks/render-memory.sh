#!/usr/bin/env bash
# Server memory during renders of large sources (issue 11, item 9): 8 parallel renders of a
# 40 MB object that is not an image (typed image/jpeg, so it reaches the renderer), and of a
# large real JPEG, with the server's peak RSS next to its idle RSS. The physical bound to compare
# with: 8 × 40 MB = 320 MB if each render held its whole source.
#
#   Benchmarks/render-memory.sh [size_mib=40] [parallel=8]
#   (BENCH_BINARY=path measures a given binary, e.g. an older build, in the same way)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source Benchmarks/lib.sh

size=${1:-40}
parallel=${2:-8}
bench_prepare "$size"
export DATABASE_URL
DATABASE_URL=$(bench_database "$WORK" render_memory_bench)
server=
trap 'kill "$server" 2>/dev/null || true; stop_postgres "$WORK/postgres"' EXIT
export AUTH_JWT_SECRET=benchmark-secret-with-at-least-thirty-two-bytes LOG_LEVEL=warning STORAGE_MODE=file
export FILE_STORAGE_BACKEND_PATH="$WORK/render-memory-storage" IMAGE_TRANSFORMATION_WORKERS=$parallel
export IMAGE_TRANSFORMATION_QUEUE_SIZE=$parallel IMAGE_TRANSFORMATION_CACHE_ENABLED=false
export UPLOAD_FILE_SIZE_LIMIT=$(( (size + 8) * 1024 * 1024 ))
rm -rf "$FILE_STORAGE_BACKEND_PATH"

noise=$(bench_source "$WORK" "$size")
photo="$WORK/render-memory-photo.jpg"
if [ ! -s "$photo" ]; then
  vips gaussnoise "$WORK/noise.v" 6000 6000 --mean 128 --sigma 60
  vips cast "$WORK/noise.v" "$WORK/noise8.v" uchar
  vips jpegsave "$WORK/noise8.v" "$photo" --Q 95
  rm -f "$WORK"/noise*.v
fi
photo_mib=$(( $(stat -c %s "$photo") / 1048576 ))

start_bench_server "$binary" "$WORK/render-memory-server.log"
eval "$("$binary" keys)"
auth="Authorization: Bearer $SERVICE_KEY"
curl -fs -X POST "$base/bucket" -H "$auth" -H 'Content-Type: application/json' -d '{"name":"big","public":true}' >/dev/null
curl -fs -X PUT "$base/object/big/noise.jpg" -H "$auth" -H 'Content-Type: image/jpeg' --data-binary @"$noise" >/dev/null
curl -fs -X PUT "$base/object/big/photo.jpg" -H "$auth" -H 'Content-Type: image/jpeg' --data-binary @"$photo" >/dev/null
# One render of each first, so the idle figure includes libvips' start-up.
curl -s -o /dev/null "$base/render/image/public/big/noise.jpg?width=100"
curl -s -o /dev/null "$base/render/image/public/big/photo.jpg?width=100"
sleep 1
idle=$(rss_kib VmRSS)

# burst NAME: `parallel` renders of one object at once; prints "statuses seconds peak_kib".
burst() {
  reset_peak
  local started ended statuses
  started=$(seconds)
  statuses=$(seq 1 "$parallel" | xargs -P "$parallel" -I{} curl -s -o /dev/null -w '%{http_code}\n' \
    "$base/render/image/public/big/$1?width=200&height=200&format=webp" | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
  ended=$(seconds)
  echo "$statuses" "$(python3 -c "print(f'{$ended - $started:.2f}')")" "$(rss_kib VmHWM)"
}
read -r -a noise_result < <(burst noise.jpg)
read -r -a photo_result < <(burst photo.jpg)
kill "$server"; wait "$server" 2>/dev/null || true; server=

row() {  # label, result array as "statuses… seconds peak"
  local label=$1; shift
  local values=("$@") count=${#@}
  local peak=${values[$((count - 1))]} secs=${values[$((count - 2))]}
  local statuses="${values[*]:0:$((count - 2))}"
  echo "| $label | $statuses | $secs | $(mib "$peak") | $(mib $((peak - idle))) |"
}
cat <<TABLE
| $parallel parallel renders ($(date -u +%Y-%m-%d), $(nproc) cores, binary $(basename "$binary")) | HTTP statuses | seconds | server peak RSS MiB | growth over idle ($(mib "$idle") MiB) |
|---|---|---|---|---|
$(row "${size} MiB of random bytes typed image/jpeg" "${noise_result[@]}")
$(row "6000×6000 JPEG Q95 (${photo_mib} MiB)" "${photo_result[@]}")
TABLE
