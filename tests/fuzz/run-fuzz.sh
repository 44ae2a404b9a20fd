#!/bin/sh
# run-fuzz.sh FUZZER SEED_CORPUS WORK_DIR SECONDS: fuzz for SECONDS, growing a
# working corpus in WORK_DIR (the seed corpus in the source tree stays as is).
# Exit status is libFuzzer's: non-zero on a finding, whose input is saved in WORK_DIR.
set -eu
fuzzer=$1 seed=$2 work=$3 seconds=$4
mkdir -p "$work/corpus"
exec "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -timeout=5 -rss_limit_mb=2048 \
  -artifact_prefix="$work/" "$work/corpus" "$seed"
