#!/usr/bin/env bash
# Submit a tortrace run to Slurm: a job array of N shards (`tortrace analyze --shard I/N`)
# and a merge job that runs when all of them succeeded (--dependency=afterok). No scheduler
# of our own: Slurm places, throttles, requeues and orders the jobs.
#
#   tools/slurm/submit.sh -n SHARDS -w WORK -o OUT [-t MAX_RUNNING] [-c CPUS] [--wait]
#       [--tortrace BIN] [--sbatch-arg ARG]... [--no-html] -- [ANALYZE OPTIONS] PATH...
#
#   -n N           shards (array tasks 0..N-1); about 1/N of the input bytes each
#   -w WORK        folder for the parts (WORK/part-I) and the jobs' logs (WORK/logs)
#   -o OUT         the merged report.json, flows.msgpack, report.html
#   -t T           at most T shards run at once (the array's %T throttle; default: no limit)
#   -c CPUS        CPUs per shard (default 2: one reader, one worker)
#   --wait         wait for the merge and exit with its result (0 merged; 1 the merge
#                  failed or never ran: a shard failed)
#   --tortrace BIN the tortrace binary, on the shared filesystem (default: tortrace on PATH)
#   --sbatch-arg A passed to both sbatch calls (partition, account, time limit, ...;
#                  also --sbatch-arg=A)
#
# Prints the array and merge job ids ("shards JOBID" / "merge JOBID"). Inputs, WORK, OUT and
# BIN must be on a filesystem every node sees.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n="" work="" out="" throttle="" cpus=2 wait=0 tortrace=${TT_TORTRACE:-tortrace}
sb=() merge_opts=()
die() { echo "submit.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        -n) n=$2; shift 2 ;;
        -w) work=$2; shift 2 ;;
        -o) out=$2; shift 2 ;;
        -t) throttle=$2; shift 2 ;;
        -c) cpus=$2; shift 2 ;;
        --wait) wait=1; shift ;;
        --tortrace) tortrace=$2; shift 2 ;;
        --sbatch-arg) sb+=("$2"); shift 2 ;;
        --sbatch-arg=*) sb+=("${1#--sbatch-arg=}"); shift ;;
        --no-html) merge_opts+=(--no-html); shift ;;
        --) shift; break ;;
        *) die "unknown option $1 (options before --, analyze options and PATHs after)" ;;
    esac
done
[[ "$n" =~ ^[1-9][0-9]*$ ]] || die "-n takes the number of shards"
[ -n "$work" ] && [ -n "$out" ] || die "-w WORK and -o OUT are needed"
[ $# -gt 0 ] || die "no PATH to analyse (after --)"
[ -z "$throttle" ] || [[ "$throttle" =~ ^[1-9][0-9]*$ ]] || die "-t takes a number"
case "$tortrace" in /*) ;; */*) tortrace=$(cd "$(dirname "$tortrace")" && pwd)/$(basename "$tortrace") ;; esac
mkdir -p "$work/logs"
work=$(cd "$work" && pwd)
case "$out" in /*) ;; *) out=$(pwd)/$out ;; esac
array="0-$(( n - 1 ))${throttle:+%$throttle}"
arr=$(sbatch --parsable "${sb[@]}" --array="$array" --cpus-per-task="$cpus" \
    --export=ALL,TT_TORTRACE="$tortrace" -o "$work/logs/shard-%A_%a.out" \
    "$here/shard.sbatch" "$work" "$n" "$@")
arr=${arr%%;*}
echo "shards $arr"
merge=$(sbatch --parsable "${sb[@]}" --dependency=afterok:"$arr" --kill-on-invalid-dep=yes \
    --export=ALL,TT_TORTRACE="$tortrace" -o "$work/logs/merge-%j.out" \
    "$here/merge.sbatch" "$work" "$n" "$out" "${merge_opts[@]}")
merge=${merge%%;*}
echo "merge $merge"
[ "$wait" = 1 ] || exit 0
state() { scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
while :; do
    st=$(state "$merge" JobState)
    case "$st" in
        COMPLETED) echo "merge $merge COMPLETED: $out"; exit 0 ;;
        FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|"")
            echo "merge $merge ${st:-gone} ($(state "$merge" Reason)): see $work/logs" >&2
            exit 1 ;;
        PENDING)
            if [ "$(state "$merge" Reason)" = DependencyNeverSatisfied ]; then
                echo "merge $merge never runs: a shard failed (DependencyNeverSatisfied); see $work/logs" >&2
                exit 1
            fi ;;
    esac
    sleep 0.5
done
