#!/usr/bin/env bash
# vipd demo: two VRRPv3 routers (gw-a priority 150, gw-b priority 100, advert_int 0.1, VIP
# 192.0.2.100/24) and a client on a bridge, all in network namespaces of their own. Shows the
# election, pings the VIP every 2 ms, cuts the master's link, prints the measured outage beside
# Master_Down_Interval, then (vipd) puts the master in maintenance with the client's lost-probe
# count, and removes everything (namespaces, processes, files) on every exit path.
#
# Run as root from the repository. VIPD_DEMO_DAEMON=keepalived runs the same demo with Debian's
# keepalived instead of vipd (a reference figure). Nothing touches the root namespace's interfaces.
set -euo pipefail
cd "$(dirname "$0")/.."

DAEMON=${VIPD_DEMO_DAEMON:-vipd}
VIP=192.0.2.100
ADVERT_MS=100
BACKUP_PRIORITY=100

die() { echo "demo: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root: the demo builds network namespaces"
[[ $DAEMON == vipd || $DAEMON == keepalived ]] || die "VIPD_DEMO_DAEMON must be vipd or keepalived, not '$DAEMON'"
for tool in ip ping awk; do command -v "$tool" >/dev/null || die "$tool is missing (apt-get install iproute2 iputils-ping gawk)"; done

# Namespaces are named vd<pid>-…: the pid tells a later run which ones an earlier, killed run left.
PREFIX="vd$$-"
SW=${PREFIX}sw
NODES=(gw-a gw-b client)
WORK=$(mktemp -d /tmp/vipd-demo.XXXXXX)
DAEMON_PIDS=()
PING_PID=

ns() { echo "${PREFIX}$1"; }

kill_netns() {
    local netns=$1 pid round
    for round in 1 2 3 4 5; do
        local pids
        pids=$(ip netns pids "$netns" 2>/dev/null || true)
        [[ -z $pids ]] && break
        for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
        sleep 0.05
    done
    ip netns del "$netns" 2>/dev/null || true
}

cleanup() {
    local status=$?
    # Cleanup is bounded (a few seconds); a second Ctrl-C must not leave half a lab behind.
    trap '' INT TERM
    trap - EXIT
    echo "== cleaning up"
    # A graceful stop first: a daemon's SIGTERM path is part of what it must get right.
    local pid waited
    if [[ -n $PING_PID ]]; then kill -INT "$PING_PID" 2>/dev/null || true; wait "$PING_PID" 2>/dev/null || true; fi
    for pid in "${DAEMON_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${DAEMON_PIDS[@]}"; do
        for waited in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    for node in "${NODES[@]}"; do kill_netns "$(ns "$node")"; done
    for pid in "${DAEMON_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    kill_netns "$SW"
    local left
    left=$(ip netns list | awk '{print $1}' | grep "^${PREFIX}" || true)
    if [[ -n $left ]]; then
        echo "demo: namespaces left behind: $left" >&2
        status=1
    else
        echo "   all demo namespaces removed; none left"
    fi
    if [[ $status -eq 130 || $status -eq 143 ]]; then
        echo "demo: interrupted"
        rm -rf "$WORK"
    elif [[ $status -ne 0 ]]; then
        echo "demo: failed (exit $status); logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Namespaces of earlier demo runs that were killed before they could clean up.
for netns in $(ip netns list | awk '{print $1}' | grep -E '^vd[0-9]+-' || true); do
    owner=${netns#vd}; owner=${owner%%-*}
    [[ -d /proc/$owner ]] || kill_netns "$netns"
done

if [[ $DAEMON == vipd ]]; then
    command -v cargo >/dev/null || die "cargo is missing (scripts/setup.sh installs it)"
    echo "== building vipd (cargo build --release)"
    cargo build --release --quiet --bin vipd
    VIPD="${CARGO_TARGET_DIR:-$PWD/target}/release/vipd"
    [[ -x $VIPD ]] || die "no binary at $VIPD"
else
    command -v keepalived >/dev/null || die "keepalived is missing (apt-get install keepalived)"
fi

echo "== lab: bridge in $SW; gw-a (192.0.2.1, prio 150), gw-b (192.0.2.2, prio $BACKUP_PRIORITY), client (192.0.2.10)"
ip netns add "$SW"
ip -n "$SW" link set lo up
ip -n "$SW" link add br0 type bridge mcast_snooping 0 stp_state 0
ip -n "$SW" link set br0 up
port=0
declare -A PORT
for node in "${NODES[@]}"; do
    port=$((port + 1))
    PORT[$node]=p$port
    netns=$(ns "$node")
    ip netns add "$netns"
    ip netns exec "$netns" sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    ip -n "$netns" link set lo up
    # The veth pair is born in the switch namespace with its peer placed straight into the node.
    ip -n "$SW" link add "p$port" type veth peer name eth0 netns "$netns"
    ip -n "$SW" link set "p$port" master br0 up
    ip -n "$netns" link set eth0 up
done
ip -n "$(ns gw-a)" addr add 192.0.2.1/24 dev eth0
ip -n "$(ns gw-b)" addr add 192.0.2.2/24 dev eth0
ip -n "$(ns client)" addr add 192.0.2.10/24 dev eth0

start_router() { # name priority
    local name=$1 priority=$2 netns
    netns=$(ns "$name")
    if [[ $DAEMON == vipd ]]; then
        cat >"$WORK/$name.yaml" <<EOF
global_defs:
  router_id: $name
  vrrp_version: 3
vrrp_instance:
  VI_1:
    interface: eth0
    virtual_router_id: 51
    priority: $priority
    advert_int: 0.1
    virtual_ipaddress:
      - $VIP/24
EOF
        mkdir -p "$WORK/$name.run"
        ip netns exec "$netns" "$VIPD" run -c "$WORK/$name.yaml" --runtime-dir "$WORK/$name.run" \
            >"$WORK/$name.log" 2>&1 &
    else
        cat >"$WORK/$name.conf" <<EOF
global_defs {
  router_id $name
  vrrp_version 3
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority $priority
  advert_int 0.1
  virtual_ipaddress {
    $VIP/24
  }
}
EOF
        # Own pid files so it never clashes with another keepalived; foreground, log to stderr.
        ip netns exec "$netns" keepalived --dont-fork --log-console --log-detail --no-syslog --vrrp \
            --dont-respawn -f "$WORK/$name.conf" -p "$WORK/$name.pid" -r "$WORK/$name.vrrp.pid" \
            -c "$WORK/$name.checkers.pid" -b "$WORK/$name.bfd.pid" >"$WORK/$name.log" 2>&1 &
    fi
    DAEMON_PIDS+=($!)
}

holds_vip() { ip -n "$(ns "$1")" -br addr show dev eth0 2>/dev/null | grep -w "$VIP/24" >/dev/null; }

# Waits up to $1 tenths of a second for the command after it to succeed.
wait_tenths() {
    local tenths=$1 i
    shift
    for i in $(seq 1 "$tenths"); do "$@" && return 0; sleep 0.1; done
    return 1
}

show_status() {
    local name state
    for name in gw-a gw-b; do
        if holds_vip "$name"; then state="holds $VIP"; else state="does not hold $VIP"; fi
        if [[ $DAEMON == vipd ]]; then
            echo "   $name: $state; vipd status:"
            ip netns exec "$(ns "$name")" "$VIPD" status --runtime-dir "$WORK/$name.run" 2>&1 | sed 's/^/      /' || true
        else
            local last
            last=$(grep -o 'Entering [A-Z]* STATE' "$WORK/$name.log" | tail -n 1 || true)
            echo "   $name: $state; keepalived: ${last:-no state yet}"
        fi
    done
}

# Fails the demo showing the end of each router's log.
fail() {
    local name
    for name in gw-a gw-b; do
        [[ -f $WORK/$name.log ]] || continue
        echo "   --- last lines of $name's $DAEMON log"
        tail -n 8 "$WORK/$name.log" | sed 's/^/   /'
    done
    die "$@"
}

daemons_alive() {
    local pid
    for pid in "${DAEMON_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || return 1; done
}

one_holder() {
    local count=0
    holds_vip gw-a && count=$((count + 1))
    holds_vip gw-b && count=$((count + 1))
    [[ $count -eq 1 ]]
}

echo "== starting $DAEMON on gw-a and gw-b (VRRPv3, VRID 51, advert_int 0.1, VIP $VIP/24)"
start_router gw-a 150
start_router gw-b "$BACKUP_PRIORITY"
for tenth in $(seq 1 100); do
    daemons_alive || fail "a $DAEMON process exited"
    one_holder && break
    [[ $tenth -eq 100 ]] && { show_status; fail "no single master after 10 s"; }
    sleep 0.1
done
sleep 0.5 # let the backup settle so status shows the steady state
echo "== election"
show_status
if holds_vip gw-a; then MASTER=gw-a BACKUP=gw-b; else MASTER=gw-b BACKUP=gw-a; fi

echo "== client pings $VIP every 2 ms; cutting $MASTER's link"
ip netns exec "$(ns client)" ping -n -D -i 0.002 -W 1 -c 10000 -w 15 "$VIP" >"$WORK/ping.log" 2>&1 &
PING_PID=$!
wait_tenths 30 grep -qs "bytes from" "$WORK/ping.log" || die "the client gets no reply from $VIP"
sleep 1
ip -n "$SW" link set "${PORT[$MASTER]}" down
CUT_NS=$(date +%s%N)
wait_tenths 50 holds_vip "$BACKUP" || fail "$BACKUP did not take $VIP over within 5 s"
TAKEOVER_MS=$(( ($(date +%s%N) - CUT_NS) / 1000000 ))
wait_tenths 30 ip netns exec "$(ns client)" ping -n -q -c 1 -W 0.2 "$VIP" >/dev/null ||
    fail "the client cannot reach $VIP after the takeover"
sleep 0.5
kill -INT "$PING_PID" 2>/dev/null || true
wait "$PING_PID" || true
PING_PID=

# The outage is the longest time between two consecutive replies (ping -D stamps each one).
read -r GAP_MS REPLIES SENT < <(awk '
    /bytes from/ { t = substr($1, 2, length($1) - 2) + 0; if (n++ && (t - prev) * 1000 > gap) gap = (t - prev) * 1000; prev = t }
    /packets transmitted/ { sent = $1 }
    END { printf "%.1f %d %d\n", gap, n, sent }' "$WORK/ping.log")
EXPECTED=$(awk -v a=$ADVERT_MS -v p=$BACKUP_PRIORITY 'BEGIN { printf "%.1f", 3 * a + (256 - p) * a / 256 }')
echo "== result ($DAEMON)"
echo "   outage seen by the client: ${GAP_MS} ms (longest gap between replies; $REPLIES of $SENT answered)"
echo "   expected Master_Down_Interval: 3 x ${ADVERT_MS} ms + (256-${BACKUP_PRIORITY})/256 x ${ADVERT_MS} ms = ${EXPECTED} ms"
echo "   $BACKUP held $VIP ${TAKEOVER_MS} ms after the cut"
echo "== after the cut"
show_status

if [[ $DAEMON == vipd ]]; then
    echo "== reconnecting $MASTER; it preempts back (priority 150)"
    ip -n "$SW" link set "${PORT[$MASTER]}" up
    wait_tenths 50 holds_vip "$MASTER" || fail "$MASTER did not take $VIP back within 5 s"
    wait_tenths 30 one_holder || fail "two routers hold $VIP"
    sleep 1
    echo "== planned maintenance: the client pings $VIP every 2 ms; vipd maintenance on VI_1 on $MASTER"
    ip netns exec "$(ns client)" ping -n -D -i 0.002 -W 1 -c 1500 -w 10 "$VIP" >"$WORK/ping-maint.log" 2>&1 &
    PING_PID=$!
    wait_tenths 30 grep -qs "bytes from" "$WORK/ping-maint.log" || die "the client gets no reply from $VIP"
    sleep 1
    ip netns exec "$(ns "$MASTER")" "$VIPD" maintenance on VI_1 --runtime-dir "$WORK/$MASTER.run" 2>&1 | sed 's/^/   /' ||
        fail "vipd maintenance on failed"
    wait "$PING_PID" || true
    PING_PID=
    read -r GAP_MS REPLIES SENT < <(awk '
        /bytes from/ { t = substr($1, 2, length($1) - 2) + 0; if (n++ && (t - prev) * 1000 > gap) gap = (t - prev) * 1000; prev = t }
        /packets transmitted/ { sent = $1 }
        END { printf "%.1f %d %d\n", gap, n, sent }' "$WORK/ping-maint.log")
    echo "   client: $((SENT - REPLIES)) of $SENT probes lost (longest gap between replies ${GAP_MS} ms)"
    show_status
    echo "== maintenance off: $MASTER returns under its preempt rule"
    ip netns exec "$(ns "$MASTER")" "$VIPD" maintenance off VI_1 --runtime-dir "$WORK/$MASTER.run" 2>&1 | sed 's/^/   /'
    wait_tenths 50 holds_vip "$MASTER" || fail "$MASTER did not take $VIP back after maintenance off"
    echo "   $MASTER holds $VIP again"
fi
