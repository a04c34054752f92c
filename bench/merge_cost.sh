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
# run (flows.msgpack, report.json but "run") and the script fails if one differs. Each time
# is given as wall / CPU (user + system) seconds: on a machine shared with other jobs the CPU
# time is the steadier of the two.
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
# timed OUT CMD...: run CMD, append "wall cpu" to OUT.
timed() { local out=$1; shift; /usr/bin/time -f '%e %U %S' -o "$tmp/time" "$@"
    awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$tmp/time" >>"$out"; }
# med FILE COLUMN: the median of a column of timed's output.
med() { python3 -c 'import sys, statistics; print("%.3f" % statistics.median(float(l.split()[int(sys.argv[2])]) for l in open(sys.argv[1])))' "$@"; }
col() { python3 -c 'import sys; v=[float(l.split()[int(sys.argv[2])]) for l in open(sys.argv[1])]; print("%.3f %.3f" % (max(v), sum(v)))' "$@"; }

pkts=$(capinfos -M -c "$file" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')
mkdir "$tmp/in"
editcap -c $(( (pkts + pieces - 1) / pieces )) "$file" "$tmp/in/piece.pcap"
bytes=$(du -cb "$tmp"/in/* | tail -1 | cut -f1)
echo "merge_cost: $file, $pkts packets, $bytes bytes in $(ls "$tmp/in" | wc -l) files"
cat "$tmp"/in/* >/dev/null
opts=(-q --no-hash --no-history --no-progress --no-chain)

timed "$tmp/single.t" "$tt" analyze "${opts[@]}" -o "$tmp/single" "$tmp/in"
read -r single single_cpu <"$tmp/single.t"
flows=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["flows"])' "$tmp/single/report.json")
fsize=$(stat -c %s "$tmp/single/flows.msgpack")
printf 'single run: %s s wall (%s s CPU) = %.2f GB/s, %s flows, flows.msgpack %s bytes\n' \
    "$single" "$single_cpu" "$(python3 -c "print($bytes / $single / 1e9)")" "$flows" "$fsize"
strip_run() { sed '/^  "run": {/,$d' "$1"; }
printf '%6s %20s %20s %22s %22s\n' shards 'max shard s wall/CPU' 'sum shards s wall/CPU' \
    'merge s wall/CPU (med)' 'no-html wall/CPU (med)'
for n in 1 4 16; do
    parts=()
    : >"$tmp/shards.t"; : >"$tmp/merge.t"; : >"$tmp/nohtml.t"
    for (( i = 0; i < n; i++ )); do
        timed "$tmp/shards.t" "$tt" analyze "${opts[@]}" --no-html --shard "$i/$n" \
            -o "$tmp/p$n-$i" "$tmp/in"
        parts+=("$tmp/p$n-$i")
    done
    for (( r = 0; r < repeat; r++ )); do
        timed "$tmp/merge.t" "$tt" merge -q -o "$tmp/m$n" "${parts[@]}"
        timed "$tmp/nohtml.t" "$tt" merge -q --no-html -o "$tmp/mn$n" "${parts[@]}"
    done
    cmp -s "$tmp/single/flows.msgpack" "$tmp/m$n/flows.msgpack" ||
        { echo "merge_cost: flows.msgpack of $n shards differs from the single run" >&2; exit 1; }
    cmp -s <(strip_run "$tmp/single/report.json") <(strip_run "$tmp/m$n/report.json") ||
        { echo "merge_cost: report.json of $n shards differs from the single run" >&2; exit 1; }
    read -r wmax wsum < <(col "$tmp/shards.t" 0)
    read -r cmax csum < <(col "$tmp/shards.t" 1)
    printf '%6s %20s %20s %22s %22s\n' "$n" "$wmax/$cmax" "$wsum/$csum" \
        "$(med "$tmp/merge.t" 0)/$(med "$tmp/merge.t" 1)" \
        "$(med "$tmp/nohtml.t" 0)/$(med "$tmp/nohtml.t" 1)"
    rm -rf "${parts[@]}"
done
echo "merge_cost: every merge equals the single run"
