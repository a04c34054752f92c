#!/usr/bin/python3
"""A threaded TLS line server for tools/pt_negatives.sh set 5 (never run in CI): like
`openssl s_server -rev` (each line comes back reversed) but many connections at once.

usage: tlsecho.py ADDR PORT CERT KEY"""
import socket
import ssl
import sys
import threading

addr, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)


def serve(c):
    try:
        with ctx.wrap_socket(c, server_side=True) as s:
            buf = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
                *lines, buf = buf.split(b"\n")
                if lines:
                    s.sendall(b"".join(l[::-1] + b"\n" for l in lines))
    except (OSError, ssl.SSLError):
        pass


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((addr, port))
ls.listen(64)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
