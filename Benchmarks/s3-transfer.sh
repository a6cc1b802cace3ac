#!/usr/bin/env bash
# 1 GiB upload and download through storage-api (release, STORAGE_MODE=self-hosted) against the
# same transfers made directly to the same SeaweedFS with SigV4 (curl --aws-sigv4), in one run,
# with the server's peak RSS during each transfer.
#
#   Benchmarks/s3-transfer.sh [size-in-MiB]      (default 1024)
#
# Needs the test environment's SeaweedFS binary (scripts/test installs it into .build-test/venv).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source Benchmarks/lib.sh

bench_prepare "${1:-1024}"

export DATABASE_URL
DATABASE_URL=$(bench_database "$WORK" s3_transfer)
bench_seaweedfs
trap 'kill "$server" 2>/dev/null || true; stop_seaweedfs "$WORK/seaweedfs"; stop_postgres "$WORK/postgres"' EXIT

export AUTH_JWT_SECRET=benchmark-secret-with-at-least-thirty-two-bytes LOG_LEVEL=warning
export STORAGE_MODE=self-hosted S3_ENDPOINT=$endpoint S3_BUCKET=bench-api S3_ACCESS_KEY=$access S3_SECRET_KEY=$secret
export UPLOAD_FILE_SIZE_LIMIT=$((4 * 1024 * 1024 * 1024))
start_bench_server "$binary" "$WORK/server.log"
eval "$("$binary" keys)"

source_file=$(bench_source "$WORK" "$size_mib")
source_md5=$(md5sum "$source_file" | cut -d' ' -f1)
sigv4=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
curl -fs "${sigv4[@]}" -X PUT "$endpoint/bench-direct" -o /dev/null

prepare_bench_bucket "$source_file"

# Baselines: straight to SeaweedFS, one PUT of the whole file, and GETs of it.
start=$(seconds); curl -fs "${sigv4[@]}" -T "$source_file" "$endpoint/bench-direct/big.bin" -o /dev/null; end=$(seconds)
direct_put=$(rate "$start" "$end")
start=$(seconds); direct_md5=$(curl -fs "${sigv4[@]}" "$endpoint/bench-direct/big.bin" | md5sum | cut -d' ' -f1); end=$(seconds)
direct_get_md5=$(rate "$start" "$end")
start=$(seconds); curl -fs "${sigv4[@]}" "$endpoint/bench-direct/big.bin" -o /dev/null; end=$(seconds)
direct_get=$(rate "$start" "$end")
[ "$direct_md5" = "$source_md5" ] || die "direct download differs"

measure_api_transfers "$source_file" "$source_md5"

# Unknown length (chunked): at most one 16 MiB part in memory.
measure api_upload chunked.bin "$source_file" -H 'Transfer-Encoding: chunked'
chunked=$measured_rate chunked_peak=$measured_peak
[ "$(curl -fs "$base/object/bench/chunked.bin" -H "$auth" | md5sum | cut -d' ' -f1)" = "$source_md5" ] || die "chunked upload differs"

cat <<TABLE
| transfer ($size_mib MiB, $(date -u +%Y-%m-%d), $(nproc) cores, SeaweedFS 4.48) | MiB/s | ratio to direct | server peak RSS MiB (idle $(mib "$idle")) |
|---|---|---|---|
| direct PUT to SeaweedFS (curl SigV4, one request) | $direct_put | 1.00 | – |
| direct GET from SeaweedFS → md5sum | $direct_get_md5 | 1.00 | – |
| direct GET from SeaweedFS → /dev/null | $direct_get | 1.00 | – |
| upload: curl PUT → storage-api → SeaweedFS (16 MiB parts, streamed) | $upload | $(ratio "$upload" "$direct_put") | $(mib "$upload_peak") |
| upload without Content-Length (chunked; one part buffered at a time) | $chunked | $(ratio "$chunked" "$direct_put") | $(mib "$chunked_peak") |
| download: SeaweedFS → storage-api → curl → md5sum | $download | $(ratio "$download" "$direct_get_md5") | $(mib "$download_peak") |
| download: SeaweedFS → storage-api → curl → /dev/null | $download_plain | $(ratio "$download_plain" "$direct_get") | $(mib "$download_plain_peak") |
TABLE
log "bytes verified: md5 $source_md5 end to end"
