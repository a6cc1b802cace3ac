#!/usr/bin/env bash
# Image renders through storage-api (release, file mode) against the `vips thumbnail` command line
# on the same images with the same concurrency, in the same run:
#   - renders/s of 2000×1333 JPEGs → 500×500 WebP (cover, quality 80) with the variant cache off;
#   - the same requests served from the variant cache (renders/s and hit count).
#
#   Benchmarks/render.sh [renders=200] [concurrency=cores]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source Benchmarks/lib.sh

bench_prepare 0
count=${1:-200}
concurrency=${2:-$(nproc)}
images=8

export DATABASE_URL
DATABASE_URL=$(bench_database "$WORK" render_bench)
server=
trap 'kill "$server" 2>/dev/null || true; stop_postgres "$WORK/postgres"' EXIT
export AUTH_JWT_SECRET=benchmark-secret-with-at-least-thirty-two-bytes LOG_LEVEL=warning STORAGE_MODE=file
export FILE_STORAGE_BACKEND_PATH="$WORK/render-storage" IMAGE_TRANSFORMATION_WORKERS=$concurrency

# Photo-like sources: smoothed noise (neither flat nor pure noise) in colour, JPEG quality 85.
sources="$WORK/render-sources"
mkdir -p "$sources"
for i in $(seq 1 $images); do
  file="$sources/photo-$i.jpg"
  [ -s "$file" ] && continue
  vips gaussnoise "$sources/noise.v" 2000 1333 --mean 128 --sigma 60
  vips gaussblur "$sources/noise.v" "$sources/blur.v" 3
  vips bandjoin "$sources/blur.v $sources/noise.v $sources/blur.v" "$sources/rgb.v"
  vips cast "$sources/rgb.v" "$sources/rgb8.v" uchar
  vips copy "$sources/rgb8.v" "$sources/srgb.v" --interpretation srgb
  vips jpegsave "$sources/srgb.v" "$file" --Q 85
  rm -f "$sources"/*.v
done
source_kib=$(( $(du -ck "$sources"/photo-*.jpg | tail -1 | cut -f1) / images ))

run_server() {
  rm -rf "$FILE_STORAGE_BACKEND_PATH"
  psql "${DATABASE_URL%/*}/postgres" -qc "drop database if exists render_bench with (force)" -c "create database render_bench" >/dev/null 2>&1
  export IMAGE_TRANSFORMATION_CACHE_ENABLED=$1
  start_bench_server "$binary" "$WORK/render-server.log"
  eval "$("$binary" keys)"
  auth="Authorization: Bearer $SERVICE_KEY"
  curl -fs -X POST "$base/bucket" -H "$auth" -H 'Content-Type: application/json' -d '{"name":"photos","public":true}' >/dev/null
  for i in $(seq 1 $images); do
    curl -fs -X PUT "$base/object/photos/photo-$i.jpg" -H "$auth" -H 'Content-Type: image/jpeg' \
      --data-binary @"$sources/photo-$i.jpg" >/dev/null
  done
}
names=$(for i in $(seq 1 $images); do printf 'photo-%s.jpg ' "$i"; done)
query="width=500&height=500&resize=cover&format=webp&quality=80"
client() { python3 Benchmarks/render_client.py "$base" photos "$query" "$concurrency" "$1" $names; }

# The command line: the same operation (shrink-on-load thumbnail, centre crop, WebP Q80), one
# process per render, `concurrency` at a time.
cli_rate() {
  local out="$WORK/render-cli" started ended
  mkdir -p "$out"
  started=$(seconds)
  seq 1 "$count" | xargs -P "$concurrency" -I{} sh -c \
    "i=\$(( ({} - 1) % $images + 1 )); vips thumbnail $sources/photo-\$i.jpg $out/{}.webp[Q=80,strip] 500 --height 500 --crop centre"
  ended=$(seconds)
  python3 -c "print(f'{$count / ($ended - $started):.1f}')"
}

log "vips thumbnail CLI: $count renders at concurrency $concurrency"
cli_once=$(cli_rate)
run_server false
idle=$(rss_kib VmRSS)
client "$concurrency" >/dev/null   # warm-up
reset_peak
log "storage-api, cache off: $count renders"
read -r api_rate api_hits api_bytes < <(client "$count")
peak_note="$(mib "$(rss_kib VmHWM)") (idle $(mib "$idle"))"
[ "$api_hits" = 0 ] || die "cache hits with the cache disabled"
log "vips thumbnail CLI again"
cli_twice=$(cli_rate)
kill "$server"; wait "$server" 2>/dev/null || true; server=

run_server true
client "$images" >/dev/null        # one render per image fills the cache
log "storage-api, cache on: $count requests"
read -r hit_rate hits _ < <(client "$count")
kill "$server"; wait "$server" 2>/dev/null || true; server=
cli=$(python3 -c "print(f'{($cli_once + $cli_twice) / 2:.1f}')")

cat <<TABLE
| renders of 2000×1333 JPEG (~${source_kib} KiB) → 500×500 WebP Q80, $count requests, concurrency $concurrency ($(date -u +%Y-%m-%d), $(nproc) cores) | renders/s | ratio to CLI |
|---|---|---|
| \`vips thumbnail\` command line (mean of runs before and after: $cli_once, $cli_twice) | $cli | 1.00 |
| storage-api, variant cache off (avg response $((api_bytes / 1024)) KiB, server peak RSS $peak_note MiB) | $api_rate | $(ratio "$api_rate" "$cli") |
| storage-api, variant cache on ($hits of $count were hits) | $hit_rate | $(ratio "$hit_rate" "$cli") |
TABLE
