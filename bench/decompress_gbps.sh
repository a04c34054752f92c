#!/usr/bin/env bash
# bench/decompress_gbps.sh - tortrace throughput over a folder of many captures, plain,
# gzip and zstd, on one CPU and on all of them (issue 10, "many inputs, many cores").
#
# Usage: bash bench/decompress_gbps.sh [BUILD_DIR]        (default BUILD_DIR: build)
#
# The bench capture (BENCH_FILE, default /work/bench-data/bench.pcap, else bench/data/
# bench.pcap as made by bench/run.sh) is split with editcap -c into about BENCH_PARTS files
# (default 50), and each part is compressed with gzip -6 and zstd -3; the three folders are
# kept in BENCH_DECOMP_DIR (default /tmp/tt-decompress-bench) and reused while the capture
# and the settings are the same. Each command then runs BENCH_REPEAT times (default 3),
# interleaved, with the folders in the page cache; the table gives medians as GB/s of
# *uncompressed* capture bytes (the same numerator for all three formats):
#
#   floor 1 CPU    cat / zcat / zstdcat of every file to /dev/null, one after the other
#   floor all      the same with one process per CPU (xargs -P)
#   1 CPU          taskset -c 0, -j 1, TT_DECOMPRESS_AHEAD=0 (no helper threads)
#   all, ahead off every CPU, default -j, TT_DECOMPRESS_AHEAD=0: how tortrace read
#                  compressed folders before read-ahead (the reader decompresses)
#   all            every CPU, defaults (read-ahead on with more than one CPU)
#
# each of the tortrace rows with --no-detect and with detection (BENCH_FORMATS, default
# "pcap gz zst", and BENCH_DETECT, default "both", or "off"/"on", run a part). Beside the
# wall time, the CPU time (user + sys of the command and its children) and the cores it
# kept busy (CPU s / wall s) are given: on a shared machine the wall time says how much CPU
# the run got, the cores column how much it could use. Needs editcap, gzip, zstd,
# taskset. Exit status: 0, or 1 when a command failed or, for a format, an output differs
# between the 1-CPU run and the all-CPU runs (report.json minus "run", flows.msgpack).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${1:-build}
src=${BENCH_FILE:-/work/bench-data/bench.pcap}
[[ -f "$src" ]] || src=bench/data/bench.pcap
parts=${BENCH_PARTS:-50}
repeat=${BENCH_REPEAT:-3}
dir=${BENCH_DECOMP_DIR:-/tmp/tt-decompress-bench}
tt=$build/tortrace

die() { echo "decompress_gbps: $*" >&2; exit 1; }
[[ -f "$src" ]] || die "no capture: set BENCH_FILE, or run bench/run.sh first"
[[ -x "$tt" ]] || die "$tt not built"
for c in editcap gzip zstd taskset python3; do
	command -v $c >/dev/null || die "$c is required"
done
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer"

# --- data: split and compressed once, reused --------------------------------------------
stamp="src=$(realpath "$src") size=$(stat -c %s "$src") mtime=$(stat -c %Y "$src") parts=$parts"
if [[ -f "$dir/stamp" && "$(cat "$dir/stamp")" == "$stamp" ]]; then
	echo "decompress_gbps: using $dir"
else
	rm -rf "$dir"
	mkdir -p "$dir/pcap" "$dir/gz" "$dir/zst"
	pkts=$(capinfos -c -M "$src" 2>/dev/null | awk '/Number of packets/ {print $NF}' || true)
	[[ "$pkts" =~ ^[0-9]+$ ]] || pkts=$(python3 -c "
import struct, sys
f = open(sys.argv[1], 'rb'); h = f.read(24); e = '<' if h[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
n = 0
while True:
    r = f.read(16)
    if len(r) < 16: break
    f.seek(struct.unpack(e + 'I', r[8:12])[0], 1); n += 1
print(n)" "$src")
	per=$(( (pkts + parts - 1) / parts ))
	echo "decompress_gbps: splitting $src ($pkts packets) into files of $per packets"
	editcap -F pcap -c "$per" "$src" "$dir/pcap/part.pcap"
	n=$(nproc)
	echo "decompress_gbps: compressing (gzip -6, zstd -3, $n at a time)"
	(cd "$dir/pcap" && ls | xargs -P "$n" -I{} sh -c 'gzip -6 -c "$1" >"../gz/$1.gz"' _ {})
	(cd "$dir/pcap" && ls | xargs -P "$n" -I{} sh -c 'zstd -q -3 -T1 -c "$1" >"../zst/$1.zst"' _ {})
	echo "$stamp" >"$dir/stamp"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tt-dgbps.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export DG_DIR=$dir DG_TT=$tt DG_REPEAT=$repeat DG_TMP=$tmp \
	DG_FORMATS=${BENCH_FORMATS:-pcap gz zst} DG_DETECT=${BENCH_DETECT:-both}
python3 - <<'EOF'
import json, os, statistics, subprocess, sys, time

d, tt, reps, tmp = os.environ['DG_DIR'], os.environ['DG_TT'], int(os.environ['DG_REPEAT']), \
    os.environ['DG_TMP']
ncpu = os.cpu_count()
raw = sum(os.path.getsize(os.path.join(d, 'pcap', f)) for f in os.listdir(os.path.join(d, 'pcap')))
nfiles = len(os.listdir(os.path.join(d, 'pcap')))
size = {fmt: sum(os.path.getsize(os.path.join(d, fmt, f)) for f in os.listdir(os.path.join(d, fmt)))
        for fmt in ('pcap', 'gz', 'zst')}
floor_cmd = {'pcap': 'cat', 'gz': 'zcat', 'zst': 'zstdcat'}

formats = os.environ['DG_FORMATS'].split()
detect = {'both': ('--no-detect', None), 'off': ('--no-detect',), 'on': (None,)}[os.environ['DG_DETECT']]
cmds = []  # (fmt, label, argv, env or None, out or None)
for fmt in formats:
    folder = os.path.join(d, fmt)
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
    sh1 = 'for f in "$@"; do %s "$f"; done >/dev/null' % floor_cmd[fmt]
    cmds.append((fmt, 'floor 1 CPU (%s)' % floor_cmd[fmt], ['sh', '-c', sh1, '_'] + files, None, None))
    shn = 'printf "%%s\\0" "$@" | xargs -0 -n 1 -P %d %s >/dev/null' % (ncpu, floor_cmd[fmt])
    cmds.append((fmt, 'floor all (%s -P %d)' % (floor_cmd[fmt], ncpu), ['sh', '-c', shn, '_'] + files,
                 None, None))
    for det in detect:
        dl = ' --no-detect' if det else ''
        extra = [det] if det else []
        for label, pre, jargs, ahead in (
                ('1 CPU -j 1, ahead off', ['taskset', '-c', '0'], ['-j', '1'], '0'),
                ('all, ahead off', [], [], '0'),
                ('all', [], [], None)):
            out = os.path.join(tmp, '%s-%s%s' % (fmt, label.replace(' ', '').replace(',', ''), dl.strip()))
            env = dict(os.environ)
            env.pop('TT_DECOMPRESS_AHEAD', None)
            if ahead is not None:
                env['TT_DECOMPRESS_AHEAD'] = ahead
            argv = pre + [tt, 'analyze', '-q', '--no-progress', '--no-html', '--no-history',
                          '--no-hash'] + jargs + extra + ['-o', out, folder]
            cmds.append((fmt, 'tortrace%s: %s' % (dl, label), argv, env, out))

times = {i: [] for i in range(len(cmds))}
cpu = {i: [] for i in range(len(cmds))}
failed = {}
print('decompress_gbps: %d files, %.2f GB uncompressed (gz %.2f GB, zst %.2f GB), %d CPUs, '
      '%d interleaved runs of %d commands' % (nfiles, raw / 1e9, size['gz'] / 1e9,
                                              size['zst'] / 1e9, ncpu, reps, len(cmds)), flush=True)
for r in range(reps):
    for i, (fmt, label, argv, env, out) in enumerate(cmds):
        if i in failed:
            continue
        errf = open(os.path.join(tmp, 'stderr'), 'w+')
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=errf)
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        errf.seek(0)
        err = errf.read()
        errf.close()
        rc = os.waitstatus_to_exitcode(status)
        if rc != 0:
            failed[i] = 'exit %d: %s' % (rc, err.strip()[-300:])
            continue
        times[i].append(dt)
        cpu[i].append(ru.ru_utime + ru.ru_stime)
    print('  run %d/%d done' % (r + 1, reps), flush=True)

def outputs(out):
    with open(os.path.join(out, 'report.json')) as f:
        rep = json.load(f)
    del rep['run']
    with open(os.path.join(out, 'flows.msgpack'), 'rb') as f:
        return json.dumps(rep, sort_keys=True), f.read()

print()
print('%-5s %-38s %9s %8s %9s %8s %6s' % ('input', 'command', 'median s', 'GB/s', '÷ floor1',
                                           'CPU s', 'cores'))
ok = not failed
for fmt in formats:
    floor = None
    for i, (f, label, argv, env, out) in enumerate(cmds):
        if f != fmt:
            continue
        if i in failed or not times[i]:
            print('%-5s %-38s FAILED %s' % (fmt, label, failed.get(i)))
            continue
        m = statistics.median(times[i])
        if floor is None:
            floor = m
        c = statistics.median(cpu[i])
        print('%-5s %-38s %9.3f %8.3f %8.2fx %8.2f %6.2f' % (fmt, label, m, raw / m / 1e9,
              m / floor, c, statistics.median(c_ / t_ for c_, t_ in zip(cpu[i], times[i]))))
    print()
# For each format and detection mode, the tortrace runs (1 CPU, all CPUs with read-ahead
# off and on) must give the same report.json (minus "run") and flows.msgpack. (Across
# formats they differ by the file names, which both carry.)
ref = {}
for i, (fmt, label, argv, env, out) in enumerate(cmds):
    if out is None or i in failed:
        continue
    key = (fmt, '--no-detect' in label)
    got = outputs(out)
    if key not in ref:
        ref[key] = (label, got)
    elif got != ref[key][1]:
        print('DIFFERS: %s %s vs %s' % (fmt, label, ref[key][0]))
        ok = False
print('outputs: %s' % ('identical for 1 CPU and all CPUs, read-ahead off and on' if ok
                       else 'see above'))
sys.exit(0 if ok else 1)
EOF
