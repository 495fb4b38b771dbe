#!/bin/sh
# sessions.sh -- what a session costs per operation (issue 15), in one run.
#
# usage: NWS_BIN_DIR=/abs/build/bin sh bench/sessions.sh /abs/build
#        (= `make bench-sessions`)
#
# Store+fetch pairs of 16 B values on ONE connection (bench/sessbench.c),
# strict request/reply (pipeline 1) and pipelined (SBENCH_DEPTH, 32), in
# configurations that take turns run by run:
#   off       nwsserver --no-sessions, a classic connection (the baseline)
#   classic   nwsserver with sessions on (the default), a classic connection
#   session   the same server, a session connection (header, kept replies)
# and, strict only, the same pairs through libnws (nws_store_bytes and
# nws_fetch: the client's part of the cost too):
#   lib-off      --no-sessions server (libnws gets no session; the baseline)
#   lib-classic  sessions on, nws_connect(NWS_CONNECT_NO_SESSION)
#   lib-session  sessions on, a session (libnws's default)
# Each row is the median of SBENCH_RUNS runs of SBENCH_SECS seconds, with
# the spread, and the ratio to its baseline; and the median CPU time per
# pair of the server (from /proc) and of the client (getrusage), which a
# loaded machine disturbs far less than the rate.  Writes its table between the
# sessions markers of bench/results.md (added at the end if absent) and to
# stdout; raw lines go to bench/out/sessions-raw.txt.
set -u

B=${1:?usage: sh bench/sessions.sh BUILD_DIR}
BIN=${NWS_BIN_DIR:-$B/bin}
SRC=$(cd "$(dirname "$0")/.." && pwd)
SB=$B/bench/sessbench
OUT=$SRC/bench/out
RESULTS=${SBENCH_RESULTS:-$SRC/bench/results.md}
SECS=${SBENCH_SECS:-3}
RUNS=${SBENCH_RUNS:-5}
DEPTH=${SBENCH_DEPTH:-32}
RAW=$OUT/sessions-raw.txt

mkdir -p "$OUT" || exit 1
: >"$RAW"
: >"$OUT/sessions-sessbench.err"
for f in "$BIN/nwsserver" "$SB"; do
    [ -x "$f" ] || { echo "sessions.sh: $f is missing; run 'make' first" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nwssbench.XXXXXX") || exit 1
PID=''

kv() {
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

stop_pid() {
    [ -n "$PID" ] || return 0
    kill "$1" "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    PID=''
}

# shellcheck disable=SC2317 # called through the trap
cleanup() {
    stop_pid -9
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start off|on: a fresh server; sets PID and PORT.
start() {
    d=$WORK/$1
    rm -rf "$d"
    mkdir -p "$d/tmp"
    set -- "$1" --bind 127.0.0.1 --port 0 --web-port 0 --no-auth --tmpdir "$d/tmp" \
        --log-level error
    [ "$1" = off ] && set -- "$@" --no-sessions
    shift
    "$BIN/nwsserver" "$@" >"$d/out" 2>>"$d/log" &
    PID=$!
    i=0
    while [ $i -lt 3000 ]; do
        line=$(grep -m 1 '^nwsserver ready:' "$d/out" 2>/dev/null)
        if [ -n "$line" ]; then
            PORT=$(kv "$line" port)
            return 0
        fi
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.01
        i=$((i + 1))
    done
    echo "sessions.sh: the server did not start; see $d" >&2
    stop_pid -9
    return 1
}

median_of() { # FILE KEY
    awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1)
        print substr($i, length(k) + 2) }' "$1" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}

spread_of() {
    awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) {
        x = substr($i, length(k) + 2) + 0; if (!n || x < lo) lo = x; if (!n || x > hi) hi = x; n++ } }
        END { if (n) printf "%d-%d", lo, hi; else printf "-" }' "$1"
}

LOAD0=$(cut -d ' ' -f 1-3 /proc/loadavg)
echo "== sessions: pairs/s on one connection, $RUNS x ${SECS}s per row and configuration" >&2
for depth in 1 "$DEPTH"; do
    CFGS='off classic session'
    [ "$depth" = 1 ] && CFGS="$CFGS lib-off lib-classic lib-session"
    for cfg in $CFGS; do : >"$OUT/s-$depth-$cfg.runs"; done
    r=0
    while [ $r -lt "$RUNS" ]; do
        for cfg in $CFGS; do
            srv=on
            case $cfg in *off) srv=off ;; esac
            start "$srv" || continue
            set --
            case $cfg in lib-*) set -- --libnws ;; esac
            case $cfg in *session) set -- "$@" --session ;; esac
            if line=$("$SB" --port "$PORT" --server-pid "$PID" --pipeline "$depth" \
                --seconds "$SECS" "$@" \
                2>>"$OUT/sessions-sessbench.err"); then
                printf '%s %s\n' "$cfg" "$line" >>"$RAW"
                printf '%s\n' "$line" >>"$OUT/s-$depth-$cfg.runs"
            else
                printf '%s FAILED\n' "$cfg" >>"$RAW"
                echo "sessions.sh: $cfg pipeline $depth failed (bench/out/sessions-sessbench.err)" >&2
            fi
            stop_pid -TERM
        done
        r=$((r + 1))
    done
done

TABLE=$WORK/table
{
    echo "<!-- sessions: begin (bench/sessions.sh) -->"
    echo "### Sessions: the cost per operation (issue 15)"
    echo
    echo "Store+fetch pairs/s of 16 B values on one connection (bench/sessbench.c,"
    echo "\`make bench-sessions\`), median of $RUNS runs of ${SECS} s (spread), configurations"
    echo "taking turns; $(date -u +%Y-%m-%d), load average at start $LOAD0, $(nproc) CPUs."
    echo
    echo "| configuration | strict pairs/s | ratio | server us/pair | client us/pair | pipelined (depth $DEPTH) pairs/s | ratio | server us/pair |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
    ratio() { # VALUE BASE
        awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2fx", a / b; else print "-" }'
    }
    base1=$(median_of "$OUT/s-1-off.runs" pairs_per_s)
    baseD=$(median_of "$OUT/s-$DEPTH-off.runs" pairs_per_s)
    baseL=$(median_of "$OUT/s-1-lib-off.runs" pairs_per_s)
    for cfg in off classic session lib-off lib-classic lib-session; do
        m1=$(median_of "$OUT/s-1-$cfg.runs" pairs_per_s)
        case $cfg in
        lib-*) r1=$(ratio "$m1" "$baseL") mD='-' sD='-' rD='-' uD='-' ;;
        *)
            r1=$(ratio "$m1" "$base1")
            mD=$(median_of "$OUT/s-$DEPTH-$cfg.runs" pairs_per_s)
            sD=$(spread_of "$OUT/s-$DEPTH-$cfg.runs" pairs_per_s)
            rD=$(ratio "$mD" "$baseD")
            uD=$(median_of "$OUT/s-$DEPTH-$cfg.runs" server_us_per_pair)
            ;;
        esac
        case $cfg in
        off) what='raw, `--no-sessions`, classic connection' ;;
        classic) what='raw, sessions on, classic connection' ;;
        session) what='raw, sessions on, session connection' ;;
        lib-off) what='libnws, `--no-sessions` server' ;;
        lib-classic) what='libnws, sessions on, `NWS_CONNECT_NO_SESSION`' ;;
        lib-session) what='libnws, sessions on, session (default)' ;;
        esac
        u1=$(median_of "$OUT/s-1-$cfg.runs" server_us_per_pair)
        c1=$(median_of "$OUT/s-1-$cfg.runs" client_us_per_pair)
        echo "| $what | $m1 ($(spread_of "$OUT/s-1-$cfg.runs" pairs_per_s)) | $r1 | $u1 | $c1 | $mD ($sD) | $rD | $uD |"
    done
    echo "<!-- sessions: end -->"
} >"$TABLE"
cat "$TABLE"
if [ -f "$RESULTS" ] && grep -q '<!-- sessions: begin' "$RESULTS"; then
    awk -v t="$TABLE" '/<!-- sessions: begin/ { while ((getline l < t) > 0) print l; skip = 1; next }
        /<!-- sessions: end/ { skip = 0; next } !skip' "$RESULTS" >"$WORK/results" &&
        cat "$WORK/results" >"$RESULTS"
else
    { echo; cat "$TABLE"; } >>"$RESULTS"
fi
