#!/usr/bin/env bash
# The fault matrix (issue 15 §1): faults a real gateway meets, each applied to a vipd pair and a
# keepalived pair side by side in one lab, at the same time. Not a test: it measures and prints one
# table.
#
# The lab (a fresh one per fault): a switch (bridge) with va (192.0.2.1) and vb (.2) running vipd
# (VRID 51, VIP 192.0.2.100/24), ka (.3) and kb (.4) running keepalived 2.2.7 (VRID 52, VIP
# 192.0.2.200/24), a third host (.66) for the attacks and a client (.10). Both pairs: advert_int
# 0.1, priorities 150 (va, ka) / 100 (vb, kb), use_vmac (vrrp.51 / vrrp.52), one virtual rule
# (from VIP lookup 100). Master_Down_Interval 360.9 ms.
#
# For each fault and pair: wrong samples (zero or two VIP holders, sampled every ~0.1 s) during the
# fault and in a window after it settles, MASTER transitions (vipd: the status counters;
# keepalived: "Entering MASTER STATE" lines) from the fault's start to the window's end, and
# whether all four daemons are still running.
#
#   malformed   the third host sends VRRP packets for VRIDs 51 and 52, as fast as one sender can,
#               for 10 s: bad checksum, version 1, type 2, truncated, TTL 1, wrong address count,
#               all at priority 255
#   othervrids  valid VRRPv3 adverts (right checksum) for every other VRID, priority 255, from the
#               third host, as fast as one sender can, for 10 s
#   loss        20 % random loss of VRRP packets in the switch (nft bridge `numgen random mod 100
#               < 20 drop`, each copy of a multicast frame drawn apart) for 60 s
#   busy        both cores saturated by two busy loops for 10 s
#   flaps       40 flaps of both masters' switch ports (down, up), at random 20-120 ms intervals
#   sigkill     SIGKILL of both masters (keepalived: parent and VRRP child), 2 s later a restart
#               with the same config: what the dead one left (VIP, VMAC, rule) must go and
#               preemption bring it back
#   deleted     on both masters, someone else deletes the VIP, 2 s later the VMAC, 2 s later the
#               rule
#   reload      a reload (SIGHUP) of all four daemons every 2 s for 20 s, the client pinging
#               both VIPs every 10 ms
#
# Run as root from the repository:
#
#   bash proto-tests/bench_faults.sh                     # every fault
#   bash proto-tests/bench_faults.sh --only loss,busy    # some of them
#
# Options: --only LIST, --settle-secs S (wait after a fault, default 3), --window-secs S (sampling
# after it, default 5), --loss-secs S (default 60), --vipd PATH (no build), --keep, --out FILE.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=malformed,othervrids,loss,busy,flaps,sigkill,deleted,reload
ONLY=$ALL
SETTLE_SECS=3
WINDOW_SECS=5
LOSS_SECS=60
VIPD=
KEEP=0
OUT=
ADVERT=0.1

BENCH_NAME=bench_faults
source proto-tests/bench_lib.sh
while [[ $# -gt 0 ]]; do
    case $1 in
        --only) ONLY=$2; shift ;;
        --settle-secs) SETTLE_SECS=$2; shift ;;
        --window-secs) WINDOW_SECS=$2; shift ;;
        --loss-secs) LOSS_SECS=$2; shift ;;
        --vipd) VIPD=$2; shift ;;
        --keep) KEEP=1 ;;
        --out) OUT=$2; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
require_root_and ip nft ping awk python3 keepalived timeout
wants() { [[ ",$ONLY," == *",$1,"* ]]; }
bench_init vbf vipd-bench-faults
build_vipd

VIP_V=192.0.2.100 VIP_K=192.0.2.200 VRID_V=51 VRID_K=52

# ---------------------------------------------------------------- lab
lab_up() {
    lab_switch
    SW=$LAB_SW
    lab_node va; VA=$NODE_NS
    lab_node vb; VB=$NODE_NS
    lab_node ka; KA=$NODE_NS
    lab_node kb; KB=$NODE_NS
    lab_node att; ATT=$NODE_NS
    lab_node client; CL=$NODE_NS
    ip -n "$VA" addr add 192.0.2.1/24 dev eth0
    ip -n "$VB" addr add 192.0.2.2/24 dev eth0
    ip -n "$KA" addr add 192.0.2.3/24 dev eth0
    ip -n "$KB" addr add 192.0.2.4/24 dev eth0
    ip -n "$ATT" addr add 192.0.2.66/24 dev eth0
    ip -n "$CL" addr add 192.0.2.10/24 dev eth0
}

# write_conf DAEMON FILE PRIORITY
write_conf() {
    local daemon=$1 file=$2 prio=$3
    if [[ $daemon == vipd ]]; then
        cat >"$file" <<EOF
global_defs: {vrrp_version: 3}
vrrp_instance:
  VI_F: {interface: eth0, virtual_router_id: $VRID_V, priority: $prio, advert_int: $ADVERT, use_vmac: true,
         virtual_ipaddress: [$VIP_V/24], virtual_rules: ["from $VIP_V table 100 priority 100"]}
EOF
    else
        cat >"$file" <<EOF
global_defs {
  vrrp_version 3
}
vrrp_instance VI_F {
  state BACKUP
  interface eth0
  virtual_router_id $VRID_K
  priority $prio
  advert_int $ADVERT
  use_vmac
  virtual_ipaddress {
    $VIP_K/24
  }
  virtual_rules {
    from $VIP_K table 100 priority 101
  }
}
EOF
    fi
}

# start NAME (va vb ka kb): starts its daemon; sets PID_<name>.
start() {
    local name=$1 netns base=$WORK/$LAB-$1 daemon=vipd prio=100
    case $name in va) netns=$VA ;; vb) netns=$VB ;; ka) netns=$KA ;; kb) netns=$KB ;; esac
    [[ $name == k* ]] && daemon=keepalived
    [[ $name == ?a ]] && prio=150
    write_conf "$daemon" "$base.conf" "$prio"
    if [[ $daemon == vipd ]]; then
        mkdir -p "$base.run"
        bg "$netns" "$base.log" env VIPD_LOG="${VIPD_LOG:-info}" "$VIPD" run -c "$base.conf" --runtime-dir "$base.run"
    else
        # Own pid files: without them a second keepalived finds /run/keepalived.pid and exits 0.
        bg "$netns" "$base.log" keepalived --dont-fork --log-console --no-syslog --vrrp --dont-respawn \
            -f "$base.conf" -p "$base.pid" -r "$base.vrrp.pid" -c "$base.checkers.pid" -b "$base.bfd.pid"
    fi
    printf -v "PID_$name" '%s' "$BG_PID"
}

# holders VIP: how many of the pair's namespaces carry VIP (on any interface).
holders() {
    local vip=$1 n=0 netns
    local pair=("$VA" "$VB")
    [[ $vip == "$VIP_K" ]] && pair=("$KA" "$KB")
    for netns in "${pair[@]}"; do
        ip -n "$netns" -4 -o addr show 2>/dev/null | grep " $vip/" >/dev/null && n=$((n + 1))
    done
    echo "$n"
}
holder_is() { ip -n "$1" -4 -o addr show 2>/dev/null | grep " $2/" >/dev/null; }
converged() { holder_is "$VA" "$VIP_V" && holder_is "$KA" "$VIP_K" && [[ $(holders $VIP_V) -eq 1 && $(holders $VIP_K) -eq 1 ]]; }

# transitions DAEMON: MASTER transitions so far over the pair (vipd: every run's log, since a
# restarted daemon's counters start again at zero).
transitions() {
    if [[ $1 == vipd ]]; then
        cat "$WORK/$LAB"-v?.log* 2>/dev/null | grep -c -- "-> MASTER" || true
    else
        cat "$WORK/$LAB"-k?.log* 2>/dev/null | grep -c "Entering MASTER STATE" || true
    fi
}

# sample SECS PHASE: samples both pairs' holders until SECS pass; adds to WRONG_<phase>_<daemon>.
sample() {
    local secs=$1 phase=$2 end n
    end=$(($(date +%s%N) + secs * 1000000000))
    while [[ $(date +%s%N) -lt $end ]]; do
        n=$(holders $VIP_V); [[ $n -ne 1 ]] && eval "WRONG_${phase}_vipd=\$((WRONG_${phase}_vipd + 1))"
        n=$(holders $VIP_K); [[ $n -ne 1 ]] && eval "WRONG_${phase}_keepalived=\$((WRONG_${phase}_keepalived + 1))"
        SAMPLES=$((SAMPLES + 1))
        sleep 0.1
    done
}

# ---------------------------------------------------------------- attack traffic
cat >"$WORK/vrrpgen.py" <<'PY'
# vrrpgen.py KIND SECS VRID...: VRRPv3 packets to 224.0.0.18 from this host, as fast as it can.
import socket, struct, sys, time
kind, secs, vrids = sys.argv[1], float(sys.argv[2]), [int(v) for v in sys.argv[3:]]
SRC, DST = socket.inet_aton("192.0.2.66"), socket.inet_aton("224.0.0.18")

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def advert(vrid, version=3, type_=1, count=1, addrs=(b"\xc6\x33\x64\x01",), bad_sum=False):
    body = struct.pack("!BBBBH", (version << 4) | type_, vrid, 255, count, 10) + b"".join(addrs)
    pseudo = SRC + DST + struct.pack("!BBH", 0, 112, len(body) + 2)
    csum = checksum(pseudo + body[:6] + b"\0\0" + body[6:])
    if bad_sum:
        csum ^= 0x5A5A
    return body[:6] + struct.pack("!H", csum) + body[6:]

def raw(ttl):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    # No route to 224.0.0.0/4 in the lab: name the interface by its address.
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, SRC)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    return s
ttl255, ttl1 = raw(255), raw(1)
packets = []
for vrid in vrids:
    if kind == "malformed":
        good = advert(vrid)
        packets += [
            (ttl255, advert(vrid, bad_sum=True)),
            (ttl255, advert(vrid, version=1)),
            (ttl255, advert(vrid, type_=2)),
            (ttl255, good[:5]),
            (ttl1, good),
            (ttl255, advert(vrid, count=4)),
        ]
    else:
        packets.append((ttl255, advert(vrid)))
sent, failed, error, end = 0, 0, None, time.monotonic() + secs
while time.monotonic() < end:
    for sock, data in packets:
        try:
            sock.sendto(data, ("224.0.0.18", 0))
            sent += 1
        except OSError as e:
            failed, error = failed + 1, e
print(f"{kind}: {sent} packets sent in {secs:.0f} s ({sent / secs:.0f}/s)"
      + (f", {failed} refused ({error})" if failed else ""))
PY

# ---------------------------------------------------------------- faults
fault_malformed() {
    bg "$ATT" "$WORK/$LAB-att.log" python3 "$WORK/vrrpgen.py" malformed 10 $VRID_V $VRID_K
    sample 10 during
    wait "$BG_PID" 2>/dev/null || true
    NOTE="$(cat "$WORK/$LAB-att.log")"
}

fault_othervrids() {
    local vrids=() v
    for ((v = 1; v <= 255; v++)); do [[ $v -ne $VRID_V && $v -ne $VRID_K ]] && vrids+=("$v"); done
    bg "$ATT" "$WORK/$LAB-att.log" python3 "$WORK/vrrpgen.py" valid 10 "${vrids[@]}"
    sample 10 during
    wait "$BG_PID" 2>/dev/null || true
    NOTE="$(cat "$WORK/$LAB-att.log")"
}

fault_loss() {
    ip netns exec "$SW" nft -f - <<EOF
table bridge vipd_bench_loss {
    chain forward {
        type filter hook forward priority 0;
        ether type ip ip protocol 112 numgen random mod 100 < 20 counter drop
        ether type ip ip protocol 112 counter
    }
}
EOF
    sample "$LOSS_SECS" during
    NOTE=$(ip netns exec "$SW" nft list table bridge vipd_bench_loss | awk '/counter/ { for (i = 1; i <= NF; i++) if ($i == "packets") v[n++] = $(i + 1) } END { printf "VRRP copies dropped %d, passed %d (%.1f %%)", v[0], v[1], 100 * v[0] / (v[0] + v[1]) }')
    ip netns exec "$SW" nft delete table bridge vipd_bench_loss
}

fault_busy() {
    local pids=() i
    for i in 1 2; do
        ip netns exec "$ATT" timeout 10 sh -c 'while :; do :; done' &
        pids+=($!)
        BG_PIDS+=($!)
    done
    sample 10 during
    for i in "${pids[@]}"; do wait "$i" 2>/dev/null || true; done
}

fault_flaps() {
    (
        for ((i = 0; i < 40; i++)); do
            ip -n "$SW" link set p1 down; ip -n "$SW" link set p3 down
            sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", 0.020 + 0.100 * r / 32768 }')"
            ip -n "$SW" link set p1 up; ip -n "$SW" link set p3 up
            sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", 0.020 + 0.100 * r / 32768 }')"
        done
    ) &
    local flapper=$!
    BG_PIDS+=("$flapper")
    local start=$(date +%s)
    while alive "$flapper"; do sample 1 during; done
    wait "$flapper" 2>/dev/null || true
    NOTE="40 flaps in $(($(date +%s) - start)) s"
}

fault_sigkill() {
    local vrrp_child
    kill -KILL "$PID_va"
    vrrp_child=$(cat "$WORK/$LAB-ka.vrrp.pid" 2>/dev/null || true)
    kill -KILL "$PID_ka"
    [[ -n $vrrp_child ]] && kill -KILL "$vrrp_child" 2>/dev/null || true
    sample 2 during
    local left_v left_k
    left_v=$(ip -n "$VA" -o addr show | grep -c " $VIP_V/" || true)
    left_k=$(ip -n "$KA" -o addr show | grep -c " $VIP_K/" || true)
    # The restart: same config, logs appended.
    mv "$WORK/$LAB-va.log" "$WORK/$LAB-va.log.1"; mv "$WORK/$LAB-ka.log" "$WORK/$LAB-ka.log.1"
    start va; start ka
    sample 3 during
    NOTE="left by the killed master: VIP vipd $left_v, keepalived $left_k"
}

fault_deleted() {
    sample 1 during
    ip -n "$VA" addr del "$VIP_V/24" dev vrrp.$VRID_V 2>/dev/null || true
    ip -n "$KA" addr del "$VIP_K/24" dev vrrp.$VRID_K 2>/dev/null || true
    sample 2 during
    ip -n "$VA" link del vrrp.$VRID_V 2>/dev/null || true
    ip -n "$KA" link del vrrp.$VRID_K 2>/dev/null || true
    sample 2 during
    ip -n "$VA" rule del from "$VIP_V" table 100 2>/dev/null || true
    ip -n "$KA" rule del from "$VIP_K" table 100 2>/dev/null || true
    sample 2 during
}
rules_ok() {
    local v k
    v=$(ip -n "$VA" rule show | grep -c "from $VIP_V lookup 100" || true)
    k=$(ip -n "$KA" rule show | grep -c "from $VIP_K lookup 100" || true)
    echo "rule on the masters at the end: vipd $v, keepalived $k"
}

fault_reload() {
    bg "$CL" "$WORK/$LAB-ping-v.log" ping -n -i 0.01 -W 1 -w 24 "$VIP_V"
    local ping_v=$BG_PID
    bg "$CL" "$WORK/$LAB-ping-k.log" ping -n -i 0.01 -W 1 -w 24 "$VIP_K"
    local ping_k=$BG_PID
    sample 1 during
    local i name
    for ((i = 0; i < 10; i++)); do
        for name in va vb ka kb; do eval "kill -HUP \$PID_$name"; done
        sample 2 during
    done
    kill -INT "$ping_v" "$ping_k" 2>/dev/null || true
    wait "$ping_v" "$ping_k" 2>/dev/null || true
    local loss_v loss_k
    loss_v=$(grep -o '[0-9.]*% packet loss' "$WORK/$LAB-ping-v.log" || echo "?")
    loss_k=$(grep -o '[0-9.]*% packet loss' "$WORK/$LAB-ping-k.log" || echo "?")
    NOTE="10 reloads each; client pings to the VIP: vipd $loss_v, keepalived $loss_k"
}

# run_fault NAME
run_fault() {
    local fault=$1
    log "== $fault"
    lab_up
    start va; start vb; start ka; start kb
    if ! wait_cond 150 converged; then
        log "  no convergence in 15 s (vipd holders $(holders $VIP_V), keepalived $(holders $VIP_K))"
        record "$fault" all "no convergence"
        lab_down
        return
    fi
    sleep 1.5
    WRONG_during_vipd=0 WRONG_during_keepalived=0 WRONG_after_vipd=0 WRONG_after_keepalived=0 SAMPLES=0 NOTE=
    local t0_v t0_k
    t0_v=$(transitions vipd); t0_k=$(transitions keepalived)
    "fault_$fault"
    local during_samples=$SAMPLES
    sleep "$SETTLE_SECS"
    SAMPLES=0
    sample "$WINDOW_SECS" after
    local after_samples=$SAMPLES
    [[ $fault == deleted ]] && NOTE=$(rules_ok)
    local alive_v=yes alive_k=yes name
    for name in va vb; do eval "alive \$PID_$name" || alive_v=no; done
    for name in ka kb; do eval "alive \$PID_$name" || alive_k=no; done
    local tr_v=$(($(transitions vipd) - t0_v)) tr_k=$(($(transitions keepalived) - t0_k))
    local final_v=ok final_k=ok
    holder_is "$VA" "$VIP_V" || final_v="VIP not on va"
    holder_is "$KA" "$VIP_K" || final_k="VIP not on ka"
    log "  vipd: wrong $WRONG_during_vipd/$during_samples during, $WRONG_after_vipd/$after_samples after; $tr_v MASTER transitions; alive $alive_v; end: $final_v"
    log "  keepalived: wrong $WRONG_during_keepalived/$during_samples during, $WRONG_after_keepalived/$after_samples after; $tr_k MASTER transitions; alive $alive_k; end: $final_k"
    [[ -n $NOTE ]] && log "  $NOTE"
    record "$fault" vipd "$WRONG_during_vipd/$during_samples|$WRONG_after_vipd/$after_samples|$tr_v|$alive_v|$final_v"
    record "$fault" keepalived "$WRONG_during_keepalived/$during_samples|$WRONG_after_keepalived/$after_samples|$tr_k|$alive_k|$final_k"
    record "$fault" note "$NOTE"
    lab_down
}

START_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work dir $WORK"
IFS=, read -r -a FAULTS <<<"$ALL"
for fault in "${FAULTS[@]}"; do
    wants "$fault" && run_fault "$fault"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null) ]] && REV="$REV + uncommitted changes"

python3 - "$RESULTS" <<EOF | tee ${OUT:+"$OUT"}
import collections, sys
rows = collections.defaultdict(dict)
order = []
for line in open(sys.argv[1]):
    fault, who, value = line.rstrip("\n").split("\t", 2)
    if fault not in order:
        order.append(fault)
    rows[fault][who] = value
print("fault matrix, vipd beside keepalived in one lab per fault")
print("date:       $START_DATE")
print("kernel:     $(uname -r); $(nproc) cores (shared; load $LOAD_START at start, $LOAD_END at end)")
print("vipd:       $VIPD (git $REV)")
print("keepalived: $(keepalived --version 2>&1 | head -n1)")
print("advert_int $ADVERT, priorities 150/100, use_vmac + one virtual rule; settle ${SETTLE_SECS}s, window ${WINDOW_SECS}s")
print()
head = ("fault", "daemon", "wrong during", "wrong after", "MASTER transitions", "alive", "end state")
table = []
for fault in order:
    for who in ("vipd", "keepalived"):
        if who not in rows[fault]:
            table.append((fault, who, rows[fault].get("all", "?"), "", "", "", ""))
            continue
        during, after, tr, alive, end = rows[fault][who].split("|")
        table.append((fault, who, during, after, tr, alive, end))
widths = [max(len(r[i]) for r in table + [head]) for i in range(len(head))]
line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
print(line(head))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in table:
    print(line(r))
print()
for fault in order:
    if rows[fault].get("note"):
        print(f"{fault}: {rows[fault]['note']}")
EOF
