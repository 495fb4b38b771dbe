#!/bin/sh
# tasks.sh -- task throughput: a sleigh of 2 local workers against Python's
# process pools with 2 processes, in the same run; and the sleigh's recovery
# from a killed worker.  Called by bench/run.sh; prints a markdown table.
#
# usage: sh bench/tasks.sh BUILD_DIR SERVER_PORT OUT_DIR
set -u
B=$1
PORT=$2
OUT=$3
SRC=$(cd "$(dirname "$0")/.." && pwd)
M=$B/modules/bench_tasks.so
SB=$B/bench/sleighbench
N=${BENCH_TASKS:-20000}
NCHUNK=${BENCH_TASKS_CHUNKED:-200000}
NSLEEP=${BENCH_TASKS_SLEEP:-2000}

export NWS_HOST=127.0.0.1 NWS_PORT="$PORT"
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
# sb ARGS: one sleighbench line (logged to OUT/raw.txt).
sb() {
    l=$("$SB" --module "$M" "$@" 2>>"$OUT/nwsload.err")
    printf 'tasks %s\n' "$l" >>"$OUT/raw.txt"
    printf '%s\n' "$l"
}

S1=$(sb --fn cube --n "$N")
SC=$(sb --fn cube --n "$NCHUNK" --chunk 1000)
SS=$(sb --fn sleep1ms --n "$NSLEEP")
SSC=$(sb --fn sleep1ms --n "$NSLEEP" --chunk 20)
SK=$(sb --kill --n 3000)
PY=$(python3 "$SRC/bench/pypool.py" "$N" "$NCHUNK" "$NSLEEP" 2>>"$OUT/nwsload.err")
printf '%s\n' "$PY" | sed 's/^/tasks /' >>"$OUT/raw.txt"
py() { printf '%s\n' "$PY" | grep "pypool $1 fn=$2 " | head -n 1; }
rate() { r=$(kv "$1" elems_per_s); echo "${r:--}"; }
x() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }'; }

echo "| workload (2 workers / 2 processes) | sleigh elements/s | peer | peer elements/s | sleigh/peer |"
echo "| --- | --- | --- | --- | --- |"
for spec in "cube unchunked|$S1|executor_chunk1|cube|ProcessPoolExecutor.map" \
    "cube unchunked|$S1|pool_chunk1|cube|Pool.map chunksize=1" \
    "cube chunked (1000 per task)|$SC|pool_default_big|cube|Pool.map default chunking" \
    "1 ms sleep unchunked|$SS|executor_chunk1|sleep1ms|ProcessPoolExecutor.map" \
    "1 ms sleep unchunked|$SS|pool_chunk1|sleep1ms|Pool.map chunksize=1" \
    "1 ms sleep chunked (20 per task)|$SSC|pool_default|sleep1ms|Pool.map default chunking"; do
    label=${spec%%|*}; rest=${spec#*|}
    line=${rest%%|*}; rest=${rest#*|}
    tag=${rest%%|*}; rest=${rest#*|}
    fn=${rest%%|*}; peer=${rest#*|}
    a=$(rate "$line")
    b=$(rate "$(py "$tag" "$fn")")
    echo "| $label | $a | $peer | $b | $(x "$a" "$b") |"
done
echo
echo "Recovery: one of 2 workers SIGKILLed during a 3000-element batch of 1 ms tasks:" \
    "full worker count again after $(kv "$SK" recovery_ms) ms; every element back exactly" \
    "once (bad=$(kv "$SK" bad)); batch time $(kv "$SK" seconds) s."
