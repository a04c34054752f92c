#!/usr/bin/env bash
# The cluster run on a real Slurm (.ci/run's "slurm" step; as root): start a private
# Slurm of 2 emulated nodes with ../shared/tools/slurm/start-local-slurm.sh (Debian's
# slurm-wlm and munge, installed when missing), submit 4 shards + the merge with
# tools/slurm/submit.sh over corpus captures (one editcap-rotated set whose bytes span a
# shard boundary) and compare the merge with one `tortrace analyze` byte for byte
# (flows.msgpack; report.json up to "run"). Then a shard whose OUT cannot be created must
# fail its task and the merge must never run (DependencyNeverSatisfied), with the shard's
# error in its log; submitted again once fixed, only that shard is analysed (--resume)
# and the merge equals the single run. The cluster is stopped on exit, whatever happened.
#
#   tests/slurm/test_slurm.sh [TORTRACE]      (default build-test/tortrace)
# Exit 0 pass, 1 fail, 77 skipped (no corpus, not root).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
tortrace=$(realpath "${1:-build-test/tortrace}")
slurm_tools=$root/../shared/tools/slurm
corpus=$root/../shared/corpus
[ "$(id -u)" = 0 ] || { echo "skipped: needs root (slurmd)"; exit 77; }
[ -d "$corpus/tornet/default-s1" ] || { echo "skipped: no corpus at $corpus"; exit 77; }
[ -x "$slurm_tools/start-local-slurm.sh" ] || { echo "FAIL: no $slurm_tools"; exit 1; }
[ -x "$tortrace" ] || { echo "FAIL: no tortrace at $tortrace"; exit 1; }
command -v editcap >/dev/null || { echo "FAIL: editcap (wireshark-common) is missing"; exit 1; }

work=$(mktemp -d /tmp/tortrace-slurm-test.XXXXXX)
export TT_SLURM_DIR=$work/slurm
stop() {
    TT_SLURM_PURGE=1 "$slurm_tools/stop-local-slurm.sh" >/dev/null 2>&1
    rm -rf "$work"
}
trap stop EXIT
fails=0
check() { # message, then the command
    local msg=$1; shift
    if "$@"; then echo "ok: $msg"; else echo "FAIL: $msg"; fails=$((fails + 1)); fi
}

TT_SLURM_INSTALL=1 TT_SLURM_NODES=2 "$slurm_tools/start-local-slurm.sh" || {
    echo "FAIL: the local Slurm did not start"; exit 1; }
export SLURM_CONF=$TT_SLURM_DIR/etc/slurm.conf

# The inputs: a, the rotated set b_rot_*, c/ (a chained pair), as tests/cli/test_shard.py.
in=$work/in
mkdir -p "$in/a" "$in/c"
ln -s "$corpus/tornet/bridge-s2/client.pcap" "$in/a/bridge.pcap"
editcap -i 10 "$corpus/tornet/default-s1/client.pcap" "$in/b_rot.pcap" >/dev/null
ln -s "$corpus/tornet/default-s1/relay-exit1.pcap" "$in/c/exit.pcap"
ln -s "$corpus/tornet/obfs4-s5/client.pcap" "$in/c/obfs4.pcap"
relays=$corpus/tornet/default-s1/consensus
opts=(--no-hash --relays "$relays")

"$tortrace" analyze -q --no-history "${opts[@]}" -o "$work/single" "$in" || {
    echo "FAIL: the single run"; exit 1; }

# 4 shards on 2 nodes, at most 3 at once, then the merge.
t0=$SECONDS
check "4 shards + merge on Slurm complete" bash tools/slurm/submit.sh -n 4 -t 3 -c 1 \
    -w "$work/run" -o "$work/merged" --tortrace "$tortrace" --wait -- "${opts[@]}" "$in"
echo "cluster run: $(( SECONDS - t0 )) s"
check "flows.msgpack of the merge equals the single run's" \
    cmp "$work/single/flows.msgpack" "$work/merged/flows.msgpack"
strip_run() { sed '/^  "run": {/,$d' "$1"; }
check "report.json (but run) of the merge equals the single run's" \
    cmp <(strip_run "$work/single/report.json") <(strip_run "$work/merged/report.json")
check "the merge wrote report.html" test -s "$work/merged/report.html"
nodes=$(grep -ho 'on node n[0-9]*' "$work"/run/logs/shard-*.out | sort -u | wc -l)
check "the shards ran on 2 nodes (got $nodes)" test "$nodes" = 2
# The rotated set's byte range spans shards 1 and 2; it was read whole by one of them.
readers=$(for i in 0 1 2 3; do
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))
print(any(f["read"] and "b_rot" in f["path"] for f in r["files"]))' \
        "$work/run/part-$i/report.json"; done | grep -c True)
check "the rotated set was read by exactly one shard (got $readers)" test "$readers" = 1

# A node dying under a shard, as Slurm sees it: the task is requeued (scontrol requeue
# kills it and queues it again, as for a node that stopped answering) and runs again from
# the start; the merge (held until then) still equals the single run.
held=$(bash tools/slurm/submit.sh -n 4 -c 1 -w "$work/requeue" -o "$work/requeue-merged" \
    --tortrace "$tortrace" --sbatch-arg=--hold -- "${opts[@]}" "$in")
rarr=$(sed -n 's/^shards //p' <<<"$held")
rmerge=$(sed -n 's/^merge //p' <<<"$held")
[ -n "$rarr" ] && [ -n "$rmerge" ] || { echo "FAIL: submit --hold gave no job ids"; exit 1; }
scontrol release "$rarr"
jstate() { scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n 's/^JobState=//p' | head -1; }
for _ in $(seq 1 600); do # until task 1 runs (or is already done)
    case "$(jstate "${rarr}_1")" in RUNNING|COMPLETED|FAILED) break ;; esac
    sleep 0.1
done
echo "requeue: task 1 is $(jstate "${rarr}_1")"
scontrol requeue "${rarr}_1" || echo "requeue: scontrol requeue failed"
for _ in $(seq 1 1200); do # until every task is done again
    n_done=0
    for t in 0 1 2 3; do [ "$(jstate "${rarr}_$t")" = COMPLETED ] && n_done=$((n_done + 1)); done
    [ "$n_done" = 4 ] && break
    sleep 0.1
done
echo "requeue: tasks $(for t in 0 1 2 3; do jstate "${rarr}_$t"; done | tr '\n' ' ')"
scontrol release "$rmerge"
for _ in $(seq 1 1200); do
    case "$(jstate "$rmerge")" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL) break ;; esac
    sleep 0.1
done
[ -e "$work/requeue-merged/report.json" ] || cat "$work"/requeue/logs/*
check "the requeued shard ran twice" \
    grep -q "restart 1" "$work"/requeue/logs/shard-*_1.out
check "the merge after a requeued shard completed ($(jstate "$rmerge"))" \
    test "$(jstate "$rmerge")" = COMPLETED
check "and equals the single run" cmp "$work/single/flows.msgpack" \
    "$work/requeue-merged/flows.msgpack"
check "report.json too" \
    cmp <(strip_run "$work/single/report.json") <(strip_run "$work/requeue-merged/report.json")

# A failing shard: part-2 cannot be created (a file is in its place).
mkdir -p "$work/fail"
touch "$work/fail/part-2"
out=$(bash tools/slurm/submit.sh -n 4 -c 1 -w "$work/fail" -o "$work/fail-merged" \
    --tortrace "$tortrace" --wait -- "${opts[@]}" "$in" 2>&1)
rc=$?
echo "$out"
check "submit --wait fails when a shard fails (exit $rc)" test "$rc" = 1
check "the merge never ran (DependencyNeverSatisfied or cancelled)" \
    grep -Eq 'DependencyNeverSatisfied|CANCELLED' <<<"$out"
check "no merged report" test ! -e "$work/fail-merged/report.json"
check "the failing shard's log names its error" \
    grep -q "error: .*$work/fail/part-2.*Not a directory" "$work"/fail/logs/shard-*_2.out
[ "$fails" = 0 ] || cat "$work"/fail/logs/shard-*_2.out
check "the other shards succeeded" \
    bash -c "grep -l 'done (tortrace exit' '$work'/fail/logs/shard-*_[013].out | wc -l | grep -qx 3"

# The cause fixed, the same run submitted again: the shards run with --resume, so the three
# complete parts are kept (their tasks end at once), shard 2 is analysed, and the merge
# equals the single run.
rm -f "$work/fail/part-2"
out=$(bash tools/slurm/submit.sh -n 4 -c 1 -w "$work/fail" -o "$work/fail-merged" \
    --tortrace "$tortrace" --wait -- "${opts[@]}" "$in" 2>&1)
rc=$?
echo "$out"
again=$(sed -n 's/^shards //p' <<<"$out")
check "submitted again after the fix, the run completes (exit $rc)" test "$rc" = 0
check "the three complete shards were kept" bash -c \
    "grep -l 'kept (--resume)' '$work'/fail/logs/shard-${again}_[013].out | wc -l | grep -qx 3"
check "shard 2 was analysed" bash -c \
    "! grep -q 'kept (--resume)' '$work'/fail/logs/shard-${again}_2.out && test -s '$work/fail/part-2/partial.bin'"
check "and the merge equals the single run" cmp "$work/single/flows.msgpack" \
    "$work/fail-merged/flows.msgpack"

echo "slurm: $fails failed"
[ "$fails" = 0 ]
