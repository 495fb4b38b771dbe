#!/bin/sh
# journal.sh -- the durability rows of the benchmark (issue 14): nwsserver
# with --journal (--fsync everysec, always) and without, against
# redis-server with appendonly yes (appendfsync everysec, always) and without,
# on the same disk (a directory under /var/tmp), in the same run.
#
# usage: NWS_BIN_DIR=/abs/build/bin sh bench/journal.sh /abs/build
#        (= `make bench-journal`; `make bench` runs it after run.sh)
#
# Rows:
#   J1  store+fetch pairs/s, 16 B: 1 connection, 50 connections, and
#       pipelined depth 16 on 10 connections (nwsload rr, as run.sh's rows 1
#       and 2), per configuration; the median of JBENCH_RUNS runs of
#       JBENCH_SECS seconds, configurations taking turns run by run.
#   J2  restart time after a SIGKILL holding JBENCH_FILL values of 16 B
#       (nwsload fill --keep), and holding one JBENCH_LARGE value (nwsload
#       large --keep): from exec to the ready line (nwsserver) or to "Ready to
#       accept connections" (redis-server, loading its AOF); then the data is
#       checked there (the large value fetched and its digest compared).
#   J3  journal bytes per stored 16 B value: the journal DIR's size after
#       the fill over the count, against Redis's appendonlydir.
#
# Knobs: JBENCH_ROWS ("J1 J2 J4": which to run; J3 comes with J2),
# JBENCH_SECS (2), JBENCH_RUNS (3), JBENCH_FILL (1000000),
# JBENCH_LARGE (1G), JBENCH_DIR (/var/tmp: where journals and AOFs go).
# Writes its table between the journal markers of bench/results.md (added
# at the end if absent); raw lines go to bench/out/journal-raw.txt.
set -u

B=${1:?usage: sh bench/journal.sh BUILD_DIR}
BIN=${NWS_BIN_DIR:-$B/bin}
SRC=$(cd "$(dirname "$0")/.." && pwd)
LOAD=$B/bench/nwsload
OUT=$SRC/bench/out
RESULTS=${JBENCH_RESULTS:-$SRC/bench/results.md}
SECS=${JBENCH_SECS:-2}
RUNS=${JBENCH_RUNS:-3}
FILL=${JBENCH_FILL:-1000000}
LARGE=${JBENCH_LARGE:-1G}
DISK=${JBENCH_DIR:-/var/tmp}
RAW=$OUT/journal-raw.txt
ROWS_RUN=${JBENCH_ROWS:-J1 J2 J4}
want() {
    case " $ROWS_RUN " in *" $1 "*) return 0 ;; esac
    return 1
}

mkdir -p "$OUT" || exit 1
: >"$RAW"
for f in "$BIN/nwsserver" "$LOAD"; do
    [ -x "$f" ] || { echo "journal.sh: $f is missing; run 'make' first" >&2; exit 1; }
done
command -v redis-server >/dev/null 2>&1 || { echo "journal.sh: redis-server missing" >&2; exit 1; }
WORK=$(mktemp -d "$DISK/nwsjbench.XXXXXX") || exit 1
PID=''

kv() {
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

now() {
    date +%s.%N
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

# start CFG [fresh]: start the server of configuration CFG (nws-none,
# nws-everysec, nws-always, redis-none, redis-everysec, redis-always) on its
# directory $WORK/CFG (emptied first with "fresh"); sets PID, PORT and
# START_S (seconds from exec to ready).
start() {
    cfg=$1
    d=$WORK/$cfg
    [ "${2:-}" = fresh ] && rm -rf "$d"
    mkdir -p "$d/tmp" && chmod 700 "$d"
    t0=$(now)
    case $cfg in
    nws-*)
        pol=${cfg#nws-}
        set -- --bind 127.0.0.1 --port 0 --web-port 0 --no-auth --tmpdir "$d/tmp"
        [ "$pol" != none ] && set -- "$@" --journal "$d/journal" --fsync "$pol"
        : >"$d/out"
        "$BIN/nwsserver" "$@" >"$d/out" 2>>"$d/log" &
        PID=$!
        i=0
        while [ $i -lt 6000 ]; do
            line=$(grep -m 1 '^nwsserver ready:' "$d/out" 2>/dev/null)
            if [ -n "$line" ]; then
                START_S=$(echo "$(now) $t0" | awk '{ printf "%.3f", $1 - $2 }')
                PORT=$(kv "$line" port)
                return 0
            fi
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.01
            i=$((i + 1))
        done
        ;;
    redis-*)
        pol=${cfg#redis-}
        PORT=$((21000 + $$ % 20000))
        if [ "$pol" = none ]; then
            set -- --appendonly no
        else
            set -- --appendonly yes --appendfsync "$pol"
        fi
        : >"$d/redis.log"
        redis-server --bind 127.0.0.1 --port "$PORT" --save '' "$@" --daemonize no \
            --dir "$d" --logfile "$d/redis.log" --proto-max-bulk-len 2gb \
            --client-query-buffer-limit 2gb >/dev/null 2>&1 &
        PID=$!
        i=0
        while [ $i -lt 6000 ]; do
            if grep -q 'Ready to accept connections' "$d/redis.log" 2>/dev/null; then
                START_S=$(echo "$(now) $t0" | awk '{ printf "%.3f", $1 - $2 }')
                return 0
            fi
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.01
            i=$((i + 1))
        done
        ;;
    esac
    echo "journal.sh: $cfg did not start; see $d" >&2
    stop_pid -9
    return 1
}

proto() {
    case $1 in nws-*) echo nws ;; *) echo redis ;; esac
}

load() {
    tag=$1
    shift
    if line=$("$LOAD" "$@" 2>>"$OUT/journal-nwsload.err"); then
        printf '%s %s\n' "$tag" "$line" >>"$RAW"
        printf '%s\n' "$line"
    else
        printf '%s FAILED %s\n' "$tag" "$line" >>"$RAW"
        echo "journal.sh: $tag failed" >&2
    fi
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

CFGS='nws-none nws-everysec nws-always redis-none redis-everysec redis-always'
ROWS='c1:--conns:1 c50:--conns:50 p16:--conns:10:--pipeline:16'
T0=$(date +%s)
LOAD0=$(cut -d ' ' -f 1-3 /proc/loadavg)

# J1: each configuration on its own fresh server; runs take turns.
want J1 && echo "== journal J1: pairs/s, ${RUNS} x ${SECS}s per row and configuration" >&2
want J1 || ROWS=''
for row in $ROWS; do
    name=${row%%:*}
    args=$(echo "${row#*:}" | tr ':' ' ')
    for cfg in $CFGS; do : >"$OUT/j-$name-$cfg.runs"; done
    r=0
    while [ $r -lt "$RUNS" ]; do
        for cfg in $CFGS; do
            start "$cfg" fresh || continue
            # shellcheck disable=SC2086 # args is a word list
            load "j-$name-$cfg" --proto "$(proto "$cfg")" --port "$PORT" --server-pid "$PID" \
                $args --size 16 --duration "$SECS" >>"$OUT/j-$name-$cfg.runs"
            stop_pid -TERM
        done
        r=$((r + 1))
    done
done

# J2 + J3: fill, SIGKILL, restart; then the large value.
echo "== journal J2/J3: restart with $FILL values, with one $LARGE value" >&2
J2CFGS='nws-everysec nws-always redis-everysec redis-always'
want J2 || J2CFGS=''
for cfg in $J2CFGS; do
    p=$(proto "$cfg")
    key=$(echo "$cfg" | tr '-' '_')
    start "$cfg" fresh || continue
    line=$(load "j-fill-$cfg" --proto "$p" --port "$PORT" --server-pid "$PID" --mode fill "$FILL" \
        --size 16 --keep)
    eval "FILL_S_$key=\$(kv \"\$line\" seconds)"
    sleep 2 # everysec: the last second on disk too
    stop_pid -9
    if [ "$p" = nws ]; then
        bytes=$(du -sb "$WORK/$cfg/journal" | cut -f 1)
    else
        bytes=$(du -sb "$WORK/$cfg/appendonlydir" | cut -f 1)
    fi
    eval "BYTES_$key=\$bytes"
    start "$cfg" && eval "RESTART_SMALL_$key=\$START_S"
    # The values are there again: count them (the number of the vars
    # listing, or LLEN).
    if [ "$p" = nws ]; then
        have=$("$BIN/nws" -p "$PORT" -t 60 vars nwsload 2>/dev/null |
            awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) { s += $i; break } } END { print s + 0 }')
    else
        have=$(redis-cli -p "$PORT" LLEN "$(redis-cli -p "$PORT" --scan | head -n 1)" 2>/dev/null)
    fi
    eval "HAVE_$key=\$have"
    printf '%s restart-small seconds=%s journal_bytes=%s values_there=%s\n' "$cfg" \
        "$START_S" "$bytes" "$have" >>"$RAW"
    stop_pid -TERM

    start "$cfg" fresh || continue
    python3 -c 'b = b"\x01" * (3 << 30)' 2>/dev/null || true # see run.sh: warm_memory
    kl=$(load "j-large-$cfg" --proto "$p" --port "$PORT" --server-pid "$PID" --mode large "$LARGE" \
        --keep --no-loopback)
    sleep 2
    stop_pid -9
    start "$cfg" && eval "RESTART_LARGE_$key=\$START_S"
    fl=$(load "j-largeback-$cfg" --proto "$p" --port "$PORT" --server-pid "$PID" --mode large \
        "$LARGE" --fetch-only --no-loopback)
    ok=no
    [ -n "$kl" ] && [ -n "$fl" ] && [ "$(kv "$kl" digest)" = "$(kv "$fl" fetch_digest)" ] && ok=yes
    eval "LARGE_OK_$key=\$ok LARGE_STORE_$key=\$(kv \"\$kl\" store_s)"
    printf '%s restart-large seconds=%s intact=%s\n' "$cfg" "$START_S" "$ok" >>"$RAW"
    stop_pid -TERM
done
# J4: what a machine crash could take with everysec: the gaps between the
# server's fsyncs under load, seen from outside with strace (only fsync and
# fdatasync are stopped, through seccomp-bpf), 50 connections for 5 s.  An
# acknowledged write is on disk at the end of the first fsync that starts
# after it, so the window is at most the longest gap plus that fsync.
echo "== journal J4: fsync gaps under load (strace)" >&2
for cfg in nws-everysec redis-everysec nws-always redis-always; do
    key=$(echo "$cfg" | tr '-' '_')
    want J4 || break
    command -v strace >/dev/null 2>&1 || break
    start "$cfg" fresh || continue
    strace -f --seccomp-bpf -e trace=fsync,fdatasync -ttt -T -p "$PID" -o "$OUT/j-strace-$cfg" \
        2>/dev/null &
    SPID=$!
    sleep 0.5
    load "j-fsync-$cfg" --proto "$(proto "$cfg")" --port "$PORT" --conns 50 --size 16 \
        --duration 5 >/dev/null
    kill "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
    g=$(grep -h -E 'f(data)?sync\(' "$OUT"/j-strace-"$cfg"* 2>/dev/null |
        sed -n -E 's/^([0-9]+ +)?([0-9]+[.][0-9]+) .*<([0-9.]+)>$/\2 \3/p' | sort -n |
        awk 'NR > 1 { gap = $1 - prev; if (gap > max) max = gap; n++ }
             { prev = $1; if ($2 > maxd) maxd = $2 }
             END { if (n) printf "%.3f s longest gap, %d fsyncs in 5 s, longest fsync %.3f s", max, n + 1, maxd;
                   else print "no fsync seen" }')
    eval "GAP_$key=\$g"
    printf '%s fsync-gaps %s\n' "$cfg" "$g" >>"$RAW"
    stop_pid -TERM
done
T1=$(date +%s)
LOAD1=$(cut -d ' ' -f 1-3 /proc/loadavg)

# --- the table ----------------------------------------------------------
val() { eval "printf '%s' \"\${$1:--}\""; }
row_cells() { # NAME: one cell per configuration "median/s (runs lo-hi)"
    for cfg in $CFGS; do
        f=$OUT/j-$1-$cfg.runs
        printf ' %s/s (%s) |' "$(median_of "$f" pairs_per_s)" "$(spread_of "$f" pairs_per_s)"
    done
}
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-";
        else printf "%.3f", a / b }'
}
{
    echo '<!-- journal: begin (bench/journal.sh) -->'
    echo
    echo '## Durability: the journal against Redis AOF (issue 14)'
    echo
    echo "Written by \`make bench-journal\` (bench/journal.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'), in $((T1 - T0)) s; load average $LOAD0 at the start, $LOAD1 at the end."
    echo "Journals and AOFs on the same disk ($DISK, $(df -P "$DISK" | awk 'NR == 2 { print $1 }')); $(redis-server --version | cut -d ' ' -f 1-3); nwsload on the same 2 CPUs."
    echo
    echo '| row | nws, no journal | nws --fsync everysec | nws --fsync always | redis, no AOF | redis AOF everysec | redis AOF always |'
    echo '| --- | --- | --- | --- | --- | --- | --- |'
    printf '| J1 pairs/s, 16 B, 1 conn. (median of %s x %ss) |%s\n' "$RUNS" "$SECS" "$(row_cells c1)"
    printf '| J1 pairs/s, 16 B, 50 conn. |%s\n' "$(row_cells c50)"
    printf '| J1 pairs/s, 16 B, pipelined depth 16, 10 conn. |%s\n' "$(row_cells p16)"
    echo
    echo '| row | nws everysec | nws always | redis everysec | redis always |'
    echo '| --- | --- | --- | --- | --- |'
    printf '| J2 restart after SIGKILL holding %s values of 16 B, s (values there after it) | %s (%s) | %s (%s) | %s (%s) | %s (%s) |\n' "$FILL" \
        "$(val RESTART_SMALL_nws_everysec)" "$(val HAVE_nws_everysec)" \
        "$(val RESTART_SMALL_nws_always)" "$(val HAVE_nws_always)" \
        "$(val RESTART_SMALL_redis_everysec)" "$(val HAVE_redis_everysec)" \
        "$(val RESTART_SMALL_redis_always)" "$(val HAVE_redis_always)"
    printf '| J2 restart after SIGKILL holding one %s value, s (value intact) | %s (%s) | %s (%s) | %s (%s) | %s (%s) |\n' \
        "$LARGE" "$(val RESTART_LARGE_nws_everysec)" "$(val LARGE_OK_nws_everysec)" \
        "$(val RESTART_LARGE_nws_always)" "$(val LARGE_OK_nws_always)" \
        "$(val RESTART_LARGE_redis_everysec)" "$(val LARGE_OK_redis_everysec)" \
        "$(val RESTART_LARGE_redis_always)" "$(val LARGE_OK_redis_always)"
    printf '| J2 storing the %s value (with its durability), s | %s | %s | %s | %s |\n' "$LARGE" \
        "$(val LARGE_STORE_nws_everysec)" "$(val LARGE_STORE_nws_always)" \
        "$(val LARGE_STORE_redis_everysec)" "$(val LARGE_STORE_redis_always)"
    printf '| J3 journal / AOF bytes per stored 16 B value | %s | %s | %s | %s |\n' \
        "$(ratio "$(val BYTES_nws_everysec)" "$FILL")" "$(ratio "$(val BYTES_nws_always)" "$FILL")" \
        "$(ratio "$(val BYTES_redis_everysec)" "$FILL")" "$(ratio "$(val BYTES_redis_always)" "$FILL")"
    printf '| J3 time to store %s values pipelined by 256, s | %s | %s | %s | %s |\n' "$FILL" \
        "$(val FILL_S_nws_everysec)" "$(val FILL_S_nws_always)" \
        "$(val FILL_S_redis_everysec)" "$(val FILL_S_redis_always)"
    printf '| J4 fsync gaps under load (50 conn., 5 s, strace) | %s | %s | %s | %s |\n' \
        "$(val GAP_nws_everysec)" "$(val GAP_nws_always)" "$(val GAP_redis_everysec)" \
        "$(val GAP_redis_always)"
    echo
    echo '- J1: every run on a fresh server (a fresh journal / AOF); one store (LPUSH) then one fetch (RPOP) per pair, as row 1 of run.sh; ratios to read: nws everysec / nws no journal (target >= 0.9), nws everysec / redis everysec and nws always / redis always (target >= 1).'
    echo '- J2: restart = exec to the ready line; the server was SIGKILLed 2 s after the last acknowledged store (so everysec had synced). Redis loads its multi-part AOF (base + incr in appendonlydir); no rewrite had run. The large value is fetched back after the restart and its digest compared with the stored one.'
    echo '- J4: a machine crash (not a process crash: the page cache survives that) loses what was acknowledged after the start of the last fsync that completed; the longest gap between two fsyncs bounds that window.'
    echo '- J3: du -sb of the journal DIR (nws) or appendonlydir (redis) after the fill, over the count.'
    echo
    echo '<!-- journal: end -->'
} >"$OUT/journal.md"
cat "$OUT/journal.md"
if grep -q '<!-- journal: begin' "$RESULTS" 2>/dev/null; then
    awk -v f="$OUT/journal.md" '
        /<!-- journal: begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /<!-- journal: end -->/ { skip = 0; next }
        !skip { print }' "$RESULTS" >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"
else
    { echo; cat "$OUT/journal.md"; } >>"$RESULTS"
fi
