#!/usr/bin/python3
"""Per-flow labels for one capture of tools/pt_negatives.sh (never run in CI).

usage: flows.py PCAP LABEL PROGRAM DESCRIPTION   -> writes PCAP minus .pcap + .labels.csv

One row per UDP 5-tuple / TCP connection (tshark fields; every flow in the file is non-Tor
and gets LABEL,
except SSDP to port 1900 / multicast, which GStreamer's libnice sends beside a session:
label non-tor-ssdp). Columns: proto, a_ip, a_port, b_ip, b_port (a = the first sender), start
(epoch), dur_s, frames, bytes (frame bytes, both ways), a_bytes, b_bytes, and for UDP the
RFC 7983 demultiplex of each datagram's first byte: stun (0-3), dtls (20-63) with
dtls_hs (content type 22) and dtls_app (23) datagrams, rtp (128-191: RTP/RTCP, which after
the DTLS handshake is SRTP/SRTCP), dtls_client (the address that sent the DTLS ClientHello);
for TCP tls_app (TLS application-data records).
"""
import csv
import subprocess
import sys

pcap, label, program, desc = sys.argv[1:5]
F = ["frame.time_epoch", "frame.len", "ip.src", "ip.dst", "ip.proto", "udp.srcport",
     "udp.dstport", "tcp.srcport", "tcp.dstport", "udp.payload", "tls.record.content_type", "dtls.handshake.type",
     "tls.record.opaque_type",  # TLS 1.3 records show their outer type 23 as opaque_type
     "tcp.flags.syn", "tcp.flags.ack"]
cmd = ["tshark", "-r", pcap, "-n", "-o", "tcp.desegment_tcp_streams:TRUE", "-T", "fields",
       "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
for f in F:
    cmd += ["-e", f]
flows = {}
order = []
gen = {}
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                     bufsize=1 << 20)
for line in p.stdout:
    v = line.rstrip("\n").split("\t")
    if len(v) < len(F) or not v[2]:
        continue
    t, ln, src, dst, proto, us, ud, ts, td, pay, ctype, hst, otype, syn, ack = v[:15]
    if proto == "17":
        sp, dp, pr = us, ud, "udp"
    elif proto == "6":
        sp, dp, pr = ts, td, "tcp"
    else:
        continue
    k = (pr,) + tuple(sorted([(src, int(sp)), (dst, int(dp))]))
    if pr == "tcp" and k in flows and syn in ("1", "True") and ack in ("0", "False") \
            and flows[k]["frames"] > 2:  # a new connection on a reused 4-tuple
        gen[k] = gen.get(k, 0) + 1
        old = flows.pop(k)
        flows[k + ("old", gen[k])] = old
        order[order.index(k)] = k + ("old", gen[k])
    f = flows.get(k)
    if f is None:
        f = flows[k] = dict(proto=pr, a_ip=src, a_port=sp, b_ip=dst, b_port=dp, start=float(t),
                            end=float(t), frames=0, bytes=0, a_bytes=0, b_bytes=0, stun=0,
                            dtls=0, dtls_hs=0, dtls_app=0, rtp=0, tls_app=0,
                            dtls_client="")
        order.append(k)
    f["end"] = float(t)
    f["frames"] += 1
    f["bytes"] += int(ln)
    f["a_bytes" if src == f["a_ip"] and sp == f["a_port"] else "b_bytes"] += int(ln)
    if pr == "udp" and pay:
        b = int(pay[:2], 16)
        if b <= 3:
            f["stun"] += 1
        elif 20 <= b <= 63:
            f["dtls"] += 1
            if b == 22:
                f["dtls_hs"] += 1
                if "1" in hst.split(",") and not f["dtls_client"]:
                    f["dtls_client"] = src
            elif b == 23:
                f["dtls_app"] += 1
        elif 128 <= b <= 191:
            f["rtp"] += 1
    if pr == "tcp" and (ctype or otype):
        f["tls_app"] += ctype.split(",").count("23") + otype.split(",").count("23")
p.wait()
out = pcap[:-5] + ".labels.csv" if pcap.endswith(".pcap") else pcap + ".labels.csv"
cols = ["proto", "a_ip", "a_port", "b_ip", "b_port", "start", "dur_s", "frames", "bytes",
        "a_bytes", "b_bytes", "stun", "dtls", "dtls_hs", "dtls_app", "rtp", "tls_app", "dtls_client", "label",
        "program", "description"]
with open(out, "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(cols)
    for k in order:
        f = flows[k]
        f["dur_s"] = round(f["end"] - f["start"], 3)
        f["start"] = "%.6f" % f["start"]
        f.update(label=label, program=program, description=desc)
        if "1900" in (f["a_port"], f["b_port"]) or f["b_ip"].startswith("239."):
            # libnice (GStreamer webrtcbin) looks for a UPnP-IGD router: SSDP M-SEARCH
            f.update(label="non-tor-ssdp", description="SSDP M-SEARCH (UPnP-IGD discovery) "
                     "sent beside the session: " + desc)
        w.writerow([f[c] for c in cols])
n = len(order)
tot = sum(flows[k]["bytes"] for k in order)
print(f"{pcap}: {n} flows, {tot} bytes, " + "; ".join(
    f"{flows[k]['proto']} {flows[k]['a_port']}-{flows[k]['b_port']} stun={flows[k]['stun']} "
    f"dtls_app={flows[k]['dtls_app']} rtp={flows[k]['rtp']} tls_app={flows[k]['tls_app']}"
    for k in order[:4]) + (" ..." if n > 4 else ""))
