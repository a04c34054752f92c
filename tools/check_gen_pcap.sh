#!/usr/bin/env bash
# check_gen_pcap.sh - developer check of tools/gen_pcap.c against tcpdump
# and tshark (not run in CI).
#
# For small files in every format / link type / byte order / time
# resolution it checks that:
#   - tcpdump -r and tshark -r read the file without errors,
#   - their packet counts equal the generator's summary,
#   - tshark's "-z conv,tcp -z conv,udp" conversation counts equal the
#     number of truth CSV rows per protocol,
#   - every truth row matches tshark's per-flow packets, bytes, and first
#     and last timestamps exactly (by direction),
#   - the same arguments give byte-identical output,
# and that the deliberately broken files are rejected by tcpdump.
#
# Usage: tools/check_gen_pcap.sh [GENERATOR]   (default: build it in a tmpdir)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/check_gen_pcap.XXXXXX")
trap 'rm -rf "$work"' EXIT

gen=${1:-}
if [[ -z "$gen" ]]; then
	gen=$work/tt-genpcap
	cc -O2 -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -o "$gen" "$here/gen_pcap.c"
fi
for t in tcpdump tshark python3; do
	command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 2; }
done

fail=0
ok() { printf 'ok    %s\n' "$*"; }
bad() { printf 'FAIL  %s\n' "$*"; fail=1; }

# compare.py TRUTH FIELDS CONV SUMMARY -> prints a line, exits 1 on mismatch
cat >"$work/compare.py" <<'EOF'
import csv, sys, ipaddress
from decimal import Decimal

truth_path, fields_path, conv_path, summary = sys.argv[1:5]
want = dict(kv.split("=") for kv in summary.split())
errs = []

def canon(a):
    return str(ipaddress.ip_address(a))

truth = {}
nproto = {"tcp": 0, "udp": 0}
with open(truth_path) as fh:
    for r in csv.DictReader(fh):
        key = (r["proto"], canon(r["src_ip"]), int(r["src_port"]),
               canon(r["dst_ip"]), int(r["dst_port"]))
        if key in truth:
            errs.append("duplicate truth flow %s" % (key,))
        truth[key] = r
        nproto[r["proto"]] += 1

# tshark per-packet fields -> per-flow stats keyed like the truth
seen = {}
npkts = 0
with open(fields_path) as fh:
    for line in fh:
        t, flen, s4, d4, s6, d6, tsp, tdp, usp, udp_ = line.rstrip("\n").split("\t")
        npkts += 1
        src, dst = (s4, d4) if s4 else (s6, d6)
        if tsp:
            proto, sp, dp = "tcp", int(tsp), int(tdp)
        else:
            proto, sp, dp = "udp", int(usp), int(udp_)
        src, dst = canon(src), canon(dst)
        fwd = (proto, src, sp, dst, dp)
        rev = (proto, dst, dp, src, sp)
        if fwd in truth:
            key, d = fwd, 0
        elif rev in truth:
            key, d = rev, 1
        else:
            errs.append("packet of unknown flow %s" % (fwd,))
            continue
        st = seen.setdefault(key, [0, 0, 0, 0, None, None])
        st[d] += 1
        st[2 + d] += int(flen)
        ts = Decimal(t)
        st[4] = ts if st[4] is None else min(st[4], ts)
        st[5] = ts if st[5] is None else max(st[5], ts)

if npkts != int(want["packets"]):
    errs.append("tshark packets %d != summary %s" % (npkts, want["packets"]))
if len(truth) != int(want["flows"]):
    errs.append("truth rows %d != summary flows %s" % (len(truth), want["flows"]))
nbytes = sum(v[2] + v[3] for v in seen.values())
if nbytes != int(want["bytes"]):
    errs.append("tshark bytes %d != summary %s" % (nbytes, want["bytes"]))
for key, r in truth.items():
    st = seen.get(key)
    if st is None:
        errs.append("truth flow without packets %s" % (key,))
        continue
    exp = [int(r["pkts_fwd"]), int(r["pkts_rev"]), int(r["bytes_fwd"]),
           int(r["bytes_rev"]), Decimal(r["first_ts"]), Decimal(r["last_ts"])]
    if st != exp:
        errs.append("flow %s: tshark %s truth %s" % (key, st, exp))

# conversation table counts
conv = {"tcp": 0, "udp": 0}
cur = None
with open(conv_path) as fh:
    for line in fh:
        if line.startswith("TCP Conversations"):
            cur = "tcp"
        elif line.startswith("UDP Conversations"):
            cur = "udp"
        elif cur and "<->" in line:
            conv[cur] += 1
for p in ("tcp", "udp"):
    if conv[p] != nproto[p]:
        errs.append("conv,%s %d != truth %d" % (p, conv[p], nproto[p]))

print("packets=%d conv_tcp=%d/%d conv_udp=%d/%d flows_exact=%d" %
      (npkts, conv["tcp"], nproto["tcp"], conv["udp"], nproto["udp"],
       len(truth) - sum(1 for e in errs if e.startswith("flow "))))
for e in errs[:10]:
    print("  " + e)
sys.exit(1 if errs else 0)
EOF

check_file() {	# NAME ARGS...
	local name=$1; shift
	local f=$work/$name.cap sum out td
	sum=$("$gen" -o "$f" --truth "$f.csv" "$@")
	# tcpdump: clean read, same packet count
	if ! td=$(tcpdump -nn -r "$f" 2>"$f.tderr" | wc -l); then
		bad "$name: tcpdump failed"; return
	fi
	if grep -v -e '^reading from file' -e 'interface names might be incorrect' \
		"$f.tderr" | grep -q .; then
		bad "$name: tcpdump: $(head -1 "$f.tderr")"; return
	fi
	tshark -r "$f" -q -z conv,tcp -z conv,udp >"$f.conv" 2>"$f.tserr"
	tshark -r "$f" -T fields -E occurrence=f -e frame.time_epoch -e frame.len \
		-e ip.src -e ip.dst -e ipv6.src -e ipv6.dst -e tcp.srcport \
		-e tcp.dstport -e udp.srcport -e udp.dstport >"$f.fields" 2>>"$f.tserr"
	if grep -v 'Running as user' "$f.tserr" | grep -q .; then
		bad "$name: tshark: $(grep -v 'Running as user' "$f.tserr" | head -1)"; return
	fi
	if out=$(python3 "$work/compare.py" "$f.csv" "$f.fields" "$f.conv" "$sum"); then
		ok "$name: $sum tcpdump=$td $out"
	else
		bad "$name: $sum tcpdump=$td $out"
	fi
}

for fmt in pcap pcapng; do
	for link in ether raw sll sll2 null; do
		for be in "" --big-endian; do
			for ns in "" --ns; do
				check_file "$fmt-$link${be:+-be}${ns:+-ns}" \
					--format "$fmt" --link "$link" $be $ns --packets 4000
			done
		done
	done
done
check_file flows-only --flows 150 --seed 7
check_file size-300k --size 300K --seed 3 --ipv6-frac 0.5 --vlan-frac 0.5
check_file snaplen-96 --packets 3000 --snaplen 96 --format pcapng
check_file all-v6-udp --packets 2000 --ipv6-frac 1 --udp-frac 1
check_file conc-4 --flows 40 --concurrency 4

# determinism
"$gen" -o "$work/d1" --size 2M --seed 9 --format pcapng --ns >/dev/null
"$gen" -o "$work/d2" --size 2M --seed 9 --format pcapng --ns >/dev/null
"$gen" -o "$work/d3" --size 2M --seed 10 --format pcapng --ns >/dev/null
if cmp -s "$work/d1" "$work/d2" && ! cmp -s "$work/d1" "$work/d3"; then
	ok "determinism: same seed identical, other seed differs"
else
	bad "determinism"
fi

# broken files must be rejected (tcpdump exits non-zero or reports truncation)
broken() {	# NAME ARGS...
	local name=$1; shift
	local f=$work/$name.cap rc=0
	"$gen" -o "$f" --packets 200 "$@" >/dev/null
	tcpdump -nn -r "$f" >/dev/null 2>"$f.err" || rc=$?
	if [[ $rc -ne 0 ]] || grep -qi -e truncated -e bogus -e invalid "$f.err"; then
		ok "$name: rejected ($(grep -v '^reading from' "$f.err" | head -1))"
	else
		bad "$name: tcpdump accepted it"
	fi
}
broken cut-header-10 --cut-header 10
broken cut-header-ng --cut-header 30 --format pcapng
broken cut-last-20 --cut-last-record 20
broken cut-last-ng --cut-last-record 40 --format pcapng
broken bad-caplen --bad-caplen
broken bad-caplen-ng --bad-caplen --format pcapng --big-endian

if [[ $fail -ne 0 ]]; then
	echo "check_gen_pcap: FAILED"
	exit 1
fi
echo "check_gen_pcap: all checks passed"
