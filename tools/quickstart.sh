#!/usr/bin/env bash
# Quick start: install what is missing, build, and analyse the bundled sample.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
./build/tortrace analyze -o out/sample samples/tornet-default-s1/tornet-client.pcap
echo
python3 - <<'PY'
import json
r = json.load(open('out/sample/report.json'))
t = r['totals']
print(f"report: out/sample/report.json  ({t['files']} file, {t['packets']} packets, "
      f"{t['flows']} flows: {t['flows_tcp']} TCP, {t['flows_udp']} UDP)")
PY
echo "page:   out/sample/report.html (open it in a browser)"
echo "flows:  ./build/tortrace export --csv out/sample/flows.msgpack | head"
# No `| head` here: under pipefail, head's early exit would kill export with SIGPIPE and
# make the script fail (141) after printing the right output. sed reads to the end.
./build/tortrace export --csv out/sample/flows.msgpack | sed -n 1,5p | cut -d, -f2-11
