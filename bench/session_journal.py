#!/usr/bin/env python3
"""bench/session_journal.py -- what sessions cost the journal (issue 15).

Rows (make bench-session-journal; NWS_BIN_DIR names the built programs):
  S1  journal bytes per store, a classic connection vs a session (its kept
      reply is journaled too: J_SESS_REPLY), from `--journal-check` after a
      clean stop;
  S2  restart (replay) time with N detached sessions, each holding one kept
      fetch reply, after a kill -9: start to the ready line, against the same
      state without sessions.
A raw-protocol client of its own (docs/SESSIONS.md): no libnws needed.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("NWS_BIN_DIR", "build/bin")


def denc(d):
    out = b"%04d" % len(d)
    for k, v in d.items():
        out += b"%04d" % len(k) + k + b"%04d" % len(v) + v
    return out


class Client:
    def __init__(self, port, session):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        self.seq = self.ack = 0
        self.session = session
        self.s.sendall(b"X000")
        assert self.rd(4) == b"P000"
        self.rdict()
        opts = {b"MetadataFromServer": b"1"}
        if session:
            opts[b"NwsSession"] = b"new"
        self.s.sendall(b"R000" + denc(opts))
        assert self.rd(4) == b"A000"
        if session:
            self.rdict()

    def rd(self, n):
        while len(self.buf) < n:
            d = self.s.recv(1 << 16)
            if not d:
                raise EOFError
            self.buf += d
        r, self.buf = self.buf[:n], self.buf[n:]
        return r

    def rdict(self):
        d = {}
        for _ in range(int(self.rd(4))):
            k = self.rd(int(self.rd(4)))
            d[k] = self.rd(int(self.rd(4)))
        return d

    def send(self, *args):
        m = b""
        if self.session:
            self.seq += 1
            m = b"%020d%020d" % (self.seq, self.ack)
        m += b"%04d" % len(args)
        for a in args:
            m += b"%020d" % len(a) + a
        self.s.sendall(m)

    def short(self, *args):
        self.send(*args)
        self.rdict()
        st = int(self.rd(4))
        self.ack = self.seq
        return st

    def long(self, *args):
        self.send(*args)
        self.rdict()
        st = int(self.rd(4))
        self.rd(20)
        self.rd(20)
        self.rd(20)
        v = self.rd(int(self.rd(20)))
        return st, v


class Server:
    def __init__(self, d):
        self.dir = d
        self.port = 0
        self.p = None

    def start(self):
        t0 = time.monotonic()
        self.p = subprocess.Popen(
            [os.path.join(BIN, "nwsserver"), "--bind", "127.0.0.1", "--port",
             str(self.port), "--web-port", "0", "--no-auth", "--journal", self.dir,
             "--fsync", "no", "--resume-grace", "600", "--log-level", "warn"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.p.stdout.readline().decode()
        took = time.monotonic() - t0
        self.port = int(re.search(r"port=(\d+)", line).group(1))
        return took

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait()


def journal_bytes(d):
    out = subprocess.run([os.path.join(BIN, "nwsserver"), "--journal-check", d],
                         capture_output=True, text=True).stdout
    return sum(int(m) for m in re.findall(r"records, (\d+) bytes", out))


def s1_run(session, n):
    d = tempfile.mkdtemp(prefix="nws-sj-")
    srv = Server(os.path.join(d, "j"))
    srv.start()
    c = Client(srv.port, session)
    c.short(b"use ws", b"w", b"", b"no")
    for i in range(n):
        assert c.short(b"store", b"w", b"x", b"1", b"v%06d" % i) == 0
    srv.stop()
    b = journal_bytes(srv.dir)
    shutil.rmtree(d)
    return b


def s1(n=5000):
    res = {}
    for session in (False, True):
        res[session] = (s1_run(session, n) - s1_run(session, 0)) / n
    print("S1 journal bytes per 7-byte store: classic %.1f, session %.1f (+%.1f)"
          % (res[False], res[True], res[True] - res[False]))


def s2(n=2000):
    rows = []
    for session in (False, True):
        d = tempfile.mkdtemp(prefix="nws-sj-")
        srv = Server(os.path.join(d, "j"))
        srv.start()
        for i in range(n):
            c = Client(srv.port, session)
            c.short(b"use ws", b"w", b"", b"no")
            c.short(b"store", b"w", b"x%d" % i, b"1", b"x" * 100)
            st, v = c.long(b"fetchTry", b"w", b"x%d" % i)
            assert st == 0 and len(v) == 100
            c.s.close()
        srv.kill9()
        times = [0.0] * 3
        for k in range(3):
            times[k] = srv.start()
            srv.kill9()
        rows.append(min(times))
        shutil.rmtree(d)
    print("S2 restart with %d clients' state: without sessions %.3f s, with %d "
          "detached sessions (one kept fetch reply each) %.3f s (best of 3)"
          % (n, rows[0], n, rows[1]))


if __name__ == "__main__":
    s1(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
    s2(int(sys.argv[2]) if len(sys.argv) > 2 else 2000)
