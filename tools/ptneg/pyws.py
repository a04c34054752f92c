#!/usr/bin/python3
"""A WebSocket-over-TLS client on Python's websockets (Debian python3-websockets 10.4, OpenSSL
through the ssl module), for tools/pt_negatives.sh against ws.js's server behind nginx.
Never run in CI.

usage: pyws.py URL MODE DUR SEED [DOWN]
  chat: 20-300-byte JSON text at exponential gaps (mean 2 s), 5 % 1-20 KB binary; ping every 20 s
  bulk: asks for DOWN bytes ("bulk N"), reads them, then chats until DUR s."""
import asyncio
import json
import os
import random
import ssl
import sys
import time

import websockets

url, mode, dur, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
down = int(sys.argv[5]) if len(sys.argv) > 5 else 0
rng = random.Random(seed)
AL = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?0123456789"


async def main():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    end = time.time() + dur
    rx = tx = 0
    async with websockets.connect(url, ssl=ctx, ping_interval=20, max_size=None) as ws:
        async def reader():
            nonlocal rx
            async for m in ws:
                rx += len(m)
        rt = asyncio.ensure_future(reader())
        if mode == "bulk":
            await ws.send(f"bulk {down}")
            while rx < down and time.time() < end:
                await asyncio.sleep(0.2)
        while time.time() < end:
            await asyncio.sleep(min(rng.expovariate(1 / 2.0), max(0, end - time.time())))
            if rng.random() < 0.05:
                m = os.urandom(rng.randint(1000, 20000))
            else:
                m = json.dumps({"type": "msg", "text": "".join(
                    rng.choice(AL) for _ in range(rng.randint(20, 300)))})
            await ws.send(m)
            tx += len(m)
        await asyncio.sleep(1)
        rt.cancel()
    print(f"pyws closed: {tx} out, {rx} in", file=sys.stderr)


asyncio.run(main())
