#!/usr/bin/python3
"""sf_label_flows.py HOSTS_CSV PCAP OUT_CSV

Copy of ../shared/tools/tornet/label_flows.py extended for the Snowflake
roles in hosts.csv (snowflake-broker, stun-server, snowflake-proxy, bridge with
transport=snowflake): labels snowflake-rendezvous (client -> broker HTTPS),
snowflake-proxy-poll (proxy -> broker HTTPS), snowflake-stun (UDP to a STUN
server), snowflake-dtls (UDP between the client and a proxy: ICE + DTLS +
SCTP), snowflake-proxy-relay (proxy -> snowflake server WebSocket over TLS),
snowflake-dns (DNS queries for the transport's infrastructure names);
everything else as in label_flows.py. Labels come from the configured roles
and ports, not from traffic inspection (except the DNS query name).

Original description:
label_flows.py HOSTS_CSV PCAP OUT_CSV

Group the packets of PCAP into bidirectional flows (TCP/UDP 5-tuple; the
initiator is the sender of the first SYN, or of the first packet if no SYN was
captured) and give each flow a ground-truth label from the network layout in
HOSTS_CSV (written by make-captures.sh):

  tor-link        TCP to a listed relay/authority ORPort (TLS link carrying cells)
  tor-bridge      TCP to the ORPort of an unlisted bridge (role=bridge; a vanilla
                  Tor TLS link from the bridge user)
  tor-<pt>        TCP to a bridge's pluggable-transport listener (hosts.csv
                  columns transport/transport_port), e.g. tor-obfs4
  tor-dir         plain-HTTP TCP to a directory authority's DirPort
  tor-exit-<svc>  exit relay -> server (the exit side of a Tor stream)
  non-tor-<svc>   any other host -> server (svc: https, http, dns, ssh)
  other           anything else (ICMP, unknown ports, ...)

Prints a per-label summary (flows, packets, bytes) to stdout.
Uses only the Debian package python3-dpkt.
"""
import csv, socket, sys
from collections import OrderedDict, defaultdict
import dpkt

hosts_csv, pcap_path, out_csv = sys.argv[1:4]
hosts = {}
orports, dirports, transports = {}, {}, {}
for row in csv.DictReader(open(hosts_csv)):
    hosts[row["ip"]] = row
    if int(row["orport"] or 0):
        orports[(row["ip"], int(row["orport"]))] = row
    if row.get("transport") and int(row.get("transport_port") or 0):
        transports[(row["ip"], int(row["transport_port"]))] = row
    if int(row["dirport"] or 0):
        dirports[(row["ip"], int(row["dirport"]))] = row
SERVER_IPS = {ip for ip, r in hosts.items() if r["role"] == "server"}
SVC = {("tcp", 443): "https", ("tcp", 80): "http", ("tcp", 22): "ssh",
       ("udp", 53): "dns", ("tcp", 53): "dns", ("tcp", 9001): "https"}


def name(ip):
    r = hosts.get(ip)
    return f"{r['name']}({r['role']})" if r else ip


INFRA_NAMES = {"broker.corp.test", "stun.corp.test", "snowflake.corp.test",
               "snowflake-broker.torproject.net"}
ROLE_IPS = defaultdict(set)
for ip, r in hosts.items():
    ROLE_IPS[r["role"]].add(ip)
CLIENT_IPS = ROLE_IPS["tor-client"]
PROXY_IPS = ROLE_IPS["snowflake-proxy"]
BROKER_IPS = ROLE_IPS["snowflake-broker"]
STUN_IPS = ROLE_IPS["stun-server"]
DTLS_DETAIL = "(client <-> proxy WebRTC: ICE/STUN checks + DTLS + SCTP data channel)"
QNAME = {}   # flow key -> first DNS query name


def classify(proto, sip, sp, dip, dp, key=None):
    if proto == "tcp" and dip in BROKER_IPS and dp == 443:
        if sip in PROXY_IPS:
            return "snowflake-proxy-poll", f"{name(sip)} -> {name(dip)}:{dp} (proxy <-> broker HTTPS polling)"
        return "snowflake-rendezvous", f"{name(sip)} -> {name(dip)}:{dp} (client <-> broker HTTPS rendezvous: SDP offer/answer)"
    if proto == "udp" and dip in STUN_IPS:
        what = "STUN binding / RFC 5780 NAT test" if dp == 3478 else "STUN RFC 5780 alternate address"
        return "snowflake-stun", f"{name(sip)} -> {name(dip)}:{dp} ({what})"
    if proto == "udp" and ((sip in CLIENT_IPS and dip in PROXY_IPS) or (sip in PROXY_IPS and dip in CLIENT_IPS)):
        return "snowflake-dtls", f"{name(sip)} -> {name(dip)}:{dp} {DTLS_DETAIL}"
    if proto == "tcp" and sip in PROXY_IPS and (dip, dp) in transports:
        return "snowflake-proxy-relay", f"{name(sip)} -> {name(dip)}:{dp} (proxy <-> bridge WebSocket over TLS to snowflake-server)"
    if dp == 53 and dip in SERVER_IPS:
        q = QNAME.get(key)
        if q is not None:
            if q.lower().rstrip(".") in INFRA_NAMES:
                return "snowflake-dns", f"{name(sip)} -> {name(dip)}:53 query {q} (pluggable-transport infrastructure name)"
            return "non-tor-dns", f"{name(sip)} -> {name(dip)}:53 query {q}"
    if proto == "tcp" and (dip, dp) in transports:
        pt = transports[(dip, dp)]["transport"]
        return f"tor-{pt}", f"{name(sip)} -> {name(dip)} {pt} listener (pluggable transport, unlisted bridge)"
    if proto == "tcp" and (dip, dp) in orports:
        if orports[(dip, dp)]["role"] == "bridge":
            return "tor-bridge", f"{name(sip)} -> {name(dip)} ORPort (unlisted bridge)"
        return "tor-link", f"{name(sip)} -> {name(dip)} ORPort"
    if proto == "tcp" and (dip, dp) in dirports:
        return "tor-dir", f"{name(sip)} -> {name(dip)} DirPort (plain HTTP)"
    if dip in SERVER_IPS and (proto, dp) in SVC:
        svc = SVC[(proto, dp)]
        src = hosts.get(sip, {}).get("role", "")
        extra = " (decoy: non-Tor TLS on port 9001)" if dp == 9001 else ""
        if src == "exit":
            return f"tor-exit-{svc}", f"{name(sip)} -> {name(dip)}:{dp} (exit side of a Tor stream)"
        return f"non-tor-{svc}", f"{name(sip)} -> {name(dip)}:{dp}{extra}"
    return None, None


flows = OrderedDict()
nonip = 0
with open(pcap_path, "rb") as fh:
    rdr = dpkt.pcap.Reader(fh)
    for ts, buf in rdr:
        try:
            eth = dpkt.ethernet.Ethernet(buf)
        except Exception:
            nonip += 1
            continue
        ip = eth.data
        if not isinstance(ip, dpkt.ip.IP):
            nonip += 1
            continue
        sip, dip = socket.inet_ntoa(ip.src), socket.inet_ntoa(ip.dst)
        l4 = ip.data
        if isinstance(l4, dpkt.tcp.TCP):
            proto, sp, dp = "tcp", l4.sport, l4.dport
            syn = (l4.flags & dpkt.tcp.TH_SYN) and not (l4.flags & dpkt.tcp.TH_ACK)
            plen = len(l4.data)
        elif isinstance(l4, dpkt.udp.UDP):
            proto, sp, dp, syn = "udp", l4.sport, l4.dport, False
            plen = len(l4.data)
        else:
            proto, sp, dp, syn = {1: "icmp"}.get(ip.p, str(ip.p)), 0, 0, False
            plen = len(ip.data) if isinstance(ip.data, bytes) else len(bytes(ip.data))
        a, b = (sip, sp), (dip, dp)
        key = (proto,) + (a + b if a <= b else b + a)
        if proto == "udp" and 53 in (sp, dp) and key not in QNAME:
            try:
                d = dpkt.dns.DNS(l4.data)
                if d.qd:
                    QNAME[key] = d.qd[0].name
            except Exception:
                pass
        f = flows.get(key)
        if f is None:
            f = flows[key] = dict(src=a, dst=b, syn=False, first=ts, last=ts,
                                  pf=0, pr=0, bf=0, br=0, plf=0, plr=0)
        if syn and not f["syn"] and f["pf"] + f["pr"] <= 2:
            if (sip, sp) != f["src"]:          # first packet seen was the SYN/ACK side
                f["src"], f["dst"] = f["dst"], f["src"]
                f["pf"], f["pr"], f["bf"], f["br"] = f["pr"], f["pf"], f["br"], f["bf"]
                f["plf"], f["plr"] = f["plr"], f["plf"]
            f["syn"] = True
        fwd = (sip, sp) == f["src"]
        f["last"] = ts
        if fwd:
            f["pf"] += 1; f["bf"] += len(buf); f["plf"] += plen
        else:
            f["pr"] += 1; f["br"] += len(buf); f["plr"] += plen

stats = defaultdict(lambda: [0, 0, 0])
with open(out_csv, "w", newline="") as out:
    w = csv.writer(out)
    w.writerow(["flow_id", "proto", "src_ip", "src_port", "dst_ip", "dst_port", "label",
                "detail", "first_ts", "last_ts", "duration_s", "pkts_fwd", "pkts_rev",
                "frame_bytes_fwd", "frame_bytes_rev", "payload_bytes_fwd",
                "payload_bytes_rev", "syn_seen"])
    for i, (key, f) in enumerate(flows.items(), 1):
        proto = key[0]
        (sip, sp), (dip, dp) = f["src"], f["dst"]
        label, detail = classify(proto, sip, sp, dip, dp, key)
        if label is None and not f["syn"]:       # initiator unknown: try the other way
            label, detail = classify(proto, dip, dp, sip, sp, key)
            if label:
                (sip, sp), (dip, dp) = (dip, dp), (sip, sp)
                f["pf"], f["pr"], f["bf"], f["br"] = f["pr"], f["pf"], f["br"], f["bf"]
                f["plf"], f["plr"] = f["plr"], f["plf"]
        if label is None:
            label, detail = "other", f"{name(sip)} -> {name(dip)}"
        w.writerow([i, proto, sip, sp, dip, dp, label, detail, f"{f['first']:.6f}",
                    f"{f['last']:.6f}", f"{f['last'] - f['first']:.3f}", f["pf"], f["pr"],
                    f["bf"], f["br"], f["plf"], f["plr"], int(f["syn"])])
        s = stats[label]
        s[0] += 1; s[1] += f["pf"] + f["pr"]; s[2] += f["bf"] + f["br"]

print(f"== {pcap_path}: {len(flows)} flows, {nonip} non-IPv4 frames")
print(f"   {'label':<20} {'flows':>6} {'packets':>9} {'bytes':>12}")
for label in sorted(stats):
    fl, pk, by = stats[label]
    print(f"   {label:<20} {fl:>6} {pk:>9} {by:>12}")
