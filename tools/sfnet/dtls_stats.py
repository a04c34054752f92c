#!/usr/bin/python3
"""dtls_stats.py PCAP FLOWS_CSV -- per snowflake-dtls flow of FLOWS_CSV: datagrams,
STUN messages (first byte 0-3), DTLS records by content type (first byte 20-63,
records walked by their 13-byte headers; 23 = application data), datagrams with first
byte 128-191 (RTP/RTCP range, RFC 7983), duration. Uses python3-dpkt."""
import csv, socket, sys
from collections import defaultdict
import dpkt
pcap, flows_csv = sys.argv[1:3]
want = {}
for r in csv.DictReader(open(flows_csv)):
    if r["label"] == "snowflake-dtls":
        a, b = (r["src_ip"], int(r["src_port"])), (r["dst_ip"], int(r["dst_port"]))
        want[tuple(sorted([a, b]))] = r["flow_id"]
st = defaultdict(lambda: dict(dg=0, stun=0, rtp=0, other=0, rec=defaultdict(int), first=None, last=None, bytes=0))
for ts, buf in dpkt.pcap.Reader(open(pcap, "rb")):
    try:
        ip = dpkt.ethernet.Ethernet(buf).data
        u = ip.data
        if not isinstance(u, dpkt.udp.UDP):
            continue
    except Exception:
        continue
    k = tuple(sorted([(socket.inet_ntoa(ip.src), u.sport), (socket.inet_ntoa(ip.dst), u.dport)]))
    if k not in want:
        continue
    s = st[want[k]]; d = bytes(u.data)
    s["dg"] += 1; s["bytes"] += len(d); s["first"] = s["first"] or ts; s["last"] = ts
    if not d:
        continue
    b0 = d[0]
    if b0 <= 3:
        s["stun"] += 1
    elif 20 <= b0 <= 63:
        i = 0
        while i + 13 <= len(d):
            ln = int.from_bytes(d[i+11:i+13], "big")
            s["rec"][d[i]] += 1
            i += 13 + ln
    elif 128 <= b0 <= 191:
        s["rtp"] += 1
    else:
        s["other"] += 1
print("flow_id,datagrams,payload_bytes,stun_msgs,dtls_handshake_recs,dtls_ccs_recs,dtls_alert_recs,dtls_app_recs,rtp_range_dgrams,other_dgrams,duration_s")
for fid, s in sorted(st.items(), key=lambda x: int(x[0])):
    r = s["rec"]
    print(f"{fid},{s['dg']},{s['bytes']},{s['stun']},{r[22]},{r[20]},{r[21]},{r[23]},{s['rtp']},{s['other']},{s['last']-s['first']:.1f}")
