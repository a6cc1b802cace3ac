#!/usr/bin/env bash
# 1 GiB upload and download through storage-api (release, file backend) against the physical limit
# of the same bytes on the same disk and against nginx serving the same file, in one run, with the
# server's peak RSS during each transfer.
#
#   Benchmarks/file-transfer.sh [size-in-MiB]      (default 1024)
#
# The upload's limit is the slower of its two jobs done alone: writing the bytes durably
# (dd with fdatasync) and hashing them (openssl md5); on two cores they can overlap, so an upload
# can approach the slower one. Downloads are compared with Debian's nginx (sendfile) serving the
# stored file itself, into the same sinks. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source Benchmarks/lib.sh

bench_prepare "${1:-1024}"
ensure_nginx

export DATABASE_URL
DATABASE_URL=$(bench_database "$WORK" file_transfer)
trap 'kill "$server" 2>/dev/null || true; stop_bench_nginx; stop_postgres "$WORK/postgres"' EXIT

export AUTH_JWT_SECRET=benchmark-secret-with-at-least-thirty-two-bytes
export FILE_STORAGE_BACKEND_PATH="$WORK/storage" UPLOAD_FILE_SIZE_LIMIT=$((4 * 1024 * 1024 * 1024)) LOG_LEVEL=warning
rm -rf "$FILE_STORAGE_BACKEND_PATH"
start_bench_server "$binary" "$WORK/server.log"
eval "$("$binary" keys)"

source_file=$(bench_source "$WORK" "$size_mib")
source_md5=$(md5sum "$source_file" | cut -d' ' -f1)

prepare_bench_bucket "$source_file"

# timed COMMAND...: seconds the command took (after flushing earlier writes), in $timed.
timed() {
  local start end
  sync
  start=$(seconds); "$@"; end=$(seconds)
  timed=$(python3 -c "print($end - $start)")
}
limit_rate() { python3 -c "print(f'{$size_mib / max($1, $2):.0f}')"; }

# The limit: each job alone on the same bytes (the source is in the page cache for both, as the
# upload's bytes are in curl's). This machine's speed of writing into the page cache moves a lot
# between minutes, so the limit is measured again right before each of two rounds of uploads and
# each round is compared with its own limit.
cat "$source_file" > /dev/null
upload_rows=""
for round in 1 2; do
  timed dd if="$source_file" of="$WORK/dd-copy.bin" bs=1M conv=fdatasync status=none; dd_seconds=$timed
  rm -f "$WORK/dd-copy.bin"
  timed openssl md5 "$source_file" > /dev/null; md5_seconds=$timed
  limit=$(limit_rate "$dd_seconds" "$md5_seconds")
  measure api_upload big.bin "$source_file" -H 'x-upsert: true'; upload=$measured_rate upload_peak=$measured_peak
  stored=$(curl -fs "$base/object/info/bench/big.bin" -H "$auth" | python3 -c 'import json,sys; print(json.load(sys.stdin)["etag"].strip("\""))')
  [ "$stored" = "$source_md5" ] || die "stored ETag $stored is not the source MD5"
  measure api_form_upload form.bin "$source_file" -H 'x-upsert: true'; form_upload=$measured_rate form_upload_peak=$measured_peak
  stored=$(curl -fs "$base/object/info/bench/form.bin" -H "$auth" | python3 -c 'import json,sys; print(json.load(sys.stdin)["etag"].strip("\""))')
  [ "$stored" = "$source_md5" ] || die "form upload's ETag $stored is not the source MD5"
  upload_rows+="| round $round: dd copy with fdatasync alone $(printf '%.2f' "$dd_seconds") s, openssl md5 alone $(printf '%.2f' "$md5_seconds") s: **limit** (the slower) | $limit | 1.00 | – |
| round $round: upload, curl PUT → storage-api (MD5, write, fsync, rename, row) | $upload | $(ratio "$upload" "$limit") | $(mib "$upload_peak") |
| round $round: upload, curl -F multipart form → storage-api (same steps, plus parsing the form) | $form_upload | $(ratio "$form_upload" "$limit") | $(mib "$form_upload_peak") |
"
done

# nginx serves the file the server stored for big.bin (same inode, same page cache).
stored_file=$(find "$FILE_STORAGE_BACKEND_PATH" -type f -size "${size_mib}M" -path '*big.bin*' | head -1)
[ -n "$stored_file" ] || die "no stored file for big.bin under $FILE_STORAGE_BACKEND_PATH"
start_bench_nginx "$stored_file"
cat "$stored_file" > /dev/null
nginx_plain() { curl -fs "$nginx_url" -o /dev/null; }
nginx_file() { curl -fs "$nginx_url" -o "$WORK/download.bin"; }
api_file() { curl -fs "$base/object/bench/big.bin" -H "$auth" -o "$WORK/download.bin"; }
# Each download twice, alternating with nginx; the better of each pair is reported.
best() { python3 -c "print(max($1, $2))"; }
measure nginx_plain; n1=$measured_rate
measure api_download big.bin; a1=$measured_rate p1=$measured_peak
measure nginx_plain; n2=$measured_rate
measure api_download big.bin; a2=$measured_rate p2=$measured_peak
nginx_null=$(best "$n1" "$n2") api_null=$(best "$a1" "$a2") api_null_peak=$(best "$p1" "$p2")
measure nginx_file; n1=$measured_rate; rm -f "$WORK/download.bin"
measure api_file; a1=$measured_rate p1=$measured_peak
got=$(md5sum "$WORK/download.bin" | cut -d' ' -f1); rm -f "$WORK/download.bin"
[ "$got" = "$source_md5" ] || die "downloaded bytes differ (md5 $got, expected $source_md5)"
measure nginx_file; n2=$measured_rate; rm -f "$WORK/download.bin"
measure api_file; a2=$measured_rate p2=$measured_peak; rm -f "$WORK/download.bin"
nginx_to_file=$(best "$n1" "$n2") api_to_file=$(best "$a1" "$a2") api_to_file_peak=$(best "$p1" "$p2")

cat <<TABLE
| transfer ($size_mib MiB, $(date -u +%Y-%m-%d), $(nproc) cores) | MiB/s | ratio to its baseline | server peak RSS MiB (idle $(mib "$idle")) |
|---|---|---|---|
$upload_rows| nginx (sendfile) → curl → /dev/null, the stored file (best of 2) | $nginx_null | 1.00 | – |
| download: storage-api → curl → /dev/null (best of 2) | $api_null | $(ratio "$api_null" "$nginx_null") | $(mib "$api_null_peak") |
| nginx (sendfile) → curl → a file (best of 2) | $nginx_to_file | 1.00 | – |
| download: storage-api → curl → a file (best of 2) | $api_to_file | $(ratio "$api_to_file" "$nginx_to_file") | $(mib "$api_to_file_peak") |
TABLE
log "bytes verified: md5 $source_md5 end to end"
