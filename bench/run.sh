#!/usr/bin/env bash
# bench/run.sh - tortrace throughput and memory benchmark.
#
# Usage: bash bench/run.sh [BUILD_DIR]        (default BUILD_DIR: build)
#
# Environment:
#   BENCH_FILE     capture to use/generate (default bench/data/bench.pcap)
#   BENCH_SIZE     size to generate, K/M/G suffixes (default 2G)
#   BENCH_SEED     generator seed (default 1)
#   BENCH_REPEAT   timed runs per command (default 5)
#   BENCH_TT_ARGS  extra arguments for "tortrace analyze"
#   BENCH_MANY_FLOWS  one-SYN flows in the many-flows case (default 3000000; 0 skips it)
#
# Exit status: 0 all targets met, 1 a target missed or a run failed,
# 2 tortrace binary missing (cat and tcpdump are still timed).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

build=${1:-build}
file=${BENCH_FILE:-bench/data/bench.pcap}
size=${BENCH_SIZE:-2G}
seed=${BENCH_SEED:-1}
repeat=${BENCH_REPEAT:-5}
tt_args=${BENCH_TT_ARGS:-}

die() { echo "bench: $*" >&2; exit 1; }
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer"
command -v python3 >/dev/null || die "python3 is required"

# --- generator --------------------------------------------------------
src=tools/gen_pcap.c
[[ -f "$src" ]] || die "$src not found"
gen=
if [[ -x "$build/tools/tt-genpcap" && ! "$build/tools/tt-genpcap" -ot "$src" ]]; then
	gen=$build/tools/tt-genpcap
else
	gen=$build/tt-genpcap
	if [[ ! -x "$gen" || "$gen" -ot "$src" ]]; then
		mkdir -p "$build"
		echo "bench: building $gen"
		${CC:-cc} -O2 -o "$gen" "$src" || die "cannot build $gen"
	fi
fi

# --- data -------------------------------------------------------------
stamp=$file.stamp
truth=${file%.*}.truth.csv
gen_sum=$(sha256sum "$src" | cut -c1-16)
params="size=$size seed=$seed gen=$gen_sum"
if [[ -f "$file" && -f "$stamp" ]] && [[ "$(head -1 "$stamp")" == "$params" ]]; then
	echo "bench: using existing $file ($params)"
else
	mkdir -p "$(dirname "$file")"
	rm -f "$file" "$stamp" "$truth"
	echo "bench: generating $file ($params)"
	start=$(date +%s.%N)
	summary=$("$gen" -o "$file" --size "$size" --seed "$seed" --truth "$truth") ||
		die "generation failed"
	end=$(date +%s.%N)
	printf '%s\n%s\n' "$params" "$summary" >"$stamp"
	python3 -c "import sys; print('bench: generated in %.1f s: %s' % (float(sys.argv[2]) - float(sys.argv[1]), sys.argv[3]))" \
		"$start" "$end" "$summary"
fi
gen_summary=$(sed -n 2p "$stamp")

# --- commands ---------------------------------------------------------
tt=$build/tortrace
have_tt=0
[[ -x "$tt" ]] && have_tt=1
have_tcpdump=0
command -v tcpdump >/dev/null && have_tcpdump=1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tt-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "bench: warming the page cache"
cat "$file" >/dev/null

many=${BENCH_MANY_FLOWS:-3000000}
genflows=$build/tools/tt-genflows
many_file=
if [[ "$many" != 0 && -x "$genflows" && -x "$build/tortrace" ]]; then
	many_file=$tmp/many-flows.pcap
	echo "bench: generating $many one-SYN flows"
	"$genflows" "$many" >"$many_file" || die "tt-genflows failed"
fi

export BENCH_MANY_FILE=$many_file BENCH_MANY_N=$many
export BENCH_FILE_PATH=$file BENCH_REPEAT_N=$repeat BENCH_TMP=$tmp \
	BENCH_TT=$tt BENCH_HAVE_TT=$have_tt BENCH_HAVE_TCPDUMP=$have_tcpdump \
	BENCH_TT_EXTRA=$tt_args BENCH_GEN_SUMMARY=$gen_summary
rc=0
python3 - <<'EOF' || rc=$?
import json, os, shlex, shutil, statistics, subprocess, sys, time

env = os.environ
path = env["BENCH_FILE_PATH"]
reps = int(env["BENCH_REPEAT_N"])
tmp = env["BENCH_TMP"]
tt = env["BENCH_TT"]
have_tt = env["BENCH_HAVE_TT"] == "1"
have_tcpdump = env["BENCH_HAVE_TCPDUMP"] == "1"
# each run records itself in a history database of its own in the bench's temporary
# folder: the same work as a user's run, without adding rows to the user's history
extra = ["--history", os.path.join(tmp, "history.sqlite")] + shlex.split(env.get("BENCH_TT_EXTRA", ""))
size = os.path.getsize(path)
gen = dict(kv.split("=", 1) for kv in env.get("BENCH_GEN_SUMMARY", "").split() if "=" in kv)
MiB = 1024 * 1024
LIMIT = 256 * MiB

cmds = [("cat", ["cat", path], None)]
if have_tcpdump:
    cmds.append(("tcpdump -r -w /dev/null", ["tcpdump", "-r", path, "-w", "/dev/null"], None))
# -j 1 and -j 2 show how throughput scales; the targets are checked on the default
# (no -j: online CPUs - 1 workers, since the reader needs a core of its own).
VARIANTS = [("tortrace -j 1", ["-j", "1"], "tt-j1"), ("tortrace -j 2", ["-j", "2"], "tt-j2"),
            ("tortrace --no-detect", ["--no-detect"], "tt-nodet"), ("tortrace", [], "tt")]
for name, jargs, _ in VARIANTS:
    if have_tt:
        out = os.path.join(tmp, "out-" + name.replace(" ", ""))
        cmds.append((name, [tt, "analyze", "-q"] + jargs + ["-o", out] + extra + [path], out))
short = {"cat": "cat", "tcpdump -r -w /dev/null": "tcpdump"}
short.update({name: s for name, _, s in VARIANTS})

times = {name: [] for name, _, _ in cmds}
failed = {}
reports = {}

def run(name, argv, out):
    if out:
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
    errf = open(os.path.join(tmp, "stderr"), "w+")
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=errf)
    _, status, _ = os.wait4(p.pid, 0)
    t1 = time.perf_counter()
    p.returncode = os.waitstatus_to_exitcode(status)
    errf.seek(0)
    err = errf.read()
    errf.close()
    if p.returncode != 0:
        failed[name] = "exit %d: %s" % (p.returncode, err.strip()[-400:])
        return
    times[name].append(t1 - t0)
    if out:
        try:
            with open(os.path.join(out, "report.json")) as fh:
                reports[name] = json.load(fh)
        except (OSError, ValueError) as e:
            reports[name] = {"_error": str(e)}

print("bench: %d interleaved runs of %d commands" % (reps, len(cmds)))
for i in range(reps):
    for name, argv, out in cmds:
        if name in failed:
            continue
        run(name, argv, out)
    print("  run %d/%d: %s" % (i + 1, reps, "  ".join(
        "%s %.3fs" % (short[n], times[n][-1]) if len(times[n]) == i + 1 else "%s failed" % short[n]
        for n, _, _ in cmds)), flush=True)

def med(name):
    return statistics.median(times[name]) if times.get(name) else None

def get(d, dotted):
    for k in dotted.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d

print()
print("file: %s  %d bytes (%.2f GiB)%s" % (
    path, size, size / 1024**3,
    "  generator: packets=%s flows=%s" % (gen.get("packets", "?"), gen.get("flows", "?")) if gen else ""))
print("%-26s %9s %10s %8s" % ("command", "median s", "MB/s", "GB/s"))
for name, _, _ in cmds:
    m = med(name)
    if m is None:
        print("%-26s %9s   FAILED: %s" % (name, "-", failed.get(name, "no run")))
        continue
    print("%-26s %9.3f %10.1f %8.3f" % (name, m, size / m / 1e6, size / m / 1e9))
if not have_tt:
    print("%-26s   missing (%s not built)" % ("tortrace", tt))
if not have_tcpdump:
    print("%-26s   missing (not installed)" % "tcpdump")

ok = True
print()
cat_m = med("cat")
tcpd_m = med("tcpdump -r -w /dev/null")
for n, _, _ in VARIANTS:
    m = med(n)
    if m is None:
        continue
    r1 = "%.2fx" % (m / cat_m) if cat_m else "n/a"
    r2 = "%.2fx" % (m / tcpd_m) if tcpd_m else "n/a"
    label = "(" + (n[len("tortrace "):] or "default") + "):"
    print("ratios %-14s tortrace/cat = %-8s tortrace/tcpdump = %s" % (label, r1, r2))

def verdict(good, text):
    global ok
    if good is None:
        print("N/A   " + text)
        ok = False
    else:
        print(("PASS  " if good else "FAIL  ") + text)
        ok = ok and good

print()
if not have_tt:
    print("MISSING  tortrace: %s does not exist; only cat and tcpdump were timed" % tt)
    sys.exit(2)
m2 = med("tortrace")
workers = get(reports.get("tortrace") or {}, "run.workers")
what = "tortrace (default: %s workers)" % workers
if m2 is None or cat_m is None:
    verdict(False, "speed vs cat: %s did not run successfully" % what)
else:
    verdict(m2 <= 4 * cat_m, "speed vs cat: %s %.3f s = %.2fx cat %.3f s (target <= 4x)"
            % (what, m2, m2 / cat_m, cat_m))
if m2 is None or tcpd_m is None:
    verdict(None if m2 is not None else False,
            "speed vs tcpdump: %s" % ("tcpdump missing" if m2 is not None else what + " failed"))
else:
    verdict(m2 < tcpd_m, "speed vs tcpdump: %s %.3f s vs tcpdump %.3f s (target: faster)"
            % (what, m2, tcpd_m))
nd = med("tortrace --no-detect")
if m2 is not None and nd:
    verdict(m2 <= 1.3 * nd, "detection cost: %.3f s with detection / %.3f s without = %.2fx "
            "(target <= 1.3x)" % (m2, nd, m2 / nd))
for n, _, _ in VARIANTS:
    j = n[len("tortrace "):] or "default"
    rep = reports.get(n)
    if rep is None:
        verdict(False, "memory (%s): no report.json (%s)" % (j, failed.get(n, "not run")))
        continue
    rss = get(rep, "run.peak_rss_anon_bytes")
    flows = get(rep, "totals.flows")
    flows_s = "n/a" if flows is None else str(flows)
    if gen.get("flows"):
        flows_s += " (generator truth %s)" % gen["flows"]
    if not isinstance(rss, (int, float)):
        verdict(None, "memory (%s): peak anon RSS n/a, flows %s (target <= 256 MiB)" % (j, flows_s))
    else:
        verdict(rss <= LIMIT, "memory (%s): peak anon RSS %.1f MiB, flows %s (target <= 256 MiB)"
                % (j, rss / MiB, flows_s))

# Many flows: the cost of a packet must not grow with the number of flows held. Every
# packet opens a flow here; compare its packets/s with the bench capture's under -j 1,
# measured in this same run (a ratio, since single numbers on a shared VM are noise).
many_file = env.get("BENCH_MANY_FILE")
if many_file:
    n_many = int(env["BENCH_MANY_N"])
    cmd = [tt, "analyze", "-q", "-j", "1", "-o", os.path.join(tmp, "out-many")] + extra + [many_file]
    times["many"] = []
    for i in range(reps):
        run("many", cmd, os.path.join(tmp, "out-many"))
    m1, mm = med("tortrace -j 1"), med("many")
    pk = gen.get("packets")
    if mm is None or m1 is None or not pk:
        verdict(None, "many flows: %s" % failed.get("many", "no bench -j 1 time or packet count"))
    else:
        rate_b, rate_m = int(pk) / m1, n_many / mm
        rep = reports.get("many") or {}
        print("many flows (-j 1): %d flows in %.3f s = %.0f packets/s; bench capture %.0f "
              "packets/s; ratio %.2f; flows evicted %s" % (n_many, mm, rate_m, rate_b,
              rate_m / rate_b, get(rep, "totals.flows_evicted")))
        verdict(rate_m >= 0.25 * rate_b, "many flows: packets/s at least 1/4 of the bench capture's")
sys.exit(0 if ok and not failed else 1)
EOF
exit $rc
