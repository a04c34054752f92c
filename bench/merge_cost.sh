#!/usr/bin/env bash
# bench/merge_cost.sh - what a cluster run costs beyond its shards: the merge of N parts,
# for N = 1, 4 and 16 on the same data, next to one run over all of it.
#
# Usage: bash bench/merge_cost.sh [BUILD_DIR]         (default BUILD_DIR: build)
#
# Environment:
#   BENCH_FILE    the capture (default bench/data/bench.pcap, as bench/run.sh makes it:
#                 `bash bench/run.sh` generates it when missing)
#   BENCH_PIECES  files the capture is cut into with editcap -c (default 32)
#   BENCH_REPEAT  timed merges per N (default 5; the median is printed)
#
# The capture is cut into BENCH_PIECES files and analysed with --no-chain, so that every
# file is a capture set of its own and the shards get equal parts (one rotated set would be
# one shard's: a set is never split). Shards run one after the other on this machine (a
# cluster runs them at once); each is timed. Every merge is checked against the single
# run (flows.msgpack, report.json but "run") and the script fails if one differs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${1:-build}
file=${BENCH_FILE:-bench/data/bench.pcap}
pieces=${BENCH_PIECES:-32}
repeat=${BENCH_REPEAT:-5}
tt=$build/tortrace
[ -x "$tt" ] || { echo "merge_cost: no $tt (build first)" >&2; exit 2; }
[ -f "$file" ] || { echo "merge_cost: no $file (bash bench/run.sh $build makes it)" >&2; exit 2; }
command -v editcap >/dev/null || { echo "merge_cost: editcap (wireshark-common) needed" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tt-merge-cost.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
now() { date +%s.%N; }
since() { python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$(now)"; }
median() { python3 -c 'import sys, statistics; print("%.3f" % statistics.median(map(float, sys.argv[1:])))' "$@"; }

pkts=$(capinfos -M -c "$file" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')
mkdir "$tmp/in"
editcap -c $(( (pkts + pieces - 1) / pieces )) "$file" "$tmp/in/piece.pcap"
bytes=$(du -cb "$tmp"/in/* | tail -1 | cut -f1)
echo "merge_cost: $file, $pkts packets, $bytes bytes in $(ls "$tmp/in" | wc -l) files"
cat "$tmp"/in/* >/dev/null
opts=(-q --no-hash --no-history --no-progress --no-chain)

t=$(now)
"$tt" analyze "${opts[@]}" -o "$tmp/single" "$tmp/in"
single=$(since "$t")
flows=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["flows"])' "$tmp/single/report.json")
fsize=$(stat -c %s "$tmp/single/flows.msgpack")
printf 'single run: %s s = %.2f GB/s, %s flows, flows.msgpack %s bytes\n' "$single" \
    "$(python3 -c "print($bytes / $single / 1e9)")" "$flows" "$fsize"
strip_run() { sed '/^  "run": {/,$d' "$1"; }
printf '%6s %12s %12s %14s %14s\n' shards 'max shard s' 'sum shards s' 'merge s (med)' 'merge s no-html'
for n in 1 4 16; do
    parts=() times=()
    for (( i = 0; i < n; i++ )); do
        t=$(now)
        "$tt" analyze "${opts[@]}" --no-html --shard "$i/$n" -o "$tmp/p$n-$i" "$tmp/in"
        times+=("$(since "$t")")
        parts+=("$tmp/p$n-$i")
    done
    ms=() mn=()
    for (( r = 0; r < repeat; r++ )); do
        t=$(now); "$tt" merge -q -o "$tmp/m$n" "${parts[@]}"; ms+=("$(since "$t")")
        t=$(now); "$tt" merge -q --no-html -o "$tmp/mn$n" "${parts[@]}"; mn+=("$(since "$t")")
    done
    cmp -s "$tmp/single/flows.msgpack" "$tmp/m$n/flows.msgpack" ||
        { echo "merge_cost: flows.msgpack of $n shards differs from the single run" >&2; exit 1; }
    cmp -s <(strip_run "$tmp/single/report.json") <(strip_run "$tmp/m$n/report.json") ||
        { echo "merge_cost: report.json of $n shards differs from the single run" >&2; exit 1; }
    max=$(python3 -c 'import sys; print("%.3f" % max(map(float, sys.argv[1:])))' "${times[@]}")
    sum=$(python3 -c 'import sys; print("%.3f" % sum(map(float, sys.argv[1:])))' "${times[@]}")
    printf '%6s %12s %12s %14s %14s\n' "$n" "$max" "$sum" "$(median "${ms[@]}")" "$(median "${mn[@]}")"
    rm -rf "${parts[@]}"
done
echo "merge_cost: every merge equals the single run"
