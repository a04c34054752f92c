#!/usr/bin/python3
"""MANIFEST.md for a tools/pt_negatives.sh output folder (never run in CI).

usage: manifest.py DIR > DIR/MANIFEST.md
Reads DIR/captures.tsv (set, name, label, program, description; written as each capture is
finished) and each DIR/SET/NAME.labels.csv (flows.py)."""
import collections
import csv
import os
import sys

d = sys.argv[1]
rows = []
with open(os.path.join(d, "captures.tsv")) as f:
    for line in f:
        s, name, lab, prog, desc = line.rstrip("\n").split("\t")[:5]
        rows.append((s, name, lab, prog, desc))
SETS = {"1": "pion <-> pion WebRTC data channels",
        "2": "DTLS-SRTP media calls (pion, aiortc, GStreamer webrtcbin, pion <-> aiortc)",
        "3": "aiortc and GStreamer webrtcbin data channels (and pion <-> aiortc)",
        "4": "long-polling HTTPS and WebSocket over TLS",
        "5": "many short pion <-> pion data-channel sessions: TCP tunnels carrying TLS and HTTP, file transfers, chat, echo, game-like, request/response",
        "6": "many more short pion <-> pion data-channel sessions, 40 to a capture, workloads drawn at random (tools/ptneg/pionmany.go); no labels.csv (every UDP flow in them is the labelled program): each capture's NAME.sessions.tsv has one row per session (index, the offerer's and the answerer's UDP port, kind, the drawn workload as JSON)"}
print("# Non-Tor negatives for the pluggable-transport items (tools/pt_negatives.sh)\n")
print("Every UDP 5-tuple / TCP connection in these files is non-Tor traffic of the labelled program;")
print("each `SET/NAME.pcap` has `SET/NAME.labels.csv` (one row per flow: bytes, STUN / DTLS handshake /")
print("DTLS application-data / RTP-first-byte datagram counts, TLS application records, label, program).")
print("Recorded between two network namespaces joined by a veth pair: 10.99.0.1 (client, WebRTC offerer)")
print("and 10.99.0.2 (server, answerer); tcpdump -s 65535 on 10.99.0.1's veth; MTU 1500, offloads off.")
print("WebRTC: ICE host candidates only (no STUN/TURN server, signalling through files: not on the")
print("wire), so the STUN in the files is ICE connectivity checks and consent freshness.")
print("DTLS roles: the answerer (10.99.0.2) takes the DTLS client role (sends the ClientHello) in")
print("every stack here, so the offerer 10.99.0.1 sends the ServerHello (as a Snowflake client does);")
print("the last column says which address sent the ClientHello. A data channel carries everything as")
print("DTLS application data (no RTP first bytes); a call sends SRTP/SRTCP (first byte 128-191)")
print("after the handshake and DTLS application data only if it also opened a data channel.\n")
tot = collections.Counter()
for s in sorted({r[0] for r in rows}):
    print(f"## Set {s}: {SETS.get(s, s)}\n")
    print("| capture | label | program | what it does | flows | bytes | STUN / DTLS app / RTP datagrams, TLS app records | DTLS ClientHello from |")
    print("|---|---|---|---|---|---|---|---|")
    for (s2, name, lab, prog, desc) in rows:
        if s2 != s:
            continue
        p = os.path.join(d, s, name + ".labels.csv")
        fl = list(csv.DictReader(open(p))) if os.path.exists(p) else []
        nb = sum(int(x["bytes"]) for x in fl)
        c = {k: sum(int(x[k]) for x in fl) for k in ("stun", "dtls_app", "rtp", "tls_app")}
        protos = collections.Counter(x["proto"] for x in fl)
        for x in fl:  # by each flow's own label (SSDP beside a GStreamer session differs)
            tot[(x["label"], "flows")] += 1
            tot[(x["label"], "bytes")] += int(x["bytes"])
        tot[(lab, "files")] += 1
        fs = ", ".join(f"{v} {k.upper()}" for k, v in sorted(protos.items())) or "0"
        st = os.path.join(d, s, name + ".sessions.tsv")
        if not fl and os.path.exists(st):
            fs = f"{sum(1 for _ in open(st))} sessions (sessions.tsv)"
        cl = ", ".join(sorted({x.get("dtls_client", "") for x in fl} - {""})) or "-"
        print(f"| `{s}/{name}.pcap` | `{lab}` | {prog} | {desc} | {fs} | {nb:,} | "
              f"{c['stun']} / {c['dtls_app']} / {c['rtp']}, {c['tls_app']} | {cl} |")
    print()
print("## Totals by label\n")
print("| label | captures (by their main label) | flows | bytes |")
print("|---|---|---|---|")
for lab in sorted({k[0] for k in tot}):
    print(f"| `{lab}` | {tot[(lab, 'files')]} | {tot[(lab, 'flows')]} | {tot[(lab, 'bytes')]:,} |")
print("""
## Notes

- Each capture holds one session (or one client/server run), so its `labels.csv` rows are all
  that program; the a/b columns name the first sender. Timestamps are the real recording times.
- aiortc 1.4.0 (Debian) needed two fixes in `aiopeer.py`, not in the library: header extensions
  it receives are parsed leniently (it raised on some and dropped the DTLS transport), and its
  offers are rewritten to one ICE ufrag/pwd for all m-lines (pion refuses an offer whose m-lines
  carry different ones; aiortc bundles onto the first transport after the answer anyway).
- aiortc's own SCTP retransmits a lot under a fast sender: its bulk captures carry about 2.5 times
  the payload on the wire (e.g. 8 MB payload, 20 MB of frames). That is the program's behaviour.
- GStreamer webrtcbin's libnice sends SSDP M-SEARCH to 239.255.255.250:1900 (UPnP-IGD) beside
  each session; those flows are labelled `non-tor-ssdp` in the labels.csv.
- Socket.IO's Node client polls through xmlhttprequest-ssl without keep-alive: every engine.io
  GET/POST is its own TLS connection (hundreds of short connections per capture, about 11 TLS
  application records each). A browser would reuse connections; the Go client (`lp-*`) does.
- All Socket.IO captures share one server room: a client also receives the other captures'
  chat and the room's notifications (every ~6 s), which is what ends most held polls.
- No browser stacks (Chrome/Firefox) are in here: nothing that could run one offline. Google's
  libwebrtc is therefore absent; usrsctp (the browsers' SCTP) is present through GStreamer.
""")
