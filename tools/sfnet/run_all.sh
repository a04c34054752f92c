#!/bin/bash
# run_all.sh OUT -- the exact sequence that produced the fresh sessions sf-n1..sf-n5 of
# 2026-12-02 (OUT/sf-n*/; run as root, about 15 minutes, never in CI).
set -u
T=$(cd "$(dirname "$0")" && pwd)
O=${1:?usage: run_all.sh OUT}
BIN=${TMPDIR:-/tmp}/sfnet-bin
$T/build.sh $BIN
export SFBIN=$BIN
$T/make-sf-captures.sh -o $O/sf-n1 -d 90  -s 11 -k 45                      # proxy stopped at +45 s
$T/make-sf-captures.sh -o $O/sf-n2 -d 120 -s 12                            # one proxy, no change
$T/make-sf-captures.sh -o $O/sf-n3 -d 60  -s 13 -k 25 -u ""                # Go TLS rendezvous (no uTLS), proxy stopped at +25 s
TORRATE=200K DIRECTRATE=500K $T/make-sf-captures.sh -o $O/sf-n4 -d 100 -s 14 -k 60   # slower transfers, proxy stopped at +60 s
# (a first sf-n5 attempt with -n, no ice=, failed: snowflake-client 2.5.1 exits with
#  "NewPeerConnection ERROR: InvalidAccessError: unknown scheme type")
TORRATE=100K DIRECTRATE=300K $T/make-sf-captures.sh -o $O/sf-n5 -d 120 -s 15 -k 70   # low-rate transfers, proxy stopped at +70 s
for r in $O/sf-n*/; do
  /usr/bin/python3 $T/dtls_stats.py $r/client.pcap $r/client.flows.csv > $r/client.dtls_stats.csv
done
