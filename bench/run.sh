#!/bin/sh
# run.sh -- the nws benchmark run: nwsserver, and redis-server when it is
# installed, measured with bench/nwsload over 127.0.0.1.  Prints a table and
# writes bench/results.md; raw nwsload lines and logs go to bench/out/.
#
# usage: NWS_BIN_DIR=/abs/build/bin sh bench/run.sh /abs/build   (= `make bench`)
#
# Knobs (environment):
#   BENCH_SECS   measured seconds per round-trip run       (default 2)
#   BENCH_RUNS   runs per median                           (default 5)
#   BENCH_FILL   small values held for the memory figure   (default 1000000)
#   BENCH_LARGE  size of the large value                   (default 1G)
#   BENCH_LARGE_RUNS  large-value runs per median (store rate)   (default 3)
#   BENCH_CONNS  connections held for the per-connection memory (default 10000)
#   BENCH_REDIS  set to 0 to skip redis-server even if it is installed
#   (bench/tasks.sh has its own: BENCH_TASKS*, BENCH_TASK_RUNS, BENCH_CMDS,
#   BENCH_CMD_RUNS; bench/output.sh: BENCH_OUT_BYTES, BENCH_OUT_RUNS;
#   bench/transfer.sh: BENCH_XFER_RUNS, BENCH_XFER_FILES, BENCH_XFER_KIB;
#   bench/pipe.sh: BENCH_PIPE_BYTES, BENCH_PIPE_RUNS)
#
# The rows are issue 7's: 1 round trips (16 B and 1 KiB, 1/10/50/200
# connections), 2 pipelined, 3 blocking ping-pong, 4 task throughput
# (tasks.sh), 5 one large value, 6 memory, 7 the classic server's figures;
# each with our figure, the peer's, the ratio, the target and whether it is met;
# then one sleigh job's large output against GNU parallel (output.sh), and
# files to four ssh hosts and back against parallel -S --trc (transfer.sh),
# and --pipe over 1 GB of stdin against GNU parallel (pipe.sh).
#
# Every server is started here on loopback, a fresh one per group of
# measurements (so RSS figures are not polluted by the previous group), and
# stopped by its pid on exit.  The whole run takes about 7 minutes.
set -u

B=${1:?usage: sh bench/run.sh BUILD_DIR}
BIN=${NWS_BIN_DIR:-$B/bin}
SRC=$(cd "$(dirname "$0")/.." && pwd)
LOAD=$B/bench/nwsload
OUT=$SRC/bench/out
RESULTS=$SRC/bench/results.md
SECS=${BENCH_SECS:-2}
RUNS=${BENCH_RUNS:-5}
NCONNS=${BENCH_CONNS:-10000}
SIZES='16 1024'
CONCS='1 10 50 200'
PIN=0 # 1: also the pinned one-connection rows (needs taskset and 2 CPUs)
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    PIN=1
fi
FILL=${BENCH_FILL:-1000000}
LARGE=${BENCH_LARGE:-1G}
LARGE_RUNS=${BENCH_LARGE_RUNS:-3}
FAILED=0 # also: $OUT/failed exists when a run inside $(...) failed

SRV_PID='' SRV_MPID='' SRV_PORT='' SRV_DIR=''
RDS_PID='' RDS_PORT='' RDS_DIR=''

mkdir -p "$OUT" || exit 1
# 10,000 connections need as many descriptors in the servers and nwsload.
# shellcheck disable=SC3045 # dash and bash both have ulimit -n and -H
ulimit -n $((NCONNS + 1000)) 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
for f in "$BIN/nwsserver" "$LOAD"; do
    if [ ! -x "$f" ]; then
        echo "run.sh: $f is missing; run 'make' first" >&2
        exit 1
    fi
done
: >"$OUT/raw.txt"
: >"$OUT/nwsload.err"
rm -f "$OUT/failed"

# kv LINE KEY: the value of KEY=... in a line of key=value pairs.
kv() {
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# wait_gone PID: give a process 5 s to exit after SIGTERM, then SIGKILL it.
wait_gone() {
    kill "$1" 2>/dev/null
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

nws_stop() {
    if [ -n "$SRV_PID" ]; then
        wait_gone "$SRV_PID"
        SRV_PID=
    fi
    [ -n "$SRV_DIR" ] && rm -rf "$SRV_DIR"
    SRV_DIR=
}

redis_stop() {
    if [ -n "$RDS_PID" ]; then
        wait_gone "$RDS_PID"
        RDS_PID=
    fi
    [ -n "$RDS_DIR" ] && rm -rf "$RDS_DIR"
    RDS_DIR=
    RDS_PORT=
}

# shellcheck disable=SC2317 # called through the trap
cleanup() {
    nws_stop
    redis_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# nws_start: a fresh nwsserver on a free loopback port; sets SRV_PORT, SRV_PID
# and SRV_MPID.
nws_start() {
    SRV_DIR=$(mktemp -d "$OUT/nwstmp.XXXXXX") || return 1
    : >"$OUT/nwsserver.out"
    # --no-auth: nwsload speaks the classic handshake, as the classic clients
    # do (the server is on loopback for the run only).
    "$BIN/nwsserver" --bind 127.0.0.1 --port 0 --web-port 0 --tmpdir "$SRV_DIR" \
        --no-auth >"$OUT/nwsserver.out" 2>>"$OUT/nwsserver.log" &
    SRV_PID=$!
    i=0
    while [ $i -lt 100 ]; do
        line=$(grep -m 1 '^nwsserver ready:' "$OUT/nwsserver.out" 2>/dev/null)
        if [ -n "$line" ]; then
            SRV_PORT=$(kv "$line" port)
            # Memory is read from the pid the server reports (the one we
            # started, unless a wrapper runs it); we stop the one we started.
            SRV_MPID=$(kv "$line" pid)
            SRV_MPID=${SRV_MPID:-$SRV_PID}
            [ -n "$SRV_PORT" ] && return 0
            break
        fi
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    echo "run.sh: nwsserver did not start; see $OUT/nwsserver.log" >&2
    nws_stop
    return 1
}

# redis_start: a fresh redis-server on loopback, no persistence, bulk strings
# up to 2 GB (the default proto-max-bulk-len, 512 MB, would refuse the 1 GiB
# value), clients enough for the connection rows; tries a few ports.  Sets
# RDS_PORT, RDS_PID.
redis_start() {
    RDS_DIR=$(mktemp -d "$OUT/redistmp.XXXXXX") || return 1
    port=$((20000 + $$ % 20000))
    tries=0
    while [ $tries -lt 5 ]; do
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --daemonize no --dir "$RDS_DIR" --logfile "$RDS_DIR/redis.log" \
            --proto-max-bulk-len 2gb --client-query-buffer-limit 2gb \
            --maxclients $((NCONNS + 100)) \
            >/dev/null 2>>"$OUT/redis.err" &
        RDS_PID=$!
        i=0
        while [ $i -lt 100 ]; do
            if grep -q 'Ready to accept connections' "$RDS_DIR/redis.log" 2>/dev/null; then
                RDS_PORT=$port
                return 0
            fi
            kill -0 "$RDS_PID" 2>/dev/null || break
            sleep 0.1
            i=$((i + 1))
        done
        wait_gone "$RDS_PID"
        RDS_PID=
        cat "$RDS_DIR/redis.log" >>"$OUT/redis.err" 2>/dev/null
        rm -f "$RDS_DIR/redis.log"
        port=$((port + 1))
        tries=$((tries + 1))
    done
    echo "run.sh: redis-server did not start; see $OUT/redis.err" >&2
    redis_stop
    return 1
}

# once TAG ARGS...: one nwsload run (on CPU $PINCPU only, when set); prints
# its line (empty on failure).
PINCPU=''
once() {
    tag=$1
    shift
    if [ -n "$PINCPU" ]; then
        set -- taskset -c "$PINCPU" "$LOAD" "$@"
    else
        set -- "$LOAD" "$@"
    fi
    if line=$("$@" 2>>"$OUT/nwsload.err"); then
        printf '%s %s\n' "$tag" "$line" >>"$OUT/raw.txt"
        printf '%s\n' "$line"
    else
        echo "run.sh: $tag failed: $*" >&2
        [ -n "$line" ] && printf '%s FAILED %s\n' "$tag" "$line" >>"$OUT/raw.txt"
        : >"$OUT/failed"
    fi
}

# pick_median FILE KEY: the line of FILE's median run by KEY (empty if none).
pick_median() {
    awk -v k="$2" '{
            v = ""
            for (i = 1; i <= NF; i++)
                if (index($i, k "=") == 1)
                    v = substr($i, length(k) + 2)
            if (v != "")
                print v "\t" $0
        }' "$1" | sort -n |
        awk -F '\t' '{ l[NR] = $2 } END { if (NR > 0) print l[int((NR + 1) / 2)] }'
}

# median TAG KEY ARGS...: RUNS nwsload runs; prints the line of the median
# run by KEY (empty if every run failed).
median() {
    tag=$1
    key=$2
    shift 2
    : >"$OUT/$tag.runs"
    r=0
    while [ $r -lt "$RUNS" ]; do
        once "$tag" "$@" >>"$OUT/$tag.runs"
        r=$((r + 1))
    done
    pick_median "$OUT/$tag.runs" "$key"
}

# median_both TAG KEY ARGS...: RUNS runs against each server, taking turns
# (nws, redis, nws, redis, ...) so that whatever else the machine does in
# the meantime falls on both alike; sets MN and MR to the median lines
# (MR empty without redis).  Runs are logged as nws-TAG and redis-TAG.
median_both() {
    mb_tag=$1 # not $tag: once() sets that
    mb_key=$2
    shift 2
    : >"$OUT/nws-$mb_tag.runs"
    : >"$OUT/redis-$mb_tag.runs"
    mb_r=0
    while [ $mb_r -lt "$RUNS" ]; do
        once "nws-$mb_tag" --proto nws --port "$SRV_PORT" --server-pid "$SRV_MPID" "$@" \
            >>"$OUT/nws-$mb_tag.runs"
        if [ -n "$RDS_PORT" ]; then
            once "redis-$mb_tag" --proto redis --port "$RDS_PORT" --server-pid "$RDS_PID" "$@" \
                >>"$OUT/redis-$mb_tag.runs"
        fi
        mb_r=$((mb_r + 1))
    done
    MN=$(pick_median "$OUT/nws-$mb_tag.runs" "$mb_key")
    MR=$(pick_median "$OUT/redis-$mb_tag.runs" "$mb_key")
}

# The round-trip rows, with nwsserver and redis-server (when RDS_PORT is
# set) both running.  Sets <p>_RR_<size>_<conns> <p>_RR_<size>_1same
# <p>_RR_<size>_1cross <p>_PIPE <p>_PP (p = NWS or RDS).
measure_rr() {
    echo "== round trips, nwsserver and redis taking turns (median of $RUNS x ${SECS}s)" >&2
    for size in $SIZES; do
        for c in $CONCS; do
            median_both "rr-$size-$c" pairs_per_s --conns "$c" --size "$size" \
                --duration "$SECS"
            eval "NWS_RR_${size}_$c=\$MN RDS_RR_${size}_$c=\$MR"
        done
    done
    # One connection again with the servers on CPU 0 and the client on CPU 0
    # (same) or CPU 1 (cross): unpinned, the scheduler's choice decides it.
    if [ "$PIN" = 1 ] && taskset -a -p -c 0 "$SRV_MPID" >/dev/null 2>&1 &&
        { [ -z "$RDS_PORT" ] || taskset -a -p -c 0 "$RDS_PID" >/dev/null 2>&1; }; then
        for size in $SIZES; do
            for where in same:0 cross:1; do
                PINCPU=${where#*:}
                median_both "rr-$size-1${where%%:*}" pairs_per_s --conns 1 --size "$size" \
                    --duration "$SECS"
                PINCPU=''
                eval "NWS_RR_${size}_1${where%%:*}=\$MN RDS_RR_${size}_1${where%%:*}=\$MR"
            done
        done
    fi
    all="0-$(($(nproc) - 1))"
    taskset -a -p -c "$all" "$SRV_MPID" >/dev/null 2>&1
    [ -n "$RDS_PORT" ] && taskset -a -p -c "$all" "$RDS_PID" >/dev/null 2>&1
    median_both pipe16 pairs_per_s --conns 10 --pipeline 16 --size 16 --duration "$SECS"
    NWS_PIPE=$MN RDS_PIPE=$MR
    median_both pingpong roundtrips_per_s --mode pingpong --size 16 --duration "$SECS"
    NWS_PP=$MN RDS_PP=$MR
}

measure_fill() {
    proto=$1 port=$2 pid=$3 pfx=$4
    echo "== $proto: memory holding $FILL values of 16 B" >&2
    v=$(once "$proto-fill" --proto "$proto" --port "$port" --server-pid "$pid" \
        --mode fill "$FILL" --size 16)
    eval "${pfx}_FILL=\$v"
}

measure_conns() {
    proto=$1 port=$2 pid=$3 pfx=$4
    echo "== $proto: memory with $NCONNS idle, then blocked, connections" >&2
    v=$(once "$proto-conns" --proto "$proto" --port "$port" --server-pid "$pid" \
        --mode conns "$NCONNS" --blocked)
    eval "${pfx}_CONNS=\$v"
}

# warm_memory: writes and frees 3 GiB.  This VM hands freed memory back to
# its host, and the first touch of a page the host no longer backs is slow
# (a fresh 1 GiB mapping written once: 0.36 GB/s; populated up front: 3.2
# GB/s), so a large store right after other work ran at a fraction of its
# rate, for both servers.  Called before each server's large-value runs.
warm_memory() {
    python3 -c 'b = b"\x01" * (3 << 30)' 2>/dev/null || true
}

measure_large() {
    proto=$1 port=$2 pid=$3 pfx=$4
    echo "== $proto: one value of $LARGE" >&2
    warm_memory
    # The run with the median store rate is reported.
    runs_saved=$RUNS
    RUNS=$LARGE_RUNS
    v=$(median "$proto-large" store_GBps --proto "$proto" --port "$port" \
        --server-pid "$pid" --mode large "$LARGE")
    RUNS=$runs_saved
    eval "${pfx}_LARGE=\$v"
}

T0=$(date +%s)
LOADAVG0=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null)
# Results, one nwsload line each (read through eval below).
# shellcheck disable=SC2034
NWS_PIPE='' NWS_PP='' NWS_FILL='' NWS_LARGE='' NWS_CONNS=''
# shellcheck disable=SC2034
RDS_PIPE='' RDS_PP='' RDS_FILL='' RDS_LARGE='' RDS_CONNS=''
for size in $SIZES; do
    for c in $CONCS; do
        eval "NWS_RR_${size}_$c='' RDS_RR_${size}_$c='' RB_${size}_$c=''"
    done
    eval "NWS_RR_${size}_1same='' RDS_RR_${size}_1same=''"
    eval "NWS_RR_${size}_1cross='' RDS_RR_${size}_1cross=''"
done

REDIS_NOTE="redis: not installed"
HAVE_REDIS=0
if [ "${BENCH_REDIS:-1}" = 0 ]; then
    REDIS_NOTE="redis: skipped (BENCH_REDIS=0)"
elif command -v redis-server >/dev/null 2>&1; then
    REDIS_NOTE="redis: $(redis-server --version 2>/dev/null | head -n 1)"
    HAVE_REDIS=1
fi
if nws_start; then
    if [ "$HAVE_REDIS" = 1 ] && ! redis_start; then
        FAILED=1
    fi
    measure_rr
    nws_stop
    [ -n "$RDS_PID" ] && redis_stop
else
    FAILED=1
fi
if nws_start; then
    measure_fill nws "$SRV_PORT" "$SRV_MPID" NWS
    nws_stop
fi
if nws_start; then
    measure_large nws "$SRV_PORT" "$SRV_MPID" NWS
    nws_stop
fi
if nws_start; then
    measure_conns nws "$SRV_PORT" "$SRV_MPID" NWS
    nws_stop
fi

TASKS_MD=''
if [ -x "$B/bench/sleighbench" ] && [ -x "$BIN/nws-worker" ] && command -v python3 >/dev/null &&
    nws_start; then
    echo "== task throughput (sleigh vs Python pools)" >&2
    PATH=$BIN:$PATH NWS_WORKER=$BIN/nws-worker sh "$SRC/bench/tasks.sh" "$B" "$SRV_PORT" "$OUT" \
        >"$OUT/tasks.md" && TASKS_MD=$OUT/tasks.md
    nws_stop
fi

OUTPUT_MD=''
if [ -x "$B/bench/treerss" ] && [ -x "$BIN/sleigh" ] && [ -x "$BIN/nws-worker" ]; then
    echo "== one job's large output (sleigh vs GNU parallel)" >&2
    PATH=$BIN:$PATH NWS_WORKER=$BIN/nws-worker sh "$SRC/bench/output.sh" "$B" "$OUT" \
        >"$OUT/output.md" && OUTPUT_MD=$OUT/output.md
fi

TRANSFER_MD=''
if [ -x "$BIN/sleigh" ] && [ -x "$BIN/nws-worker" ]; then
    echo "== files to ssh hosts and back (sleigh --trc vs parallel -S --trc)" >&2
    sh "$SRC/bench/transfer.sh" "$BIN" "$OUT" >"$OUT/transfer.md" && TRANSFER_MD=$OUT/transfer.md
fi

PIPE_MD=''
if [ -x "$B/bench/treerss" ] && [ -x "$BIN/sleigh" ] && [ -x "$BIN/nws-worker" ]; then
    echo "== --pipe over 1 GB of stdin (sleigh vs GNU parallel)" >&2
    PATH=$BIN:$PATH NWS_WORKER=$BIN/nws-worker sh "$SRC/bench/pipe.sh" "$B" "$OUT" \
        >"$OUT/pipe.md" && PIPE_MD=$OUT/pipe.md
fi

if [ "$HAVE_REDIS" = 1 ]; then
    if redis_start; then
        measure_fill redis "$RDS_PORT" "$RDS_PID" RDS
        redis_stop
    fi
    if redis_start; then
        measure_large redis "$RDS_PORT" "$RDS_PID" RDS
        redis_stop
    fi
    if redis_start; then
        measure_conns redis "$RDS_PORT" "$RDS_PID" RDS
        redis_stop
    fi
    if command -v redis-benchmark >/dev/null 2>&1 && redis_start; then
        echo "== redis-benchmark LPUSH/RPOP" >&2
        for size in $SIZES; do
            for c in $CONCS; do
                rb=$(redis-benchmark -h 127.0.0.1 -p "$RDS_PORT" -c "$c" -n 100000 \
                    -d "$size" -t lpush,rpop -q 2>/dev/null | tr '\r' '\n' |
                    grep 'requests per second')
                printf 'redis-benchmark d=%s c=%s %s\n' "$size" "$c" \
                    "$(printf '%s' "$rb" | tr '\n' ' ')" >>"$OUT/raw.txt"
                l=$(printf '%s\n' "$rb" | sed -n 's/^LPUSH: \([0-9.]*\) requests.*/\1/p')
                r=$(printf '%s\n' "$rb" | sed -n 's/^RPOP: \([0-9.]*\) requests.*/\1/p')
                [ -n "$l" ] && [ -n "$r" ] &&
                    eval "RB_${size}_$c=\"redis-benchmark: LPUSH $l/s, RPOP $r/s\""
            done
        done
        redis_stop
    fi
fi
T1=$(date +%s)
LOADAVG1=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null)
[ -e "$OUT/failed" ] && FAILED=1

# --- the table -----------------------------------------------------------

# num LINE KEY: a field, or "-" when the run failed.
num() {
    if [ -z "$1" ]; then
        echo "-"
    else
        v=$(kv "$1" "$2")
        echo "${v:--}"
    fi
}

# ratio A B [DIGITS]: A/B, "-" if either is missing.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-";
        else printf "%.3fx\n", a / b }'
}

# spread TAG KEY [DECIMALS]: "min-max" of KEY over the runs of TAG (whole
# numbers unless DECIMALS is given).
spread() {
    awk -v k="$2" -v d="${3:-0}" '{
            for (i = 1; i <= NF; i++)
                if (index($i, k "=") == 1) {
                    v = substr($i, length(k) + 2) + 0
                    if (n == 0 || v < lo) lo = v
                    if (n == 0 || v > hi) hi = v
                    n++
                }
        } END { if (n > 0) printf "%.*f-%.*f\n", d, lo, d, hi }' "$OUT/$1.runs" 2>/dev/null
}

# fmt_rr LINE KEY TAG: "N/s (runs min-max; p50 X us, p99 Y us; server CPU Z us
# per pair)" for the median run (the CPU figure only where nwsload measured it).
fmt_rr() {
    [ -z "$1" ] && { echo "failed"; return; }
    cpu=$(kv "$1" server_cpu_us_per_pair)
    printf '%s/s (runs %s; p50 %s us, p99 %s us%s)\n' "$(kv "$1" "$2")" \
        "$(spread "$3" "$2")" "$(kv "$1" lat_p50_us)" "$(kv "$1" lat_p99_us)" \
        "${cpu:+; server CPU $cpu us/pair}"
}

# kib_mib KB: kB as MiB, one decimal.
kib_mib() {
    awk -v k="$1" 'BEGIN { if (k == "" || k < 0) print "-"; else printf "%.1f\n", k / 1024 }'
}

rdcol() {
    if [ "$HAVE_REDIS" = 1 ]; then
        echo "$1"
    else
        echo "n/a"
    fi
}

# met RATIO OP LIMIT: "met" if RATIO (a number, maybe with a trailing x) is
# >= LIMIT (OP ge) or <= LIMIT (OP le), "missed" if not, "-" if unknown.
met() {
    awk -v r="${1%x}" -v op="$2" -v m="$3" 'BEGIN {
        if (r == "-" || r == "") print "-";
        else if (op == "ge") print (r + 0 >= m ? "met" : "**missed**");
        else print (r + 0 <= m ? "met" : "**missed**") }'
}

# div A B: A/B with 2 decimals, "-" if either is missing.
div() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-";
        else printf "%.3f\n", a / b }'
}

TABLE=$OUT/table.md
{
    echo "| # | measurement | nwsserver | peer | ratio | target | met |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    for size in $SIZES; do
        for c in $CONCS; do
            eval "n=\$NWS_RR_${size}_$c r=\$RDS_RR_${size}_$c rb=\$RB_${size}_$c"
            q=$(ratio "$(num "$n" pairs_per_s)" "$(num "$r" pairs_per_s)")
            echo "| 1 | store+fetch pairs/s, $size B, $c conn. (median of $RUNS) |" \
                "$(fmt_rr "$n" pairs_per_s "nws-rr-$size-$c") |" \
                "$(rdcol "redis LPUSH+RPOP $(fmt_rr "$r" pairs_per_s "redis-rr-$size-$c"); ${rb:-redis-benchmark: -}") |" \
                "$q | nws/redis >= 1x | $(met "$q" ge 1) |"
        done
        [ "$PIN" = 1 ] || continue
        for where in "same|the same CPU" "cross|different CPUs"; do
            w=${where%%|*}
            eval "n=\$NWS_RR_${size}_1$w r=\$RDS_RR_${size}_1$w"
            q=$(ratio "$(num "$n" pairs_per_s)" "$(num "$r" pairs_per_s)")
            echo "| 1 | store+fetch pairs/s, $size B, 1 conn., server and client pinned to" \
                "${where#*|} (median of $RUNS) | $(fmt_rr "$n" pairs_per_s "nws-rr-$size-1$w") |" \
                "$(rdcol "redis LPUSH+RPOP $(fmt_rr "$r" pairs_per_s "redis-rr-$size-1$w")") |" \
                "$q | nws/redis >= 1x | $(met "$q" ge 1) |"
        done
    done
    n=$NWS_PIPE r=$RDS_PIPE
    q=$(ratio "$(num "$n" pairs_per_s)" "$(num "$r" pairs_per_s)")
    echo "| 2 | pipelined pairs/s, depth 16, 10 conn., 16 B (median of $RUNS) |" \
        "$(fmt_rr "$n" pairs_per_s nws-pipe16) | $(rdcol "redis $(fmt_rr "$r" pairs_per_s redis-pipe16)") |" \
        "$q | nws/redis >= 1x | $(met "$q" ge 1) |"
    n=$NWS_PP r=$RDS_PP
    q=$(ratio "$(num "$n" roundtrips_per_s)" "$(num "$r" roundtrips_per_s)")
    echo "| 3 | blocking ping-pong round trips/s (fetch / BLPOP+LPUSH) (median of $RUNS) |" \
        "$(fmt_rr "$n" roundtrips_per_s nws-pingpong) |" \
        "$(rdcol "redis $(fmt_rr "$r" roundtrips_per_s redis-pingpong)") |" \
        "$q | nws/redis >= 1x | $(met "$q" ge 1) |"
    echo "| 4 | task throughput | see *Task throughput* below | | | | |"
    n=$NWS_LARGE r=$RDS_LARGE
    lb=$(num "$n" loopback_GBps)
    q=$(ratio "$(num "$n" store_GBps)" "$lb")
    echo "| 5 | store one $LARGE value, GB/s (s) (the median of $LARGE_RUNS runs) | $(num "$n" store_GBps) ($(num "$n" store_s) s; runs $(spread nws-large store_GBps 2)) |" \
        "loopback copy $lb GB/s; $(rdcol "redis $(num "$r" store_GBps) GB/s ($(num "$r" store_s) s; runs $(spread redis-large store_GBps 2))") |" \
        "$q of loopback | >= 0.5x loopback | $(met "$q" ge 0.5) |"
    q=$(ratio "$(num "$n" fetch_GBps)" "$lb")
    echo "| 5 | fetch it back, GB/s (s), checksum | $(num "$n" fetch_GBps) ($(num "$n" fetch_s) s), $(num "$n" checksum) |" \
        "loopback copy $lb GB/s; $(rdcol "redis $(num "$r" fetch_GBps) GB/s ($(num "$r" fetch_s) s), $(num "$r" checksum)") |" \
        "$q of loopback | >= 0.5x loopback | $(met "$q" ge 0.5) |"
    # Growth of the server's RSS over its RSS before the store, against the
    # value size.
    grow() {
        awk -v a="$(num "$1" rss_peak_store_kb)" -v b="$(num "$1" rss_peak_fetch_kb)" \
            -v z="$(num "$1" rss_before_kb)" 'BEGIN {
            if (a == "-" || b == "-" || z == "-") { print "-"; exit }
            m = a > b ? a : b; printf "%.1f\n", (m - z) / 1024 }'
    }
    gn=$(grow "$n") gr=$(grow "$r")
    sz=$(awk -v v="$(num "$n" size)" 'BEGIN { if (v == "-") print "-"; else printf "%.1f\n", v / 1048576 }')
    q=$(div "$gn" "$sz")
    echo "| 5 | server peak RSS growth during store+fetch, MiB (peak store / fetch MiB) |" \
        "$gn ($(kib_mib "$(num "$n" rss_peak_store_kb)") / $(kib_mib "$(num "$n" rss_peak_fetch_kb)"); spooled) |" \
        "value $sz MiB; $(rdcol "redis $gr ($(kib_mib "$(num "$r" rss_peak_store_kb)") / $(kib_mib "$(num "$r" rss_peak_fetch_kb)"))") |" \
        "${q}x of value | <= 1.2x value | $(met "$q" le 1.2) |"
    n=$NWS_FILL r=$RDS_FILL
    ru=$(num "$r" used_memory_per_value)
    q=$(ratio "$(num "$n" bytes_per_value)" "$ru")
    echo "| 6 | bytes per stored 16 B value at $FILL values (RSS growth / count) |" \
        "$(num "$n" bytes_per_value) (RSS peak $(kib_mib "$(num "$n" rss_peak_kb)") MiB) |" \
        "$(rdcol "redis used_memory $ru; RSS $(num "$r" bytes_per_value) (peak $(kib_mib "$(num "$r" rss_peak_kb)") MiB)") |" \
        "$q of used_memory; $(ratio "$(num "$n" bytes_per_value)" "$(num "$r" bytes_per_value)") of RSS |" \
        "nws/redis <= 1x | $(met "$q" le 1) |"
    echo "| 6 | time to store $FILL values, pipelined by 256 (s) | $(num "$n" seconds) |" \
        "$(rdcol "redis $(num "$r" seconds)") | $(ratio "$(num "$n" seconds)" "$(num "$r" seconds)") | | |"
    n=$NWS_CONNS r=$RDS_CONNS
    ni=$(num "$n" bytes_per_idle_conn)
    echo "| 6 | server bytes per idle connection at $NCONNS (RSS growth) | $ni |" \
        "$(rdcol "redis RSS $(num "$r" bytes_per_idle_conn), used_memory $(num "$r" used_memory_per_idle_conn)") |" \
        "$(ratio "$ni" "$(num "$r" bytes_per_idle_conn)") of redis RSS | <= 8192 B | $(met "$ni" le 8192) |"
    echo "| 6 | server bytes per blocked fetcher at $NCONNS (on top of idle) | $(num "$n" bytes_per_blocked) |" \
        "$(rdcol "redis RSS $(num "$r" bytes_per_blocked), used_memory $(num "$r" used_memory_per_blocked)") |" \
        "$(ratio "$(num "$n" bytes_per_blocked)" "$(num "$r" bytes_per_blocked)") of redis RSS | (none) | |"
    n1=$(num "$NWS_RR_16_1" pairs_per_s) n10=$(num "$NWS_RR_16_10" pairs_per_s)
    echo "| 7 | classic Python/Twisted server, 1 client (not measured: its known figure) |" \
        "$n1 (16 B, 1 conn.) | about 4,400 pairs/s | $(ratio "$n1" 4400) | (none) | |"
    echo "| 7 | classic server, 8 clients (not measured: its known figure) |" \
        "$n10 (16 B, 10 conn.) | about 12,500 pairs/s | $(ratio "$n10" 12500) | (none) | |"
} >"$TABLE"

MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
MEM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
NWSV=$("$BIN/nwsserver" --version 2>&1 | head -n 1)
{
    echo "# nws benchmark results"
    echo
    echo "Written by \`make bench\` (bench/run.sh) on $(date -u '+%Y-%m-%d %H:%M UTC')," \
        "in $((T1 - T0)) s."
    echo
    echo "- machine: $(nproc) CPUs, ${MODEL:-unknown model}, $MEM RAM, Linux $(uname -r)"
    echo "- nwsserver: ${NWSV:-unknown}; libevent $(pkg-config --modversion libevent 2>/dev/null)," \
        "jansson $(pkg-config --modversion jansson 2>/dev/null); $(cc --version 2>/dev/null | head -n 1)"
    echo "- $REDIS_NOTE"
    echo "- load average (1, 5, 15 min) at the start: ${LOADAVG0:-?}; at the end:" \
        "${LOADAVG1:-?} (the run itself adds about 1-2; more means other work shared" \
        "the CPUs and the figures are polluted)"
    echo "- the load generator (bench/nwsload) runs on the same $(nproc) cores as the server:" \
        "nothing is pinned, so client and server compete for CPU. nwsload uses 1 thread" \
        "for 1 connection and 2 threads (one epoll loop each) otherwise."
    echo
    echo "## Results"
    echo
    cat "$TABLE"
    echo
    if [ -n "$TASKS_MD" ]; then
        echo "## Task throughput"
        echo
        cat "$TASKS_MD"
        echo
    fi
    if [ -n "$OUTPUT_MD" ]; then
        echo "## Large job output"
        echo
        cat "$OUTPUT_MD"
        echo
    fi
    if [ -n "$TRANSFER_MD" ]; then
        echo "## Files to remote nodes"
        echo
        cat "$TRANSFER_MD"
        echo
    fi
    if [ -n "$PIPE_MD" ]; then
        echo "## --pipe over 1 GB"
        echo
        cat "$PIPE_MD"
        echo
    fi
    echo "## Method"
    echo
    echo "- A *pair* is one store plus one fetch on the same variable (Redis: LPUSH + RPOP" \
        "on the same key), each a strict request/reply round trip; every connection has" \
        "its own variable. Pipelined: 16 stores, their 16 replies, then 16 fetches and" \
        "their replies. Latency is per pair (per batch of 16 when pipelined)."
    echo "- NWS connections use the new-style handshake with no options (no metadata), then" \
        "\`use ws\` once. Values are 16 bytes unless stated."
    echo "- Round-trip rows: median of $RUNS runs of ${SECS} s after a 0.3 s warm-up, all on" \
        "one instance of each server, both running; the two servers take turns run by run" \
        "(nws, redis, nws, ...) so that a drift of the machine falls on both alike;" \
        "\"runs\" gives the lowest and highest run. Memory and" \
        "large-value rows each use a fresh server. $RUNS runs of ${SECS} s keep the whole" \
        "\`make bench\` under 10 minutes with the 14 round-trip configurations per server" \
        "(BENCH_RUNS and BENCH_SECS change them)."
    echo "- Ratio is nws/peer, so above 1 is faster for rates and below 1 is leaner for" \
        "memory; *met* compares it with issue 7's target for the row."
    echo "- redis-benchmark's figures are its own (LPUSH and RPOP measured separately, one" \
        "command per round trip, \`-c\` connections, \`-d\` value bytes, 100,000 requests)," \
        "so they count single commands, not pairs: a pair rate from them is about" \
        "1/(1/LPUSH + 1/RPOP)."
    echo "- Connections: nwsload opens $NCONNS connections one after the other (NWS: the" \
        "handshake and \`use ws\` done), waits 0.3 s and reads the server's VmRSS; then" \
        "sends each a blocking fetch (Redis: BLPOP with no timeout) on a variable of its" \
        "own that is never stored to, and reads it again. Per connection = growth / count."
    echo "- Expect a wide spread between runs: on this VM, where the scheduler puts the" \
        "client and the server decides the figure (1 connection: about 4x between the same" \
        "vCPU and different vCPUs, for both servers). The main rows pin nothing; the" \
        "pinned one-connection rows put the server (all its threads) on CPU 0 with" \
        "\`taskset -a -p\` and the client on CPU 0 (same) or CPU 1 (different), so both" \
        "servers are compared under the same placement."
    echo "- Server CPU per pair (round-trip rows): the server's user + system time from" \
        "/proc/<pid>/stat over the measured window, divided by the pairs completed in it" \
        "(10 ms ticks). Unlike the rate, it does not depend on where the scheduler put the" \
        "client's and the server's threads, so it compares the servers' own cost."
    echo "- Memory: server VmRSS from /proc/<pid>/status (peak sampled every 10 ms while" \
        "storing); growth per value = (RSS full - RSS before) / count. Redis also reports" \
        "its own INFO used_memory."
    echo "- Large value: generated on the fly (never held whole by the client), fetched and" \
        "checksummed while being read. nwsserver spools values >= 16 MiB to its --tmpdir" \
        "(under bench/out/, same disk). GB/s = 10^9 bytes/s. $LARGE_RUNS runs on the same" \
        "server, one after the other; the one with the median store rate is shown. Before" \
        "each server's runs the harness writes and frees 3 GiB: this VM hands freed memory" \
        "back to its host and the first touch of such a page is slow (a fresh 1 GiB mapping" \
        "written once: 0.36 GB/s, populated up front: 3.2 GB/s), which made a large store" \
        "right after other work several times slower, for both servers."
    echo "- Classic Python/Twisted server (not measured here): about 4,400 pairs/s with 1" \
        "client and 12,500/s with 8 clients on this kind of 2-core machine (issue 7)."
    echo
    echo "## Raw nwsload lines"
    echo
    echo '```'
    cat "$OUT/raw.txt"
    echo '```'
} >"$RESULTS"

echo
cat "$TABLE"
[ -n "$TASKS_MD" ] && { echo; cat "$TASKS_MD"; }
[ -n "$OUTPUT_MD" ] && { echo; cat "$OUTPUT_MD"; }
[ -n "$TRANSFER_MD" ] && { echo; cat "$TRANSFER_MD"; }
[ -n "$PIPE_MD" ] && { echo; cat "$PIPE_MD"; }
echo
echo "$REDIS_NOTE"
echo "wrote $RESULTS ($((T1 - T0)) s)"
[ "$FAILED" = 0 ] || echo "run.sh: some measurements failed; see $OUT/nwsload.err" >&2
exit "$FAILED"
