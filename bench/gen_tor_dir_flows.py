#!/usr/bin/env python3
"""A capture of N short Tor directory fetches, for measuring report.html on a large run.

Each flow is a TCP connection from one of C clients to one of R directory caches on port
9030: SYN, SYN-ACK, ACK, `GET /tor/server/d/<hex>` (the client's first payload), and the
cache's `HTTP/1.0 200 OK` answer. tortrace's evidence H1 (a /tor/ directory request,
+9) alone gives each one a real `tor-dir` verdict (score 0.89) by the detection code, not
by a shortcut: N flows with a verdict, C hosts, R relays. Flows start 20 ms apart from
2026-11-26 14:21:40 UTC (the sample consensus's hour).

usage: gen_tor_dir_flows.py OUT.pcap [N=100000] [CLIENTS=2000] [CACHES=600]"""
import struct, sys

T0 = 1795702900  # 2026-11-26T14:21:40Z


def ip(a):
    return bytes(a)


def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def packet(src, dst, sport, dport, seq, ack, flags, payload=b''):
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    iph = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64,
                      6, 0, src, dst)
    iph = iph[:10] + struct.pack('!H', csum(iph)) + iph[12:]
    eth = b'\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00'
    return eth + iph + tcp + payload


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    n_clients = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    n_caches = int(sys.argv[4]) if len(sys.argv) > 4 else 600
    with open(out, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))

        def rec(ts_us, data):
            f.write(struct.pack('<IIII', ts_us // 1000000, ts_us % 1000000, len(data),
                                len(data)))
            f.write(data)

        for i in range(n):
            c = i % n_clients
            r = (i * 7919) % n_caches
            cli = ip((10, 1, c >> 8, c & 255))
            srv = ip((10, 2, r >> 8, r & 255))
            sport = 10000 + (i // n_clients) % 50000
            t = T0 * 1000000 + i * 20000
            get = b'GET /tor/server/d/%040X HTTP/1.0\r\nHost: %d.%d.%d.%d\r\n\r\n' % (
                i, 10, 2, r >> 8, r & 255)
            ans = b'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nrouter x\n'
            rec(t, packet(cli, srv, sport, 9030, 1000, 0, 0x02))
            rec(t + 300, packet(srv, cli, 9030, sport, 5000, 1001, 0x12))
            rec(t + 600, packet(cli, srv, sport, 9030, 1001, 5001, 0x10))
            rec(t + 700, packet(cli, srv, sport, 9030, 1001, 5001, 0x18, get))
            rec(t + 1500, packet(srv, cli, 9030, sport, 5001, 1001 + len(get), 0x18, ans))


if __name__ == '__main__':
    main()
