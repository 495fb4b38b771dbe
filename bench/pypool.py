"""Task throughput of Python's process pools, the peers of the sleigh rows.

    python3 bench/pypool.py N NCHUNKED NSLEEP

Prints one line per configuration: the same trivial function (cube) and a
1 ms sleep as bench/modules/bench_tasks.c, with 2 processes, as
ProcessPoolExecutor.map (chunksize 1) and multiprocessing.Pool.map with
chunksize 1 and with its default chunking (over NCHUNKED elements for cube,
as the chunked sleigh row).
"""
import concurrent.futures
import multiprocessing
import sys
import time


def cube(x):
    return x * x * x


def sleep1ms(x):
    time.sleep(0.001)
    return x


def timed(label, fn, n, run):
    t0 = time.perf_counter()
    out = run(fn, range(n))
    dt = time.perf_counter() - t0
    ok = out == [fn(i) if fn is cube else i for i in range(n)]
    print("pypool %s fn=%s n=%d seconds=%.3f elems_per_s=%.0f ok=%s"
          % (label, fn.__name__, n, dt, n / dt, ok), flush=True)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    nbig = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    nsleep = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    for fn, count in ((cube, n), (sleep1ms, nsleep)):
        with concurrent.futures.ProcessPoolExecutor(2) as ex:
            timed("executor_chunk1", fn, count, lambda f, xs: list(ex.map(f, xs)))
        with multiprocessing.Pool(2) as pool:
            timed("pool_chunk1", fn, count, lambda f, xs: pool.map(f, xs, chunksize=1))
            timed("pool_default", fn, count, lambda f, xs: pool.map(f, xs))
    with multiprocessing.Pool(2) as pool:
        timed("pool_default_big", cube, nbig, lambda f, xs: pool.map(f, xs))


if __name__ == "__main__":
    main()
