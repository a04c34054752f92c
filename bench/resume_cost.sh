#!/usr/bin/env bash
# bench/resume_cost.sh - what `analyze --resume` costs when nothing goes wrong, and what it
# saves when a run is stopped half-way.
#
# Usage: bash bench/resume_cost.sh [BUILD_DIR]         (default BUILD_DIR: build)
#
# Environment:
#   BENCH_FILE    the capture (default bench/data/bench.pcap, as bench/run.sh makes it)
#   BENCH_PIECES  files the capture is cut into with editcap -c (default 32)
#   BENCH_REPEAT  runs of each kind, interleaved (default 3; the median is printed)
#
# The capture is cut into BENCH_PIECES files and analysed with --no-chain, so that every
# file is a capture set of its own (a journal piece holds whole sets; one rotated set is one
# piece). Kinds: a plain run; --resume with 8 pieces (--checkpoint = an eighth of the
# bytes); --resume with 1 piece. Then a --resume run is stopped with SIGINT once half of its
# pieces are saved and run again: the two together against one plain run. Every --resume
# output is checked against the plain run (flows.msgpack, report.json but "run"); the script
# fails if one differs. Times are wall / CPU (user + system) seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${1:-build}
file=${BENCH_FILE:-bench/data/bench.pcap}
pieces=${BENCH_PIECES:-32}
repeat=${BENCH_REPEAT:-3}
tt=$build/tortrace
[ -x "$tt" ] || { echo "resume_cost: no $tt (build first)" >&2; exit 2; }
[ -f "$file" ] || { echo "resume_cost: no $file (bash bench/run.sh $build makes it)" >&2; exit 2; }
command -v editcap >/dev/null || { echo "resume_cost: editcap (wireshark-common) needed" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tt-resume-cost.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
timed() { local out=$1; shift; /usr/bin/time -f '%e %U %S' -o "$tmp/time" "$@"
    awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$tmp/time" >>"$out"; }
med() { python3 -c 'import sys, statistics; print("%.3f" % statistics.median(float(l.split()[int(sys.argv[2])]) for l in open(sys.argv[1])))' "$@"; }
strip_run() { sed '/^  "run": {/,$d' "$1"; }
same() { cmp -s "$tmp/plain/flows.msgpack" "$1/flows.msgpack" &&
    diff -q <(strip_run "$tmp/plain/report.json") <(strip_run "$1/report.json") >/dev/null ||
    { echo "resume_cost: $1 differs from the plain run" >&2; exit 1; }; }

pkts=$(capinfos -M -c "$file" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')
mkdir "$tmp/in"
editcap -c $(( (pkts + pieces - 1) / pieces )) "$file" "$tmp/in/piece.pcap"
bytes=$(du -cb "$tmp"/in/* | tail -1 | cut -f1)
step=$(( (bytes / 8 + (1 << 20) - 1) >> 20 ))
echo "resume_cost: $file, $bytes bytes in $(ls "$tmp/in" | wc -l) files; 8 pieces: --checkpoint $step"
cat "$tmp"/in/* >/dev/null
opts=(-q --no-hash --no-history --no-progress --no-chain --no-html)
: >"$tmp/plain.t"; : >"$tmp/r8.t"; : >"$tmp/r1.t"
for (( k = 0; k < repeat; k++ )); do
    rm -rf "$tmp/plain" "$tmp/r8" "$tmp/r1"
    timed "$tmp/plain.t" "$tt" analyze "${opts[@]}" -o "$tmp/plain" "$tmp/in"
    timed "$tmp/r8.t" "$tt" analyze "${opts[@]}" --resume --checkpoint "$step" -o "$tmp/r8" "$tmp/in"
    timed "$tmp/r1.t" "$tt" analyze "${opts[@]}" --resume --checkpoint 1048576 -o "$tmp/r1" "$tmp/in"
    same "$tmp/r8"; same "$tmp/r1"
done
p=$(med "$tmp/plain.t" 0); pc=$(med "$tmp/plain.t" 1)
printf '%-26s %8s %8s %8s\n' kind 'wall s' 'CPU s' 'wall x'
printf '%-26s %8s %8s %8s\n' 'plain run' "$p" "$pc" 1.00
for k in r8:'--resume, 8 pieces' r1:'--resume, 1 piece'; do
    w=$(med "$tmp/${k%%:*}.t" 0); c=$(med "$tmp/${k%%:*}.t" 1)
    printf '%-26s %8s %8s %8.2f\n' "${k#*:}" "$w" "$c" "$(python3 -c "print($w / $p)")"
done
# Stopped once 4 of 8 pieces are saved, then resumed.
rm -rf "$tmp/stop"
t0=$(date +%s.%N)
"$tt" analyze "${opts[@]}" --resume --checkpoint "$step" -o "$tmp/stop" "$tmp/in" 2>/dev/null &
pid=$!
until [ "$(ls "$tmp"/stop/journal/part-*/partial.bin 2>/dev/null | wc -l)" -ge 4 ] ||
    ! kill -0 $pid 2>/dev/null; do sleep 0.01; done
kill -INT $pid 2>/dev/null || true
wait $pid || true
t1=$(date +%s.%N)
"$tt" analyze "${opts[@]:1}" --resume --checkpoint "$step" -o "$tmp/stop" "$tmp/in" 2>"$tmp/resumed.err"
t2=$(date +%s.%N)
same "$tmp/stop"
python3 - "$t0" "$t1" "$t2" "$p" "$tmp/resumed.err" <<'EOF'
import re, sys
t0, t1, t2, plain = map(float, sys.argv[1:5])
m = re.search(r'(\d+) of (\d+) pieces kept', open(sys.argv[5]).read())
kept = '%s of %s pieces kept' % m.groups() if m else 'no piece kept'
print('stopped at %.2f s, resumed in %.2f s (%s): %.2f s in all, %.2f x one plain run; '
      'a plain run stopped there starts again from 0' % (t1 - t0, t2 - t1, kept, t2 - t0,
                                                        (t2 - t0) / plain))
EOF
