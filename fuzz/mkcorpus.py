#!/usr/bin/env python3
"""mkcorpus.py -- writes the fuzzers' seed corpora under fuzz/corpus/<harness>/.

Run from the top of the tree (python3 fuzz/mkcorpus.py) after changing a
harness's input layout (see the comment at the top of each fuzz/fuzz_*.c);
the files it writes are committed, so neither make fuzz nor make check
needs Python.  Seeds are small, valid sessions (plus the hostile frames of
tests/data/frames/invalid) that reach deep into each harness quickly.
"""
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def d4(n):
    return b"%04d" % n


def d20(n):
    return b"%020d" % n


def b(s):
    return s if isinstance(s, bytes) else s.encode()


def dict_(*pairs):
    out = d4(len(pairs))
    for k, v in pairs:
        out += d4(len(b(k))) + b(k) + d4(len(b(v))) + b(v)
    return out


def req(*args, meta=None):
    """A request; meta: None (no dictionary: old style) or a tuple of pairs."""
    out = b"" if meta is None else dict_(*meta)
    out += d4(len(args))
    for a in args:
        out += d20(len(b(a))) + b(a)
    return out


def mreq(*args, **kw):
    """A request of a connection that asked for MetadataToServer."""
    return req(*args, meta=kw.get("meta", ()))


def sreq(seq, ack, *args, **kw):
    """A request of a session connection: D20(seq) D20(ack), then mreq."""
    return d20(seq) + d20(ack) + mreq(*args, **kw)


HS_NEW = (b"X000R000" + dict_(("MetadataToServer", "1"), ("MetadataFromServer", "1")))
ADVERT = dict_(("MetadataFromServer", ""), ("MetadataToServer", ""),
               ("KillServerOnClose", ""))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def invalid_frames():
    d = os.path.join(ROOT, "tests", "data", "frames", "invalid")
    out = {}
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name, "input")
        if os.path.isfile(p):
            with open(p, "rb") as f:
                out[name] = f.read()
    return out


# ---- server: flags, then records (op = kind << 2 | slot) -------------------

class Session:
    def __init__(self, flags=8):
        self.out = bytes([flags])

    def send(self, slot, data, run=True):
        while data:
            chunk, data = data[:255], data[255:]
            kind = 0 if run and not data else 1
            self.out += bytes([kind << 2 | slot, len(chunk)]) + chunk
        return self

    def close(self, slot):
        self.out += bytes([60 << 2 | slot])
        return self

    def tick(self):
        self.out += bytes([61 << 2])
        return self

    def run(self):
        self.out += bytes([62 << 2])
        return self


def server_seeds():
    seeds = {}
    s = Session()
    s.send(0, mreq("open ws", "w", "me", "no"))
    s.send(1, mreq("use ws", "w", "", "no"))
    s.send(1, mreq("fetch", "w", "v"))
    s.send(2, mreq("use ws", "w", "", "no") + mreq("find", "w", "v"))
    s.send(0, mreq("store", "w", "v", "1", "hello") + mreq("store", "w", "v", "1", "again"))
    s.send(2, mreq("list vars", "w") + mreq("list wss"))
    s.close(0)
    seeds["fifo-across-connections"] = s.out

    s = Session()
    s.send(0, mreq("open ws", "w", "me", "yes"))
    for mode in ("fifo", "lifo", "multi", "single", "__time", "__barrier", "bogus"):
        s.send(0, mreq("declare var", "w", mode, mode))
        s.send(0, mreq("store", "w", mode, "1", "x1") + mreq("store", "w", mode, "1", "x2"))
        s.send(0, mreq("fetchTry", "w", mode) + mreq("findTry", "w", mode))
        s.send(0, mreq("ifindTry", "w", mode, " " * 20, "0"))
    s.send(0, mreq("delete var", "w", "lifo") + mreq("list vars", "w"))
    seeds["modes"] = s.out

    s = Session()
    s.send(0, mreq("open ws", "w", "me", "no"))
    s.send(1, mreq("use ws", "w", "", "no") + mreq("fetch", "w", "v"), run=False)
    s.send(2, mreq("use ws", "w", "", "no") + mreq("ifind", "w", "v", " " * 20, "0"))
    s.send(0, mreq("delete var", "w", "v"))
    s.send(1, mreq("fetch", "w", "v"))
    s.send(0, mreq("delete ws", "w"))
    s.send(1, mreq("fetchTry", "w", "v"))
    seeds["purge-under-waiters"] = s.out

    s = Session()
    s.send(0, mreq("mktemp ws", "__fz__%d") + mreq("mktemp ws", "bad%s") +
           mreq("list wss", "__fz__1") + mreq("open ws", "__fz__1", "me", "no", "no"))
    s.send(1, mreq("open ws", "nope", "me", "no", "no") + mreq("use ws", "__fz__1", "", "no"))
    s.send(1, mreq("store", "__fz__1", "v", "16777217", "bytes"))
    s.send(1, mreq("ifetch", "__fz__1", "v", " " * 20, "0"))
    seeds["mktemp-and-iterate"] = s.out

    s = Session(flags=8 | 1)  # spool values of 128 bytes or more
    s.send(0, mreq("open ws", "w", "me", "no"))
    s.send(0, mreq("store", "w", "big", "3", "z" * 600))
    s.send(1, mreq("use ws", "w", "", "no") + mreq("fetch", "w", "big") +
           mreq("find", "w", "big"))
    s.send(0, mreq("store", "w", "big", "3", "y" * 300))
    seeds["spooled-values"] = s.out

    s = Session(flags=8 | 2 | 4)  # tiny memory and value limits
    s.send(0, mreq("open ws", "w", "me", "no"))
    s.send(0, mreq("store", "w", "v", "1", "a" * 100) + mreq("store", "w", "v", "1", "b" * 60))
    s.send(0, mreq("store", "w", "v", "1", "c" * 60) + mreq("fetch", "w", "v"))
    seeds["limits"] = s.out

    s = Session()
    s.send(0, mreq("open ws", "w", "me", "no"))
    s.send(1, mreq("use ws", "w", "", "no"))
    s.send(1, mreq("store", "w", "v", "1", "x")[:30])  # half a request
    s.tick()
    s.send(0, mreq("fetch", "w", "v"))
    s.tick()
    seeds["half-request-timeout"] = s.out

    s = Session(flags=0)  # raw: the client does its own handshake
    s.send(0, b"0000" + req("open ws", "w", "me", "no") + req("store", "w", "v", "1", "x"))
    s.send(1, b"1111" + req("use ws", "w", "", "no") + req("fetch", "w", "v"))
    s.send(2, b"X000R000" + dict_(("KillServerOnClose", "1")) + req("list wss"))
    s.close(2)
    seeds["old-style-and-deadman"] = s.out

    s = Session()
    meta = (("wstype", "sleigh"), ("rankCount", "1"))
    s.send(0, mreq("open ws", "s", "master", "no", meta=meta))
    s.send(1, mreq("use ws", "s", "", "no") + mreq("fetch", "s", "worker_ids") +
           mreq("store", "s", "worker_ids", "1", "0"))
    s.send(0, mreq("store", "s", "task", "1", "t1", meta=(("batchId", "b1"),)))
    s.send(1, mreq("fetch", "s", "task"))
    s.send(0, mreq("fetch", "s", "result", meta=(("batchId", "b1"),)), run=False)
    s.send(1, mreq("store", "s", "result", "1", "r1"))
    s.send(0, mreq("find", "s", "jobStatus", meta=(("all", "1"),)) + mreq("list vars", "s"))
    seeds["sleigh-workspace"] = s.out

    s = Session()
    s.send(0, mreq("open ws", "w", "me", "no"))
    s.send(0, mreq("store", "w", "v", "1", "x") * 70)  # past the per-event budget
    s.send(1, mreq("use ws", "w", "", "no") + mreq("fetch", "w", "v") * 70)
    seeds["pipelined"] = s.out

    # Sessions (flags bit 4: every connection asks for NwsSession "new").
    s = Session(flags=8 | 16)
    s.send(0, sreq(1, 0, "open ws", "w", "me", "no") + sreq(2, 1, "store", "w", "v", "1", "a"))
    s.send(1, sreq(1, 0, "use ws", "w", "", "no") + sreq(2, 1, "fetch", "w", "v"))
    s.send(1, sreq(2, 1, "fetch", "w", "v"))  # re-sent: the kept reply again
    s.send(1, sreq(3, 2, "fetch", "w", "v"), run=False)  # parks
    s.close(1)  # detached with a parked fetch
    s.send(0, sreq(3, 2, "store", "w", "v", "1", "b") + sreq(4, 3, "list vars", "w"))
    s.tick()  # the grace timer: the detached session ends
    s.send(0, sreq(5, 4, "end session"))
    seeds["session-kept-replies"] = s.out

    s = Session(flags=8 | 16)
    s.send(0, sreq(1, 0, "open ws", "w", "me", "no"))
    s.send(0, sreq(9, 1, "store", "w", "v", "1", "gap"))  # a gap: protocol error
    s.send(1, sreq(1, 5, "use ws", "w", "", "no"))  # ack beyond last
    s.send(2, b"0000000000000000000x" + d20(0) + mreq("list wss"))  # not digits
    s.send(2, sreq(1, 0, "use ws", "w", "", "no") + sreq(1, 1, "list wss"))  # acked seq
    seeds["session-bad-headers"] = s.out

    s = Session(flags=8 | 16 | 2)  # a session near the memory limit
    s.send(0, sreq(1, 0, "open ws", "w", "me", "no"))
    for i in range(2, 12):
        s.send(0, sreq(i, 1, "store", "w", "v", "1", "x" * 300), run=False)
    s.send(0, b"".join(sreq(i, 1, "fetchTry", "w", "v") for i in range(12, 22)))
    s.close(0)
    s.tick()
    seeds["session-never-acks"] = s.out

    s = Session(flags=0)  # a resume of a session nobody has, then requests
    s.send(0, b"X000R000" + dict_(("NwsSession", "resume 0123456789abcdef " + "0" * 32)) +
           d20(1) + d20(0) + req("list wss"))
    s.send(1, b"X000R000" + dict_(("NwsSession", "resume zz")) + d20(1) + d20(0))
    s.send(2, b"X000R000" + dict_(("NwsSession", "new"), ("KillServerOnClose", "1")) +
           req("list wss"))
    seeds["session-resume-unknown"] = s.out

    for name, data in invalid_frames().items():
        s = Session(flags=0)
        s.send(0, data)
        s.close(0)
        seeds["invalid-" + name] = s.out
    return seeds


# ---- sleigh: flags, then (op = command << 2 | slot, a) pairs ---------------

def sl(*steps, flags=0):
    out = bytes([flags])
    for slot, cmd, a in steps:
        out += bytes([cmd << 2 | slot, a])
    return out


def sleigh_seeds():
    seeds = {}
    # workerCount 1, a worker registers, runs a task, the master gets the result.
    seeds["one-worker-one-task"] = sl(
        (0, 13, 2), (1, 1, 0), (1, 0, 0), (0, 3, 0), (1, 4, 0), (1, 6, 0), (0, 7, 0),
        (0, 16, 1), (0, 26, 0))
    # The master waits first; two workers; a broadcast; the group closes.
    seeds["broadcast-two-workers"] = sl(
        (0, 7, 8), (1, 0, 0), (2, 0, 1), (0, 10, 8), (1, 4, 0), (2, 4, 0), (1, 6, 0),
        (2, 6, 0), (0, 11, 4), (0, 12, 5), (0, 18, 0), (0, 18, 5), flags=0x10)
    # A worker dies running its task: it goes to another (retries) or fails.
    seeds["worker-dies"] = sl(
        (1, 0, 0), (0, 3, 0), (1, 4, 0), (1, 24, 0), (2, 0, 1), (2, 4, 0), (2, 6, 0),
        (0, 8, 0), (0, 16, 0))
    seeds["worker-dies-no-retries"] = sl(
        (1, 0, 0), (0, 3, 0), (1, 4, 0), (1, 24, 0), (0, 7, 0), (0, 16, 1), flags=0x20)
    # Sentinels and the end of the ride; timers fire.
    seeds["sentinel-ride-over"] = sl(
        (1, 1, 0), (1, 15, 0), (2, 1, 0), (2, 15, 0), (0, 25, 0), (0, 19, 0), (0, 3, 0),
        (0, 7, 0))
    seeds["join-phase-timers"] = sl(
        (0, 11, 0), (1, 12, 0), (2, 0, 3), (0, 25, 0), (0, 14, 0), (2, 0, 4), (0, 21, 0),
        (0, 20, 1), (0, 25, 0), flags=0x40)
    # Workspace and variables deleted under waiters; re-made as a sleigh.
    seeds["delete-under-waiters"] = sl(
        (1, 0, 0), (1, 4, 0), (2, 9, 0), (0, 22, 0), (0, 22, 1), (0, 23, 0), (0, 30, 0),
        (1, 0, 2), (0, 17, 0), (0, 17, 0), (0, 22, 6))
    # Spooled tasks and results, iterated reads, declared modes.
    seeds["spooled-and-odd-reads"] = sl(
        (1, 0, 0), (0, 29, 1), (1, 4, 0), (1, 29, 0), (0, 28, 2), (0, 28, 3), (0, 27, 1),
        (0, 5, 0), (0, 2, 1), (1, 5, 1), (0, 8, 1), flags=1)
    return seeds


# ---- handshake: control byte, then one side's bytes ---------------------------

def handshake_seeds():
    seeds = {
        "new-with-request": bytes([0x80]) + HS_NEW + mreq("list wss"),
        "new-split": bytes([2]) + HS_NEW + mreq("open ws", "w", "me", "no"),
        "new-no-options": bytes([0x80]) + b"X000R000" + dict_(),
        "old-greeting": bytes([0x83]) + b"0000" + req("list wss"),
        "server-accepts": bytes([0x80]) + b"P000" + ADVERT + b"A000",
        "server-accepts-kill": bytes([0xa0]) + b"P000" + ADVERT + b"A000",
        "server-web-port": bytes([0xc0]) + b"P000" + dict_(("NwsWebPort", "8766"),
                                                           ("MetadataToServer", "1")) + b"A000",
        "server-denies": bytes([0x80]) + b"P000" + ADVERT + b"F000",
        "server-old": bytes([0x80]) + b"2223",
        # Sessions: a client asking for one, split; a server granting one.
        "new-session-split": bytes([3]) + b"X000R000" + dict_(("NwsSession", "new")) +
        d20(1) + d20(0) + req("list wss"),
        "resume-unknown": bytes([0x80]) + b"X000R000" +
        dict_(("NwsSession", "resume 0123456789abcdef " + "f" * 32)) + d20(1) + d20(0),
        "server-session": bytes([0x80]) + b"P000" + dict_(
            ("MetadataToServer", ""), ("MetadataFromServer", ""), ("NwsSession", "")) +
        b"A000" + dict_(("NwsSession", "0123456789abcdef " + "0" * 32), ("NwsResumed", "0"),
                        ("NwsGrace", "60")),
    }
    for name, data in invalid_frames().items():
        if name.startswith("hs-"):
            seeds["invalid-" + name] = bytes([0x84]) + data
    return seeds


# ---- frame: control byte, then a field or dictionary --------------------------

def frame_seeds():
    return {
        "advert": b"\x00" + ADVERT,
        "options": b"\x01" + dict_(("MetadataToServer", "1"), ("MetadataFromServer", "1")),
        "empty": b"\x02" + dict_(),
        "repeated-key": b"\x00" + dict_(("batchId", "a"), ("x", ""), ("batchId", "b")),
        "small-limits": b"\x53" + dict_(("k", "v"), ("key", "value")),
        "number": b"\x00" + b"00000000000000000042",
        "signed": b"\x00" + b"-0000000000000000001",
        "padded": b"\x00" + b"  17                ",
    }


# ---- list: parser byte, then listing text ------------------------------------

def list_seeds():
    wss = (b">w\tIPv4Address(TCP, '127.0.0.1', 4000) (me)\tFalse\t2\ta,b\n"
           b" __default\t[system]\tTrue\t0\t\n")
    vars_ = b"a\t1\t0\t0\tfifo\nname\twith tab\t0\t2\t1\tsingle"
    return {
        "wss": b"\x00" + wss,
        "wss-unknown": b"\x00" + b"\n",
        "vars": b"\x01" + vars_,
        "vars-empty": b"\x01",
    }


# ---- reply: flags, count, calls, then the reply stream ----------------------

def short(status=0, meta=(), new=True):
    return (dict_(*meta) if new else b"") + d4(status)


def long_(data, status=0, desc=1, varid=b"12345678901234567890", index=0, meta=(),
          new=True, cookie=True):
    out = (dict_(*meta) if new else b"") + d4(status) + d20(desc)
    if cookie:
        out += varid.ljust(20) + d20(index)
    return out + d20(len(data)) + data


def rp(flags, calls, stream):
    return bytes([flags, len(calls) - 1]) + bytes(calls) + stream


def reply_seeds():
    wss = b">w\tme\tFalse\t1\tv\n"
    return {
        "store-fetch": rp(3, [3, 2], short() + long_(b"hello")),
        "open-list": rp(3, [5, 0, 1], short() + long_(wss) +
                        long_(b"v\t1\t0\t0\tfifo")),
        "errors": rp(3, [4, 2 | 0x20, 12], short(1, (("nwsReason", "bad mode"),)) +
                     long_(b"", status=1, desc=0, meta=(("nwsReason", "no value available"),),
                           varid=b"") + short(1)),
        "mktemp-owned": rp(3, [6 | 0x10], long_(b"__nws__1") + short()),
        "iterate": rp(3, [7 | 0x10], long_(b"a", index=1) + long_(b"b", index=2) +
                      long_(b"", status=1, desc=0)),
        "bulk": rp(3, [9 | 0x10], short() + short(1, (("nwsReason", "limit"),))),
        "fetch-fd": rp(3, [8, 13, 14], long_(b"x" * 100) + long_(b"str") +
                       long_(b"", status=1, desc=0)),
        "old-server": rp(0, [3, 2, 0], short(new=False) +
                         long_(b"v", new=False, cookie=False) +
                         long_(b"", new=False, cookie=False)),
        "too-large": rp(3 | 8, [2, 3], long_(b"y" * 40) + short()),
        "deadman-delete": rp(3, [10, 11], short() + short()),
    }


def sjson_seeds():
    """JSON texts as the sleigh's records carry them, and a few edge cases."""
    return {
        "task": b'{"f":"cube","m":"bench_tasks","a":[[1],[2],[3]],"first":0}',
        "task-args": b'{"a":[[1,"x",{"k":[true,false,null]}],[-2.5e3,""]],"n":2}',
        "result": b'[{"v":1,"i":0},{"v":[1,2],"i":1},{"e":"boom","i":2}]',
        "numbers": b'[0,-0,1,-1,123456789012345678,1234567890123456789,0.5,-1e-5,1E+20]',
        "strings": b'["plain","esc\\\"\\n\\u0041","caf\xc3\xa9","\\u0000nul"]',
        "nested": b"[" * 40 + b"1" + b"]" * 40,
        "spaces": b' \n{ "a" : [ 1 , 2 ] , "b" : { } }\t',
        "dup-keys": b'{"a":[1],"b":2,"a":[3,4]}',
        "scalar": b"42",
        "bad-tail": b'{"a":[1,2]}x',
        "bad-item": b'{"a":[1,2x]}',
        "lead-zero": b"[01]",
    }


def main():
    gens = {"server": server_seeds, "sleigh": sleigh_seeds, "handshake": handshake_seeds,
            "frame": frame_seeds, "list": list_seeds, "reply": reply_seeds,
            "sjson": sjson_seeds}
    for harness, gen in gens.items():
        d = os.path.join(OUT, harness)
        shutil.rmtree(d, ignore_errors=True)
        for name, data in gen().items():
            write(os.path.join(d, name), data)
        print("%s: %d seeds" % (harness, len(os.listdir(d))), file=sys.stderr)


if __name__ == "__main__":
    main()
