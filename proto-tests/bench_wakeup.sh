#!/usr/bin/env bash
# User-space instructions per advert, vipd beside keepalived (issue 15 item 4). Not a test: it
# prints one table. The CPU figures of bench.sh's footprint part are a few tenths of a percent of a
# core and move with the machine's load; instruction counts under callgrind do not, so this is the
# repeatable yardstick for the cost of one wake-up.
#
# For each daemon and side (master, backup) a lab of its own (switch, gw-a 150, gw-b 100, advert_int
# 0.1, COUNT instances): the measured side runs under `valgrind --tool=callgrind` (keepalived with
# its VRRP child, --trace-children), the other normally. After convergence and a settle, callgrind's
# counters are zeroed, the window runs, and they are dumped; adverts = packets the master's eth0
# sent in the window. Kernel instructions cannot be counted here (no PMU in this VM); the system
# calls per advert are counted with strace in a second window of the same lab (--strace).
#
#   bash proto-tests/bench_wakeup.sh [--secs S] [--count "1 100"] [--vipd PATH] [--strace] [--keep]
#       [--daemons "vipd keepalived"] [--sides "master backup"]
# With --keep the callgrind files stay in the work dir, for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=10
COUNTS="1"
VIPD=target/release/vipd
STRACE=0
KEEP=0
DAEMONS="vipd keepalived"
SIDES="master backup"
BENCH_NAME=bench_wakeup
source proto-tests/bench_lib.sh
while [[ $# -gt 0 ]]; do
    case $1 in
        --secs) SECS=$2; shift ;;
        --count) COUNTS=$2; shift ;;
        --vipd) VIPD=$2; shift ;;
        --strace) STRACE=1 ;;
        --daemons) DAEMONS=$2; shift ;;
        --sides) SIDES=$2; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
require_root_and ip valgrind callgrind_control strace keepalived awk
[[ $VIPD == /* ]] || VIPD=$PWD/$VIPD
[[ -x $VIPD ]] || die "no vipd binary at $VIPD"
bench_init vbw vipd-wakeup

# write_conf DAEMON FILE ROUTER_ID PRIORITY COUNT: VRIDs 1..COUNT, one /32 VIP each.
write_conf() {
    local daemon=$1 file=$2 rid=$3 prio=$4 count=$5 i
    if [[ $daemon == vipd ]]; then
        printf 'global_defs:\n  router_id: %s\n  vrrp_version: 3\nvrrp_instance:\n' "$rid" >"$file"
        for ((i = 1; i <= count; i++)); do
            printf '  VI_%s: {interface: eth0, virtual_router_id: %s, priority: %s, advert_int: 0.1, virtual_ipaddress: [198.51.100.%s/32]}\n' \
                "$i" "$i" "$prio" "$i" >>"$file"
        done
    else
        printf 'global_defs {\n  router_id %s\n  vrrp_version 3\n}\n' "$rid" >"$file"
        for ((i = 1; i <= count; i++)); do
            printf 'vrrp_instance VI_%s {\n  state BACKUP\n  interface eth0\n  virtual_router_id %s\n  priority %s\n  advert_int 0.1\n  virtual_ipaddress {\n    198.51.100.%s/32\n  }\n}\n' \
                "$i" "$i" "$prio" "$i" >>"$file"
        done
    fi
}

# start DAEMON NETNS NAME WRAPPER…: sets STARTED_PID (the wrapper's pid, or the daemon's).
start() {
    local daemon=$1 netns=$2 base=$WORK/$3
    shift 3
    if [[ $daemon == vipd ]]; then
        mkdir -p "$base.run"
        VIPD_LOG=warn ip netns exec "$netns" "$@" "$VIPD" run -c "$base.conf" --runtime-dir "$base.run" >"$base.log" 2>&1 &
    else
        ip netns exec "$netns" "$@" keepalived --dont-fork --log-console --no-syslog --vrrp --dont-respawn \
            -f "$base.conf" -p "$base.pid" -r "$base.vrrp.pid" -c "$base.checkers.pid" -b "$base.bfd.pid" >"$base.log" 2>&1 &
    fi
    STARTED_PID=$!
    BG_PIDS+=("$STARTED_PID")
}

vip_count() { ip -n "$1" -4 -o addr show dev eth0 2>/dev/null | grep -c ' 198\.51\.100\.' || true; }
converged() { [[ $(vip_count "$GA") -eq $1 && $(vip_count "$GB") -eq 0 ]]; }
tx_packets() { ip netns exec "$GA" cat /sys/class/net/eth0/statistics/tx_packets; }
# The live processes of the measured daemon in NETNS (valgrind keeps the daemon's pid; keepalived:
# the parent and its VRRP child).
ns_pids() { ip netns pids "$1"; }

run_one() {
    local daemon=$1 side=$2 count=$3 tag="$1-$2-$3"
    lab_switch
    lab_node gw-a; GA=$NODE_NS
    lab_node gw-b; GB=$NODE_NS
    ip -n "$GA" addr add 192.0.2.1/24 dev eth0
    ip -n "$GB" addr add 192.0.2.2/24 dev eth0
    write_conf "$daemon" "$WORK/$tag-a.conf" gw-a 150 "$count"
    write_conf "$daemon" "$WORK/$tag-b.conf" gw-b 100 "$count"
    local cg=(valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$WORK/cg.$tag.%p")
    local measured
    if [[ $side == master ]]; then
        start "$daemon" "$GA" "$tag-a" "${cg[@]}"; start "$daemon" "$GB" "$tag-b"; measured=$GA
    else
        start "$daemon" "$GA" "$tag-a"; start "$daemon" "$GB" "$tag-b" "${cg[@]}"; measured=$GB
    fi
    if ! wait_cond 600 converged "$count"; then
        log "  $tag: no convergence in 60 s"; lab_down; return
    fi
    sleep 3
    local pids
    pids=$(ns_pids "$measured" | tr '\n' ' ')
    callgrind_control -z $pids >/dev/null 2>&1
    local tx0 tx1
    tx0=$(tx_packets)
    sleep "$SECS"
    tx1=$(tx_packets)
    callgrind_control -d $pids >/dev/null 2>&1
    sleep 1
    local ir=0 f v
    # The dump after the zeroing ends in .1 (the final one at exit, without suffix, is not read).
    for f in "$WORK"/cg."$tag".*.1; do
        [[ -f $f ]] || continue
        v=$(awk '/^summary:/ { print $2 }' "$f")
        ir=$((ir + ${v:-0}))
    done
    local adverts=$((tx1 - tx0))
    local per
    per=$(awk -v i="$ir" -v a="$adverts" 'BEGIN { printf "%.0f", a ? i / a : 0 }')
    log "  $tag: $ir instructions (user) over $adverts adverts: $per per advert"
    record "ir_${side}_$count" "$daemon" "$per"
    if [[ $STRACE -eq 1 ]]; then
        lab_down
        # A second lab, the measured daemon without valgrind, strace attached for the window.
        lab_switch
        lab_node gw-a; GA=$NODE_NS
        lab_node gw-b; GB=$NODE_NS
        ip -n "$GA" addr add 192.0.2.1/24 dev eth0
        ip -n "$GB" addr add 192.0.2.2/24 dev eth0
        cp "$WORK/$tag-a.conf" "$WORK/$tag-sa.conf"; cp "$WORK/$tag-b.conf" "$WORK/$tag-sb.conf"
        start "$daemon" "$GA" "$tag-sa"; start "$daemon" "$GB" "$tag-sb"
        [[ $side == master ]] && measured=$GA || measured=$GB
        wait_cond 300 converged "$count" || { log "  $tag: strace lab did not converge"; lab_down; return; }
        sleep 2
        local args=() p
        for p in $(ns_pids "$measured"); do args+=(-p "$p"); done
        tx0=$(tx_packets)
        timeout -s INT "$SECS" strace -f -c -o "$WORK/strace.$tag" "${args[@]}" || true
        tx1=$(tx_packets)
        adverts=$((tx1 - tx0))
        local calls
        # strace -c's columns: % time, seconds, usecs/call, calls, errors, syscall.
        calls=$(awk '$NF == "total" { print $4 }' "$WORK/strace.$tag")
        per=$(awk -v c="${calls:-0}" -v a="$adverts" 'BEGIN { printf "%.2f", a ? c / a : 0 }')
        log "  $tag: $calls system calls over $adverts adverts: $per per advert"
        sed 's/^/      /' "$WORK/strace.$tag" | head -20 >&2
        record "sys_${side}_$count" "$daemon" "$per"
    fi
    lab_down
}

log "work dir $WORK; window ${SECS}s; counts $COUNTS; load $(cut -d' ' -f1-3 /proc/loadavg)"
for count in $COUNTS; do
    for side in $SIDES; do
        for daemon in $DAEMONS; do run_one "$daemon" "$side" "$count"; done
    done
done
python3 - "$RESULTS" <<'PY'
import sys, collections
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    key, daemon, value = line.rstrip("\n").split("\t")
    rows.setdefault(key, {})[daemon] = float(value)
print("| figure | vipd | keepalived | vipd/keepalived |")
print("|---|---|---|---|")
for key, v in rows.items():
    kind, side, count = key.split("_")
    what = "user instructions per advert" if kind == "ir" else "system calls per advert"
    a, b = v.get("vipd"), v.get("keepalived")
    ratio = f"{a / b:.2f}" if a is not None and b else "n/a"
    fmt = (lambda x: f"{x:.0f}") if kind == "ir" else (lambda x: f"{x:.2f}")
    print(f"| {what}, {side}, {count} instance(s) | {fmt(a) if a is not None else 'n/a'} | {fmt(b) if b is not None else 'n/a'} | {ratio} |")
PY
