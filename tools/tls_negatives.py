#!/usr/bin/env python3
"""Record real non-Tor TLS traffic on this machine, with labels, as negatives for the
mid-stream items D3/D4 (bench/midstream_burst_weight.py --negatives DIR).

usage (root; Linux network namespaces):
  tools/tls_negatives.py [--out /work/tls-neg] [--seed 1] [--sessions 4200]
                         [--lanes 10] [--slots 7] [--minutes 18] [--no-install]
                         [--mix old|wide|new:IMPL,..] [--skip N --tag T] [--force]

Two network namespaces (tlsneg-c, tlsneg-s) joined by a veth pair (MTU 1500, offloads
off, so the capture is Ethernet with wire-sized segments). Each lane is one server address
(10.77.0.10+lane) with its own tcpdump (filter: host ADDR, on the client's veth); a lane
runs its sessions in batches of SLOTS concurrent sessions, one pcap per batch
(OUT/pcap/lLL-bBBBB.pcap) and a label file beside it (.flows.csv: server port -> stack,
shape; each session has its own server port, so every flow in the pcap is labelled).

Stacks (client -> server): Python ssl on both ends (OpenSSL 3.0; TLS 1.3 and TLS 1.2
AES-GCM, ChaCha20, AES-CBC-SHA and -SHA256 with and without encrypt-then-MAC), openssl
s_client -> s_server (TLS 1.3 AES-128-GCM / ChaCha20, TLS 1.2 GCM / CBC-SHA256),
gnutls-cli -> gnutls-serv --echo (TLS 1.3, TLS 1.2 CBC), gnutls-cli -> Python server,
curl -> nginx (HTTP/1.1 keep-alive, HTTP/2; ssl_buffer_size 16k / 4k / 1400; TLS 1.3,
TLS 1.2 GCM / CBC), wget (GnuTLS) -> nginx.
Shapes (what each end writes, seeded): bulk-down, bulk-up, reqresp (small requests,
random-size responses), stream (random write sizes and pauses), echo (interactive small
writes), structured (512/1024/.../16384 and multiples), chunks4k (server-sent 4 KB
chunks), longlived (15-22 s, heartbeats and bursts); nginx: files (keep-alive fetches of
random-size files, throttled), smallfiles.

--mix wide (the second set, /work/tls-neg2) puts 11 of every 20 sessions on stacks that
are not OpenSSL's or GnuTLS's own programs, from helpers in tools/tlsneg/ built into
OUT/bin at the start (Debian packages only, nothing fetched at run time):
  node (Node.js 20, its bundled OpenSSL 3): tls sockets; https (HTTP/1.1 keep-alive Agent);
    h2 (http2, no push); ws (WebSocket, Debian's node-ws library);
  go (Go 1.19 crypto/tls, dynamic record sizing): tls conns; https and h2 (net/http);
  java (OpenJDK 17 JSSE): SSLSocket writing each message in one write, or a 4-byte length
    and body through a BufferedOutputStream flushed per message, or both unbuffered (two
    writes); https (com.sun.net.httpserver.HttpsServer, java.net.http.HttpClient 1.1);
  each over TLS 1.3 (the stack's default suite) or TLS 1.2 GCM / ChaCha20 / CBC.
  New shapes: chat (20-300-byte messages both ways, now and then 1-30 KB), binmsg
  (length-prefixed records of 60-3000 bytes, in bursts), api (JSON-like GET/POST,
  log-normal responses), video (Range requests of 200 KB-2 MB segments with pauses), files,
  sse (server-sent events), h2many (10-60 parallel small requests); HTTP servers write a
  response whole or in 8/16/64 KB pieces. The rest of the sessions are drawn as in old.
  --mix new:java,node draws only those new stacks (for a run at low concurrency: under
  a loaded machine a JVM may not start within its batch). --skip N --tag T go on with a stopped run (same seed and --sessions): sessions from N
  on, captures named T-lLL-bBBBB. SIGTERM lets the lanes finish their batch and stop.
  A folder that already holds captures is refused unless --tag goes on with it or --force
  overwrites it; an unknown option is an error (-h prints this).

Everything a session does is drawn from random.Random(f"{seed}:{index}") and written to
OUT/sessions.jsonl; TLS's own randomness (keys, padding of CBC suites) is not seeded.
Every session lasts 6-12 s (throttled; longlived 15-22 s), so that cuts at 5-15 s leave records to judge."""
import glob
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

NS_C, NS_S = "tlsneg-c", "tlsneg-s"
VETH_C, VETH_S = "tlsnegc", "tlsnegs"
CLI_IP = "10.77.0.2"
PY = sys.executable
ME = os.path.abspath(__file__)
APT = ["gnutls-bin", "nginx-light", "tcpdump", "openssl", "curl", "wget", "ethtool",
       "iproute2", "golang-go", "openjdk-17-jdk-headless", "nodejs", "node-ws"]
HELPERS = os.path.join(os.path.dirname(ME), "tlsneg")  # neg.js, neg.go, TlsNeg.java

PY_STACKS = {  # name: (max TLS version, TLS 1.2 cipher string, disable EtM)
    "py-tls13": ("1.3", None, False),
    "py-tls12-gcm": ("1.2", "ECDHE-RSA-AES128-GCM-SHA256", False),
    "py-tls12-aes256gcm": ("1.2", "ECDHE-RSA-AES256-GCM-SHA384", False),
    "py-tls12-chacha": ("1.2", "ECDHE-RSA-CHACHA20-POLY1305", False),
    "py-tls12-cbc-sha": ("1.2", "ECDHE-RSA-AES128-SHA", False),
    "py-tls12-cbc-sha256": ("1.2", "ECDHE-RSA-AES128-SHA256", False),
    "py-tls12-cbc-sha-mte": ("1.2", "ECDHE-RSA-AES256-SHA", True),
    "py-tls12-cbc-sha256-mte": ("1.2", "ECDHE-RSA-AES128-SHA256", True),
}
OSSL_STACKS = {
    "ossl-tls13-aes128gcm": ["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"],
    "ossl-tls13-chacha": ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"],
    "ossl-tls12-gcm": ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"],
    "ossl-tls12-cbc-sha256": ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA384"],
}
GNUTLS_PRIO = {
    "gnutls-tls13": "NORMAL:-VERS-ALL:+VERS-TLS1.3",
    "gnutls-tls12-cbc": "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:-MAC-ALL:+SHA1",
    "gnutls-tls12-gcm": "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM",
}
NGINX_VARIANTS = [  # (name, ssl_buffer_size, protocols, ciphers)
    ("b16k-tls13", "16k", "TLSv1.3", None),
    ("b4k-tls13", "4k", "TLSv1.3", None),
    ("b1400-tls13", "1400", "TLSv1.3", None),
    ("b16k-tls12gcm", "16k", "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
    ("b4k-tls12cbc", "4k", "TLSv1.2", "ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-SHA"),
]
# --mix wide: stacks that are neither OpenSSL's nor GnuTLS's own programs. Each is
# IMPL-KIND-TLS; KIND says what runs over TLS (tls: the application writes to a TLS socket;
# https: HTTP/1.1 keep-alive; h2: HTTP/2; ws: WebSocket), TLS the version and suite.
NEW_TLS = {  # impl: {variant: suite ('-': the stack's default)}
    "node": {"tls13": "-", "tls12gcm": "ECDHE-RSA-AES128-GCM-SHA256",
             "tls12cbc": "ECDHE-RSA-AES128-SHA256"},
    "go": {"tls13": "-", "tls12gcm": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
           "tls12chacha": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
           "tls12cbc": "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"},
    "java": {"tls13": "-", "tls12gcm": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
             "tls12cbc": "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"},
}
NEW_KINDS = [  # (impl, kind, weight, shapes)
    ("node", "tls", 1.0, ["bulk-down", "bulk-up", "reqresp", "stream", "chat", "binmsg",
                          "longlived"]),
    ("node", "https", 1.5, ["api", "video", "files", "sse"]),
    ("node", "h2", 1.5, ["h2many", "api", "video", "sse"]),
    ("node", "ws", 1.0, ["chat", "binmsg", "stream"]),
    ("go", "tls", 1.2, ["bulk-down", "bulk-up", "reqresp", "stream", "chat", "binmsg",
                        "longlived"]),
    ("go", "https", 1.1, ["api", "video", "files", "sse"]),
    ("go", "h2", 1.2, ["h2many", "api", "video", "sse"]),
    ("java", "tls", 1.7, ["bulk-down", "bulk-up", "reqresp", "stream", "chat", "binmsg",
                          "longlived"]),
    ("java", "https", 0.8, ["api", "video", "files"]),
]
SHAPES = ["bulk-down", "bulk-up", "reqresp", "stream", "echo", "structured", "chunks4k",
          "longlived"]


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, **kw)


def install_deps():
    missing = [p for p in APT if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
        text=True).stdout.find("install ok installed") < 0]
    for pkg, prog in (("nginx-light", "nginx"), ("nodejs", "node"),
                      ("openjdk-17-jdk-headless", "javac"), ("golang-go", "go")):
        if pkg in missing and shutil.which(prog):
            missing.remove(pkg)
    if missing:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        sh("apt-get", "install", "-y", "-q", *missing, env=env)
    # the Debian package may start nginx on :80 in the root namespace; ours runs in NS_S


# ---------------------------------------------------------------- write schedules

def writes(shape, side, rng, dur):
    """[(size, pause_after)] for one end of a session. side: 'c' or 's'."""
    out = []
    t = 0.0

    def add(n, p):
        nonlocal t
        out.append((max(1, int(n)), p))
        t += p

    main = {"bulk-down": "s", "bulk-up": "c", "chunks4k": "s", "structured": rng.choice("cs"),
            "stream": rng.choice("cs")}.get(shape)
    if shape == "binmsg":
        main = rng.choice("cs")
    if shape in ("bulk-down", "bulk-up") and side == main:
        total = int(rng.lognormvariate(13.5, 0.9))  # ~0.7 MB median
        total = min(max(total, 100_000), 12_000_000)
        chunk = rng.choice([1024, 4096, 8192, 16384, 32768, 65536, rng.randint(500, 70000)])
        n = max(1, total // chunk)
        p = dur / n
        for _ in range(n):
            add(chunk if rng.random() < 0.9 else rng.randint(1, chunk), p)
    elif shape in ("bulk-down", "bulk-up", "chunks4k"):
        while t < dur:  # the other end: a request, then acks or keep-alives now and then
            add(rng.randint(20, 400), rng.uniform(0.3, 2.0))
    elif shape == "chunks4k" and side == main:
        pass
    elif shape == "reqresp":
        gap = rng.uniform(0.03, 0.4)
        hi = rng.choice([2000, 16000, 64000])
        while t < dur:
            add(rng.randint(60, 900) if side == "c" else rng.randint(80, hi),
                rng.expovariate(1 / gap))
    elif shape == "stream":
        hi = rng.choice([1500, 8000, 20000, 70000])
        gap = rng.uniform(0.01, 0.3)
        while t < dur:
            if side == main:
                add(rng.randint(1, hi), rng.expovariate(1 / gap))
            else:
                add(rng.randint(10, 300), rng.uniform(0.5, 3.0))
    elif shape == "echo":
        gap = rng.uniform(0.05, 0.5)
        while t < dur:
            add(rng.choice([1, 1, 1, 2, 3, rng.randint(1, 64)]), rng.expovariate(1 / gap))
    elif shape == "structured":
        base = rng.choice([512, 1024, 2048, 4096, 8192, 16384])
        gap = rng.uniform(0.005, 0.3)
        while t < dur:
            if side == main:
                n = rng.choice([base, base, base * rng.randint(1, 8),
                                rng.choice([512, 1024, 4096, 16384]) * rng.randint(1, 4)])
                add(n, rng.expovariate(1 / gap))
            else:
                add(rng.choice([64, 128, 256, 512]), rng.uniform(0.2, 2.0))
    elif shape == "longlived":
        while t < dur:
            if rng.random() < 0.1:
                for _ in range(rng.randint(2, 20)):
                    add(rng.randint(100, 16384), rng.uniform(0, 0.02))
            add(rng.randint(20, 200), rng.uniform(0.2, 1.5))
    elif shape == "chat":  # small messages both ways, now and then a larger one
        gap = rng.uniform(0.3, 2.0)
        while t < dur:
            n = rng.randint(1000, 30000) if rng.random() < 0.07 else rng.randint(20, 300)
            add(n, rng.expovariate(1 / gap))
    elif shape == "binmsg":  # length-prefixed records of 60-3000 bytes, in bursts
        if side == main:
            gap = rng.uniform(0.05, 1.0)
            mu = rng.uniform(5.0, 7.2)
            while t < dur:
                for _ in range(rng.randint(1, 30)):
                    add(min(max(rng.lognormvariate(mu, 0.9), 60), 3000), rng.uniform(0, 0.005))
                add(min(max(rng.lognormvariate(mu, 0.9), 60), 3000), rng.expovariate(1 / gap))
        else:
            while t < dur:
                add(rng.randint(8, 64), rng.uniform(0.3, 2.0))
    if shape == "chunks4k" and side == "s":
        out.clear()
        t = 0.0
        gap = rng.uniform(0.01, 0.3)
        while t < dur:
            add(4096, rng.expovariate(1 / gap))
    return out


def requests(shape, rng, dur):
    """[(response sizes in parallel, request body, pause_after)] of an HTTP client."""
    out, t = [], 0.0
    gap = rng.uniform(0.1, 1.0)
    while t < dur:
        if shape == "api":  # JSON-like calls, some POSTs
            r = ([int(min(max(rng.lognormvariate(8, 1.3), 100), 300_000))],
                 rng.randint(100, 3000) if rng.random() < 0.4 else 0, rng.expovariate(1 / gap))
        elif shape == "video":  # Range requests of 200 KB - 2 MB segments, with pauses
            r = ([rng.randint(200_000, 2_000_000)], 0,
                 rng.uniform(0.02, 0.3) if len(out) < 2 else rng.uniform(0.5, 4.0))
        elif shape == "files":
            r = ([int(min(max(rng.lognormvariate(12.5, 1.5), 2000), 8_000_000))], 0,
                 rng.uniform(0.2, 2.0))
        elif shape == "h2many":  # many small requests at once, then a pause
            r = ([int(min(max(rng.lognormvariate(7.5, 1.2), 150), 60_000))
                  for _ in range(rng.randint(10, 60))], 0, rng.uniform(0.5, 3.0))
        else:  # sse: one request, the server sends events
            return [([0], 0, 0.0)]
        out.append(r)
        t += r[2]
    return out


def sse_events(rng, dur):
    out, t = [], 0.0
    gap = rng.uniform(0.05, 1.5)
    while t < dur:
        n = rng.randint(5000, 50000) if rng.random() < 0.05 else rng.randint(30, 2000)
        out.append((n, rng.expovariate(1 / gap)))
        t += out[-1][1]
    return out


def new_session_spec(sp, rng, impls=("node", "go", "java")):
    """A session of --mix wide's new stacks (Node.js, Go, Java), into sp."""
    kinds = [k for k in NEW_KINDS if k[0] in impls]
    impl, kind, _, shapes = rng.choices(kinds, [k[2] for k in kinds])[0]
    tvs = [v for v in NEW_TLS[impl] if not (impl == "go" and kind == "h2" and "cbc" in v)]
    tv = rng.choices(tvs, [3] + [1] * (len(tvs) - 1))[0]  # Go's HTTP/2 refuses CBC
    shape = rng.choice(shapes)
    stack = f"{impl}-{kind}-{tv}"
    opts = {}
    if impl == "java" and kind == "tls":
        opts["write"] = rng.choice(["plain", "buffered", "split"])
        stack = f"java-tls-{opts['write']}-{tv}"
    if kind in ("https", "h2"):
        opts["chunk"] = rng.choice([0, 0, 8192, 16384, 65536])
        opts["path"] = {"video": "v", "sse": "sse"}.get(shape, "b")
    if kind == "ws" and shape == "chat":
        opts["text"] = 1
    dur = rng.uniform(15, 22) if shape in ("longlived", "sse") else rng.uniform(6, 12)
    sp.update(stack=stack, shape=shape, dur=round(dur, 2), impl=impl, kind=kind, tls=tv,
              suite=NEW_TLS[impl][tv], opts=opts)
    if kind in ("tls", "ws"):
        sp["wc"] = writes(shape, "c", rng, dur)
        sp["ws"] = writes(shape, "s", rng, dur)
    else:
        sp["reqs"] = requests(shape, rng, dur)
        sp["ws"] = sse_events(rng, dur) if shape == "sse" else []
    return sp


def payload(rng_bytes, n):
    d = rng_bytes[:n] if n <= len(rng_bytes) else (rng_bytes * (n // len(rng_bytes) + 1))[:n]
    return d[:-1] + b"\n"


# Digits only, each write ending in a newline: s_server/s_client take a line starting with
# Q, q, R, k, ... as a command, gnutls-cli sends what it reads line by line. The bytes are
# encrypted on the wire; only the sizes matter.
BLOB = bytes(48 + b % 10 for b in random.Random(0).randbytes(70000))


def gen_main(spec):
    """Write a schedule to stdout (feeds s_client, s_server, gnutls-cli)."""
    sched = spec["w"]
    time.sleep(spec.get("delay", 0))
    out = sys.stdout.buffer
    for n, p in sched:
        try:
            out.write(payload(BLOB, n))
            out.flush()
        except BrokenPipeError:
            return
        time.sleep(p)
    time.sleep(spec.get("linger", 1))


def pump(sock, sched, stop):
    try:
        for n, p in sched:
            if stop.is_set():
                return
            sock.sendall(payload(BLOB, n))
            time.sleep(p)
    except OSError:
        pass


def drain(sock, echo, stop):
    try:
        while not stop.is_set():
            d = sock.recv(65536)
            if not d:
                break
            if echo:
                sock.sendall(d)
    except OSError:
        pass
    stop.set()


def ctx_for(stack, server, cert=None, key=None):
    ver, ciphers, no_etm = PY_STACKS.get(stack, ("1.3", None, False))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    if server:
        ctx.load_cert_chain(cert, key)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if ver == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers)
    if no_etm:
        ctx.options |= 0x00080000  # SSL_OP_NO_ENCRYPT_THEN_MAC (OpenSSL 1.1.1 / 3.x)
    return ctx


def py_end(spec, server):
    """One end of a Python-ssl session (server: accept one connection)."""
    stop = threading.Event()
    if server:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((spec["srv_ip"], spec["port"]))
        ls.listen(1)
        ls.settimeout(30)
        raw, _ = ls.accept()
        ctx = ctx_for(spec["stack"], True, spec["cert"], spec["key"])
        s = ctx.wrap_socket(raw, server_side=True)
        sched, echo = spec["ws"], spec["shape"] == "echo"
    else:
        for _ in range(50):  # the server may still be starting
            try:
                raw = socket.create_connection((spec["srv_ip"], spec["port"]), timeout=10)
                break
            except ConnectionRefusedError:
                time.sleep(0.2)
        else:
            return
        raw.settimeout(None)
        s = ctx_for(spec["stack"], False).wrap_socket(raw)
        sched, echo = spec["wc"], False
    t = threading.Thread(target=drain, args=(s, echo, stop), daemon=True)
    t.start()
    if not (server and echo):
        pump(s, sched, stop)
    deadline = time.time() + spec["dur"] + 8
    while not stop.is_set() and time.time() < deadline:
        time.sleep(0.2)
    try:
        s.close()
    except OSError:
        pass


# ---------------------------------------------------------------- sessions

def session_spec(seed, i, n, mix="old"):
    """mix old: the first set's stacks only; wide: 11 of every 20 sessions on the new
    stacks (Node.js, Go, Java), the others drawn as in old."""
    rng = random.Random(f"{seed}:{i}")
    r = i % 20
    if mix.startswith("new:"):  # e.g. new:java,node: only these new stacks
        return new_session_spec({"i": i, "seed": f"{seed}:{i}"}, rng, mix[4:].split(","))
    if mix == "wide":
        if r < 11:
            return new_session_spec({"i": i, "seed": f"{seed}:{i}"}, rng)
        r = rng.randrange(20)
    if r < 8:
        stack = rng.choice(list(PY_STACKS))
    elif r < 11:
        stack = rng.choice(list(OSSL_STACKS))
    elif r < 13:
        stack = rng.choice(list(GNUTLS_PRIO))
    elif r < 14:
        stack = "gnutlscli-py"
    elif r < 18:
        v = rng.choice(NGINX_VARIANTS)[0]
        stack = rng.choice(["curl-h1", "curl-h1", "curl-h2"]) + "-nginx-" + v
    else:
        v = rng.choice([x for x in NGINX_VARIANTS if "cbc" not in x[0]])[0]
        stack = "wget-nginx-" + v
    if "nginx" in stack:
        shape = rng.choice(["files", "files", "smallfiles"])
    elif stack.startswith("gnutls-"):
        shape = "echo" if rng.random() < 0.3 else rng.choice(
            ["bulk-up", "stream", "structured", "reqresp", "longlived"])  # server echoes
    else:
        shape = SHAPES[rng.randrange(len(SHAPES))]
    dur = rng.uniform(15, 22) if shape == "longlived" else rng.uniform(6, 12)
    sp = {"i": i, "stack": stack, "shape": shape, "dur": round(dur, 2),
          "seed": f"{seed}:{i}"}
    if "nginx" not in stack:
        sp["wc"] = writes(shape if not stack.startswith("gnutls-") else
                          ("bulk-up" if shape == "bulk-up" else shape), "c", rng, dur)
        sp["ws"] = [] if stack.startswith("gnutls-") else writes(shape, "s", rng, dur)
        if stack.startswith("gnutls-") and shape in ("structured", "stream"):
            sp["wc"] = writes(shape, "s" if False else "c", rng, dur)
    else:
        sizes = FILES
        if shape == "smallfiles":
            urls = [rng.choice(SMALL) for _ in range(rng.randint(20, 120))]
        else:
            urls = [rng.choice(sizes) for _ in range(rng.randint(1, 12))]
        total = sum(int(u.split("-")[1]) for u in urls)
        sp["urls"] = urls
        sp["rate"] = max(2000, int(total / dur))
    return sp


def make_files(www, seed):
    rng = random.Random(f"{seed}:files")
    os.makedirs(www, exist_ok=True)
    big, small = [], []
    for k in range(60):
        n = int(min(max(rng.lognormvariate(12.5, 1.5), 2000), 8_000_000))
        big.append(f"f{k}-{n}")
    for k in range(40):
        small.append(f"s{k}-{rng.randint(50, 6000)}")
    for name in big + small:
        p = os.path.join(www, name)
        n = int(name.split("-")[1])
        if not os.path.exists(p) or os.path.getsize(p) != n:
            with open(p, "wb") as fh:
                fh.write(os.urandom(n))
    return big, small


FILES, SMALL = [], []


def nginx_port(vi, lane, slot):
    return 21000 + vi * 200 + lane * 10 + slot


def write_nginx_conf(out, lanes, slots, cert, key):
    www = os.path.join(out, "www")
    conf = [f"worker_processes 2; pid {out}/nginx.pid; error_log {out}/nginx.err;",
            "events { worker_connections 4096; }",
            "http { access_log off; keepalive_requests 10000; keepalive_timeout 60s;",
            f"client_body_temp_path {out}/ngtmp;"]
    for vi, (name, buf, proto, ciphers) in enumerate(NGINX_VARIANTS):
        conf.append("server {")
        for lane in range(lanes):
            for slot in range(slots):
                conf.append(f" listen {nginx_port(vi, lane, slot)} ssl http2;")
        conf.append(f" ssl_certificate {cert}; ssl_certificate_key {key};")
        conf.append(f" ssl_protocols {proto}; ssl_buffer_size {buf};")
        if ciphers:
            conf.append(f" ssl_ciphers {ciphers};")
        conf.append(f" root {www}; location / {{ }} }}")
    conf.append("}")
    path = os.path.join(out, "nginx.conf")
    with open(path, "w") as fh:
        fh.write("\n".join(conf) + "\n")
    return path


def nsx(ns, *args):
    return ["ip", "netns", "exec", ns] + list(args)


def wait_listen(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        r = subprocess.run(nsx(NS_S, "ss", "-Hltn", f"sport = :{port}"), capture_output=True,
                           text=True)
        if r.stdout.strip():
            return True
        time.sleep(0.25)  # each look is a process; many lanes wait at once
    return False


def run_session(sp, srv_ip, port, out, procs):
    """Start one session's processes; return them (the caller waits and kills)."""
    cert, key = os.path.join(out, "cert.pem"), os.path.join(out, "key.pem")
    st = sp["stack"]
    devnull = open(os.path.join(out, "log", f"{sp['i']}.err"), "ab")
    ps = []

    def tofile(obj, tag):
        path = os.path.join(out, "spec", f"{sp['i']}.{tag}.json")
        with open(path, "w") as fh:
            json.dump(obj, fh)
        return path

    def gen(w, delay=0.0, linger=3.0, tag="g"):
        return tofile({"w": w, "delay": delay, "linger": linger}, tag)

    if "impl" in sp:  # Node.js, Go, Java: one helper process per end
        def spec_file(tag, w, reqs=()):
            path = os.path.join(out, "spec", f"{sp['i']}.{tag}.txt")
            with open(path, "w") as fh:
                for k, v in sp["opts"].items():
                    fh.write(f"o {k} {v}\n")
                for n, p in w:
                    fh.write(f"w {n} {p:.4f}\n")
                for sizes, body, p in reqs:
                    fh.write(f"r {','.join(map(str, sizes))} {body} {p:.4f}\n")
            return path
        ver = "1.3" if sp["tls"] == "tls13" else "1.2"
        args = [srv_ip, str(port), ver, sp["suite"]]
        cli = [spec_file("c", sp.get("wc", []), sp.get("reqs", [])), str(sp["dur"])]
        srv = [spec_file("s", sp["ws"]), str(sp["dur"])]
        bind = os.path.join(out, "bin")
        if sp["impl"] == "node":
            js = os.path.join(bind, "neg.js")
            scmd = ["node", js, sp["kind"], "server", *args, *srv, cert, key]
            ccmd = ["node", js, sp["kind"], "client", *args, *cli]
        elif sp["impl"] == "go":
            g = os.path.join(bind, "neggo")
            scmd = [g, sp["kind"], "server", *args, *srv, cert, key]
            ccmd = [g, sp["kind"], "client", *args, *cli]
        else:
            j = ["java", *JAVA_OPTS, "-cp", bind, "TlsNeg"]
            scmd = j + [sp["kind"], "server", *args, *srv, os.path.join(out, "key.p12")]
            ccmd = j + [sp["kind"], "client", *args, *cli]
        ps.append(subprocess.Popen(nsx(NS_S, *scmd), stdout=subprocess.DEVNULL, stderr=devnull))
        wait_listen(port, 20)
        ps.append(subprocess.Popen(nsx(NS_C, *ccmd), stdout=subprocess.DEVNULL, stderr=devnull))
    elif st in PY_STACKS:
        base = dict(sp, srv_ip=srv_ip, port=port, cert=cert, key=key)
        ps.append(subprocess.Popen(nsx(NS_S, PY, ME, "py-server", tofile(base, "b")),
                                   stdout=subprocess.DEVNULL, stderr=devnull))
        time.sleep(0.4)
        ps.append(subprocess.Popen(nsx(NS_C, PY, ME, "py-client", tofile(base, "b")),
                                   stdout=subprocess.DEVNULL, stderr=devnull))
    elif st in OSSL_STACKS:
        opt = OSSL_STACKS[st]
        g = subprocess.Popen([PY, ME, "gen", gen(sp["ws"], 1.0, tag="gs")],
                             stdout=subprocess.PIPE)
        ps += [g, subprocess.Popen(nsx(NS_S, "openssl", "s_server", "-quiet", "-naccept", "1",
                                       "-accept", f"{srv_ip}:{port}", "-cert", cert,
                                       "-key", key, *opt), stdin=g.stdout, stdout=subprocess.DEVNULL,
                                   stderr=devnull)]
        g.stdout.close()
        wait_listen(port)
        g2 = subprocess.Popen([PY, ME, "gen", gen(sp["wc"], 0.5, tag="gc")],
                              stdout=subprocess.PIPE)
        ps += [g2, subprocess.Popen(nsx(NS_C, "openssl", "s_client", "-quiet", "-connect",
                                        f"{srv_ip}:{port}", *opt), stdin=g2.stdout,
                                    stdout=subprocess.DEVNULL, stderr=devnull)]
        g2.stdout.close()
    elif st in GNUTLS_PRIO or st == "gnutlscli-py":
        prio = GNUTLS_PRIO.get(st, "NORMAL")
        if st == "gnutlscli-py":
            base = dict(sp, stack="py-tls13", srv_ip=srv_ip, port=port, cert=cert, key=key)
            ps.append(subprocess.Popen(nsx(NS_S, PY, ME, "py-server", tofile(base, "b")),
                                       stdout=subprocess.DEVNULL, stderr=devnull))
        else:
            ps.append(subprocess.Popen(nsx(NS_S, "gnutls-serv", "--echo", "-p", str(port),
                                           "--x509certfile", cert, "--x509keyfile", key,
                                           "--priority", prio), stdout=subprocess.DEVNULL,
                                       stderr=devnull))
        wait_listen(port)
        g = subprocess.Popen([PY, ME, "gen", gen(sp["wc"], 0.5, tag="gc")],
                             stdout=subprocess.PIPE)
        ps += [g, subprocess.Popen(nsx(NS_C, "gnutls-cli", "--insecure", "--priority", prio,
                                       "-p", str(port), srv_ip), stdin=g.stdout,
                                   stdout=subprocess.DEVNULL, stderr=devnull)]
        g.stdout.close()
    else:  # nginx
        vname = st.split("-nginx-")[1]
        urls = [f"https://{srv_ip}:{port}/{u}" for u in sp["urls"]]
        v = [x for x in NGINX_VARIANTS if x[0] == vname][0]
        if st.startswith("curl"):
            cmd = ["curl", "-s", "-k", "-o", "/dev/null", "--limit-rate", str(sp["rate"]),
                   "--http2" if "h2" in st else "--http1.1"]
            if v[2] == "TLSv1.2":
                cmd += ["--tls-max", "1.2"]
            for u in urls:
                cmd += [u, "-o", "/dev/null"]
        else:
            cmd = ["wget", "-q", "--no-check-certificate", "-O", "/dev/null",
                   f"--limit-rate={sp['rate']}"] + urls
        ps.append(subprocess.Popen(nsx(NS_C, *cmd), stdout=subprocess.DEVNULL, stderr=devnull))
    devnull.close()
    procs.extend(ps)
    return ps


# The JVM's own cost per session (two JVMs a session on 2 cores); none of these options
# touches how JSSE sizes its records.
JAVA_OPTS = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx128m", "-Xshare:auto"]


def build_helpers(out):
    """Node's script, Go's binary and Java's classes into OUT/bin, Java's key store."""
    bind = os.path.join(out, "bin")
    os.makedirs(bind, exist_ok=True)
    shutil.copy(os.path.join(HELPERS, "neg.js"), bind)
    env = dict(os.environ, GOCACHE=os.path.join(out, "gocache"), GOPATH=os.path.join(out, "gopath"),
               GO111MODULE="off", GOFLAGS="")
    sh("go", "build", "-o", os.path.join(bind, "neggo"), os.path.join(HELPERS, "neg.go"), env=env)
    sh("javac", "-d", bind, os.path.join(HELPERS, "TlsNeg.java"))
    p12 = os.path.join(out, "key.p12")
    if not os.path.exists(p12):
        sh("openssl", "pkcs12", "-export", "-in", os.path.join(out, "cert.pem"), "-inkey",
           os.path.join(out, "key.pem"), "-out", p12, "-passout", "pass:changeit", "-name", "k")


def setup_net(lanes):
    teardown_net()
    sh("ip", "netns", "add", NS_C)
    sh("ip", "netns", "add", NS_S)
    sh("ip", "link", "add", VETH_C, "netns", NS_C, "type", "veth", "peer", "name", VETH_S,
       "netns", NS_S)
    for ns, dev in ((NS_C, VETH_C), (NS_S, VETH_S)):
        sh(*nsx(ns, "ip", "link", "set", "lo", "up"))
        sh(*nsx(ns, "ip", "link", "set", dev, "mtu", "1500", "up"))
        sh(*nsx(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"),
           check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sh(*nsx(NS_C, "ip", "addr", "add", CLI_IP + "/24", "dev", VETH_C))
    for lane in range(lanes):
        sh(*nsx(NS_S, "ip", "addr", "add", f"10.77.0.{10 + lane}/24", "dev", VETH_S))


def teardown_net():
    for ns in (NS_C, NS_S):
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


STOP = threading.Event()  # SIGTERM / SIGINT: lanes finish their batch and stop


def lane_worker(lane, queue, lock, out, slots, deadline, log, tag=""):
    srv_ip = f"10.77.0.{10 + lane}"
    b = 0
    while time.time() < deadline and not STOP.is_set():
        with lock:
            batch = [queue.pop(0) for _ in range(min(slots, len(queue)))]
        if not batch:
            return
        name = f"{tag}l{lane:02d}-b{b:04d}"
        pcap = os.path.join(out, "pcap", name + ".pcap")
        td = subprocess.Popen(nsx(NS_C, "tcpdump", "-q", "-s", "0", "-U", "-i", VETH_C,
                                  "-w", pcap, "host", srv_ip), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        procs, rows, starts = [], [], []
        for slot, sp in enumerate(batch):
            if "nginx" in sp["stack"]:
                vi = [x[0] for x in NGINX_VARIANTS].index(sp["stack"].split("-nginx-")[1])
                port = nginx_port(vi, lane, slot)
            else:
                port = 10000 + (b % 40) * 200 + lane * 10 + slot
            # the sessions of a batch start side by side (a JVM may take seconds to listen)
            starts.append(threading.Thread(target=run_session,
                                           args=(sp, srv_ip, port, out, procs)))
            starts[-1].start()
            rows.append((srv_ip, port, sp))
        for t in starts:
            t.join()
        end = time.time() + max(sp["dur"] for sp in batch) + 6
        while time.time() < end and any(p.poll() is None for p in procs):
            time.sleep(0.5)
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        time.sleep(0.5)
        td.send_signal(signal.SIGINT)
        td.wait(timeout=10)
        with open(pcap[:-5] + ".flows.csv", "w") as fh:
            fh.write("srv_ip,srv_port,proto,label,stack,shape,session\n")
            for ip, port, sp in rows:
                fh.write(f"{ip},{port},tcp,nontor-tls,{sp['stack']},{sp['shape']},{sp['i']}\n")
        with lock:
            log.write(f"{time.strftime('%H:%M:%S')} {name} {len(batch)} sessions\n")
            log.flush()
        b += 1


def main():
    a = sys.argv[1:]
    if a and a[0] in ("py-server", "py-client"):
        with open(a[1]) as fh:
            py_end(json.load(fh), a[0] == "py-server")
        return
    if a and a[0] == "gen":
        with open(a[1]) as fh:
            gen_main(json.load(fh))
        return

    if "-h" in a or "--help" in a:
        print(__doc__)
        return
    valued = ("--out", "--seed", "--sessions", "--lanes", "--slots", "--minutes", "--mix",
              "--skip", "--tag")
    i = 0
    while i < len(a):  # an unknown or incomplete option is an error, never a run
        if a[i] in valued and i + 1 < len(a):
            i += 2
        elif a[i] in ("--no-install", "--force"):
            i += 1
        else:
            sys.exit(f"tls_negatives.py: unknown or incomplete option {a[i]!r} (see --help)")

    def opt(name, default):
        if name in a:
            return type(default)(a[a.index(name) + 1])
        return default
    out = opt("--out", "/work/tls-neg")
    seed = opt("--seed", 1)
    n = opt("--sessions", 4200)
    lanes = opt("--lanes", 10)
    slots = opt("--slots", 7)
    minutes = opt("--minutes", 18.0)
    mix = opt("--mix", "old")
    skip = opt("--skip", 0)  # go on with a stopped run: sessions from SKIP on
    tag = opt("--tag", "")  # and name its captures TAG-lLL-bBBBB
    if (glob.glob(os.path.join(out, "pcap", "*.pcap")) and not tag and
            "--force" not in a):
        sys.exit(f"tls_negatives.py: {out}/pcap already holds captures: go on with "
                 "--skip N --tag T, or overwrite them with --force")
    if "--no-install" not in a:
        install_deps()
    os.makedirs(os.path.join(out, "pcap"), exist_ok=True)
    os.makedirs(os.path.join(out, "ngtmp"), exist_ok=True)
    os.makedirs(os.path.join(out, "spec"), exist_ok=True)
    os.makedirs(os.path.join(out, "log"), exist_ok=True)
    cert, key = os.path.join(out, "cert.pem"), os.path.join(out, "key.pem")
    if not os.path.exists(cert):
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
           "-subj", "/CN=tlsneg.test", "-keyout", key, "-out", cert,
           stderr=subprocess.DEVNULL)
    big, small = make_files(os.path.join(out, "www"), seed)
    FILES[:] = big
    SMALL[:] = small
    if mix != "old":
        build_helpers(out)
    specs = [session_spec(seed, i, n, mix) for i in range(n)]
    with open(os.path.join(out, "sessions.jsonl"), "w") as fh:
        for sp in specs:
            fh.write(json.dumps({k: v for k, v in sp.items() if k not in ("wc", "ws", "reqs")}) +
                     "\n")
    setup_net(lanes)
    ngx = None
    try:
        conf = write_nginx_conf(out, lanes, slots, cert, key)
        ngx = subprocess.Popen(nsx(NS_S, "nginx", "-c", conf, "-g", "daemon off;"),
                               stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        queue = list(specs[skip:])
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: STOP.set())
        lock = threading.Lock()
        deadline = time.time() + minutes * 60
        with open(os.path.join(out, "gen.log"), "a") as log:
            log.write(f"seed {seed} sessions {n} lanes {lanes} slots {slots} mix {mix} "
                      f"skip {skip} tag {tag}\n")
            ts = [threading.Thread(target=lane_worker, args=(lane, queue, lock, out, slots,
                                                            deadline, log,
                                                            tag + "-" if tag else ""))
                  for lane in range(lanes)]
            for t in ts:
                t.start()
                time.sleep(1.3)  # stagger the lanes
            for t in ts:
                t.join()
            log.write(f"done; {len(queue)} sessions not run (time)\n")
    finally:
        if ngx:
            ngx.terminate()
            ngx.wait(timeout=10)
        teardown_net()


if __name__ == "__main__":
    main()
