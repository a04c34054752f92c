#!/usr/bin/env python3
"""How tshark keys TCP/UDP conversations: synthetic captures, tshark's answer.

Writes small pcaps (Ethernet, pcap format) into a temporary folder, runs
`tshark -n -r F -q -z conv,tcp -z conv,udp` on each (and, for fragments, with
-o ip.defragment:FALSE) and prints one line per case: the conversation rows
tshark printed (proto:endpoint<->endpoint(total frames)).  Each case carries
the answer tshark 4.0.17 gave; --check exits 1 if this tshark answers
differently (e.g. after a Wireshark upgrade).  Needs tshark; not run by the
test suite.  See README.md next to this file for what the results mean.

Usage: python3 tests/golden/tshark_keying.py [--check]
"""
import ipaddress
import os
import re
import struct
import subprocess
import sys
import tempfile

A, B = "10.0.0.1", "10.0.0.2"
T0 = 1700000000.0


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ip4(src, dst, proto, payload, ident=1, flags_off=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags_off, 64, proto, 0,
                    ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def ip6(src, dst, nh, payload):
    return (struct.pack("!IHBB", 0x60000000, len(payload), nh, 64)
            + ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed + payload)


def tcp(sp, dp, seq, ack, flags, data=b""):
    f = sum(v for c, v in zip("FSRPAU", (1, 2, 4, 8, 16, 32)) if c in flags)
    return struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 5 << 4, f, 65535, 0, 0) + data


def udp(sp, dp, data):
    return struct.pack("!HHHH", sp, dp, 8 + len(data), 0) + data


def eth(payload, et=0x0800):
    return bytes.fromhex("001122334455" "66778899aabb") + struct.pack("!H", et) + payload


def T(t, src, dst, sp, dp, seq, ack, fl, data=b""):
    return (t, eth(ip4(src, dst, 6, tcp(sp, dp, seq, ack, fl, data))))


def U(t, src, dst, sp, dp, data=b"hello"):
    return (t, eth(ip4(src, dst, 17, udp(sp, dp, data))))


def hs(t, ic, iserv, sp=40000, dp=80):
    """Handshake + one request + ACK (5 frames), client ISN ic, server ISN iserv."""
    return [T(t, A, B, sp, dp, ic, 0, "S"), T(t + .01, B, A, dp, sp, iserv, ic + 1, "SA"),
            T(t + .02, A, B, sp, dp, ic + 1, iserv + 1, "A"),
            T(t + .03, A, B, sp, dp, ic + 1, iserv + 1, "PA", b"GET"),
            T(t + .04, B, A, dp, sp, iserv + 1, ic + 4, "A")]


def fin(t, ic, iserv, sp=40000, dp=80):
    return [T(t, A, B, sp, dp, ic + 4, iserv + 1, "FA"), T(t + .01, B, A, dp, sp, iserv + 1, ic + 5, "FA"),
            T(t + .02, A, B, sp, dp, ic + 5, iserv + 2, "A")]


def cases():
    u = udp(5000, 7777, bytes(range(256)) * 8)          # 2056-byte UDP datagram
    fr1 = (T0, eth(ip4(A, B, 17, u[:1480], ident=77, flags_off=0x2000)))
    fr2 = (T0 + .001, eth(ip4(A, B, 17, u[1480:], ident=77, flags_off=1480 // 8)))
    t = tcp(40000, 80, 1, 1, "PA", bytes(2000))
    icmp_udp = struct.pack("!BBHI", 3, 3, 0, 0) + ip4(B, A, 17, udp(6000, 5000, b"hello"))
    icmp_tcp = struct.pack("!BBHI", 3, 3, 0, 0) + ip4(B, A, 6, tcp(6000, 5000, 1, 0, "S"))
    vx = struct.pack("!II", 0x08000000, 42 << 8) + eth(ip4("192.168.1.1", "192.168.1.2", 6, tcp(1234, 443, 1, 0, "S")))
    gi = ip4("172.16.0.1", "172.16.0.2", 17, udp(1000, 53, bytes(12)))
    ter = ip6("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::1", 17, udp(3333, 4444, b"hi"))
    # name, packets, extra tshark options, tshark 4.0.17's answer
    return [
        ("tcp reuse after FIN, new ISN", hs(T0, 1000, 5000) + fin(T0 + 1, 1000, 5000) + hs(T0 + 5, 90000, 70000), [],
         "T:10.0.0.1:40000<->10.0.0.2:80(5) T:10.0.0.1:40000<->10.0.0.2:80(8)"),
        ("tcp reuse after FIN, same ISN", hs(T0, 1000, 5000) + fin(T0 + 1, 1000, 5000) + hs(T0 + 5, 1000, 5000), [],
         "T:10.0.0.1:40000<->10.0.0.2:80(13)"),
        ("tcp reuse after RST, new ISN", hs(T0, 1000, 5000) + [T(T0 + 1, A, B, 40000, 80, 1004, 5001, "R")]
         + hs(T0 + 5, 90000, 70000), [], "T:10.0.0.1:40000<->10.0.0.2:80(5) T:10.0.0.1:40000<->10.0.0.2:80(6)"),
        ("tcp SYN 1 s later, no FIN, new ISN", hs(T0, 1000, 5000) + hs(T0 + 1, 90000, 70000), [],
         "T:10.0.0.1:40000<->10.0.0.2:80(5) T:10.0.0.1:40000<->10.0.0.2:80(5)"),
        ("tcp SYN 2 h later, no FIN, new ISN", hs(T0, 1000, 5000) + hs(T0 + 7200, 90000, 70000), [],
         "T:10.0.0.1:40000<->10.0.0.2:80(5) T:10.0.0.1:40000<->10.0.0.2:80(5)"),
        ("tcp SYN 2 h later, same ISN", hs(T0, 1000, 5000) + hs(T0 + 7200, 1000, 5000), [],
         "T:10.0.0.1:40000<->10.0.0.2:80(10)"),
        ("tcp data 1 day later, no SYN", hs(T0, 1000, 5000) + [T(T0 + 86400, A, B, 40000, 80, 1004, 5001, "PA", b"xx")], [],
         "T:10.0.0.1:40000<->10.0.0.2:80(6)"),
        ("tcp data after FIN, no SYN", hs(T0, 1000, 5000) + fin(T0 + 1, 1000, 5000)
         + [T(T0 + 60, A, B, 40000, 80, 1005, 5002, "PA", b"zz")], [], "T:10.0.0.1:40000<->10.0.0.2:80(9)"),
        ("tcp SYN-ACK after FIN, no SYN", hs(T0, 1000, 5000) + fin(T0 + 1, 1000, 5000)
         + [T(T0 + 60, B, A, 80, 40000, 777, 99, "SA")], [], "T:10.0.0.1:40000<->10.0.0.2:80(9)"),
        ("tcp mid-stream start, then SYN", [T(T0, A, B, 40000, 80, 3333, 4444, "PA", b"abc"),
                                            T(T0 + .1, B, A, 80, 40000, 4444, 3336, "A")] + hs(T0 + 10, 90000, 70000), [],
         "T:10.0.0.1:40000<->10.0.0.2:80(2) T:10.0.0.1:40000<->10.0.0.2:80(5)"),
        ("tcp SYN retransmitted (same ISN) x3", [T(T0 + i, A, B, 40000, 80, 1000, 0, "S") for i in (0, 1, 3)], [],
         "T:10.0.0.1:40000<->10.0.0.2:80(3)"),
        ("tcp 3 SYNs, 3 ISNs", [T(T0 + i, A, B, 40000, 80, 1000 * (i + 1), 0, "S") for i in (0, 1, 2)], [],
         "T:10.0.0.1:40000<->10.0.0.2:80(1) T:10.0.0.1:40000<->10.0.0.2:80(1) T:10.0.0.1:40000<->10.0.0.2:80(1)"),
        ("udp same 5-tuple over 3 days", [U(T0, A, B, 5000, 6000), U(T0 + 1, B, A, 6000, 5000),
                                          U(T0 + 7200, A, B, 5000, 6000), U(T0 + 259200, B, A, 6000, 5000)], [],
         "U:10.0.0.1:5000<->10.0.0.2:6000(4)"),
        ("udp port 0", [U(T0, A, B, 0, 0)], [], "U:10.0.0.1:0<->10.0.0.2:0(1)"),
        ("ipv4 frags of 1 udp datagram", [fr1, fr2], [], "U:10.0.0.1:5000<->10.0.0.2:7777(1)"),
        ("ipv4 frags, last first", [(T0, fr2[1]), (T0 + .001, fr1[1])], [], "U:10.0.0.1:5000<->10.0.0.2:7777(1)"),
        ("ipv4 frags + 2 whole datagrams", [U(T0 - 1, A, B, 5000, 7777), fr1, fr2, U(T0 + 1, B, A, 7777, 5000)], [],
         "U:10.0.0.1:5000<->10.0.0.2:7777(3)"),
        ("ipv4 first frag only", [fr1], [], ""),
        ("ipv4 second frag only", [fr2], [], ""),
        ("ipv4 first frag only, no defrag", [fr1], ["-o", "ip.defragment:FALSE"], "U:10.0.0.1:5000<->10.0.0.2:7777(1)"),
        ("ipv4 frags, no defrag", [fr1, fr2], ["-o", "ip.defragment:FALSE"], "U:10.0.0.1:5000<->10.0.0.2:7777(1)"),
        ("ipv4 frags of 1 tcp segment", [(T0, eth(ip4(A, B, 6, t[:1480], ident=5, flags_off=0x2000))),
                                         (T0 + .001, eth(ip4(A, B, 6, t[1480:], ident=5, flags_off=1480 // 8)))], [],
         "T:10.0.0.1:40000<->10.0.0.2:80(1)"),
        ("ip-in-ip (proto 4), inner tcp", [(T0, eth(ip4(A, B, 4, ip4("192.168.1.1", "192.168.1.2", 6, tcp(1234, 443, 1, 0, "S")))))], [],
         "T:192.168.1.1:1234<->192.168.1.2:443(1)"),
        ("6in4 (proto 41), inner tcp", [(T0, eth(ip4(A, B, 41, ip6("2001:db8::1", "2001:db8::2", 6, tcp(1234, 80, 1, 0, "S")))))], [],
         "T:2001:db8::1:1234<->2001:db8::2:80(1)"),
        ("gre (proto 47), inner udp", [(T0, eth(ip4(A, B, 47, struct.pack("!HH", 0, 0x0800)
                                                   + ip4("192.168.1.1", "192.168.1.2", 17, udp(1111, 2222, b"x")))))], [],
         "U:192.168.1.1:1111<->192.168.1.2:2222(1)"),
        ("vxlan (udp 4789), inner tcp", [(T0, eth(ip4(A, B, 17, udp(55555, 4789, vx))))], [],
         "T:192.168.1.1:1234<->192.168.1.2:443(1) U:10.0.0.1:55555<->10.0.0.2:4789(1)"),
        ("gtp-u (udp 2152), inner udp", [(T0, eth(ip4(A, B, 17, udp(2152, 2152, struct.pack("!BBHI", 0x30, 0xff, len(gi), 1) + gi))))], [],
         "U:10.0.0.1:2152<->10.0.0.2:2152(1) U:172.16.0.1:1000<->172.16.0.2:53(1)"),
        ("teredo (udp 3544), inner udp", [(T0, eth(ip4(A, B, 17, udp(3544, 50000, ter))))], [],
         "U:10.0.0.1:3544<->10.0.0.2:50000(1) U:2001:0:4136:e378:8000:63bf:3fff:fdd2:3333<->2001:db8::1:4444(1)"),
        ("vlan-tagged udp", [(T0, eth(struct.pack("!HH", 100, 0x0800) + ip4(A, B, 17, udp(1, 2, b"x")), et=0x8100))], [],
         "U:10.0.0.1:1<->10.0.0.2:2(1)"),
        ("udp + icmp port-unreachable quoting it", [U(T0, B, A, 6000, 5000), (T0 + .001, eth(ip4(A, B, 1, icmp_udp)))], [],
         "U:10.0.0.2:6000<->10.0.0.1:5000(1)"),
        ("icmp unreachable quoting udp, alone", [(T0, eth(ip4(A, B, 1, icmp_udp)))], [], ""),
        ("icmp unreachable quoting tcp, alone", [(T0, eth(ip4(A, B, 1, icmp_tcp)))], [], ""),
        ("sctp + icmp echo", [(T0, eth(ip4(A, B, 132, struct.pack("!HHII", 1, 2, 0, 0)))),
                              (T0, eth(ip4(A, B, 1, struct.pack("!BBHHH", 8, 0, 0, 1, 1))))], [], ""),
        ("tcp header cut by snaplen", "truncated", [], ""),
    ]


def write_pcap(path, pkts):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        if pkts == "truncated":
            p = eth(ip4(A, B, 6, tcp(1, 2, 3, 4, "S")))
            f.write(struct.pack("<IIII", int(T0), 0, 14 + 20 + 8, len(p)) + p[:42])
            return
        for t, p in pkts:
            f.write(struct.pack("<IIII", int(t), int(round((t % 1) * 1e6)), len(p), len(p)) + p)


def conv_rows(out):
    rows, sec = [], None
    for line in out.splitlines():
        m = re.match(r"^(TCP|UDP) Conversations$", line)
        if m:
            sec = m.group(1)[0]
        elif sec and " <-> " in line:
            t = line.split()
            rows.append("%s:%s<->%s(%s)" % (sec, t[0], t[2], t[9]))
    return " ".join(sorted(rows))


def main():
    check = "--check" in sys.argv
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        for i, (name, pkts, opts, want) in enumerate(cases()):
            f = os.path.join(d, "case%02d.pcap" % i)
            write_pcap(f, pkts)
            out = subprocess.run(["tshark", "-n", "-r", f, "-q", *opts, "-z", "conv,tcp", "-z", "conv,udp"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
            got = conv_rows(out)
            flag = "" if got == want else "   <-- differs from tshark 4.0.17: " + (want or "(none)")
            bad += got != want
            print("%-40s %s%s" % (name, got or "(none)", flag))
    if check and bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
