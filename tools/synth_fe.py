#!/usr/bin/env python3
"""Synthetic fully encrypted non-Tor TCP flows: random bytes from the first byte on, no
protocol header, in the shapes of other fully encrypted protocols (Shadowsocks/VMess bulk,
BitTorrent MSE, RTMPE, constant-size messages, small chat messages, random-size messages
both ways). Negatives for the obfs4 evidence items (F1, G1, F-); bench/accuracy.py runs
them. Deterministic: the same bytes for the same N.

usage: tools/synth_fe.py OUTDIR [N_PER_SHAPE [SEED]]   (defaults 30 and 1000; one pcap per
shape)"""
import os, random, struct, sys
MSS = 1448
def pcap(path, pkts):
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for ts, fr in pkts:
            f.write(struct.pack('<IIII', int(ts), int((ts % 1) * 1e6), len(fr), len(fr)) + fr)
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
def frame(src, dst, sp, dp, seq, ack, flags, pay):
    tcp = struct.pack('!HHIIBBHHH', sp, dp, seq & 0xffffffff, ack & 0xffffffff, 5 << 4, flags, 65535, 0, 0) + pay
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return b'\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00' + ip + tcp
class Flow:
    def __init__(s, rnd, i, t0):
        s.r = rnd; s.c = bytes([10, 9, i >> 8, i & 255]); s.s = bytes([198, 51, 100, (i % 250) + 1])
        s.cp = 30000 + i; s.sp = rnd.choice([443, 8443, 1234, 5222, 30000 + rnd.randrange(20000)])
        s.seq = [rnd.randrange(2**32), rnd.randrange(2**32)]; s.t = t0; s.pk = []
        s.add(0, 0x02, b''); s.seq[0] += 1; s.add(1, 0x12, b''); s.seq[1] += 1; s.add(0, 0x10, b'')
    def add(s, d, flags, pay):
        s.t += s.r.uniform(0.0001, 0.002)
        a, b = (s.c, s.s) if d == 0 else (s.s, s.c)
        pa, pb = (s.cp, s.sp) if d == 0 else (s.sp, s.cp)
        s.pk.append((s.t, frame(a, b, pa, pb, s.seq[d], s.seq[1 - d], flags, pay)))
        s.seq[d] += len(pay)
    def write(s, d, n):
        """one application write of n random bytes, cut into MSS segments"""
        s.t += s.r.uniform(0.005, 0.06)
        while n > 0:
            k = min(n, MSS); s.add(d, 0x18, s.r.randbytes(k)); n -= k
    def close(s):
        s.add(0, 0x11, b''); s.add(1, 0x11, b''); s.add(0, 0x10, b'')
def shapes(r, f):
    kind = f.kind
    if kind == 'ss-bulk':  # shadowsocks/vmess-like: a request, a bulk response in writes
        f.write(0, r.randint(200, 700)); 
        for _ in range(r.randint(3, 30)): f.write(1, r.randint(500, 16000))
    elif kind == 'interactive-uniform':  # random-size messages both ways (worst case for G1)
        f.write(0, r.randint(200, 8000)); f.write(1, r.randint(200, 8000))
        for _ in range(r.randint(40, 120)): f.write(r.randint(0, 1), r.randint(1, 3000))
    elif kind == 'fixed-msg':  # constant-size encrypted messages (telegram-like 1228)
        f.write(0, r.randint(200, 700)); f.write(1, r.randint(200, 700))
        m = r.choice([128, 256, 1228, 1024])
        for _ in range(r.randint(40, 120)): f.write(r.randint(0, 1), m * r.randint(1, 4))
    elif kind == 'mse-like':  # BitTorrent MSE: 96 + 0..512 padding each way, then bulk
        f.write(0, 96 + r.randint(0, 512)); f.write(1, 96 + r.randint(0, 512))
        for _ in range(r.randint(20, 80)):
            f.write(0, r.choice([17, 68, 13])) if r.random() < 0.2 else f.write(1, 16384 + 13)
    elif kind == 'rtmpe-like':  # RTMPE: 1537 / 3073 then 128/4096-byte chunks
        f.write(0, 1537); f.write(1, 3073); f.write(0, 1536)
        for _ in range(r.randint(20, 80)): f.write(r.choice([0, 1, 1]), r.choice([128, 4096, 4096 + 12]))
    elif kind == 'chat-small':  # small random-size messages (messengers, games)
        f.write(0, r.randint(150, 900)); f.write(1, r.randint(150, 900))
        for _ in range(r.randint(30, 100)): f.write(r.randint(0, 1), r.randint(20, 400))
    f.close()
if __name__ == '__main__':
    out = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    os.makedirs(out, exist_ok=True)
    for k, kind in enumerate(['ss-bulk', 'interactive-uniform', 'fixed-msg', 'mse-like', 'rtmpe-like', 'chat-small']):
        r = random.Random(seed + k); pk = []
        for i in range(n):
            f = Flow(r, k * 1000 + i, 1700000000 + i * 5.0); f.kind = kind; shapes(r, f); pk += f.pk
        pk.sort(key=lambda x: x[0]); pcap(os.path.join(out, f'synthetic-{kind}.pcap'), pk)
