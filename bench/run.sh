#!/bin/sh
# run.sh -- the nws benchmark run: nwsserver, and redis-server when it is
# installed, measured with bench/nwsload over 127.0.0.1.  Prints a table and
# writes bench/results.md; raw nwsload lines and logs go to bench/out/.
#
# usage: NWS_BIN_DIR=/abs/build/bin sh bench/run.sh /abs/build   (= `make bench`)
#
# Knobs (environment):
#   BENCH_SECS   measured seconds per round-trip run       (default 3)
#   BENCH_RUNS   runs per median                           (default 5)
#   BENCH_FILL   small values held for the memory figure   (default 1000000)
#   BENCH_LARGE  size of the large value                   (default 1G)
#   BENCH_REDIS  set to 0 to skip redis-server even if it is installed
#
# Every server is started here on loopback, a fresh one per group of
# measurements (so RSS figures are not polluted by the previous group), and
# stopped by its pid on exit.  The whole run takes about 2-4 minutes.
set -u

B=${1:?usage: sh bench/run.sh BUILD_DIR}
BIN=${NWS_BIN_DIR:-$B/bin}
SRC=$(cd "$(dirname "$0")/.." && pwd)
LOAD=$B/bench/nwsload
OUT=$SRC/bench/out
RESULTS=$SRC/bench/results.md
SECS=${BENCH_SECS:-3}
RUNS=${BENCH_RUNS:-5}
FILL=${BENCH_FILL:-1000000}
LARGE=${BENCH_LARGE:-1G}
FAILED=0 # also: $OUT/failed exists when a run inside $(...) failed

SRV_PID='' SRV_MPID='' SRV_PORT='' SRV_DIR=''
RDS_PID='' RDS_PORT='' RDS_DIR=''

mkdir -p "$OUT" || exit 1
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
    "$BIN/nwsserver" --bind 127.0.0.1 --port 0 --web-port 0 --tmpdir "$SRV_DIR" \
        >"$OUT/nwsserver.out" 2>>"$OUT/nwsserver.log" &
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
# up to 2 GB (the 1 GiB value); tries a few ports.  Sets RDS_PORT, RDS_PID.
redis_start() {
    RDS_DIR=$(mktemp -d "$OUT/redistmp.XXXXXX") || return 1
    port=$((20000 + $$ % 20000))
    tries=0
    while [ $tries -lt 5 ]; do
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --daemonize no --dir "$RDS_DIR" --logfile "$RDS_DIR/redis.log" \
            --proto-max-bulk-len 2gb --client-query-buffer-limit 2gb \
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

# once TAG ARGS...: one nwsload run; prints its line (empty on failure).
once() {
    tag=$1
    shift
    if line=$("$LOAD" "$@" 2>>"$OUT/nwsload.err"); then
        printf '%s %s\n' "$tag" "$line" >>"$OUT/raw.txt"
        printf '%s\n' "$line"
    else
        echo "run.sh: $tag failed: nwsload $*" >&2
        [ -n "$line" ] && printf '%s FAILED %s\n' "$tag" "$line" >>"$OUT/raw.txt"
        : >"$OUT/failed"
    fi
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
    awk -v k="$key" '{
            v = ""
            for (i = 1; i <= NF; i++)
                if (index($i, k "=") == 1)
                    v = substr($i, length(k) + 2)
            if (v != "")
                print v "\t" $0
        }' "$OUT/$tag.runs" | sort -n |
        awk -F '\t' '{ l[NR] = $2 } END { if (NR > 0) print l[int((NR + 1) / 2)] }'
}

# The measurements of one server.  $1 = nws or redis; PORT and PID given.
# Sets <p>_RR1 <p>_RR50 <p>_PIPE <p>_PP <p>_FILL <p>_LARGE (p = NWS or RDS).
measure_rr() {
    proto=$1 port=$2 pfx=$3
    echo "== $proto: round trips (median of $RUNS x ${SECS}s)" >&2
    v=$(median "$proto-rr1" pairs_per_s --proto "$proto" --port "$port" --conns 1 \
        --size 16 --duration "$SECS")
    eval "${pfx}_RR1=\$v"
    v=$(median "$proto-rr50" pairs_per_s --proto "$proto" --port "$port" --conns 50 \
        --size 16 --duration "$SECS")
    eval "${pfx}_RR50=\$v"
    v=$(median "$proto-pipe16" pairs_per_s --proto "$proto" --port "$port" --conns 10 \
        --pipeline 16 --size 16 --duration "$SECS")
    eval "${pfx}_PIPE=\$v"
    v=$(median "$proto-pingpong" roundtrips_per_s --proto "$proto" --port "$port" \
        --mode pingpong --size 16 --duration "$SECS")
    eval "${pfx}_PP=\$v"
}

measure_fill() {
    proto=$1 port=$2 pid=$3 pfx=$4
    echo "== $proto: memory holding $FILL values of 16 B" >&2
    v=$(once "$proto-fill" --proto "$proto" --port "$port" --server-pid "$pid" \
        --mode fill "$FILL" --size 16)
    eval "${pfx}_FILL=\$v"
}

measure_large() {
    proto=$1 port=$2 pid=$3 pfx=$4
    echo "== $proto: one value of $LARGE" >&2
    v=$(once "$proto-large" --proto "$proto" --port "$port" --server-pid "$pid" \
        --mode large "$LARGE")
    eval "${pfx}_LARGE=\$v"
}

T0=$(date +%s)
# Results, one nwsload line each (read through eval below).
# shellcheck disable=SC2034
NWS_RR1='' NWS_RR50='' NWS_PIPE='' NWS_PP='' NWS_FILL='' NWS_LARGE=''
# shellcheck disable=SC2034
RDS_RR1='' RDS_RR50='' RDS_PIPE='' RDS_PP='' RDS_FILL='' RDS_LARGE=''

if nws_start; then
    measure_rr nws "$SRV_PORT" NWS
    nws_stop
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

TASKS_MD=''
if [ -x "$B/bench/sleighbench" ] && [ -x "$BIN/nws-worker" ] && command -v python3 >/dev/null &&
    nws_start; then
    echo "== task throughput (sleigh vs Python pools)" >&2
    PATH=$BIN:$PATH NWS_WORKER=$BIN/nws-worker sh "$SRC/bench/tasks.sh" "$B" "$SRV_PORT" "$OUT" \
        >"$OUT/tasks.md" && TASKS_MD=$OUT/tasks.md
    nws_stop
fi

REDIS_NOTE="redis: not installed"
HAVE_REDIS=0
if [ "${BENCH_REDIS:-1}" = 0 ]; then
    REDIS_NOTE="redis: skipped (BENCH_REDIS=0)"
elif command -v redis-server >/dev/null 2>&1; then
    REDIS_NOTE="redis: $(redis-server --version 2>/dev/null | head -n 1)"
    HAVE_REDIS=1
    if redis_start; then
        measure_rr redis "$RDS_PORT" RDS
        redis_stop
    else
        FAILED=1
    fi
    if redis_start; then
        measure_fill redis "$RDS_PORT" "$RDS_PID" RDS
        redis_stop
    fi
    if redis_start; then
        measure_large redis "$RDS_PORT" "$RDS_PID" RDS
        redis_stop
    fi
    RB_RR1='' RB_RR50=''
    if command -v redis-benchmark >/dev/null 2>&1 && redis_start; then
        echo "== redis-benchmark LPUSH/RPOP" >&2
        for c in 1 50; do
            rb=$(redis-benchmark -h 127.0.0.1 -p "$RDS_PORT" -c "$c" -n 200000 -d 16 \
                -t lpush,rpop -q 2>/dev/null | tr '\r' '\n' | grep 'requests per second')
            printf 'redis-benchmark c=%s %s\n' "$c" "$(printf '%s' "$rb" | tr '\n' ' ')" \
                >>"$OUT/raw.txt"
            l=$(printf '%s\n' "$rb" | sed -n 's/^LPUSH: \([0-9.]*\) requests.*/\1/p')
            r=$(printf '%s\n' "$rb" | sed -n 's/^RPOP: \([0-9.]*\) requests.*/\1/p')
            [ -n "$l" ] && [ -n "$r" ] &&
                eval "RB_RR$c=\"LPUSH $l/s, RPOP $r/s\""
        done
        redis_stop
    fi
fi
T1=$(date +%s)
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
        else printf "%.2fx\n", a / b }'
}

# spread TAG KEY: "min-max" of KEY over the runs of TAG.
spread() {
    awk -v k="$2" '{
            for (i = 1; i <= NF; i++)
                if (index($i, k "=") == 1) {
                    v = substr($i, length(k) + 2) + 0
                    if (n == 0 || v < lo) lo = v
                    if (n == 0 || v > hi) hi = v
                    n++
                }
        } END { if (n > 0) printf "%d-%d\n", lo, hi }' "$OUT/$1.runs" 2>/dev/null
}

# fmt_rr LINE KEY TAG: "N/s (runs: min-max; median run: p50 X us, p99 Y us)".
fmt_rr() {
    [ -z "$1" ] && { echo "failed"; return; }
    printf '%s/s (runs %s; p50 %s us, p99 %s us)\n' "$(kv "$1" "$2")" \
        "$(spread "$3" "$2")" "$(kv "$1" lat_p50_us)" "$(kv "$1" lat_p99_us)"
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

TABLE=$OUT/table.md
{
    echo "| measurement | nwsserver | redis-server | nws/redis |"
    echo "| --- | --- | --- | --- |"
    for spec in "RR1|rr1|store+fetch pairs/s, 16 B, 1 connection|pairs_per_s" \
        "RR50|rr50|store+fetch pairs/s, 16 B, 50 connections|pairs_per_s" \
        "PIPE|pipe16|pipelined pairs/s, depth 16, 10 connections, 16 B|pairs_per_s" \
        "PP|pingpong|blocking ping-pong round trips/s (fetch / BLPOP)|roundtrips_per_s"; do
        var=${spec%%|*}
        rest=${spec#*|}
        tag=${rest%%|*}
        rest=${rest#*|}
        label=${rest%%|*}
        key=${rest#*|}
        eval "n=\$NWS_$var r=\$RDS_$var"
        echo "| $label (median of $RUNS) | $(fmt_rr "$n" "$key" "nws-$tag") |" \
            "$(rdcol "$(fmt_rr "$r" "$key" "redis-$tag")") |" \
            "$(ratio "$(num "$n" "$key")" "$(num "$r" "$key")") |"
    done
    n=$NWS_FILL r=$RDS_FILL
    echo "| server RSS holding $FILL x 16 B values, peak (MiB) |" \
        "$(kib_mib "$(num "$n" rss_peak_kb)") | $(rdcol "$(kib_mib "$(num "$r" rss_peak_kb)")") |" \
        "$(ratio "$(num "$n" rss_peak_kb)" "$(num "$r" rss_peak_kb)") |"
    echo "| RSS growth per stored value (bytes) | $(num "$n" bytes_per_value) |" \
        "$(rdcol "$(num "$r" bytes_per_value) (used_memory: $(num "$r" used_memory_per_value))") |" \
        "$(ratio "$(num "$n" bytes_per_value)" "$(num "$r" bytes_per_value)") |"
    echo "| time to store $FILL values, pipelined by 256 (s) | $(num "$n" seconds) |" \
        "$(rdcol "$(num "$r" seconds)") | $(ratio "$(num "$n" seconds)" "$(num "$r" seconds)") |"
    n=$NWS_LARGE r=$RDS_LARGE
    echo "| store one $LARGE value: s (GB/s) | $(num "$n" store_s) ($(num "$n" store_GBps)) |" \
        "$(rdcol "$(num "$r" store_s) ($(num "$r" store_GBps))") |" \
        "$(ratio "$(num "$n" store_GBps)" "$(num "$r" store_GBps)") |"
    echo "| fetch it back: s (GB/s), checksum | $(num "$n" fetch_s) ($(num "$n" fetch_GBps)), $(num "$n" checksum) |" \
        "$(rdcol "$(num "$r" fetch_s) ($(num "$r" fetch_GBps)), $(num "$r" checksum)") |" \
        "$(ratio "$(num "$n" fetch_GBps)" "$(num "$r" fetch_GBps)") |"
    echo "| server peak RSS during store / fetch (MiB) |" \
        "$(kib_mib "$(num "$n" rss_peak_store_kb)") / $(kib_mib "$(num "$n" rss_peak_fetch_kb)") |" \
        "$(rdcol "$(kib_mib "$(num "$r" rss_peak_store_kb)") / $(kib_mib "$(num "$r" rss_peak_fetch_kb)")") | |"
    echo "| plain loopback socket copy of $LARGE, same process (GB/s) | $(num "$n" loopback_GBps) |" \
        "$(rdcol "$(num "$r" loopback_GBps)") | |"
    if [ "$HAVE_REDIS" = 1 ]; then
        echo "| redis-benchmark -d 16 -c 1 / -c 50 (its own figures) | |" \
            "${RB_RR1:--} / ${RB_RR50:--} | |"
    fi
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
    echo "## Method"
    echo
    echo "- A *pair* is one store plus one fetch on the same variable (Redis: LPUSH + RPOP" \
        "on the same key), each a strict request/reply round trip; every connection has" \
        "its own variable. Pipelined: 16 stores, their 16 replies, then 16 fetches and" \
        "their replies. Latency is per pair (per batch of 16 when pipelined)."
    echo "- NWS connections use the new-style handshake with no options (no metadata), then" \
        "\`use ws\` once. Values are 16 bytes unless stated."
    echo "- Round-trip rows: median of $RUNS runs of ${SECS} s after a 0.3 s warm-up, all on" \
        "one server instance; \"runs\" gives the lowest and highest run. Memory and" \
        "large-value rows each use a fresh server."
    echo "- Expect a wide spread between runs: on this VM, where the scheduler puts the" \
        "client and the server decides the figure. Pinned by hand with taskset while" \
        "writing this harness: 1 connection, same vCPU about 27,000 pairs/s, different" \
        "vCPUs about 6,500; 50 connections, the other way round (about 32,000 vs 55,000)." \
        "The harness pins nothing."
    echo "- Memory: server VmRSS from /proc/<pid>/status (peak sampled every 10 ms while" \
        "storing); growth per value = (RSS full - RSS before) / count. Redis also reports" \
        "its own INFO used_memory."
    echo "- Large value: generated on the fly (never held whole by the client), fetched and" \
        "checksummed while being read. nwsserver spools values >= 16 MiB to its --tmpdir" \
        "(under bench/out/, same disk). GB/s = 10^9 bytes/s."
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
echo
echo "$REDIS_NOTE"
echo "wrote $RESULTS ($((T1 - T0)) s)"
[ "$FAILED" = 0 ] || echo "run.sh: some measurements failed; see $OUT/nwsload.err" >&2
exit "$FAILED"
