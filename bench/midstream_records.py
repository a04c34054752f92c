#!/usr/bin/env python3
"""TLS record sequences of every TCP flow of a capture, for measuring mid-stream items.

Reads a pcap (pure Python, Ethernet/raw/Linux-SLL, IPv4/IPv6), reassembles each TCP
direction in sequence order (from the SYN when it is there, else from the first segment),
stops a direction at its first hole, and walks TLS record headers from the stream start
(flows that start with a SYN and a TLS record) -- the ground-truth record sequence that a
mid-stream inspector should recover after resynchronising. Output: one JSON line per flow:
  {"cli": [ip, port], "srv": [ip, port], "syn": bool, "recs": [[t_us, dir, type, len], ...]}
dir 0 = client -> server (the SYN's sender; without a SYN the higher port).

usage: midstream_records.py PCAP > out.jsonl"""
import json
import socket
import struct
import sys


def packets(path):
    with open(path, 'rb') as fh:
        raw = fh.read()
    magic = struct.unpack('<I', raw[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = '<'
    else:
        e = '>'
    nsec = magic in (0xA1B23C4D, 0x4D3CB2A1)
    link = struct.unpack(e + 'I', raw[20:24])[0]
    off = 24
    while off + 16 <= len(raw):
        sec, frac, caplen, _ = struct.unpack(e + 'IIII', raw[off:off + 16])
        t = sec * 1000000 + (frac // 1000 if nsec else frac)
        yield t, link, raw[off + 16:off + 16 + caplen]
        off += 16 + caplen


def decode(link, d):
    if link == 1:
        et, p = struct.unpack('>H', d[12:14])[0], 14
        while et in (0x8100, 0x88a8) and len(d) >= p + 4:
            et, p = struct.unpack('>H', d[p + 2:p + 4])[0], p + 4
    elif link == 113:
        et, p = struct.unpack('>H', d[14:16])[0], 16
    elif link in (101, 12, 14):
        et, p = (0x800 if d[0] >> 4 == 4 else 0x86dd), 0
    elif link == 0:
        et, p = (0x800 if d[4] >> 4 == 4 else 0x86dd), 4
    else:
        return None
    if et == 0x800 and len(d) >= p + 20:
        ihl = (d[p] & 15) * 4
        if d[p + 9] != 6:
            return None
        tot = struct.unpack('>H', d[p + 2:p + 4])[0]
        src, dst = socket.inet_ntop(socket.AF_INET, d[p + 12:p + 16]), socket.inet_ntop(
            socket.AF_INET, d[p + 16:p + 20])
        end = p + tot
        p += ihl
    elif et == 0x86dd and len(d) >= p + 40:
        if d[p + 6] != 6:
            return None
        plen = struct.unpack('>H', d[p + 4:p + 6])[0]
        src, dst = socket.inet_ntop(socket.AF_INET6, d[p + 8:p + 24]), socket.inet_ntop(
            socket.AF_INET6, d[p + 24:p + 40])
        end = p + 40 + plen
        p += 40
    else:
        return None
    if len(d) < p + 20:
        return None
    sp, dp, seq = struct.unpack('>HHI', d[p:p + 8])
    flags = d[p + 13]
    hl = (d[p + 12] >> 4) * 4
    return src, sp, dst, dp, seq, flags, d[p + hl:min(end, len(d))]


def main():
    flows = {}
    for t, link, d in packets(sys.argv[1]):
        r = decode(link, d)
        if not r:
            continue
        src, sp, dst, dp, seq, flags, pay = r
        a, b = (src, sp), (dst, dp)
        k = (a, b) if a < b else (b, a)
        f = flows.get(k)
        if f is None:
            f = flows[k] = {'cli': None, 'dirs': {}, 'syn': False}
        if flags & 0x02 and not flags & 0x10:
            f['cli'] = a
            f['syn'] = True
        dd = f['dirs'].setdefault(a, {'isn': None, 'segs': []})
        if flags & 0x02:
            dd['isn'] = (seq + 1) & 0xffffffff
        if pay:
            dd['segs'].append((t, seq, pay))
    for k, f in flows.items():
        cli = f['cli'] or (k[0] if k[0][1] > k[1][1] else k[1])
        srv = k[1] if cli == k[0] else k[0]
        recs = []
        for di, ep in ((0, cli), (1, srv)):
            dd = f['dirs'].get(ep)
            if not dd or not dd['segs']:
                continue
            base = dd['isn'] if dd['isn'] is not None else dd['segs'][0][1]
            segs = sorted(((s - base) & 0xffffffff, t, p) for t, s, p in dd['segs']
                          if ((s - base) & 0xffffffff) < 1 << 31)
            buf, times, have = bytearray(), [], 0
            for o, t, p in segs:
                if o > have:
                    break  # a hole
                if o + len(p) <= have:
                    continue
                nb = p[have - o:]
                buf += nb
                times.append((have, t))
                have += len(nb)
            # walk records from 0 (only meaningful when the stream starts on a record)
            off, ti = 0, 0
            while off + 5 <= len(buf):
                typ, maj, ln = buf[off], buf[off + 1], struct.unpack('>H', buf[off + 3:off + 5])[0]
                if typ < 20 or typ > 24 or maj != 3:
                    break
                while ti + 1 < len(times) and times[ti + 1][0] <= off:
                    ti += 1
                recs.append([times[ti][1], di, typ, ln, off])
                off += 5 + ln
        recs.sort()
        print(json.dumps({'cli': list(cli), 'srv': list(srv), 'syn': f['syn'], 'recs': recs}))


if __name__ == '__main__':
    main()
