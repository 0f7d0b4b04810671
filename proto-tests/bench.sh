#!/usr/bin/env bash
# vipd vs keepalived, side by side in one run (issue 6 §2). Not a test: it measures and prints one
# table (vipd, keepalived, ratio vipd/keepalived) plus the date, kernel and CPU model.
#
#   unplanned failover  a client pings the VIP every 2 ms, the master's cable is cut (its bridge
#                       port set down); outage = longest gap between two replies. Median of N runs.
#   planned handover    the same with SIGTERM on the master (priority-0 advert).
#   maintenance         the same, taking the master out of service without stopping it, with and
#                       without use_vmac: `vipd maintenance on` beside keepalived's best
#                       equivalents (its priority lowered below the backup's + SIGHUP reload, and
#                       SIGTERM); a fixed count of probes at 2 ms, so lost probes are exact.
#   footprint           RSS (and PSS) summed over every process of the daemon (keepalived: parent +
#                       VRRP child) and CPU time (utime+stime) over a window, 1 and 100 instances,
#                       both routers running, on the master and on the backup. Both daemons run
#                       one check, a vrrp_script running /bin/true every 1 s that every instance
#                       tracks, and vipd keeps its metrics listener on (its default) and is
#                       scraped (GET /metrics) N times before the window (--footprint-scrapes N,
#                       default 10); --footprint-check none leaves the check out. Before each
#                       run both binaries (vipd's and keepalived's) leave the page cache
#                       (POSIX_FADV_DONTNEED; pages some process maps stay): fault-around maps
#                       whatever of the file is cached around each fault, so a binary just copied
#                       or built (all of it cached, as written) measured ~0.2 MiB more than the
#                       same file read back from disk; each run starts from the disk, as at boot
#                       (BENCH_PAGE_CACHE=warm instead reads both files whole before each run).
#   scale               the largest instance count at advert_int 0.01 that runs a window with no
#                       spurious MASTER transition after convergence (ladder stops at a failure).
#
# Every lab is a set of network namespaces of its own (switch with a bridge, gw-a, gw-b, client),
# named vbn<pid>-<n>-…, removed on every exit path; documentation addresses only. Run as root from
# the repository:
#
#   bash proto-tests/bench.sh            # full run (5 runs, 10 s footprint, scale 25…255 for 30 s)
#   bash proto-tests/bench.sh --quick    # 3 runs, 5 s footprint, scale 50 and 255 for 10 s
#
# Options: --scale-rt PRIO (scale runs with both daemons under chrt -f PRIO), --scale-busy N (N busy
# loops, e.g. one per core, run through each scale window), --runs N, --footprint-secs S,
# --footprint-check script|none, --footprint-scrapes N, --scale "25 50 …", --scale-secs S, --vipd PATH (use this
# binary, no build), --only LIST (comma list of failover,handover,maintenance,footprint,scale), --keep (keep
# the work dir with configs and logs), --out FILE (also write the table there).
# Diagnostic knobs (environment): BENCH_QUIET_VIPD_LOG (vipd's log level in the footprint and scale
# runs, default warn), BENCH_GLOBAL_DEFS="key value;key value" (extra global_defs for both daemons),
# BENCH_PAGE_CACHE=cold|warm (the footprint's binaries evicted from the page cache, the default, or
# read whole into it before each run), BENCH_SMAPS=1 (the footprint saves /proc/PID/smaps of each daemon process at the window's end in
# the work dir, as TAG-a.PID.smaps; use with --keep).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=5
FOOTPRINT_SECS=10
# The footprint's check: the same vrrp_script for both daemons (issue 15: RSS "with metrics and
# checks enabled"). The check's process is counted while it runs, as for any daemon's child.
FOOTPRINT_CHECK=script
FOOTPRINT_SCRIPT=/bin/true
# GETs of vipd's /metrics on each router before the window (keepalived has no such endpoint): a
# scrape starts the page renderer's thread and leaves what its allocations keep resident. Done
# before the window, so that no curl is counted as one of the namespace's processes and the CPU
# window has no scrape in it.
FOOTPRINT_SCRAPES=10
SCALE_STEPS="25 50 100 200 255"
SCALE_SECS=30
SCALE_SETTLE_SECS=2
VIPD=
ONLY=failover,handover,maintenance,footprint,scale
KEEP=0
SCALE_RT=
SCALE_BUSY=0
OUT=
MODE=full
ADVERT=0.1
BACKUP_PRIORITY=100
MASTER_PRIORITY=150
VIP=192.0.2.100

BENCH_NAME=bench
source proto-tests/bench_lib.sh
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) MODE=quick RUNS=3 FOOTPRINT_SECS=5 SCALE_STEPS="50 255" SCALE_SECS=10 ;;
        --runs) RUNS=$2; shift ;;
        --footprint-secs) FOOTPRINT_SECS=$2; shift ;;
        --footprint-check) FOOTPRINT_CHECK=$2; shift ;;
        --footprint-scrapes) FOOTPRINT_SCRAPES=$2; shift ;;
        --scale) SCALE_STEPS=$2; shift ;;
        --scale-secs) SCALE_SECS=$2; shift ;;
        --vipd) VIPD=$2; shift ;;
        --only) ONLY=$2; shift ;;
        --keep) KEEP=1 ;;
        --scale-rt) SCALE_RT=$2; shift ;;
        --scale-busy) SCALE_BUSY=$2; shift ;;
        --out) OUT=$2; shift ;;
        -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
require_root_and ip ping awk python3 keepalived timeout curl
[[ $FOOTPRINT_CHECK == script || $FOOTPRINT_CHECK == none ]] ||
    die "--footprint-check takes script or none, not $FOOTPRINT_CHECK"
wants() { [[ ",$ONLY," == *",$1,"* ]]; }

bench_init vbn vipd-bench
PING_PID=
CLK_TCK=$(getconf CLK_TCK)
bench_lab_down_extra() {
    if [[ -n $PING_PID ]]; then kill -KILL "$PING_PID" 2>/dev/null || true; wait "$PING_PID" 2>/dev/null || true; PING_PID=; fi
}
build_vipd

# ---------------------------------------------------------------- lab
# lab_up: a switch namespace with br0, gw-a (192.0.2.1), gw-b (192.0.2.2), client (192.0.2.10).
lab_up() {
    lab_switch
    SW=$LAB_SW
    lab_node gw-a; GA=$NODE_NS
    lab_node gw-b; GB=$NODE_NS
    lab_node client; CL=$NODE_NS
    ip -n "$GA" addr add 192.0.2.1/24 dev eth0
    ip -n "$GB" addr add 192.0.2.2/24 dev eth0
    ip -n "$CL" addr add 192.0.2.10/24 dev eth0
}

# vip_of N: one VIP per instance, /32 so no VIP is another's secondary.
vip_of() {
    local i=$1
    if [[ $i -le 250 ]]; then echo "198.51.100.$i"; else echo "203.0.113.$((i - 250))"; fi
}

# write_conf DAEMON FILE ROUTER_ID PRIORITY ADVERT COUNT: COUNT = 0 means the single failover
# instance (VRID 51, VIP 192.0.2.100/24); otherwise VRIDs 1..COUNT with one /32 VIP each.
# BENCH_CHECK=1: one vrrp_script chk_fp running $FOOTPRINT_SCRIPT every 1 s, tracked by every
# instance (weight 0: an instance would go to Fault if it failed).
write_conf() {
    local daemon=$1 file=$2 rid=$3 prio=$4 advert=$5 count=$6 i vrid addr
    # BENCH_GLOBAL_DEFS="key value;key value" adds global_defs to both daemons (a diagnostic knob).
    local extra=() kv
    IFS=';' read -r -a extra <<<"${BENCH_GLOBAL_DEFS:-}"
    if [[ $daemon == vipd ]]; then
        printf 'global_defs:\n  router_id: %s\n  vrrp_version: 3\n' "$rid" >"$file"
        for kv in "${extra[@]}"; do [[ -n $kv ]] && printf '  %s: %s\n' "${kv%% *}" "${kv#* }" >>"$file"; done
        [[ ${BENCH_CHECK:-0} -eq 1 ]] &&
            printf 'vrrp_script:\n  chk_fp: {script: "%s", interval: 1, weight: 0}\n' "$FOOTPRINT_SCRIPT" >>"$file"
        printf 'vrrp_instance:\n' >>"$file"
    else
        printf 'global_defs {\n  router_id %s\n  vrrp_version 3\n' "$rid" >"$file"
        for kv in "${extra[@]}"; do [[ -n $kv ]] && printf '  %s\n' "$kv" >>"$file"; done
        printf '}\n' >>"$file"
        [[ ${BENCH_CHECK:-0} -eq 1 ]] &&
            printf 'vrrp_script chk_fp {\n  script "%s"\n  interval 1\n  weight 0\n}\n' "$FOOTPRINT_SCRIPT" >>"$file"
    fi
    # BENCH_VMAC=1: use_vmac on every instance (the maintenance runs).
    local vmac_yaml="" vmac_conf=""
    [[ ${BENCH_VMAC:-0} -eq 1 ]] && vmac_yaml="use_vmac: true, " vmac_conf="  use_vmac\n"
    local track_yaml="" track_conf=""
    [[ ${BENCH_CHECK:-0} -eq 1 ]] && track_yaml="track_script: [chk_fp], " track_conf="  track_script {\n    chk_fp\n  }\n"
    for ((i = 1; i <= (count == 0 ? 1 : count); i++)); do
        if [[ $count -eq 0 ]]; then vrid=51 addr=$VIP/24; else vrid=$i addr=$(vip_of "$i")/32; fi
        if [[ $daemon == vipd ]]; then
            printf '  VI_%s: {interface: eth0, virtual_router_id: %s, priority: %s, advert_int: %s, %s%svirtual_ipaddress: [%s]}\n' \
                "$vrid" "$vrid" "$prio" "$advert" "$vmac_yaml" "$track_yaml" "$addr" >>"$file"
        else
            printf "vrrp_instance VI_%s {\n  state BACKUP\n  interface eth0\n  virtual_router_id %s\n  priority %s\n  advert_int %s\n${vmac_conf}${track_conf}  virtual_ipaddress {\n    %s\n  }\n}\n" \
                "$vrid" "$vrid" "$prio" "$advert" "$addr" >>"$file"
        fi
    done
}

# start_daemon DAEMON NETNS NAME QUIET(0|1) [RT_PRIO]: starts it in the background; sets STARTED_PID.
start_daemon() {
    local daemon=$1 netns=$2 name=$3 quiet=$4 base=$WORK/$3 rt=()
    # A 5th argument: run it under SCHED_FIFO at that priority (keepalived's children inherit it).
    [[ -n ${5:-} ]] && rt=(chrt -f "$5")
    if [[ $daemon == vipd ]]; then
        mkdir -p "$base.run"
        local level=${VIPD_LOG:-info}
        [[ $quiet -eq 1 ]] && level=${BENCH_QUIET_VIPD_LOG:-warn}
        VIPD_LOG=$level ip netns exec "$netns" "${rt[@]}" "$VIPD" run -c "$base.conf" --runtime-dir "$base.run" \
            >"$base.log" 2>&1 &
    else
        local detail=--log-detail
        [[ $quiet -eq 1 ]] && detail=
        # Own pid files: without them a second keepalived finds /run/keepalived.pid and exits 0.
        ip netns exec "$netns" "${rt[@]}" keepalived --dont-fork --log-console $detail --no-syslog --vrrp \
            --dont-respawn -f "$base.conf" -p "$base.pid" -r "$base.vrrp.pid" -c "$base.checkers.pid" \
            -b "$base.bfd.pid" >"$base.log" 2>&1 &
    fi
    STARTED_PID=$!
    BG_PIDS+=("$STARTED_PID")
}

# vip_count NETNS: the number of IPv4 addresses on eth0 other than the router's own.
vip_count() {
    ip -n "$1" -4 -o addr show dev eth0 2>/dev/null | awk '$4 !~ /^192\.0\.2\.(1|2)\/24$/' | wc -l
}
converged() { [[ $(vip_count "$GA") -eq $1 && $(vip_count "$GB") -eq 0 ]]; }

# ---------------------------------------------------------------- failover / handover
# outage_run DAEMON cut|term RUN: one measured run in a fresh lab; records the outage in ms.
outage_run() {
    local daemon=$1 how=$2 run=$3 tag="$1-$2-$3"
    lab_up
    write_conf "$daemon" "$WORK/$tag-a.conf" gw-a $MASTER_PRIORITY $ADVERT 0
    write_conf "$daemon" "$WORK/$tag-b.conf" gw-b $BACKUP_PRIORITY $ADVERT 0
    start_daemon "$daemon" "$GA" "$tag-a" 0
    local pid_a=$STARTED_PID
    start_daemon "$daemon" "$GB" "$tag-b" 0
    if ! wait_cond 100 converged 1; then
        log "  $tag: no convergence in 10 s (see $WORK/$tag-*.log)"
        record "fail_$how" "$daemon" 1
        lab_down
        return
    fi
    sleep 1.5 # the backup is settled and the client may learn the VIP's MAC
    local ping_log=$WORK/$tag.ping
    ip netns exec "$CL" ping -n -D -i 0.002 -W 1 -c 6000 -w 12 "$VIP" >"$ping_log" 2>&1 &
    PING_PID=$!
    wait_cond 30 grep -qs "bytes from" "$ping_log" || { log "  $tag: no reply from the VIP"; record "fail_$how" "$daemon" 1; lab_down; return; }
    # A random 1-2 s: the cut must fall at a random phase of the master's advert timer. Without it
    # the phase follows this script's 100 ms polling and the outage clusters at one end of
    # [Master_Down_Interval - advert_int, Master_Down_Interval] (seen: 5 of 5 runs within 20 ms).
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", 1 + r / 32768 }')"
    if [[ $how == cut ]]; then
        ip -n "$SW" link set p1 down
    else
        kill -TERM "$pid_a"
    fi
    local ok=1
    wait_cond 50 holds "$GB" "$VIP" || ok=0
    local before
    before=$(grep -c "bytes from" "$ping_log" || true)
    # Replies resumed: at least 20 more than when gw-b got the VIP.
    wait_cond 30 eval '[[ $(grep -c "bytes from" "$ping_log") -gt $((before + 20)) ]]' || ok=0
    kill -INT "$PING_PID" 2>/dev/null || true
    wait "$PING_PID" 2>/dev/null || true
    PING_PID=
    local gap
    gap=$(awk '/bytes from/ { t = substr($1, 2, length($1) - 2) + 0; if (n++ && (t - prev) * 1000 > gap) gap = (t - prev) * 1000; prev = t }
               END { printf "%.1f", gap }' "$ping_log")
    if [[ $ok -eq 1 ]]; then
        log "  $daemon $how run $run: outage $gap ms"
        record "outage_$how" "$daemon" "$gap"
    else
        log "  $daemon $how run $run: gw-b did not take over or the client got no reply after (see $WORK/$tag-*.log)"
        record "fail_$how" "$daemon" 1
    fi
    lab_down
}

# ---------------------------------------------------------------- maintenance
holds_anywhere() { ip -n "$1" -4 -o addr show 2>/dev/null | grep " $VIP/" >/dev/null; }
maint_converged() { holds_anywhere "$GA" && ! holds_anywhere "$GB"; }

# maint_run DAEMON maint|reload|term VMAC(0|1) RUN: the master leaves service while a client
# pings every 2 ms (2500 probes); records the longest gap and the lost probes.
maint_run() {
    local daemon=$1 how=$2 vmac=$3 run=$4 tag="$1-$2-vmac$3-$4"
    lab_up
    BENCH_VMAC=$vmac write_conf "$daemon" "$WORK/$tag-a.conf" gw-a $MASTER_PRIORITY $ADVERT 0
    BENCH_VMAC=$vmac write_conf "$daemon" "$WORK/$tag-b.conf" gw-b $BACKUP_PRIORITY $ADVERT 0
    start_daemon "$daemon" "$GA" "$tag-a" 0
    local pid_a=$STARTED_PID
    start_daemon "$daemon" "$GB" "$tag-b" 0
    if ! wait_cond 100 maint_converged; then
        log "  $tag: no convergence in 10 s (see $WORK/$tag-*.log)"
        record "maint_fail" "$daemon" "$tag"
        lab_down
        return
    fi
    sleep 1.5
    local ping_log=$WORK/$tag.ping
    ip netns exec "$CL" ping -n -D -i 0.002 -W 1 -c 2500 -w 15 "$VIP" >"$ping_log" 2>&1 &
    PING_PID=$!
    wait_cond 30 grep -qs "bytes from" "$ping_log" || { log "  $tag: no reply from the VIP"; record "maint_fail" "$daemon" "$tag"; lab_down; return; }
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", 1 + r / 32768 }')"
    case $how in
        maint) ip netns exec "$GA" "$VIPD" maintenance on VI_51 --runtime-dir "$WORK/$tag-a.run" >>"$WORK/$tag-a.op" 2>&1 || true ;;
        reload) sed -i "s/priority $MASTER_PRIORITY/priority 50/" "$WORK/$tag-a.conf"; kill -HUP "$pid_a" ;;
        term) kill -TERM "$pid_a" ;;
    esac
    wait "$PING_PID" 2>/dev/null || true
    PING_PID=
    local gap sent got
    gap=$(awk '/bytes from/ { t = substr($1, 2, length($1) - 2) + 0; if (n++ && (t - prev) * 1000 > gap) gap = (t - prev) * 1000; prev = t }
               END { printf "%.1f", gap }' "$ping_log")
    sent=$(awk '/packets transmitted/ { print $1 }' "$ping_log")
    got=$(grep -c "bytes from" "$ping_log" || true)
    if holds_anywhere "$GB"; then
        log "  $daemon $how vmac=$vmac run $run: outage $gap ms, $((sent - got)) of $sent probes lost"
        # vipd's one figure stands beside each of keepalived's two ways.
        local keys=("$how")
        [[ $how == maint ]] && keys=(reload term)
        for k in "${keys[@]}"; do
            record "maint_outage_${k}_$vmac" "$daemon" "$gap"
            record "maint_lost_${k}_$vmac" "$daemon" "$((sent - got))"
        done
    else
        log "  $daemon $how vmac=$vmac run $run: gw-b does not hold the VIP (see $WORK/$tag-*.log)"
        record "maint_fail" "$daemon" "$tag"
    fi
    lab_down
}

# ---------------------------------------------------------------- footprint
# proc_sample NETNS: "TICKS RSS_KB PSS_KB NPROC RUN_NS" summed over every process in the namespace:
# TICKS = utime+stime (clock ticks, counts exited threads too), RUN_NS = the scheduler's
# nanosecond run time summed over the live threads (/proc/PID/task/*/schedstat), WAKES = the
# times those threads were switched in (schedstat's third field: every wake-up from a wait).
proc_sample() {
    local ticks=0 rss=0 pss=0 n=0 run_ns=0 wakes=0 pid stat fields v w task
    for pid in $(ip netns pids "$1" 2>/dev/null); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        # The fields after comm's ")": state is field 3 of stat(5), utime 14, stime 15.
        fields=${stat##*) }
        read -r -a f <<<"$fields"
        ticks=$((ticks + f[11] + f[12]))
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        rss=$((rss + ${v:-0}))
        v=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
        pss=$((pss + ${v:-0}))
        for task in /proc/"$pid"/task/*/schedstat; do
            read -r v _ w <"$task" 2>/dev/null || continue
            run_ns=$((run_ns + v)) wakes=$((wakes + w))
        done
        n=$((n + 1))
    done
    echo "$ticks $rss $pss $n $run_ns $wakes"
}

# measure_window SECS: samples gw-a and gw-b at both ends of the window; sets CPU_A CPU_B
# (utime+stime, % of one core), RUN_A RUN_B (schedstat, % of one core), WAKE_A WAKE_B (thread
# wake-ups a second, live threads), RSS_A RSS_B PSS_A PSS_B
# (KiB, at the end), NPROC_A NPROC_B.
measure_window() {
    local secs=$1 a0 b0 a1 b1 t0 t1
    t0=$(date +%s%N); read -r -a a0 <<<"$(proc_sample "$GA")"; read -r -a b0 <<<"$(proc_sample "$GB")"
    sleep "$secs"
    read -r -a a1 <<<"$(proc_sample "$GA")"; read -r -a b1 <<<"$(proc_sample "$GB")"; t1=$(date +%s%N)
    local wall_ns=$((t1 - t0))
    percent() { awk -v d="$1" -v w=$wall_ns 'BEGIN { printf "%.3f", d / w * 100 }'; }
    local tick_ns=$((1000000000 / CLK_TCK))
    CPU_A=$(percent $(((a1[0] - a0[0]) * tick_ns))); CPU_B=$(percent $(((b1[0] - b0[0]) * tick_ns)))
    RUN_A=$(percent $((a1[4] - a0[4]))); RUN_B=$(percent $((b1[4] - b0[4])))
    per_second() { awk -v d="$1" -v w=$wall_ns 'BEGIN { printf "%.0f", d / w * 1e9 }'; }
    WAKE_A=$(per_second $((a1[5] - a0[5]))); WAKE_B=$(per_second $((b1[5] - b0[5])))
    RSS_A=${a1[1]} RSS_B=${b1[1]} PSS_A=${a1[2]} PSS_B=${b1[2]} NPROC_A=${a1[3]} NPROC_B=${b1[3]}
}

# scrape_metrics NETNS TAG: FOOTPRINT_SCRAPES GETs of vipd's /metrics (its default listener), 0.5 s
# apart; status and body size go to TAG.scrapes. Ten, not one: glibc serves the first large
# bodies with mmap and then raises its mmap threshold, so what scrapes leave resident shows after
# a few.
scrape_metrics() {
    local netns=$1 tag=$2 i
    for ((i = 0; i < FOOTPRINT_SCRAPES; i++)); do
        ((i == 0)) || sleep 0.5
        ip netns exec "$netns" curl -s -o /dev/null -m 5 -w '%{http_code} %{size_download}\n' \
            http://127.0.0.1:9165/metrics >>"$WORK/$tag.scrapes" 2>&1 || echo "failed" >>"$WORK/$tag.scrapes"
    done
    grep -q '^200 ' "$WORK/$tag.scrapes" 2>/dev/null || log "  $tag: no /metrics scrape succeeded (see $WORK/$tag.scrapes)"
}

# save_smaps NETNS TAG: every process's /proc/PID/smaps, as $WORK/TAG.PID.smaps (a diagnostic).
save_smaps() {
    local pid
    for pid in $(ip netns pids "$1" 2>/dev/null); do
        cat "/proc/$pid/smaps" >"$WORK/$2.$pid.smaps" 2>/dev/null || true
    done
}

# set_page_cache FILE…: drops the files' cached pages that no process maps (see the header), or
# with BENCH_PAGE_CACHE=warm reads them whole into the page cache.
set_page_cache() {
    if [[ ${BENCH_PAGE_CACHE:-cold} == warm ]]; then
        cat "$@" >/dev/null
        return
    fi
    python3 - "$@" <<'EVICT'
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)  # a binary just built may still be dirty, and dirty pages stay
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
EVICT
}

footprint_run() {
    local daemon=$1 count=$2 tag="$1-fp-$2" check=0
    [[ $FOOTPRINT_CHECK == script ]] && check=1
    set_page_cache "$VIPD" "$(command -v keepalived)"
    lab_up
    BENCH_CHECK=$check write_conf "$daemon" "$WORK/$tag-a.conf" gw-a $MASTER_PRIORITY $ADVERT "$count"
    BENCH_CHECK=$check write_conf "$daemon" "$WORK/$tag-b.conf" gw-b $BACKUP_PRIORITY $ADVERT "$count"
    start_daemon "$daemon" "$GA" "$tag-a" 1
    start_daemon "$daemon" "$GB" "$tag-b" 1
    if ! wait_cond 300 converged "$count"; then
        log "  $tag: no convergence in 30 s (gw-a $(vip_count "$GA"), gw-b $(vip_count "$GB") VIPs)"
        record "fail_footprint" "$daemon" 1
        lab_down
        return
    fi
    sleep 2
    if [[ $daemon == vipd ]]; then scrape_metrics "$GA" "$tag-a"; scrape_metrics "$GB" "$tag-b"; fi
    measure_window "$FOOTPRINT_SECS"
    [[ ${BENCH_SMAPS:-0} -eq 1 ]] && save_smaps "$GA" "$tag-a" && save_smaps "$GB" "$tag-b"
    log "  $daemon $count instance(s): master CPU $CPU_A% (schedstat $RUN_A%, $WAKE_A wake-ups/s) RSS $RSS_A KiB PSS $PSS_A KiB ($NPROC_A procs); backup CPU $CPU_B% (schedstat $RUN_B%, $WAKE_B wake-ups/s) RSS $RSS_B KiB PSS $PSS_B KiB ($NPROC_B procs)"
    record "cpu_master_$count" "$daemon" "$CPU_A"; record "cpu_backup_$count" "$daemon" "$CPU_B"
    record "run_master_$count" "$daemon" "$RUN_A"; record "run_backup_$count" "$daemon" "$RUN_B"
    record "wake_master_$count" "$daemon" "$WAKE_A"; record "wake_backup_$count" "$daemon" "$WAKE_B"
    record "rss_master_$count" "$daemon" "$RSS_A"; record "rss_backup_$count" "$daemon" "$RSS_B"
    record "pss_master_$count" "$daemon" "$PSS_A"; record "pss_backup_$count" "$daemon" "$PSS_B"
    lab_down
}

# ---------------------------------------------------------------- scale
# master_transitions DAEMON: MASTER transitions so far, summed over gw-a and gw-b; empty on error.
master_transitions() {
    local daemon=$1 tag=$2 when=$3 total=0 side json
    for side in a b; do
        if [[ $daemon == vipd ]]; then
            local netns=$GA; [[ $side == b ]] && netns=$GB
            json=$(timeout 10 ip netns exec "$netns" "$VIPD" status --runtime-dir "$WORK/$tag-$side.run" --json 2>/dev/null) || { echo; return; }
            printf '%s\n' "$json" >"$WORK/$tag-$side.status-$when.json"
            total=$((total + $(python3 -c 'import json,sys; print(sum(i["counters"]["become_master"] for i in json.load(sys.stdin)["instances"]))' <<<"$json")))
        else
            total=$((total + $(grep -c "Entering MASTER STATE" "$WORK/$tag-$side.log" || true)))
        fi
    done
    echo "$total"
}

# start_stall_probe SECS FILE: a bystander in the root namespace (it touches no interface) that
# sleeps 2 ms at a time and writes its worst wake-up lateness: a stall of the whole machine (host
# steal, a neighbour's build) that long makes any daemon at advert_int 0.01 miss 3 adverts, whatever
# its own quality. Sets PROBE_PID.
start_stall_probe() {
    python3 - "$1" "$2" <<'PROBE' &
import sys, time
secs, out = float(sys.argv[1]), sys.argv[2]
end = time.monotonic() + secs
worst, worst_at, over_30 = 0.0, 0.0, 0
while time.monotonic() < end:
    t = time.monotonic()
    time.sleep(0.002)
    late = (time.monotonic() - t - 0.002) * 1000
    if late > 30:
        over_30 += 1
    if late > worst:
        worst, worst_at = late, time.time()
with open(out, "w") as f:
    f.write("probe worst wake-up lateness %.1f ms at %s, %d wake-ups >30 ms late"
            % (worst, time.strftime("%H:%M:%S", time.localtime(worst_at)), over_30))
PROBE
    PROBE_PID=$!
}

# scale_step DAEMON COUNT: 0 when COUNT instances at 10 ms ran SCALE_SECS with no spurious transition.
scale_step() {
    local daemon=$1 count=$2 tag="$1-scale-$2" verdict=pass why=""
    lab_up
    write_conf "$daemon" "$WORK/$tag-a.conf" gw-a $MASTER_PRIORITY 0.01 "$count"
    write_conf "$daemon" "$WORK/$tag-b.conf" gw-b $BACKUP_PRIORITY 0.01 "$count"
    start_daemon "$daemon" "$GA" "$tag-a" 1 "$SCALE_RT"
    local pid_a=$STARTED_PID
    start_daemon "$daemon" "$GB" "$tag-b" 1 "$SCALE_RT"
    local pid_b=$STARTED_PID
    if ! wait_cond 300 converged "$count"; then
        why="no convergence in 30 s (gw-a $(vip_count "$GA"), gw-b $(vip_count "$GB") of $count VIPs)"
        log "  $daemon $count instances @10 ms: FAIL, $why"
        record "scale_detail" "$daemon" "$count FAIL $why"
        lab_down
        return 1
    fi
    sleep "$SCALE_SETTLE_SECS" # start-up GARPs and election are over
    local before after
    before=$(master_transitions "$daemon" "$tag" before)
    local steal0 probe_out=$WORK/$tag.probe
    steal0=$(awk '/^cpu / { print $9 }' /proc/stat)
    start_stall_probe "$SCALE_SECS" "$probe_out"
    local busy
    for ((busy = 0; busy < SCALE_BUSY; busy++)); do
        # In the lab's switch namespace (it touches no interface); ended with the lab.
        ip netns exec "$SW" timeout "$SCALE_SECS" sh -c 'while :; do :; done' &
        BG_PIDS+=($!)
    done
    measure_window "$SCALE_SECS"
    wait "$PROBE_PID" 2>/dev/null || true
    local steal_ms=$((($(awk '/^cpu / { print $9 }' /proc/stat) - steal0) * 1000 / CLK_TCK))
    local probe
    probe=$(cat "$probe_out" 2>/dev/null || echo "probe failed")
    after=$(master_transitions "$daemon" "$tag" after)
    local spurious=$((${after:-0} - ${before:-0}))
    if [[ -z $before || -z $after ]]; then verdict=FAIL why="status unreadable"; fi
    if ! alive "$pid_a" || ! alive "$pid_b"; then verdict=FAIL why="a daemon exited"; fi
    if [[ $spurious -ne 0 ]]; then verdict=FAIL why="$spurious spurious MASTER transitions"; fi
    if ! converged "$count"; then verdict=FAIL why="${why:+$why; }end state gw-a $(vip_count "$GA"), gw-b $(vip_count "$GB") VIPs"; fi
    local detail="$count $verdict spurious=$spurious cpu_master=$RUN_A% cpu_backup=$RUN_B% rss_master=${RSS_A}KiB rss_backup=${RSS_B}KiB; machine: $probe, steal ${steal_ms} ms${why:+ ($why)}"
    log "  $daemon $count instances @10 ms for ${SCALE_SECS}s: $detail"
    record "scale_detail" "$daemon" "$detail"
    lab_down
    [[ $verdict == pass ]]
}

# ---------------------------------------------------------------- run
START_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work dir $WORK; mode $MODE"
for how in cut term; do
    wants "$([[ $how == cut ]] && echo failover || echo handover)" || continue
    log "== $([[ $how == cut ]] && echo "unplanned failover (cable cut)" || echo "planned handover (SIGTERM)"), $RUNS runs each, interleaved"
    for ((run = 1; run <= RUNS; run++)); do
        for daemon in vipd keepalived; do outage_run "$daemon" "$how" "$run"; done
    done
done
if wants maintenance; then
    log "== maintenance (master out of service, 2500 probes at 2 ms), $RUNS runs each, interleaved"
    for vmac in 0 1; do
        for ((run = 1; run <= RUNS; run++)); do
            maint_run vipd maint "$vmac" "$run"
            maint_run keepalived reload "$vmac" "$run"
            maint_run keepalived term "$vmac" "$run"
        done
    done
fi
FOOTPRINT_METRICS="vipd's metrics listener on (default), scraped $FOOTPRINT_SCRAPES times before the window; keepalived has none"
FOOTPRINT_SETUP="no check; $FOOTPRINT_METRICS"
[[ $FOOTPRINT_CHECK == script ]] &&
    FOOTPRINT_SETUP="one vrrp_script ($FOOTPRINT_SCRIPT every 1 s, weight 0) tracked by every instance, for both; $FOOTPRINT_METRICS"
# code_order_note: how many of link/steady-state.order's symbols the binary has and the span of
# text they take (build.rs has lld place them first, ~0.6 MB; in the compiler's order they spread
# over the whole text). A toolchain or dependency upgrade renames them: regenerate with
# proto-tests/code_order.sh.
code_order_note() {
    local order=link/steady-state.order
    [[ -f $order ]] || { echo "no $order"; return; }
    nm -S --defined-only "$VIPD" 2>/dev/null | python3 -c '
import sys
wanted = [l.strip() for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
syms = {}
for line in sys.stdin:
    w = line.split()
    if len(w) == 4:
        syms[w[3]] = (int(w[0], 16), int(w[1], 16))
found = [syms[n] for n in wanted if n in syms]
span = (max(a + s for a, s in found) - min(a for a, s in found)) // 1024 if found else 0
print(f"{len(found)} of {len(wanted)} symbols of {sys.argv[1]} in the binary, spanning {span} KiB of text")
' "$order"
}
[[ ${BENCH_PAGE_CACHE:-cold} == cold || ${BENCH_PAGE_CACHE:-cold} == warm ]] ||
    die "BENCH_PAGE_CACHE takes cold or warm, not $BENCH_PAGE_CACHE"
FOOTPRINT_SETUP="$FOOTPRINT_SETUP; binaries' page cache ${BENCH_PAGE_CACHE:-cold} before each run; code order: $(code_order_note)"
if wants footprint; then
    log "== footprint over ${FOOTPRINT_SECS}s (VIPD_LOG=warn; keepalived without --log-detail; $FOOTPRINT_SETUP)"
    for count in 1 100; do
        for daemon in vipd keepalived; do footprint_run "$daemon" "$count"; done
    done
fi
if wants scale; then
    log "== scale at advert_int 0.01 for ${SCALE_SECS}s: ladder $SCALE_STEPS${SCALE_RT:+ (daemons under chrt -f $SCALE_RT)}"
    # The two ladders are interleaved so that both daemons meet the same periods of machine noise.
    declare -A best=([vipd]=0 [keepalived]=0) climbing=([vipd]=1 [keepalived]=1)
    for count in $SCALE_STEPS; do
        for daemon in vipd keepalived; do
            [[ ${climbing[$daemon]} -eq 1 ]] || continue
            if scale_step "$daemon" "$count"; then best[$daemon]=$count; else climbing[$daemon]=0; fi
        done
    done
    for daemon in vipd keepalived; do record "scale_max" "$daemon" "${best[$daemon]}"; done
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

SCALE_POLICY="at normal (SCHED_OTHER) priority"
[[ -n $SCALE_RT ]] && SCALE_POLICY="under chrt -f $SCALE_RT (SCHED_FIFO)"
[[ -n ${BENCH_GLOBAL_DEFS:-} ]] && SCALE_POLICY="$SCALE_POLICY, global_defs: $BENCH_GLOBAL_DEFS"
[[ $SCALE_BUSY -gt 0 ]] && SCALE_POLICY="$SCALE_POLICY, $SCALE_BUSY busy loops through each window"
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    REV="$REV + uncommitted changes in the working tree"
fi
python3 - "$RESULTS" <<EOF | tee ${OUT:+"$OUT"}
import collections, statistics, sys
rows = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    key, daemon, value = line.rstrip("\n").split("\t", 2)
    rows[key][daemon].append(value)

print("vipd vs keepalived benchmark ($MODE run, parts $ONLY: $RUNS outage runs per daemon and kind, footprint window ${FOOTPRINT_SECS}s, scale ladder $SCALE_STEPS for ${SCALE_SECS}s)")
print("date:       $START_DATE")
print("kernel:     $(uname -r)")
print("cpu:        $CPU_MODEL, $(nproc) cores (shared; load $LOAD_START at start, $LOAD_END at end)")
print("vipd:       $VIPD (git $REV)")
print("keepalived: $(keepalived --version 2>&1 | head -n1)")
print("scale runs: ladders interleaved (vipd, keepalived at each count), each stops at its first failure; daemons $SCALE_POLICY")
print("logging: outage runs vipd VIPD_LOG=${VIPD_LOG:-info}, keepalived --log-detail; footprint/scale vipd VIPD_LOG=${BENCH_QUIET_VIPD_LOG:-warn}, keepalived without --log-detail")
if "footprint" in "$ONLY".split(","):
    print("footprint:  $FOOTPRINT_SETUP")
print("advert_int $ADVERT, priorities $MASTER_PRIORITY/$BACKUP_PRIORITY; Master_Down_Interval %.1f ms" % (3 * 100 + (256 - $BACKUP_PRIORITY) * 100 / 256))
print()

def floats(key, daemon):
    return [float(v) for v in rows[key][daemon]]

table = []
def add(label, unit, key, how="median"):
    cells, mids = [], []
    for d in ("vipd", "keepalived"):
        v = floats(key, d)
        fails = len(rows[key.replace("outage", "fail")][d]) if key.startswith("outage") else 0
        if not v:
            cells.append("n/a" + (f" ({fails} failed)" if fails else ""))
            mids.append(None)
            continue
        if how == "median":
            m = statistics.median(v)
            text = f"{m:.1f} ({min(v):.1f}-{max(v):.1f}, n={len(v)})"
            if fails:
                text += f" +{fails} failed"
        elif how == "mib":
            m = v[0] / 1024
            text = f"{m:.1f}"
        else:
            m = v[0]
            text = f"{m:g}"
        cells.append(text)
        mids.append(m)
    ratio = f"{mids[0] / mids[1]:.2f}" if None not in mids and mids[1] else "n/a"
    table.append((f"{label} [{unit}]", cells[0], cells[1], ratio))

add("unplanned failover outage, median (min-max)", "ms", "outage_cut")
add("planned handover outage, median (min-max)", "ms", "outage_term")
for vmac, name in (("0", "no VMAC"), ("1", "use_vmac")):
    for way, ka in (("reload", "priority 50 + reload"), ("term", "SIGTERM")):
        add(f"maintenance outage, {name}: vipd maintenance vs keepalived {ka}", "ms", f"maint_outage_{way}_{vmac}")
        add(f"maintenance lost probes at 2 ms, {name}: vipd vs keepalived {ka}", "probes", f"maint_lost_{way}_{vmac}")
for n in ("1", "100"):
    for role in ("master", "backup"):
        add(f"RSS {role}, {n} instance(s)", "MiB", f"rss_{role}_{n}", "mib")
for n in ("1", "100"):
    for role in ("master", "backup"):
        add(f"PSS {role}, {n} instance(s)", "MiB", f"pss_{role}_{n}", "mib")
for n in ("1", "100"):
    for role in ("master", "backup"):
        add(f"CPU {role}, {n} instance(s), utime+stime", "% of a core", f"cpu_{role}_{n}", "one")
for n in ("1", "100"):
    for role in ("master", "backup"):
        add(f"CPU {role}, {n} instance(s), schedstat", "% of a core", f"run_{role}_{n}", "one")
for n in ("1", "100"):
    for role in ("master", "backup"):
        add(f"wake-ups {role}, {n} instance(s)", "per second", f"wake_{role}_{n}", "one")
add("scale: most instances @10 ms, 0 spurious", "count", "scale_max", "one")

widths = [max(len(r[i]) for r in table + [("figure", "vipd", "keepalived", "vipd/keepalived")]) for i in range(4)]
def line(r):
    return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
print(line(("figure", "vipd", "keepalived", "vipd/keepalived")))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in table:
    print(line(r))
print()
print("scale ladder (advert_int 0.01, window ${SCALE_SECS}s):")
for d in ("vipd", "keepalived"):
    for detail in rows["scale_detail"][d]:
        print(f"  {d}: {detail}")
for d in ("vipd", "keepalived"):
    for tag in rows["maint_fail"][d]:
        print(f"  {d}: maintenance run {tag} failed")
for key in ("fail_footprint",):
    for d in ("vipd", "keepalived"):
        if rows[key][d]:
            print(f"  {d}: footprint run failed to converge")
EOF
