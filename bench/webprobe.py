#!/usr/bin/env python3
"""webprobe.py -- does polling the web API hold up the protocol port?

Starts NWSSERVER (argument 1) on free ports, fills it with --vars variables
in one workspace and --wss workspaces (pipelined, through the protocol),
then measures store+fetchTry round trips on the protocol port ("the probe")
for --seconds, first alone and then while --pollers processes poll
/api/ws and /api/workspaces as fast as the server answers them.
Prints one line per phase: round trips, p50, p99 and max latency in ms,
and the web requests answered.

    python3 bench/webprobe.py build/bin/nwsserver [--vars 200000 --wss 50000]
                              [--server-arg=--no-auth]

Measured (2 loaded cores, 200,000 variables, 50,000 workspaces, 4 pollers):
main before this change p50 195 ms, p99 391 ms (222 web requests in 10 s);
with it p50 1.03 ms, p99 1.86 ms (41,858 web requests in 10 s).

Only loopback; every socket has a timeout; the server is killed at the end.
"""
import argparse
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time


def arg(b):
    return b"%020d" % len(b) + b


def request(*args):
    return b"%04d" % len(args) + b"".join(arg(a) for a in args)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("server closed")
        buf += chunk
    return buf


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"1111")  # old style, no cookie, no metadata
    if recv_exact(s, 4) != b"2223":
        raise RuntimeError("handshake")
    return s


def read_short(s):
    return int(recv_exact(s, 4))


def read_long(s):
    st = int(recv_exact(s, 4))
    recv_exact(s, 20)
    n = int(recv_exact(s, 20))
    return st, recv_exact(s, n)


def pipeline(s, reqs, long_reply=False):
    for i in range(0, len(reqs), 5000):
        part = reqs[i:i + 5000]
        s.sendall(b"".join(part))
        for _ in part:
            if (read_long(s)[0] if long_reply else read_short(s)) != 0:
                raise RuntimeError("request failed")


def fill(port, nvars, nwss):
    s = connect(port)
    pipeline(s, [request(b"use ws", b"w%06d" % i, b"", b"no") for i in range(nwss)])
    pipeline(s, [request(b"use ws", b"big", b"", b"no")])
    pipeline(s, [request(b"store", b"big", b"v%07d" % i, b"%020d" % 1, b"x")
                 for i in range(nvars)])
    pipeline(s, [request(b"use ws", b"probe", b"", b"no")])
    s.close()


def poller(web_port, stop_at, counter):
    paths = ["/api/ws?ws=big", "/api/workspaces"]
    n = 0
    while time.time() < stop_at:
        for p in paths:
            c = socket.create_connection(("127.0.0.1", web_port), timeout=30)
            c.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                       % p).encode())
            while c.recv(65536):
                pass
            c.close()
            n += 1
    with counter.get_lock():
        counter.value += n


def probe(port, seconds):
    s = connect(port)
    lat = []
    end = time.time() + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        s.sendall(request(b"store", b"probe", b"x", b"%020d" % 1, b"ping"))
        read_short(s)
        s.sendall(request(b"fetchTry", b"probe", b"x"))
        read_long(s)
        lat.append(time.perf_counter() - t0)
    s.close()
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] * 1000
    return len(lat), q(0.5), q(0.99), lat[-1] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--vars", type=int, default=200000)
    ap.add_argument("--wss", type=int, default=50000)
    ap.add_argument("--pollers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--server-arg", action="append", default=[],
                    help="one more nwsserver argument (e.g. --no-auth: the probe "
                         "speaks the classic handshake, without a secret)")
    a = ap.parse_args()
    srv = subprocess.Popen([a.server, "-p", "0", "-w", "0", "--log-level", "warn"]
                           + a.server_arg,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = srv.stdout.readline().decode()
        kv = dict(f.split("=", 1) for f in line.split()[2:] if "=" in f)
        port, web_port = int(kv["port"]), int(kv["web-port"])
        t0 = time.time()
        fill(port, a.vars, a.wss)
        print("filled %d variables, %d workspaces in %.1f s" % (a.vars, a.wss,
                                                                  time.time() - t0))
        n, p50, p99, mx = probe(port, a.seconds / 2)
        print("alone:        %6d round trips  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms"
              % (n, p50, p99, mx))
        counter = mp.Value("l", 0)
        stop_at = time.time() + a.seconds + 1
        ps = [mp.Process(target=poller, args=(web_port, stop_at, counter))
              for _ in range(a.pollers)]
        for p in ps:
            p.start()
        time.sleep(0.5)
        n, p50, p99, mx = probe(port, a.seconds)
        for p in ps:
            p.join()
        print("%d pollers:    %6d round trips  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms"
              "  (%d web requests answered)" % (a.pollers, n, p50, p99, mx, counter.value))
    finally:
        srv.kill()
        srv.wait()


if __name__ == "__main__":
    sys.exit(main())
