#!/usr/bin/python3
"""One WebRTC peer built on aiortc (Debian's python3-aiortc 1.4.0: aioice, OpenSSL DTLS through
pyOpenSSL, its own SCTP, libvpx/libopus through PyAV), for tools/pt_negatives.sh. Never run in CI.

usage: aiopeer.py --role offer|answer --sig DIR --mode bulk|chat|echo|media [options]

Signalling as in pionpeer.go: DIR/offer.json, DIR/answer.json (files; nothing on the wire).
No ICE servers: host candidates only. Modes:
  bulk   the offerer sends --size bytes in --chunk messages (flow controlled by bufferedAmount);
         the answerer replies "done N"; both close;
  chat   both ends send 20-300-byte JSON text messages at exponential gaps (mean --gap s),
         now and then 1-30 KB binary, for --dur s;
  echo   the offerer sends 1..--chunk-byte messages, the answerer echoes them, for --dur s;
  media  a call: the offerer (and with --bidir the answerer) sends a VP8 video track (libvpx,
         --width x --height, a moving synthetic picture, 30 fps) and an Opus audio track (a
         tone, 20 ms frames) for --dur s; --dc adds a chat data channel; --audio-only drops
         the video.
"""
import argparse
import asyncio
import fractions
import json
import logging
import math
import os
import random
import sys
import time

import numpy as np
from av import AudioFrame, VideoFrame
from aiortc import (RTCConfiguration, RTCPeerConnection, RTCSessionDescription,
                    MediaStreamTrack)
from aiortc.contrib.media import MediaBlackhole
import aiortc.rtp

# aiortc 1.4.0 on Python 3.11 raises on some header-extension values it receives (the ids of
# the two ends differ) and then drops the DTLS transport: parse them leniently instead.
_get = aiortc.rtp.HeaderExtensionsMap.get


def _lenient_get(self, profile, value):
    try:
        return _get(self, profile, value)
    except Exception:
        return aiortc.rtp.HeaderExtensions()


aiortc.rtp.HeaderExtensionsMap.get = _lenient_get

ap = argparse.ArgumentParser()
ap.add_argument("--role", default="offer")
ap.add_argument("--sig", default=".")
ap.add_argument("--mode", default="bulk")
ap.add_argument("--size", type=int, default=2 << 20)
ap.add_argument("--chunk", type=int, default=16384)
ap.add_argument("--dur", type=float, default=30)
ap.add_argument("--gap", type=float, default=1.0)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--bidir", action="store_true")
ap.add_argument("--dc", action="store_true")
ap.add_argument("--audio-only", action="store_true")
ap.add_argument("--width", type=int, default=320)
ap.add_argument("--height", type=int, default=240)
ap.add_argument("--unordered", action="store_true")
A = ap.parse_args()
OFFER = A.role == "offer"
rng = random.Random(f"{A.seed}:{A.role}")


def log(*a):
    print(time.strftime("%H:%M:%S"), A.role, *a, file=sys.stderr, flush=True)


class Picture(MediaStreamTrack):
    kind = "video"

    def __init__(self):
        super().__init__()
        self.n = 0
        self.t0 = None
        h, w = A.height, A.width
        self.yy, self.xx = np.mgrid[0:h, 0:w]

    async def recv(self):
        if self.t0 is None:
            self.t0 = time.time()
        self.n += 1
        wait = self.t0 + self.n / 30 - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        k = self.n
        img = np.zeros((A.height, A.width, 3), np.uint8)
        img[..., 0] = (self.xx + 3 * k) % 256
        img[..., 1] = (self.yy * 2 + k) % 256
        img[..., 2] = ((self.xx // 20 + self.yy // 20 + k // 15) % 2) * 200
        # a noisy square moving around (some detail for the encoder)
        cx = int((A.width - 60) * (0.5 + 0.5 * math.sin(k / 40)))
        cy = int((A.height - 60) * (0.5 + 0.5 * math.cos(k / 55)))
        img[cy:cy + 60, cx:cx + 60] = np.random.randint(0, 255, (60, 60, 3), np.uint8)
        f = VideoFrame.from_ndarray(img, format="rgb24")
        f.pts = int(self.n * 3000)
        f.time_base = fractions.Fraction(1, 90000)
        return f


class Tone(MediaStreamTrack):
    kind = "audio"

    def __init__(self):
        super().__init__()
        self.n = 0
        self.t0 = None
        self.freq = rng.choice([220, 330, 440, 550])

    async def recv(self):
        if self.t0 is None:
            self.t0 = time.time()
        self.n += 1
        wait = self.t0 + self.n * 0.02 - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (np.arange(960) + self.n * 960) / 48000
        amp = 8000 * (0.5 + 0.5 * math.sin(self.n / 25))  # speech-like swell
        s = (amp * np.sin(2 * math.pi * self.freq * t)
             + np.random.normal(0, 300, 960)).astype(np.int16)
        f = AudioFrame.from_ndarray(s.reshape(1, -1), format="s16", layout="mono")
        f.sample_rate = 48000
        f.pts = self.n * 960
        f.time_base = fractions.Fraction(1, 48000)
        return f


def text_msg(n):
    al = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?0123456789"
    return json.dumps({"type": "msg", "text": "".join(rng.choice(al) for _ in range(n))})


async def chat(ch, dur):
    end = time.time() + dur
    n = 0
    while time.time() < end and ch.readyState == "open":
        await asyncio.sleep(rng.expovariate(1 / A.gap))
        if rng.random() < 0.04:
            ch.send(os.urandom(rng.randint(1000, 30000)))
        else:
            ch.send(text_msg(rng.randint(20, 300)))
        n += 1
    log("chat sent", n)


async def main():
    done = asyncio.Event()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    tasks = []

    @pc.on("connectionstatechange")
    async def _():
        log("PC", pc.connectionState)
        if pc.connectionState in ("failed", "closed"):
            done.set()

    hole = MediaBlackhole()

    @pc.on("track")
    def _(t):
        log("track", t.kind)
        hole.addTrack(t)

    def setup(ch):
        got = [0, 0]

        @ch.on("message")
        def _(m):
            got[0] += 1
            got[1] += len(m)
            if A.mode == "bulk":
                if not OFFER and got[1] >= A.size:
                    log("bulk received", got[1])
                    ch.send(f"done {got[1]}")
                    asyncio.get_event_loop().call_later(1.0, done.set)
                elif OFFER and isinstance(m, str):
                    log("peer says", m)
                    done.set()
            elif A.mode == "echo" and not OFFER:
                ch.send(m)

        async def on_open():
            log("data channel open", ch.label)
            if A.mode == "bulk" and OFFER:
                low = asyncio.Event()
                ch.bufferedAmountLowThreshold = 4 * A.chunk

                @ch.on("bufferedamountlow")
                def _():
                    low.set()
                sent, t0 = 0, time.time()
                while sent < A.size:
                    n = min(A.chunk, A.size - sent)
                    while ch.bufferedAmount > 1 << 20:
                        low.clear()
                        try:
                            await asyncio.wait_for(low.wait(), 0.2)
                        except asyncio.TimeoutError:
                            pass
                    ch.send(os.urandom(n))
                    sent += n
                    await asyncio.sleep(0)
                log("bulk sent", sent, "in %.1f s" % (time.time() - t0))
            elif A.mode == "chat" or A.mode == "media":
                await chat(ch, A.dur)
                if A.mode == "chat":
                    await asyncio.sleep(2)
                    done.set()
            elif A.mode == "echo" and OFFER:
                end = time.time() + A.dur
                while time.time() < end:
                    ch.send(os.urandom(rng.randint(1, A.chunk)))
                    await asyncio.sleep(rng.expovariate(1 / A.gap))
                await asyncio.sleep(2)
                done.set()

        if ch.readyState == "open":
            tasks.append(asyncio.ensure_future(on_open()))
        else:
            ch.on("open", lambda: tasks.append(asyncio.ensure_future(on_open())))

    if A.mode == "media" and (OFFER or A.bidir):
        pc.addTrack(Tone())
        if not A.audio_only:
            pc.addTrack(Picture())
    elif A.mode == "media":  # a receive-only answerer still answers both m-lines
        pass

    sig = A.sig
    if OFFER:
        if A.mode != "media" or A.dc:
            ch = pc.createDataChannel("chat" if A.mode in ("chat", "media") else "data",
                                      ordered=not A.unordered)
            setup(ch)
        await pc.setLocalDescription(await pc.createOffer())
        write(sig, "offer.json", pc.localDescription)
        ans = await read(sig, "answer.json")
        await pc.setRemoteDescription(ans)
    else:
        pc.on("datachannel", setup)
        off = await read(sig, "offer.json")
        await pc.setRemoteDescription(off)
        await pc.setLocalDescription(await pc.createAnswer())
        write(sig, "answer.json", pc.localDescription)
    await hole.start()
    limit = 900 if A.mode == "bulk" else A.dur + 60
    try:
        if A.mode == "media":
            await asyncio.wait_for(done.wait(), A.dur + 5)
        else:
            await asyncio.wait_for(done.wait(), limit)
    except asyncio.TimeoutError:
        if A.mode != "media":
            log("timeout")
    await asyncio.sleep(0.5)
    await hole.stop()
    await pc.close()
    log("closed")


def one_transport(sdp):
    """aiortc 1.4 offers one ICE transport per m-line (different ice-ufrag/pwd) even under a
    BUNDLE group, which pion refuses ("multiple conflicting ice-ufrag values"). Give every
    m-line the first one's credentials and candidates: after the answer aiortc bundles onto
    that first transport anyway."""
    secs = [[]]
    for ln in sdp.split("\r\n"):
        if ln.startswith("m="):
            secs.append([])
        secs[-1].append(ln)
    if len(secs) < 3:
        return sdp
    first = secs[1]
    keep = [ln for ln in first if ln.startswith(("a=ice-ufrag:", "a=ice-pwd:", "a=candidate:"))]
    out = secs[0] + first
    for sec in secs[2:]:
        body = [ln for ln in sec if not ln.startswith(("a=ice-ufrag:", "a=ice-pwd:", "a=candidate:"))]
        out += body[:1] + keep + body[1:]
    return "\r\n".join(out)


def write(d, name, desc):
    tmp = os.path.join(d, name + ".tmp")
    sdp = one_transport(desc.sdp) if desc.type == "offer" else desc.sdp
    with open(tmp, "w") as f:
        json.dump({"sdp": sdp, "type": desc.type}, f)
    os.rename(tmp, os.path.join(d, name))


async def read(d, name):
    p = os.path.join(d, name)
    for _ in range(600):
        if os.path.exists(p):
            with open(p) as f:
                o = json.load(f)
            return RTCSessionDescription(sdp=o["sdp"], type=o["type"])
        await asyncio.sleep(0.1)
    raise SystemExit(f"no {p}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # send-after-close noise
    asyncio.run(main())
