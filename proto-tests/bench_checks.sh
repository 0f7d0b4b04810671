#!/usr/bin/env bash
# Health checks (issue 10), vipd beside keepalived in one run. Not a test: it measures and prints
# one table (vipd, keepalived, ratio vipd/keepalived) plus the date, kernel and CPU model.
#
#   footprint   one router, 100 instances (VRIDs 1-100, advert_int 1, one /32 VIP each, master
#               of all), each tracking a check of its own (chk_1 … chk_100) at interval 1 s that
#               connects to a python http.server in a server namespace; CPU over a 30 s window
#               and RSS at its end, for: vipd with script checks, vipd with built-in tcp_connect
#               checks, keepalived 2.2.7 with the same script checks, and both without checks
#               (the baseline). The script is `#!/bin/bash` + `</dev/tcp/192.0.2.10/80`. The
#               server counts the connections (an nft counter on SYNs), which shows the checks
#               really ran (~100/s).
#   reaction    a pair: gw-a (150) and gw-b (100), advert_int 0.1, each checking its own service
#               (on a /32 of its lo) with weight -60, interval 1, fall 1; gw-a's service is killed
#               at a random moment (1-2 s after the last convergence, so at a random phase of
#               the check interval) and the time until the VIP is on gw-b's eth0 is taken from
#               `ip -ts monitor address` in gw-b. Median of N runs per kind of check: a script
#               (curl), tcp_connect, http_get, icmp_echo (the address removed), dns_query
#               (dnsmasq killed). keepalived has no built-in checks in vrrp_script: it runs the
#               script a keepalived user writes for each (bash /dev/tcp, curl | grep, ping, a
#               small python DNS client). The bound is interval + Master_Down_Interval
#               (1000 + 360.9 ms), + 1 s timeout for icmp and dns.
#
# CPU accounting: utime+stime+cutime+cstime (stat(5) fields 14-17) summed over every process in
# the daemon's namespace, at both ends of the window. Every check process is waited for by its
# parent (keepalived's VRRP child reaps its scripts; vipd reaps its `/bin/sh -c`, which reaps
# bash), and a parent's cutime/cstime hold the whole times of its reaped children, theirs
# included, so the difference counts every check run that ended in the window plus the part of
# those still running at its ends. keepalived's parent, its VRRP child and the scripts all
# count. (Not a cgroup: this host has cgroup v1, and the benchmark leaves the host's cgroup tree
# alone.) RSS: VmRSS of the daemon's long-lived processes (vipd; keepalived's parent + VRRP
# child) at the end of the window; check processes come and go and are left out.
#
# Every lab is a set of network namespaces of its own, named vbc<pid>-<n>-…, removed on every exit
# path; documentation addresses only. Run as root from the repository:
#
#   bash proto-tests/bench_checks.sh             # 30 s footprint windows, 5 reaction runs per kind
#   bash proto-tests/bench_checks.sh --quick     # 10 s windows, 3 runs
#
# Options: --footprint-secs S, --runs N, --instances N (default 100), --vipd PATH (use this binary,
# no build), --only LIST (comma list of footprint,reaction), --kinds "script tcp http icmp dns",
# --variants "vipd-none keepalived-none vipd-script keepalived-script vipd-tcp" (footprint runs),
# --daemons "vipd keepalived" (reaction runs),
# --keep (keep the work dir), --out FILE (also write the table there).
set -euo pipefail
cd "$(dirname "$0")/.."

FOOTPRINT_SECS=30
RUNS=5
INSTANCES=100
VIPD=
ONLY=footprint,reaction
KINDS="script tcp http icmp dns"
VARIANTS="vipd-none keepalived-none vipd-script keepalived-script vipd-tcp"
DAEMONS="vipd keepalived"
KEEP=0
OUT=
MODE=full
PYTHON=/usr/bin/python3
VIP=192.0.2.100
SERVER=192.0.2.10
SERVICE_A=192.0.2.11
SERVICE_B=192.0.2.12

BENCH_NAME=bench_checks
source proto-tests/bench_lib.sh
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) MODE=quick FOOTPRINT_SECS=10 RUNS=3 ;;
        --footprint-secs) FOOTPRINT_SECS=$2; shift ;;
        --runs) RUNS=$2; shift ;;
        --instances) INSTANCES=$2; shift ;;
        --vipd) VIPD=$2; shift ;;
        --only) ONLY=$2; shift ;;
        --kinds) KINDS=$2; shift ;;
        --variants) VARIANTS=$2; shift ;;
        --daemons) DAEMONS=$2; shift ;;
        --keep) KEEP=1 ;;
        --out) OUT=$2; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
require_root_and ip nft curl ping awk keepalived dnsmasq timeout "$PYTHON"
[[ $INSTANCES -ge 1 && $INSTANCES -le 250 ]] || die "--instances: 1 to 250"
wants() { [[ ",$ONLY," == *",$1,"* ]]; }

bench_init vbc vipd-bench-checks
build_vipd

# ---------------------------------------------------------------- lab
# lab_up NODE…: a switch namespace with br0 and one namespace per NODE cabled to it; sets
# NS_<node> (dashes as underscores) to each node's namespace.
lab_up() {
    local node
    lab_switch
    for node in "$@"; do
        lab_node "$node"
        printf -v "NS_${node//-/_}" '%s' "$NODE_NS"
    done
}

# start_daemon DAEMON NETNS NAME: NAME.conf in $WORK; sets DAEMON_PIDS_FILE (keepalived's VRRP
# child pid file) and STARTED_PID.
start_daemon() {
    local daemon=$1 netns=$2 base=$WORK/$3
    if [[ $daemon == vipd ]]; then
        mkdir -p "$base.run"
        bg "$netns" "$base.log" env VIPD_LOG="${VIPD_LOG:-warn}" "$VIPD" run -c "$base.conf" --runtime-dir "$base.run"
    else
        # Own pid files: without them a second keepalived finds /run/keepalived.pid and exits 0.
        bg "$netns" "$base.log" keepalived --dont-fork --log-console --no-syslog --vrrp --dont-respawn \
            -f "$base.conf" -p "$base.pid" -r "$base.vrrp.pid" -c "$base.checkers.pid" -b "$base.bfd.pid"
    fi
    STARTED_PID=$BG_PID
}

# daemon_pids DAEMON NAME PID: the long-lived processes of the daemon (keepalived: + VRRP child).
daemon_pids() {
    local daemon=$1 name=$2 pid=$3
    echo "$pid"
    if [[ $daemon == keepalived && -s $WORK/$name.vrrp.pid ]]; then cat "$WORK/$name.vrrp.pid"; fi
}

# ---------------------------------------------------------------- services
# python's threading http.server (port 80, serving health = "ok") on ADDR, which must be on the
# node, with a listen backlog of 1024 instead of socketserver's 5: vipd starts its 100 built-in
# checks in the same millisecond, and 5 pending connections overflow at once (seen: 84 of 100
# tcp_connect checks timing out, TcpExtListenOverflows 967 in 12 s), which would measure the
# server, not the checks.
cat >"$WORK/httpd.py" <<'PY'
import functools, http.server, sys
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
Server((sys.argv[1], 80), functools.partial(Quiet, directory=sys.argv[2])).serve_forever()
PY
start_http() {
    local netns=$1 addr=$2 tag=$3
    mkdir -p "$WORK/www-$tag"
    echo ok >"$WORK/www-$tag/health"
    bg "$netns" "$WORK/http-$tag.log" "$PYTHON" "$WORK/httpd.py" "$addr" "$WORK/www-$tag"
    SERVICE_PID=$BG_PID
}
start_dns() {
    local netns=$1 addr=$2 tag=$3
    bg "$netns" "$WORK/dns-$tag.log" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
        --bind-interfaces --listen-address="$addr" --address=/vipd.test/192.0.2.53 --port=53 --pid-file= --user=root
    SERVICE_PID=$BG_PID
}

cat >"$WORK/dnsq.py" <<'PY'
import socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
query = struct.pack(">HHHHHH", 0x1d1d, 0x0100, 1, 0, 0, 0)
for label in name.rstrip(".").split("."):
    query += bytes([len(label)]) + label.encode()
query += b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
try:
    s.sendto(query, (server, 53))
    reply = s.recv(512)
except OSError:
    sys.exit(1)
ident, flags, _, answers = struct.unpack(">HHHH", reply[:8])
sys.exit(0 if ident == 0x1d1d and flags & 0xf == 0 and answers > 0 else 1)
PY

# answers KIND NETNS ADDR: whether the service of KIND on ADDR answers, asked from NETNS.
answers() {
    case $1 in
        script|tcp|http) ip netns exec "$2" curl -sf -m 1 -o /dev/null "http://$3/health" ;;
        icmp) ip netns exec "$2" ping -n -q -c 1 -W 1 "$3" >/dev/null ;;
        dns) ip netns exec "$2" "$PYTHON" "$WORK/dnsq.py" "$3" vipd.test ;;
    esac
}

# service_up KIND NETNS ADDR TAG: starts it and waits until it answers (sets SERVICE_PID_<TAG>).
service_up() {
    local kind=$1 netns=$2 addr=$3 tag=$4
    SERVICE_PID=
    case $kind in
        script|tcp|http) start_http "$netns" "$addr" "$tag" ;;
        dns) start_dns "$netns" "$addr" "$tag" ;;
        icmp) ip -n "$netns" addr add "$addr/32" dev lo ;;
    esac
    printf -v "SERVICE_PID_$tag" '%s' "$SERVICE_PID"
    wait_cond 100 answers "$kind" "$netns" "$addr"
}
service_down() {
    local kind=$1 netns=$2 addr=$3 tag=$4 var="SERVICE_PID_$4"
    if [[ $kind == icmp ]]; then
        ip -n "$netns" addr del "$addr/32" dev lo
    else
        kill -KILL "${!var}" 2>/dev/null || true
        wait "${!var}" 2>/dev/null || true
    fi
}

write_exec() { printf '#!/bin/%s\n%s\n' "$1" "$3" >"$2"; chmod 755 "$2"; }

# ---------------------------------------------------------------- footprint
# proc_sample NETNS: "TICKS" = utime+stime+cutime+cstime summed over every process in NETNS.
proc_sample() {
    local ticks=0 pid stat fields
    for pid in $(ip netns pids "$1" 2>/dev/null); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        fields=${stat##*) }
        read -r -a f <<<"$fields"
        # After comm: state is f[0]; utime, stime, cutime, cstime are stat(5) fields 14-17.
        ticks=$((ticks + f[11] + f[12] + f[13] + f[14]))
    done
    echo "$ticks"
}
rss_kib() {
    local total=0 pid v
    for pid in "$@"; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
syn_count() {
    ip netns exec "$1" nft -j list counter inet vbc syns 2>/dev/null |
        "$PYTHON" -c 'import json,sys; print([o["counter"]["packets"] for o in json.load(sys.stdin)["nftables"] if "counter" in o][0])' 2>/dev/null || echo 0
}

# write_fp_conf VARIANT FILE: VARIANT vipd-script, vipd-tcp, vipd-none, keepalived-script, keepalived-none.
write_fp_conf() {
    local variant=$1 file=$2 i daemon=${1%%-*} check=${1#*-}
    if [[ $daemon == vipd ]]; then
        printf 'global_defs:\n  router_id: gw-a\n  vrrp_version: 3\n' >"$file"
        if [[ $check != none ]]; then
            printf 'vrrp_script:\n' >>"$file"
            for ((i = 1; i <= INSTANCES; i++)); do
                if [[ $check == script ]]; then
                    printf '  chk_%s: {script: "%s", interval: 1, weight: -60}\n' "$i" "$WORK/fp-check.sh" >>"$file"
                else
                    printf '  chk_%s: {tcp_connect: "%s:80", interval: 1, weight: -60}\n' "$i" "$SERVER" >>"$file"
                fi
            done
        fi
        printf 'vrrp_instance:\n' >>"$file"
        for ((i = 1; i <= INSTANCES; i++)); do
            local track=""
            [[ $check != none ]] && track="track_script: [chk_$i], "
            printf '  VI_%s: {interface: eth0, virtual_router_id: %s, priority: 150, advert_int: 1, %svirtual_ipaddress: [198.51.100.%s/32]}\n' \
                "$i" "$i" "$track" "$i" >>"$file"
        done
    else
        printf 'global_defs {\n  router_id gw-a\n  vrrp_version 3\n}\n' >"$file"
        for ((i = 1; i <= INSTANCES; i++)); do
            [[ $check == none ]] && continue
            printf 'vrrp_script chk_%s {\n  script "%s"\n  interval 1\n  weight -60\n}\n' "$i" "$WORK/fp-check.sh" >>"$file"
        done
        for ((i = 1; i <= INSTANCES; i++)); do
            local track=""
            [[ $check != none ]] && track="  track_script {\n    chk_$i\n  }\n"
            printf "vrrp_instance VI_%s {\n  state BACKUP\n  interface eth0\n  virtual_router_id %s\n  priority 150\n  advert_int 1\n${track}  virtual_ipaddress {\n    198.51.100.%s/32\n  }\n}\n" \
                "$i" "$i" "$i" >>"$file"
        done
    fi
}

# lowered_instances DAEMON NAME: how many instances run below their configured priority (a failed
# check) now: vipd's status; keepalived's last "Changing effective priority" line per instance.
lowered_instances() {
    if [[ $1 == vipd ]]; then
        timeout 10 ip netns exec "$NS_gw_a" "$VIPD" status --runtime-dir "$WORK/$2.run" --json 2>/dev/null |
            "$PYTHON" -c 'import json, sys; print(sum(i["effective_priority"] < i["priority"] for i in json.load(sys.stdin)["instances"]))' 2>/dev/null ||
            echo -1
    else
        "$PYTHON" - "$WORK/$2.log" <<'PY'
import re, sys
last = {}
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r"\((VI_\d+)\) Changing effective priority from \d+ to (\d+)", line)
    if m:
        last[m.group(1)] = int(m.group(2))
print(sum(p < 150 for p in last.values()))
PY
    fi
}

vip_count() { ip -n "$1" -4 -o addr show dev eth0 2>/dev/null | grep -c ' 198\.51\.100\.' || true; }

footprint_run() {
    local variant=$1 daemon=${1%%-*} tag="fp-$1"
    lab_up gw-a srv
    ip -n "$NS_gw_a" addr add 192.0.2.1/24 dev eth0
    ip -n "$NS_srv" addr add "$SERVER/24" dev eth0
    ip netns exec "$NS_srv" nft -f - <<'NFT'
table inet vbc {
    counter syns { }
    chain in { type filter hook input priority 0; tcp dport 80 tcp flags & (syn | ack) == syn counter name syns; }
}
NFT
    start_http "$NS_srv" "$SERVER" srv
    wait_cond 100 ip netns exec "$NS_gw_a" curl -sf -m 1 -o /dev/null "http://$SERVER/health" ||
        { log "  $variant: the server never answered"; record "fail_cpu_$variant" "$daemon" 1; lab_down; return; }
    write_fp_conf "$variant" "$WORK/$tag.conf"
    start_daemon "$daemon" "$NS_gw_a" "$tag"
    local pid=$STARTED_PID
    wait_cond 300 eval '! kill -0 "$pid" 2>/dev/null || [[ $(vip_count "$NS_gw_a") -eq $INSTANCES ]]' || true
    if ! kill -0 "$pid" 2>/dev/null || [[ $(vip_count "$NS_gw_a") -ne $INSTANCES ]]; then
        log "  $variant: $(vip_count "$NS_gw_a") of $INSTANCES VIPs (daemon $(kill -0 "$pid" 2>/dev/null && echo running || echo exited): $(tail -n 2 "$WORK/$tag.log" | tr '\n' ' '))"
        record "fail_cpu_$variant" "$daemon" 1
        record "fail_rss_$variant" "$daemon" 1
        lab_down
        return
    fi
    sleep 2 # the start-up GARPs are over and every check has run a few times
    local t0 t1 c0 c1 s0 s1
    t0=$(date +%s%N); c0=$(proc_sample "$NS_gw_a"); s0=$(syn_count "$NS_srv")
    sleep "$FOOTPRINT_SECS"
    c1=$(proc_sample "$NS_gw_a"); s1=$(syn_count "$NS_srv"); t1=$(date +%s%N)
    local clk_tck cpu rss checks_per_s
    clk_tck=$(getconf CLK_TCK)
    cpu=$(awk -v d=$((c1 - c0)) -v hz="$clk_tck" -v w=$((t1 - t0)) 'BEGIN { printf "%.2f", d / hz * 1e9 / w * 100 }')
    # shellcheck disable=SC2046
    rss=$(rss_kib $(daemon_pids "$daemon" "$tag" "$pid"))
    checks_per_s=$(awk -v n=$((s1 - s0)) -v w=$((t1 - t0)) 'BEGIN { printf "%.1f", n / w * 1e9 }')
    local alive=yes lowered
    kill -0 "$pid" 2>/dev/null || alive=no
    lowered=$(lowered_instances "$daemon" "$tag")
    log "  $variant: CPU $cpu% of a core, RSS $rss KiB, server saw $checks_per_s connections/s, $lowered instances below their priority at the end, daemon alive: $alive"
    record "lowered_$variant" "$daemon" "$lowered"
    record "cpu_$variant" "$daemon" "$cpu"
    record "rss_$variant" "$daemon" "$rss"
    record "checks_$variant" "$daemon" "$checks_per_s"
    lab_down
}

# ---------------------------------------------------------------- reaction
# reaction_conf DAEMON KIND FILE PRIORITY ADDR NODE
reaction_conf() {
    local daemon=$1 kind=$2 file=$3 prio=$4 addr=$5 node=$6
    local script=$WORK/react-$node-$kind.sh timeout=""
    [[ $kind == icmp || $kind == dns ]] && timeout=1
    case $kind in
        script) write_exec sh "$script" "exec curl -sf -m 1 -o /dev/null http://$addr/health" ;;
        tcp) write_exec sh "$script" "exec timeout 1 bash -c '</dev/tcp/$addr/80'" ;;
        http) write_exec sh "$script" "curl -sf -m 1 http://$addr/health | grep -q ok" ;;
        icmp) write_exec sh "$script" "exec ping -n -q -c 1 -W 1 $addr" ;;
        dns) write_exec sh "$script" "exec $PYTHON $WORK/dnsq.py $addr vipd.test" ;;
    esac
    if [[ $daemon == vipd ]]; then
        local probe
        case $kind in
            script) probe="script: \"$script\"" ;;
            tcp) probe="tcp_connect: \"$addr:80\"" ;;
            http) probe="http_get: {url: \"http://$addr/health\", status: 200, body_contains: \"ok\"}" ;;
            icmp) probe="icmp_echo: \"$addr\"" ;;
            dns) probe="dns_query: {server: \"$addr:53\", name: \"vipd.test.\", type: A}" ;;
        esac
        printf 'global_defs:\n  router_id: %s\n  vrrp_version: 3\nvrrp_script:\n  chk: {%s, interval: 1, %sweight: -60, rise: 1, fall: 1}\n' \
            "$node" "$probe" "${timeout:+timeout: $timeout, }" >"$file"
        printf 'vrrp_instance:\n  VI_1: {interface: eth0, virtual_router_id: 51, priority: %s, advert_int: 0.1, track_script: [chk], virtual_ipaddress: [%s/24]}\n' \
            "$prio" "$VIP" >>"$file"
    else
        printf 'global_defs {\n  router_id %s\n  vrrp_version 3\n}\nvrrp_script chk {\n  script "%s"\n  interval 1\n%s  weight -60\n  rise 1\n  fall 1\n}\n' \
            "$node" "$script" "${timeout:+  timeout $timeout
}" >"$file"
        printf 'vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority %s\n  advert_int 0.1\n  track_script {\n    chk\n  }\n  virtual_ipaddress {\n    %s/24\n  }\n}\n' \
            "$prio" "$VIP" >>"$file"
    fi
}

a_is_master() { holds "$NS_gw_a" "$VIP" && ! holds "$NS_gw_b" "$VIP"; }
b_is_master() { holds "$NS_gw_b" "$VIP" && ! holds "$NS_gw_a" "$VIP"; }

reaction_runs() {
    local daemon=$1 kind=$2 tag="react-$1-$2" run
    lab_up gw-a gw-b
    ip -n "$NS_gw_a" addr add 192.0.2.1/24 dev eth0
    ip -n "$NS_gw_b" addr add 192.0.2.2/24 dev eth0
    if [[ $kind != icmp ]]; then
        ip -n "$NS_gw_a" addr add "$SERVICE_A/32" dev lo
        ip -n "$NS_gw_b" addr add "$SERVICE_B/32" dev lo
    fi
    service_up "$kind" "$NS_gw_a" "$SERVICE_A" a || { log "  $tag: gw-a's service never answered"; record "fail_react_$kind" "$daemon" 1; lab_down; return; }
    service_up "$kind" "$NS_gw_b" "$SERVICE_B" b || { log "  $tag: gw-b's service never answered"; record "fail_react_$kind" "$daemon" 1; lab_down; return; }
    reaction_conf "$daemon" "$kind" "$WORK/$tag-a.conf" 150 "$SERVICE_A" gw-a
    reaction_conf "$daemon" "$kind" "$WORK/$tag-b.conf" 100 "$SERVICE_B" gw-b
    start_daemon "$daemon" "$NS_gw_b" "$tag-b"
    start_daemon "$daemon" "$NS_gw_a" "$tag-a"
    local pid_a=$STARTED_PID
    wait_cond 150 eval '! kill -0 "$pid_a" 2>/dev/null || a_is_master' || true
    if ! a_is_master; then
        log "  $tag: gw-a never the sole master ($(tail -n 2 "$WORK/$tag-a.log" | tr '\n' ' '))"
        record "fail_react_$kind" "$daemon" 1
        lab_down
        return
    fi
    for ((run = 1; run <= RUNS; run++)); do
        sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", 1 + r / 32768 }')"
        local mon=$WORK/$tag-$run.monitor
        bg "$NS_gw_b" "$mon" ip -ts monitor address
        local mon_pid=$BG_PID
        sleep 0.2
        local killed
        killed=$(date +%s.%N)
        service_down "$kind" "$NS_gw_a" "$SERVICE_A" a
        local ok=1
        wait_cond 100 b_is_master || ok=0
        kill "$mon_pid" 2>/dev/null || true
        wait "$mon_pid" 2>/dev/null || true
        local took=
        if [[ $ok -eq 1 ]]; then
            took=$("$PYTHON" - "$mon" "$killed" "$VIP" <<'PY'
import datetime, sys
path, killed, vip = sys.argv[1], float(sys.argv[2]), sys.argv[3]
for line in open(path):
    if line.startswith("[") and f" inet {vip}/" in line and "Deleted" not in line:
        at = datetime.datetime.fromisoformat(line[1:line.index("]")]).timestamp()
        print(f"{(at - killed) * 1000:.1f}")
        break
PY
)
        fi
        if [[ -n $took ]]; then
            log "  $daemon $kind run $run: service dead -> VIP on gw-b in $took ms"
            record "react_$kind" "$daemon" "$took"
        else
            log "  $daemon $kind run $run: gw-b did not take over within 10 s"
            record "fail_react_$kind" "$daemon" 1
        fi
        service_up "$kind" "$NS_gw_a" "$SERVICE_A" a || { log "  $tag: gw-a's service did not come back"; break; }
        wait_cond 100 a_is_master || { log "  $tag: gw-a did not preempt back"; break; }
    done
    lab_down
}

# ---------------------------------------------------------------- run
START_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work dir $WORK; mode $MODE"
if wants footprint; then
    log "== footprint: $INSTANCES instances, checks at interval 1 s, window ${FOOTPRINT_SECS}s"
    write_exec bash "$WORK/fp-check.sh" "</dev/tcp/$SERVER/80"
    for variant in $VARIANTS; do
        footprint_run "$variant"
    done
fi
if wants reaction; then
    log "== reaction: service dead -> VIP on gw-b, $RUNS runs per kind, daemons interleaved per kind"
    for kind in $KINDS; do
        for daemon in $DAEMONS; do reaction_runs "$daemon" "$kind"; done
    done
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    REV="$REV + uncommitted changes in the working tree"
fi
"$PYTHON" - "$RESULTS" <<EOF | tee ${OUT:+"$OUT"}
import collections, statistics, sys
rows = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    key, daemon, value = line.rstrip("\n").split("\t", 2)
    rows[key][daemon].append(value)

print("vipd vs keepalived health checks ($MODE run, parts $ONLY: $INSTANCES instances for ${FOOTPRINT_SECS}s; $RUNS reaction runs per kind)")
print("date:       $START_DATE")
print("kernel:     $(uname -r)")
print("cpu:        $CPU_MODEL, $(nproc) cores (shared; load $LOAD_START at start, $LOAD_END at end)")
print("vipd:       $VIPD (git $REV)")
print("keepalived: $(keepalived --version 2>&1 | head -n1)")
print("footprint:  one router, advert_int 1, checks at interval 1 s against a python http.server; vipd VIPD_LOG=${VIPD_LOG:-warn}")
print("reaction:   pair 150/100, advert_int 0.1 (Master_Down_Interval 360.9 ms), weight -60, interval 1, fall 1; icmp/dns timeout 1")
print()

def value(key, daemon):
    """(median, text) of a row's values for one daemon, or (None, 'n/a')."""
    v = [float(x) for x in rows[key][daemon]]
    fails = len(rows["fail_" + key][daemon])
    if not v:
        return None, "n/a" + (f" ({fails} failed)" if fails else "")
    m = statistics.median(v)
    digits = 2 if abs(m) < 10 else 1
    text = f"{m:.{digits}f}" if len(v) == 1 else f"{m:.{digits}f} ({min(v):.{digits}f}-{max(v):.{digits}f}, n={len(v)})"
    return m, text + (f" +{fails} failed" if fails else "")

table = []
def add(label, unit, vipd_key, keepalived_key, scale=1.0):
    (mv, tv), (mk, tk) = value(vipd_key, "vipd"), value(keepalived_key, "keepalived")
    if scale != 1.0:
        tv = "n/a" if mv is None else f"{mv * scale:.2f}"
        tk = "n/a" if mk is None else f"{mk * scale:.2f}"
    if mv is None and mk is None and "failed" not in tv + tk:
        return  # a part or kind not run
    ratio = f"{mv / mk:.2f}" if mv is not None and mk else "n/a"
    table.append((f"{label} [{unit}]", tv, tk, ratio))

for fp in ("cpu_", "rss_"):
    unit, scale = ("% of a core", 1.0) if fp == "cpu_" else ("MiB", 1 / 1024)
    what = "CPU incl. check processes" if fp == "cpu_" else "RSS"
    add(f"{what}, no checks (baseline)", unit, fp + "vipd-none", fp + "keepalived-none", scale)
    add(f"{what}, script checks", unit, fp + "vipd-script", fp + "keepalived-script", scale)
    add(f"{what}, vipd tcp_connect vs keepalived script", unit, fp + "vipd-tcp", fp + "keepalived-script", scale)
add("checks seen by the server, script checks", "conn/s", "checks_vipd-script", "checks_keepalived-script")
add("checks seen by the server, vipd tcp_connect vs keepalived script", "conn/s", "checks_vipd-tcp", "checks_keepalived-script")
add("instances below priority at the window's end, script checks", "count", "lowered_vipd-script", "lowered_keepalived-script")
add("instances below priority at the window's end, vipd tcp_connect vs keepalived script", "count", "lowered_vipd-tcp", "lowered_keepalived-script")
names = {"script": "script (curl), both", "tcp": "tcp_connect (keepalived: bash /dev/tcp)",
         "http": "http_get (keepalived: curl | grep ok)", "icmp": "icmp_echo (keepalived: ping -W 1)",
         "dns": "dns_query (keepalived: python DNS client)"}
for kind in "$KINDS".split():
    add(f"service dead -> VIP on gw-b, {names[kind]}, median (min-max)", "ms", f"react_{kind}", f"react_{kind}")

header = ("figure", "vipd", "keepalived", "vipd/keepalived")
widths = [max(len(r[i]) for r in table + [header]) for i in range(4)]
def line(r):
    return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
print(line(header))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in table:
    print(line(r))
EOF
