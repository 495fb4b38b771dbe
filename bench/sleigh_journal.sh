#!/bin/sh
# sleigh_journal.sh -- a sleigh's task throughput without a journal and with
# --journal at each --fsync policy, and the journal bytes each task costs.
#
#   sh bench/sleigh_journal.sh [BUILD_DIR]     (default build; N=100000 RUNS=5)
#
# One blocking eachElem of N cube tasks (bench_tasks.so, one element per
# task) on 2 local workers, against a fresh nwsserver each run; prints one
# line per run and the median tasks/s per mode.  journal_bytes is the size
# of the incremental journal after the batch: every task is journaled as
# queued, done (its result) and collected.
B=${1:-build}
N=${N:-100000}
RUNS=${RUNS:-5}
for mode in off no everysec always; do
    : >"/tmp/sjbench.$$"
    run=1
    while [ "$run" -le "$RUNS" ]; do
        d=$(mktemp -d /tmp/sjbench.XXXXXX)
        if [ "$mode" = off ]; then set --; else set -- --journal "$d/j" --fsync "$mode"; fi
        "$B/bin/nwsserver" --no-auth --port 0 --web-port 0 --log-level error "$@" >"$d/out" 2>&1 &
        pid=$!
        i=0
        while [ $i -lt 100 ] && ! grep -q ready "$d/out" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
        port=$(sed -n 's/.*ready: port=\([0-9]*\).*/\1/p' "$d/out")
        line=$(NWS_HOST=127.0.0.1 NWS_PORT=$port NWS_WORKER=$B/bin/nws-worker \
            "$B/bench/sleighbench" --module "$B/modules/bench_tasks.so" --fn cube --n "$N" \
            --workers 2 2>&1 | tail -1)
        jb=$(cat "$d"/j/incr.* 2>/dev/null | wc -c)
        echo "$mode run$run: $line journal_bytes=$jb" | tee -a "/tmp/sjbench.$$"
        kill "$pid"
        wait "$pid" 2>/dev/null
        rm -rf "$d"
        run=$((run + 1))
    done
    sed -n 's/.*tasks_per_s=\([0-9]*\).*/\1/p' "/tmp/sjbench.$$" | sort -n |
        awk -v m="$mode" '{ v[NR] = $1 } END { print "median " m ": " v[int((NR + 1) / 2)] " tasks/s" }'
done
rm -f "/tmp/sjbench.$$"
