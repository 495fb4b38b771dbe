#!/bin/sh
# restart.sh -- what a server restart costs a running batch (issue 15).
#
#   sh bench/restart.sh [BUILD_DIR]     (default build; RUNS=3 RESTART_ELEMS=2000
#                                        RESTART_KILLS=3 CASES="restart_cli restart_api")
#
# Runs the headline tests of tests/check_sleigh_restart.c RUNS times: a
# batch of RESTART_ELEMS elements on 4 workers, through the sleigh command
# (-k) and through the C API, against nwsserver --journal --fsync everysec
# killed -9 RESTART_KILLS times during the run and started again on the same
# port and DIR after 0.5 to 2 s.  Per run and restart it prints the time the
# server was down and the time lost (from the kill until an element started
# again after the restart); per run, the elements run twice (tasks running
# or held by a worker when the server died, run again) and the results
# duplicated (results the master was given twice: must be 0).  Then the
# mean time lost per restart and the sums, per path.
B=${1:-build}
RUNS=${RUNS:-3}
CASES=${CASES:-restart_cli restart_api}
out=$(mktemp /tmp/restartbench.XXXXXX)
run=1
while [ "$run" -le "$RUNS" ]; do
    for c in $CASES; do
        NWS_BIN_DIR=$(cd "$B/bin" && pwd) NWS_MODULES_DIR=$(cd "$B/modules" && pwd) \
            CK_RUN_SUITE=sleigh_restart CK_RUN_CASE=$c CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-3} \
            "$B/tests/check_nws" 2>&1 | grep -E '_rides_through: |Checks|:F:|:E:' |
            sed "s/^/run$run /" | tee -a "$out"
    done
    run=$((run + 1))
done
for t in cli_rides_through api_rides_through; do
    grep "$t: restart" "$out" | sed -n 's/.*time lost \([0-9.]*\) s.*/\1/p' |
        awk -v t="$t" '{ s += $1; n++; if ($1 > m) m = $1 }
            END { if (n) printf "%s: %d restarts, time lost per restart: mean %.2f s, max %.2f s\n", t, n, s / n, m }'
    grep "$t: .*elements run twice" "$out" |
        sed -n 's/.*elements run twice \([0-9]*\); results duplicated \([0-9]*\).*/\1 \2/p' |
        awk -v t="$t" '{ a += $1; b += $2; n++ }
            END { if (n) printf "%s: %d runs, elements run twice: %d in all (%.1f per run), results duplicated: %d\n", t, n, a, a / n, b }'
done
if grep -q -E ':F:|:E:' "$out"; then
    rm -f "$out"
    exit 1
fi
rm -f "$out"
