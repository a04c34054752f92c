#!/usr/bin/env python3
"""Seeds for fuzz_tls: the TCP payloads of each flow of the given pcaps, in the harness's
segment format ([dir|syn][len hi][len lo] bytes), one seed file per flow.
usage: tls_seeds.py OUTDIR PCAP..."""
import os
import struct
import sys


def frames(path):
    b = open(path, "rb").read()
    if len(b) < 24:
        return
    magic = struct.unpack("<I", b[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        e = ">"
    else:
        return  # pcapng and others: not needed for seeds
    link = struct.unpack(e + "I", b[20:24])[0] & 0xFFFF
    off = 24
    while off + 16 <= len(b):
        caplen = struct.unpack(e + "I", b[off + 8:off + 12])[0]
        yield link, b[off + 16:off + 16 + caplen]
        off += 16 + caplen


def tcp(link, f):
    if link == 1 and len(f) >= 14:
        et = struct.unpack("!H", f[12:14])[0]
        f = f[14:]
        while et == 0x8100 and len(f) >= 4:
            et = struct.unpack("!H", f[2:4])[0]
            f = f[4:]
    elif link == 113 and len(f) >= 16:
        f = f[16:]
    elif link not in (101, 12, 228):
        return None
    if not f:
        return None
    if f[0] >> 4 == 4 and len(f) >= 20 and f[9] == 6:
        ihl = (f[0] & 15) * 4
        src, dst, seg = f[12:16], f[16:20], f[ihl:struct.unpack("!H", f[2:4])[0]]
    elif f[0] >> 4 == 6 and len(f) >= 40 and f[6] == 6:
        src, dst, seg = f[8:24], f[24:40], f[40:40 + struct.unpack("!H", f[4:6])[0]]
    else:
        return None
    if len(seg) < 20:
        return None
    sp, dp = struct.unpack("!HH", seg[:4])
    flags = seg[13]
    return (src, sp), (dst, dp), flags, seg[(seg[12] >> 4) * 4:]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    n = 0
    for path in sys.argv[2:]:
        flows = {}
        for link, f in frames(path):
            t = tcp(link, f)
            if not t:
                continue
            a, b, flags, pay = t
            key = tuple(sorted([a, b]))
            fl = flows.setdefault(key, {"client": None, "segs": []})
            if fl["client"] is None and (flags & 0x12 == 0x02 or pay):
                fl["client"] = a
            if not pay and not flags & 0x02:
                continue
            d = 0 if a == fl["client"] else 1
            fl["segs"].append(bytes([d | (2 if flags & 0x02 else 0)]) +
                              struct.pack("!H", min(len(pay), 65535)) + pay[:65535])
        for fl in flows.values():
            data = b"".join(fl["segs"])
            if len(data) > 8 and n < 2000:
                open(os.path.join(out, f"seed{n:04d}"), "wb").write(data[:65536])
                n += 1
    print(f"{n} seeds")


main()
