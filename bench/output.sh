#!/bin/sh
# output.sh -- one job with a large output: the sleigh command against GNU
# parallel, wall time and peak resident memory of the whole run (the tool,
# and for sleigh its private server and worker, and the job), measured by
# bench/treerss.  Called by bench/run.sh; prints a markdown table.  Runs
# alone too (no server needed: each sleigh run starts its own, as a user's
# first run does):
#
#   PATH=build/bin:$PATH sh bench/output.sh build bench/out
#
# Knobs: BENCH_OUT_BYTES (size of each output, default 30000000),
# BENCH_OUT_RUNS (runs per median, default 3).
#
# Rows: 30 MB of text (a file of numbers, cat), and 30 MB of NUL bytes
# (head -c from /dev/zero), each run as `TOOL -j 1 CMD ::: ARG > FILE`.
set -u
B=$1
OUT=$2
BYTES=${BENCH_OUT_BYTES:-30000000}
RUNS=${BENCH_OUT_RUNS:-3}
TR=$B/bench/treerss

# A private server for every sleigh run: nothing answers on port 1.
unset NWS_HOST
export NWS_PORT=1
mkdir -p "$OUT" || exit 1
seq 1 $((BYTES / 6 + 1000)) | head -c "$BYTES" >"$OUT/text.in"

# med FILE FIELD: the median of FIELD=... over the lines of FILE, "-" if none.
med() {
    sed -n "s/.*$2=\([0-9.]*\).*/\1/p" "$1" | sort -n |
        awk '{ l[NR] = $1 } END { if (NR) print l[int((NR + 1) / 2)]; else print "-" }'
}

# run TAG TOOL ARGS...: RUNS runs of TOOL ARGS under treerss; the medians
# as "wall_s rss_kb", or "- -" if a run failed or gave the wrong size.
run() {
    tag=$1
    shift
    : >"$OUT/output.$tag.runs"
    r=0
    while [ $r -lt "$RUNS" ]; do
        if ! "$TR" "$@" >"$OUT/output.out" 2>>"$OUT/output.$tag.runs" ||
            [ "$(wc -c <"$OUT/output.out")" -ne "$BYTES" ]; then
            echo "output.sh: $tag: a run failed or gave $(wc -c <"$OUT/output.out") bytes" \
                >>"$OUT/nwsload.err"
            echo "- -"
            return
        fi
        r=$((r + 1))
    done
    sed 's/^/output '"$tag"' /' "$OUT/output.$tag.runs" >>"$OUT/raw.txt"
    echo "$(med "$OUT/output.$tag.runs" wall_s) $(med "$OUT/output.$tag.runs" tree_peak_kb)"
}

x() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.3f", a / b; else print "-" }'; }
met() {
    awk -v r="$1" -v m="$2" 'BEGIN {
        if (r == "-" || r == "") print "-"; else if (r + 0 >= m) print "met"; else print "**missed**" }'
}

HAVE_PAR=0
parallel --version 2>/dev/null | grep -q 'GNU parallel' && HAVE_PAR=1

echo "| one job printing | sleigh wall s | parallel wall s | parallel/sleigh | sleigh peak RSS KiB | parallel peak RSS KiB | parallel/sleigh | target | met |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for row in "text|cat|$OUT/text.in" "NUL bytes|head -c $BYTES|/dev/zero"; do
    label=${row%%|*}
    rest=${row#*|}
    cmd=${rest%%|*}
    arg=${rest#*|}
    tag=$(printf '%s' "$label" | tr -c 'a-zA-Z0-9\n' '_')
    # shellcheck disable=SC2086 # cmd is words on purpose
    s=$(run "sleigh_$tag" sleigh -j 1 $cmd ::: "$arg")
    p="- -"
    # shellcheck disable=SC2086
    [ "$HAVE_PAR" = 1 ] && p=$(run "parallel_$tag" parallel -j 1 $cmd ::: "$arg")
    sw=${s% *} sr=${s#* } pw=${p% *} pr=${p#* }
    rw=$(x "$pw" "$sw")
    rr=$(x "$pr" "$sr")
    m1=$(met "$rw" 1)
    m2=$(met "$rr" 1)
    m=met
    [ "$m1" = met ] && [ "$m2" = met ] || m="**missed**"
    [ "$m1" = - ] && m=-
    echo "| $((BYTES / 1000000)) MB of $label | $sw | $pw | $rw | $sr | $pr | $rr |" \
        ">= 1x on both | $m |"
done
echo
echo "Wall time and peak RSS are medians of $RUNS runs of \`TOOL -j 1 CMD ::: ARG > FILE\`" \
    "under bench/treerss: the peak of the summed RSS of the whole process tree (the tool," \
    "for sleigh its private nwsserver and nws-worker, and the job), sampled every" \
    "millisecond. Ratios are parallel/sleigh: above 1 is sleigh faster or smaller."
rm -f "$OUT/output.out" "$OUT/text.in"
