#!/bin/sh
# pipe.sh -- `--pipe` over 1 GB of stdin: the sleigh command against GNU
# parallel, the same command (wc -l) on every block, throughput (MB/s of
# input) and the peak resident memory of the whole run (the tool, and for
# sleigh its private server and workers, and the jobs), measured by
# bench/treerss.  Then the same file with --pipepart -a.  Called by
# bench/run.sh (`make bench`); runs alone too (`make bench-pipe`):
#
#   PATH=build/bin:$PATH sh bench/pipe.sh build bench/out
#
# Knobs: BENCH_PIPE_BYTES (input size, default 1000000000), BENCH_PIPE_RUNS
# (runs per median, default 3).  The input is lines of 99 bytes; every run
# must count all of them (the sum of the blocks' wc -l), else its row is "-".
set -u
B=$1
OUT=$2
BYTES=${BENCH_PIPE_BYTES:-1000000000}
RUNS=${BENCH_PIPE_RUNS:-3}
TR=$B/bench/treerss

# A private server for every sleigh run: nothing answers on port 1.
unset NWS_HOST
export NWS_PORT=1
mkdir -p "$OUT" || exit 1
head -c "$BYTES" /dev/zero | tr '\0' 'x' | fold -w 99 >"$OUT/pipe.in"
LINES=$(wc -l <"$OUT/pipe.in")

# med FILE FIELD: the median of FIELD=... over the lines of FILE, "-" if none.
med() {
    sed -n "s/.*$2=\([0-9.]*\).*/\1/p" "$1" | sort -n |
        awk '{ l[NR] = $1 } END { if (NR) print l[int((NR + 1) / 2)]; else print "-" }'
}

# run TAG TOOL ARGS...: RUNS runs of TOOL ARGS < input under treerss; the
# medians as "wall_s rss_kb", or "- -" if a run failed or miscounted.
run() {
    tag=$1
    shift
    : >"$OUT/pipe.$tag.runs"
    r=0
    while [ $r -lt "$RUNS" ]; do
        if ! "$TR" "$@" <"$OUT/pipe.in" >"$OUT/pipe.out" 2>>"$OUT/pipe.$tag.runs" ||
            [ "$(awk '{ s += $1 } END { print s + 0 }' "$OUT/pipe.out")" -ne "$LINES" ]; then
            echo "pipe.sh: $tag: a run failed or miscounted the lines" >>"$OUT/nwsload.err"
            echo "- -"
            return
        fi
        r=$((r + 1))
    done
    sed 's/^/pipe '"$tag"' /' "$OUT/pipe.$tag.runs" >>"$OUT/raw.txt"
    echo "$(med "$OUT/pipe.$tag.runs" wall_s) $(med "$OUT/pipe.$tag.runs" tree_peak_kb)"
}

x() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }'; }
mbs() { awk -v s="$1" -v n="$BYTES" 'BEGIN { if (s > 0) printf "%.0f", n / s / 1e6; else print "-" }'; }

HAVE_PAR=0
parallel --version 2>/dev/null | grep -q 'GNU parallel' && HAVE_PAR=1

echo "| $((BYTES / 1000000)) MB, wc -l per block | sleigh MB/s | parallel MB/s | sleigh/parallel | sleigh peak RSS KiB | parallel peak RSS KiB | parallel/sleigh |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for mode in pipe pipepart; do
    if [ $mode = pipe ]; then
        s=$(run sleigh_pipe sleigh --pipe wc -l)
        p="- -"
        [ "$HAVE_PAR" = 1 ] && p=$(run parallel_pipe parallel --will-cite --pipe wc -l)
        label="--pipe (stdin, --block 1M)"
    else
        s=$(run sleigh_part sleigh --pipepart -a "$OUT/pipe.in" wc -l)
        p="- -"
        [ "$HAVE_PAR" = 1 ] && p=$(run parallel_part parallel --will-cite --pipepart -a "$OUT/pipe.in" wc -l)
        label="--pipepart -a FILE (default block)"
    fi
    sw=${s% *} sr=${s#* } pw=${p% *} pr=${p#* }
    echo "| $label | $(mbs "$sw") | $(mbs "$pw") | $(x "$pw" "$sw") | $sr | $pr | $(x "$pr" "$sr") |"
done
echo
echo "Medians of $RUNS runs of \`TOOL --pipe wc -l < FILE\` (and \`TOOL --pipepart -a FILE" \
    "wc -l\`) with the default -j (one per core, $(nproc) here) under bench/treerss: MB/s is" \
    "the input's size over the wall time; peak RSS is the peak of the summed RSS of the" \
    "whole process tree (the tool, for sleigh its private nwsserver and nws-workers, and" \
    "the jobs), sampled every millisecond."
rm -f "$OUT/pipe.out" "$OUT/pipe.in"
