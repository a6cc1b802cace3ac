#!/usr/bin/env bash
# 1 GiB upload and download through storage-api (release, STORAGE_MODE=self-hosted) against the
# same transfers made directly to the same SeaweedFS with SigV4 (curl --aws-sigv4), in one run,
# with the server's peak RSS during each transfer. SeaweedFS's own speed moves by ±30 % between
# minutes on this machine, so each transfer is made in three rounds, each through storage-api right
# after the same transfer made directly; the table gives each round's ratio and their median.
#
#   Benchmarks/s3-transfer.sh [size-in-MiB] [rounds]      (defaults 1024 and 3)
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
rounds=${2:-3}
direct_put() { curl -fs "${sigv4[@]}" -T "$source_file" "$endpoint/bench-direct/big.bin" -o /dev/null; }
direct_get() { curl -fs "${sigv4[@]}" "$endpoint/bench-direct/big.bin" -o /dev/null; }
direct_get_md5() { curl -fs "${sigv4[@]}" "$endpoint/bench-direct/big.bin" | md5sum | cut -d' ' -f1 > "$WORK/direct.md5"; }
api_chunked() { api_upload chunked.bin "$source_file" -H 'Transfer-Encoding: chunked' -H 'x-upsert: true'; }
api_put() { api_upload big.bin "$source_file" -H 'x-upsert: true'; }
# pair NAME DIRECT THROUGH: one round of a transfer, direct first; appends "direct through ratio"
# to $WORK/NAME.rounds and keeps the through transfer's peak RSS.
pair() {
  measure $2; local direct=$measured_rate
  measure $3; local through=$measured_rate
  echo "$direct $measured_rate $(ratio "$through" "$direct") $measured_peak" >> "$WORK/$1.rounds"
}
rm -f "$WORK"/*.rounds
for _ in $(seq "$rounds"); do
  pair put direct_put api_put
  pair chunked direct_put api_chunked
  pair get direct_get "api_download big.bin"
  pair get_md5 direct_get_md5 "api_download_md5 big.bin"
done
[ "$(cat "$WORK/direct.md5")" = "$source_md5" ] || die "direct download differs"
[ "$(cat "$WORK/download.md5")" = "$source_md5" ] || die "downloaded bytes differ"
[ "$(curl -fs "$base/object/bench/chunked.bin" -H "$auth" | md5sum | cut -d' ' -f1)" = "$source_md5" ] || die "chunked upload differs"

# row NAME LABEL: direct and through MiB/s of each round, the ratios, their median, the peak RSS.
row() {
  python3 - "$WORK/$1.rounds" "$2" <<'PY'
import statistics, sys
rounds = [line.split() for line in open(sys.argv[1])]
direct = ", ".join(r[0] for r in rounds)
through = ", ".join(r[1] for r in rounds)
ratios = ", ".join(r[2] for r in rounds)
median = statistics.median(float(r[2]) for r in rounds)
peak = max(int(r[3]) for r in rounds) / 1024
print(f"| {sys.argv[2]} | {direct} | {through} | {ratios} | **{median:.2f}** | {peak:.0f} |")
PY
}

cat <<TABLE
| transfer ($size_mib MiB, $(date -u +%Y-%m-%d), $(nproc) cores, SeaweedFS 4.48, $rounds rounds) | direct MiB/s | through storage-api MiB/s | ratio per round | median ratio | server peak RSS MiB (idle $(mib "$idle")) |
|---|---|---|---|---|---|
$(row put "upload: curl PUT (direct: one SigV4 PUT; through: 16 MiB parts streamed to SeaweedFS's multipart)")
$(row chunked "upload without Content-Length (chunked; through: 16 MiB parts gathered in memory, the next while one is sent)")
$(row get "download → /dev/null")
$(row get_md5 "download → md5sum")
TABLE
log "bytes verified: md5 $source_md5 end to end"
