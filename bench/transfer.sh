#!/bin/sh
# transfer.sh -- files to remote nodes: `sleigh --trc` (the files through the
# nws server, over the ssh connections) against `parallel -S ... --trc`
# (rsync over ssh), wall time, on the same four ssh hosts in the same run.
# Called by bench/run.sh; prints a markdown table.  Runs alone too, as root:
#
#   sh bench/transfer.sh build/bin bench/out        (= make bench-transfer)
#
# The hosts are those of tests/check_launch_netns.c: four network
# namespaces nwst-h1..4 on a bridge, an sshd in each (keys made here), the
# same lock file, so it never runs beside those tests.  Each tool runs 100
# files of 1 MiB (BENCH_XFER_FILES, BENCH_XFER_KIB) with 2 jobs per host,
# the command `cp {} {}.back`, and --trc {}.back: every file goes to a host,
# its copy comes back, both are removed there.  Runs alternate (sleigh,
# parallel, sleigh, ...), BENCH_XFER_RUNS each (default 3); the medians are
# shown, each run checked (every .back equal to its file).  Without root,
# sshd, ip, rsync or parallel it prints a row saying why.
set -u
BIN=$1
OUT=$2
RUNS=${BENCH_XFER_RUNS:-3}
NFILES=${BENCH_XFER_FILES:-100}
KIB=${BENCH_XFER_KIB:-1024}
LOCK=/tmp/nwstest-netns.lock
SSHD=/usr/sbin/sshd

HEAD="| $NFILES files of $KIB KiB to 4 ssh hosts x 2 jobs and back (--trc) | sleigh wall s | parallel wall s | parallel/sleigh |"
SEP="| --- | --- | --- | --- |"
skip() {
    echo "$HEAD"
    echo "$SEP"
    echo "| not measured: $1 | - | - | - |"
    exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
[ -x "$SSHD" ] || skip "no sshd"
command -v ip >/dev/null 2>&1 || skip "no ip(8)"
command -v rsync >/dev/null 2>&1 || skip "no rsync (parallel's --trc needs it)"
parallel --version 2>/dev/null | grep -q 'GNU parallel' || skip "no GNU parallel"
[ -x "$BIN/sleigh" ] && [ -x "$BIN/nws-worker" ] || skip "no sleigh in $BIN"
mkdir -p "$OUT" || exit 1

exec 9>"$LOCK"
flock -w 120 9 || skip "$LOCK is held"
W=$(mktemp -d /tmp/nws-bench-xfer.XXXXXX) || exit 1
PIDS=''

netns_clean() {
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^nwst-'); do
        ip netns pids "$ns" | xargs -r kill -9
        ip netns del "$ns"
    done >/dev/null 2>&1
    for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
        grep '^nwst-'); do
        ip link del "$l"
    done >/dev/null 2>&1
}
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    netns_clean
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
netns_clean

net=''
x=77
while [ $x -lt 250 ]; do
    if ! ip -4 -o addr show | grep -q " 10\.213\.$x\." &&
        ! ip -4 route show | grep -q "^10\.213\.$x\."; then
        net=$x
        break
    fi
    x=$((x + 1))
done
[ -n "$net" ] || skip "no free /24 in 10.213.0.0/16"

ssh-keygen -q -t ed25519 -N '' -f "$W/host" </dev/null || exit 1
ssh-keygen -q -t ed25519 -N '' -f "$W/user" </dev/null || exit 1
cp "$W/user.pub" "$W/authorized"
: >"$W/known_hosts"
: >"$W/ssh_config"
ip link add nwst-br type bridge && ip link set nwst-br up &&
    ip addr add "10.213.$net.1/24" dev nwst-br || skip "cannot make the bridge"
NODES_S='' NODES_P=''
for i in 1 2 3 4; do
    a=10.213.$net.$((10 + i))
    ip netns add "nwst-h$i" && ip -n "nwst-h$i" link set lo up &&
        ip link add "nwst-v$i" type veth peer name eth0 netns "nwst-h$i" &&
        ip link set "nwst-v$i" master nwst-br up &&
        ip -n "nwst-h$i" addr add "$a/24" dev eth0 &&
        ip -n "nwst-h$i" link set eth0 up || skip "cannot make host $i"
    cat >"$W/sshd_config.$i" <<EOF
ListenAddress $a:22
HostKey $W/host
PidFile none
AuthorizedKeysFile $W/authorized
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
MaxStartups 100:30:200
LogLevel ERROR
EOF
    ip netns exec "nwst-h$i" "$SSHD" -D -e -f "$W/sshd_config.$i" 2>/dev/null 9>&- &
    PIDS="$PIDS $!"
    echo "$a $(cut -d' ' -f1,2 "$W/host.pub")" >>"$W/known_hosts"
    cat >>"$W/ssh_config" <<EOF
Host nwst-h$i
  HostName $a
  User root
  IdentityFile $W/user
  UserKnownHostsFile $W/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
EOF
    NODES_S="$NODES_S${NODES_S:+,}nwst-h$i:2"
    NODES_P="$NODES_P${NODES_P:+,}2/nwst-h$i"
done
for i in 1 2 3 4; do
    t=0
    until ssh -F "$W/ssh_config" "nwst-h$i" true 2>/dev/null; do
        t=$((t + 1))
        [ $t -lt 100 ] || skip "sshd on nwst-h$i does not answer"
        sleep 0.1
    done
done

# One plain ssh round (login, `true`) for scale: parallel pays a few per job.
t0=$(date +%s.%N)
ssh -F "$W/ssh_config" nwst-h1 true
t1=$(date +%s.%N)
SSH1=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')

mkdir -p "$W/m/in" "$W/remote"
i=0
while [ $i -lt "$NFILES" ]; do
    head -c $((KIB * 1024)) /dev/urandom >"$W/m/in/f$(printf %03d $i)"
    i=$((i + 1))
done
(cd "$W/m" && ls in/f* >list)

# one TOOL: a run in $W/m; prints its wall seconds, or "-" if it failed or
# a file came back wrong.
one() {
    rm -f "$W"/m/in/*.back
    t0=$(date +%s.%N)
    if [ "$1" = sleigh ]; then
        (cd "$W/m" && env -u NWS_HOST NWS_PORT=1 "$BIN/sleigh" -S "$NODES_S" \
            --ssh-config "$W/ssh_config" --worker "$BIN/nws-worker" --trc '{}.back' \
            -a list cp '{}' '{}.back') >"$W/run.out" 2>&1 9>&-
    else
        # --wd: the hosts share this file system; the remote side gets a
        # directory of its own, as on separate machines.  (Its
        # --controlmaster is left out: here it lost files, rc 0, and left
        # ssh masters running.)
        (cd "$W/m" && parallel -S "$NODES_P" --ssh "ssh -F $W/ssh_config" \
            --wd "$W/remote" --trc '{}.back' -a list cp '{}' '{}.back') >"$W/run.out" 2>&1 9>&-
    fi
    rc=$?
    t1=$(date +%s.%N)
    cp "$W/run.out" "$OUT/transfer.$1.out"
    ok=$rc
    for f in "$W"/m/in/f*[0-9]; do
        cmp -s "$f" "$f.back" || ok=1
    done
    if [ "$ok" != 0 ]; then
        echo "transfer.sh: $1 run failed (rc $rc):" >>"$OUT/nwsload.err"
        cat "$W/run.out" >>"$OUT/nwsload.err"
        (cd "$W" && ls -lR m/in remote 2>&1 | head -20) >>"$OUT/nwsload.err"
        echo -
        return
    fi
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

: >"$W/s.runs"
: >"$W/p.runs"
LOAD0=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null)
r=0
while [ $r -lt "$RUNS" ]; do
    one sleigh >>"$W/s.runs"
    one parallel >>"$W/p.runs"
    r=$((r + 1))
done
med() {
    if grep -q -- - "$1"; then
        echo -
    else
        sort -n "$1" | awk '{ l[NR] = $1 } END { print l[int((NR + 1) / 2)] }'
    fi
}
LOAD1=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null)
s=$(med "$W/s.runs")
p=$(med "$W/p.runs")
echo "transfer files=$NFILES kib=$KIB ssh_true_s=$SSH1 sleigh_s=$(tr '\n' ' ' <"$W/s.runs")parallel_s=$(tr '\n' ' ' <"$W/p.runs")" \
    >>"$OUT/raw.txt"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }'; }
echo "$HEAD"
echo "$SEP"
echo "| \`parallel -S ... --trc\`: wall time, median of $RUNS (runs: sleigh $(tr '\n' ' ' <"$W/s.runs")/ parallel $(tr '\n' ' ' <"$W/p.runs")) | $s | $p | $(ratio "$p" "$s") |"
echo
echo "Both tools on the same four hosts (network namespaces, an sshd each, 2 jobs per" \
    "host), alternating, in one run. sleigh starts its private nwsserver and its workers" \
    "over ssh and moves every file through the server, over the ssh connections (tunnel" \
    "mode); parallel runs one ssh per job and rsync over ssh for each file each way. The" \
    "wall time includes sleigh's start-up (ssh to each host, workers registered) and the" \
    "cleanup of the hosts. Ratio parallel/sleigh: above 1 is sleigh faster. Load" \
    "average before / after: $LOAD0 / $LOAD1; one plain \`ssh host true\` took" \
    "$SSH1 s (parallel pays several ssh logins and a perl start per job)."
