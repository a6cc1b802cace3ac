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
source Benchmarks/lib.sh

bench_prepare "${1:-1024}"


export DATABASE_URL
DATABASE_URL=$(bench_database "$WORK" file_transfer)
trap 'kill "$server" 2>/dev/null || true; stop_postgres "$WORK/postgres"' EXIT

export AUTH_JWT_SECRET=benchmark-secret-with-at-least-thirty-two-bytes
export FILE_STORAGE_BACKEND_PATH="$WORK/storage" UPLOAD_FILE_SIZE_LIMIT=$((4 * 1024 * 1024 * 1024)) LOG_LEVEL=warning
rm -rf "$FILE_STORAGE_BACKEND_PATH"
start_bench_server "$binary" "$WORK/server.log"
eval "$("$binary" keys)"

source_file=$(bench_source "$WORK" "$size_mib")
source_md5=$(md5sum "$source_file" | cut -d' ' -f1)

prepare_bench_bucket "$source_file"
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

measure_api_transfers "$source_file" "$source_md5"
stored=$(curl -fs "$base/object/info/bench/big.bin" -H "$auth" | python3 -c 'import json,sys; print(json.load(sys.stdin)["etag"].strip("\""))')
[ "$stored" = "$source_md5" ] || die "stored ETag $stored is not the source MD5"
measure api_form_upload form.bin "$source_file"; form_upload=$measured_rate form_upload_peak=$measured_peak
stored=$(curl -fs "$base/object/info/bench/form.bin" -H "$auth" | python3 -c 'import json,sys; print(json.load(sys.stdin)["etag"].strip("\""))')
[ "$stored" = "$source_md5" ] || die "form upload's ETag $stored is not the source MD5"

cat <<TABLE
| transfer ($size_mib MiB, $(date -u +%Y-%m-%d), $(nproc) cores) | MiB/s | ratio to its baseline | server peak RSS MiB (idle $(mib "$idle")) |
|---|---|---|---|
| baseline A: dd copy with fdatasync | $dd_write | 1.00 | – |
| baseline D: copy with fdatasync while md5sum hashes a tee of it | $dd_md5_write | 1.00 | – |
| baseline B: cat file > /dev/null | $cat_read | 1.00 | – |
| baseline C: cat file \| md5sum | $md5_rate | 1.00 | – |
| upload: curl PUT → storage-api (MD5, write, fsync, rename, row) | $upload | $(ratio "$upload" "$dd_write") (vs A), $(ratio "$upload" "$dd_md5_write") (vs D) | $(mib "$upload_peak") |
| upload: curl -F multipart form → storage-api (same steps, plus parsing the form) | $form_upload | $(ratio "$form_upload" "$dd_md5_write") (vs D), $(ratio "$form_upload" "$upload") (vs PUT) | $(mib "$form_upload_peak") |
| download: storage-api → curl → md5sum | $download | $(ratio "$download" "$md5_rate") (vs C) | $(mib "$download_peak") |
| download: storage-api → curl → /dev/null | $download_plain | $(ratio "$download_plain" "$cat_read") (vs B) | $(mib "$download_plain_peak") |
TABLE
log "bytes verified: md5 $source_md5 end to end"
