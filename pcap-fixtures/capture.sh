#!/usr/bin/env bash
# Regenerates the VRRP fixture captures in pcap-fixtures/ from real keepalived and FRR vrrpd.
#
# Usage (as root):  pcap-fixtures/capture.sh [SCENARIO...]
#   SCENARIO is one of the names below; without arguments every scenario is captured.
#   VFX_OUT=DIR writes the .pcap files to DIR instead of pcap-fixtures/.
#   VFX_KEEP_WORK=1 keeps the work dir (configs, daemon logs, raw captures) after success too.
#   Each <name>.pcap is followed by <name>.expected.json, written by expected.py (tshark).
#
# Each scenario builds its own network-namespace lab: a "switch" namespace holding a bridge,
# and two router namespaces (r1, r2) joined to it by veth pairs. Nothing is created in, or
# attached to, the root namespace. tcpdump runs in the switch namespace on the bridge and keeps
# only VRRP (IP protocol 112). Router r1 (priority 200) is started first and becomes master,
# r2 (priority 100) is started as backup; after a few adverts r1 is stopped gracefully (a
# priority-0 advert), r2 takes over, and then r2 is stopped gracefully too (a second
# priority-0 advert). Every daemon is started by this script and stopped by pid; the EXIT
# trap removes every namespace and kills whatever is left in them.
#
# Addresses: 192.0.2.0/24, 198.51.100.0/24 and 2001:db8::/64 (documentation ranges), router
# MACs 00:00:5e:00:53:11 / :12 (RFC 7042 documentation MACs), so link-locals are fixed too.

set -Eeuo pipefail

readonly HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly OUT="${VFX_OUT:-$HERE}"
readonly PFX="vfx-$$-"
readonly ALL_SCENARIOS=(keepalived-v2-pass keepalived-v2-ah keepalived-v3-vmac
	keepalived-v3-unicast keepalived-v3-ipv6 frr-v3-ipv4 frr-v3-ipv6)

# Bounds on every capture: no scenario runs longer than this, nor keeps more packets.
readonly CAPTURE_MAX_SECONDS=90
readonly CAPTURE_MAX_PACKETS=60
# Bounds on how long a stopped daemon may take to exit before it is killed.
readonly STOP_WAIT_TENTHS=50

WORK=""
STARTED_PIDS=()
NAMESPACES=()
FRR_PATHSPACES=()

log() { printf '[capture %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "run as root (network namespaces, raw sockets)"
for tool in ip tcpdump tshark keepalived /usr/lib/frr/zebra /usr/lib/frr/vrrpd vtysh timeout; do
	command -v "$tool" >/dev/null || die "missing $tool (apt-get install iproute2 tcpdump tshark keepalived frr)"
done

WORK="$(mktemp -d "/tmp/${PFX}XXXXXX")"
# FRR's daemons drop to user frr before reading their config files from here.
chmod 0755 "$WORK"

pid_alive() { kill -0 "$1" 2>/dev/null; }

# Sends SIGTERM to a pid and waits (bounded) for it to go; SIGKILL if it does not.
stop_pid() {
	local pid=$1 tenths=0
	pid_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	while pid_alive "$pid" && ((tenths < STOP_WAIT_TENTHS)); do
		sleep 0.1
		tenths=$((tenths + 1))
	done
	if pid_alive "$pid"; then
		log "pid $pid ignored SIGTERM for $((STOP_WAIT_TENTHS / 10)) s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# Kills every process still running inside a namespace of ours (daemon children such as
# keepalived's VRRP process), then deletes the namespace.
remove_namespace() {
	local ns=$1 pid
	for pid in $(ip netns pids "$ns" 2>/dev/null); do stop_pid "$pid"; done
	ip netns del "$ns" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local pid ns space
	for pid in "${STARTED_PIDS[@]}"; do stop_pid "$pid"; done
	for ns in "${NAMESPACES[@]}"; do remove_namespace "$ns"; done
	for space in "${FRR_PATHSPACES[@]}"; do rm -rf "/var/run/frr/$space"; done
	# A failure keeps its configs and logs for diagnosis; success and interruption do not.
	if ((rc == 0 || rc == 130 || rc == 143)) && [[ -z ${VFX_KEEP_WORK:-} ]]; then
		rm -rf "$WORK"
		((rc == 0)) || log "interrupted (exit $rc); lab removed"
	else
		log "exit $rc; configs and logs kept in $WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# The lab
# ---------------------------------------------------------------------------------------------

SW="" R1="" R2=""

lab_up() {
	SW="${PFX}sw"
	R1="${PFX}r1"
	R2="${PFX}r2"
	local ns i r
	for ns in "$SW" "$R1" "$R2"; do
		ip netns add "$ns"
		NAMESPACES+=("$ns")
		ip -n "$ns" link set lo up
		# Set before any interface exists so that every interface inherits it: no DAD delay,
		# no router solicitations cluttering the wire.
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.router_solicitations=0
	done
	# Multicast snooping off: VRRP groups must reach every port whatever MLD/IGMP says.
	ip -n "$SW" link add br0 type bridge mcast_snooping 0
	ip -n "$SW" link set br0 up
	for i in 1 2; do
		r="${PFX}r$i"
		ip -n "$r" link add eth0 address "00:00:5e:00:53:1$i" type veth peer name "p$i" netns "$SW"
		ip -n "$SW" link set "p$i" master br0 up
		ip -n "$r" addr add "192.0.2.1$i/24" dev eth0
		ip -n "$r" addr add "2001:db8::1$i/64" dev eth0 nodad
		ip -n "$r" link set eth0 up
	done
}

lab_down() {
	local pid ns
	for pid in "${STARTED_PIDS[@]}"; do stop_pid "$pid"; done
	STARTED_PIDS=()
	for ns in "${NAMESPACES[@]}"; do remove_namespace "$ns"; done
	NAMESPACES=()
}

CAPTURE_PID=""
CAPTURE_FILE=""

capture_start() {
	local name=$1 tenths=0
	CAPTURE_FILE="$WORK/$name.pcap"
	ip netns exec "$SW" timeout "$CAPTURE_MAX_SECONDS" \
		tcpdump -i br0 --immediate-mode -U -s 0 -c "$CAPTURE_MAX_PACKETS" -w "$CAPTURE_FILE" \
		'ip proto 112 or ip proto 51 or ip6 proto 112' 2>"$WORK/$name.tcpdump.log" &
	CAPTURE_PID=$!
	STARTED_PIDS+=("$CAPTURE_PID")
	until grep -q 'listening on' "$WORK/$name.tcpdump.log" 2>/dev/null; do
		((tenths++ < 50)) || die "tcpdump did not start: $(cat "$WORK/$name.tcpdump.log")"
		sleep 0.1
	done
}

capture_stop() {
	# Without --immediate-mode, libpcap hands packets over in blocks that the kernel retires
	# only after a timeout; SIGINT before that loses the last packets (it cost us the final
	# priority-0 advert). Immediate mode plus a pause makes the tail of the capture reliable.
	sleep 1
	# timeout forwards SIGINT to tcpdump, which writes what it has and closes the file.
	kill -INT "$CAPTURE_PID" 2>/dev/null || true
	wait "$CAPTURE_PID" 2>/dev/null || true
}

# Counts the VRRP packets in the capture, optionally only those matching a display filter.
count_vrrp() {
	local file=$1 filter=${2:-}
	tshark -r "$file" -Y "vrrp${filter:+ && ($filter)}" 2>/dev/null | wc -l
}

# Keeps the capture (copies it to $OUT) only if it has a sensible number of adverts and at
# least two priority-0 ones (one per graceful stop), and says so in CAPTURE_KEPT. (Not an exit
# status: a function run as an `if` condition would lose `set -e` for everything it calls.)
CAPTURE_KEPT=0
capture_check_and_keep() {
	local name=$1 total zero
	CAPTURE_KEPT=0
	capture_set_aside() {
		local aside
		aside="$(mktemp -d "$WORK/incomplete-$name-XXXX")"
		mv "$CAPTURE_FILE" "$WORK"/ka-r* "$WORK"/frr-r* "$aside"/ 2>/dev/null || true
		log "$name: incomplete attempt's capture and logs moved to $aside"
	}
	total=$(count_vrrp "$CAPTURE_FILE")
	zero=$(count_vrrp "$CAPTURE_FILE" 'vrrp.prio == 0')
	log "$name: $total VRRP packets, $zero with priority 0"
	if ((total < 8 || total > CAPTURE_MAX_PACKETS)); then
		log "$name: $total VRRP packets, expected 8..$CAPTURE_MAX_PACKETS"
		capture_set_aside
		return 0
	fi
	if ((zero < 2)); then
		log "$name: $zero priority-0 adverts, expected one per graceful stop"
		capture_set_aside
		return 0
	fi
	cp "$CAPTURE_FILE" "$OUT/$name.pcap"
	CAPTURE_KEPT=1
}

# Waits (bounded) until a file contains a pattern.
wait_for_log() {
	local file=$1 pattern=$2 seconds=$3 tenths=0
	until grep -q "$pattern" "$file" 2>/dev/null; do
		((tenths++ < seconds * 10)) || die "timed out waiting for '$pattern' in $file"
		sleep 0.1
	done
}

# ---------------------------------------------------------------------------------------------
# keepalived
# ---------------------------------------------------------------------------------------------

KEEPALIVED_PID=()

# keepalived_start ROUTER_INDEX CONFIG_TEXT: runs keepalived's VRRP subsystem in the router's
# namespace, in the foreground (-n) so that $! is its parent process; its own pid files live in
# the work dir so that several instances never collide.
keepalived_start() {
	local i=$1 config=$2 ns="${PFX}r$1" dir="$WORK/ka-r$1"
	mkdir -p "$dir"
	printf '%s\n' "$config" >"$dir/keepalived.conf"
	ip netns exec "$ns" keepalived -n -P -l -D -G \
		-f "$dir/keepalived.conf" -p "$dir/keepalived.pid" -r "$dir/vrrp.pid" \
		-c "$dir/checkers.pid" -b "$dir/bfd.pid" >"$dir/log" 2>&1 &
	KEEPALIVED_PID[i]=$!
	STARTED_PIDS+=("$!")
}

keepalived_log() { echo "$WORK/ka-r$1/log"; }

# The common run: r1 (priority 200, state MASTER) first, then r2; adverts; graceful stop of r1
# (priority 0), r2 takes over; graceful stop of r2 (priority 0).
keepalived_scenario() {
	local name=$1 advert_seconds=$2 config_r1=$3 config_r2=$4
	log "$name: building the lab"
	lab_up
	capture_start "$name"
	keepalived_start 1 "$config_r1"
	wait_for_log "$(keepalived_log 1)" 'Entering MASTER STATE' 10
	keepalived_start 2 "$config_r2"
	wait_for_log "$(keepalived_log 2)" 'Entering BACKUP STATE' 10
	sleep "$(awk "BEGIN{print $advert_seconds * 5}")"
	log "$name: SIGTERM to r1 (master)"
	stop_pid "${KEEPALIVED_PID[1]}"
	wait_for_log "$(keepalived_log 2)" 'Entering MASTER STATE' 10
	sleep "$(awk "BEGIN{print $advert_seconds * 4}")"
	log "$name: SIGTERM to r2 (new master)"
	stop_pid "${KEEPALIVED_PID[2]}"
	sleep 0.5
	capture_stop
	capture_check_and_keep "$name"
	lab_down
}

# keepalived_config ROUTER_INDEX STATE PRIORITY INSTANCE_BODY [GLOBAL_DEFS_BODY]
keepalived_config() {
	local i=$1 state=$2 priority=$3 body=$4 globals=${5:-}
	cat <<EOF
global_defs {
    router_id r$i
    enable_script_security
$globals
}
vrrp_instance VI_fixture {
    state $state
    interface eth0
    priority $priority
$body
}
EOF
}

scenario_keepalived_v2_pass() {
	# Seed 001's minimal pair (VRRPv2 is keepalived's default), with an 8-character password.
	local body='    virtual_router_id 1
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass SECUREUN
    }
    virtual_ipaddress {
        192.0.2.1/24
    }'
	keepalived_scenario keepalived-v2-pass 1 \
		"$(keepalived_config 1 MASTER 200 "$body")" \
		"$(keepalived_config 2 BACKUP 100 "$body")"
}

scenario_keepalived_v2_ah() {
	# keepalived's IPsec AH (IP protocol 51, HMAC-MD5-96 keyed by auth_pass). keepalived starts
	# a non-owner AH instance as BACKUP whatever its state says, so r1 becomes master after
	# Master_Down_Interval.
	local body='    virtual_router_id 2
    advert_int 1
    authentication {
        auth_type AH
        auth_pass SECUREUN
    }
    virtual_ipaddress {
        192.0.2.2/24
    }'
	keepalived_scenario keepalived-v2-ah 1 \
		"$(keepalived_config 1 MASTER 200 "$body")" \
		"$(keepalived_config 2 BACKUP 100 "$body")"
}

scenario_keepalived_v3_vmac() {
	local body='    virtual_router_id 51
    advert_int 0.5
    use_vmac
    virtual_ipaddress {
        192.0.2.51/24
        198.51.100.51/24
    }'
	keepalived_scenario keepalived-v3-vmac 0.5 \
		"$(keepalived_config 1 MASTER 200 "$body" '    vrrp_version 3')" \
		"$(keepalived_config 2 BACKUP 100 "$body" '    vrrp_version 3')"
}

scenario_keepalived_v3_unicast() {
	local common='    virtual_router_id 52
    advert_int 1
    virtual_ipaddress {
        192.0.2.52/24
    }'
	keepalived_scenario keepalived-v3-unicast 1 \
		"$(keepalived_config 1 MASTER 200 "$common
    unicast_src_ip 192.0.2.11
    unicast_peer {
        192.0.2.12
    }" '    vrrp_version 3')" \
		"$(keepalived_config 2 BACKUP 100 "$common
    unicast_src_ip 192.0.2.12
    unicast_peer {
        192.0.2.11
    }" '    vrrp_version 3')"
}

scenario_keepalived_v3_ipv6() {
	local body='    virtual_router_id 53
    advert_int 1
    virtual_ipaddress {
        2001:db8::53/64
        2001:db8::5353/64
    }'
	keepalived_scenario keepalived-v3-ipv6 1 \
		"$(keepalived_config 1 MASTER 200 "$body" '    vrrp_version 3')" \
		"$(keepalived_config 2 BACKUP 100 "$body" '    vrrp_version 3')"
}

# ---------------------------------------------------------------------------------------------
# FRR (zebra + vrrpd)
# ---------------------------------------------------------------------------------------------

FRR_ZEBRA_PID=()
FRR_VRRPD_PID=()

# frr_macvlan ROUTER_INDEX FAMILY VRID VIP/LEN: the macvlan FRR expects an operator to make.
frr_macvlan() {
	local i=$1 family=$2 vrid=$3 vip=$4 ns="${PFX}r$1" mac dev
	dev="vrrp$family-2-$vrid"
	if [[ $family == 4 ]]; then
		mac=$(printf '00:00:5e:00:01:%02x' "$vrid")
	else
		mac=$(printf '00:00:5e:00:02:%02x' "$vrid")
	fi
	# iproute2 6.1 + this kernel refuse "addrgenmode random" inside "link add" (EAFNOSUPPORT),
	# so it is set in a second step, before the link goes up and gets a link-local.
	ip -n "$ns" link add "$dev" link eth0 address "$mac" type macvlan mode bridge
	ip -n "$ns" link set "$dev" addrgenmode random
	if [[ $family == 4 ]]; then
		ip -n "$ns" addr add "$vip" dev "$dev"
	else
		ip -n "$ns" addr add "$vip" dev "$dev" nodad
	fi
	ip -n "$ns" link set "$dev" up
}

# frr_start ROUTER_INDEX VRRPD_CONFIG: zebra and vrrpd in the router's namespace, each in the
# foreground with the pathspace named after the namespace (sockets and pid files under
# /var/run/frr/<pathspace>/), no TCP vty (-P 0), config from the work dir (-f).
frr_start() {
	local i=$1 config=$2 ns="${PFX}r$1" dir="$WORK/frr-r$1" tenths=0
	mkdir -p "$dir"
	install -d -o frr -g frr -m 0755 "/var/run/frr/$ns"
	FRR_PATHSPACES+=("$ns")
	printf 'hostname r%s\n' "$i" >"$dir/zebra.conf"
	printf '%s\n' "$config" >"$dir/vrrpd.conf"
	chown -R frr:frr "$dir"
	ip netns exec "$ns" /usr/lib/frr/zebra -N "$ns" -P 0 -f "$dir/zebra.conf" \
		--log stdout --log-level debug >"$dir/zebra.log" 2>&1 &
	FRR_ZEBRA_PID[i]=$!
	STARTED_PIDS+=("$!")
	# zserv.api appears before zebra listens on it; vrrpd connecting too early is refused and
	# retries only 10 s later. zebra answering on its vty means its event loop (and zserv) runs.
	until vtysh -N "$ns" -d zebra -c 'show version' >/dev/null 2>&1; do
		((tenths++ < 100)) || die "zebra in $ns does not answer: $(tail -5 "$dir/zebra.log")"
		sleep 0.1
	done
	ip netns exec "$ns" /usr/lib/frr/vrrpd -N "$ns" -P 0 -f "$dir/vrrpd.conf" \
		--log stdout --log-level debug >"$dir/vrrpd.log" 2>&1 &
	FRR_VRRPD_PID[i]=$!
	STARTED_PIDS+=("$!")
}

frr_vtysh() {
	local i=$1
	shift
	vtysh -N "${PFX}r$i" "$@"
}

# Waits (bounded) until the router reports the given VRRP state for the family.
frr_wait_state() {
	local i=$1 vrid=$2 family=$3 state=$4 seconds=$5 tenths=0
	until frr_vtysh "$i" -c "show vrrp $vrid" 2>/dev/null | grep -Eq "^ *Status \(v$family\) +$state"; do
		((tenths++ < seconds * 10)) || die "r$i never reached $state (v$family): $(frr_vtysh "$i" -c "show vrrp $vrid" 2>&1 | tail -30)"
		sleep 0.1
	done
}

# frr_scenario NAME FAMILY VRID VIP/LEN VIP ADVERT_MS
frr_scenario() {
	local name=$1 family=$2 vrid=$3 vip_with_len=$4 vip=$5 advert_ms=$6 keyword i config
	[[ $family == 4 ]] && keyword=ip || keyword=ipv6
	log "$name: building the lab"
	lab_up
	for i in 1 2; do frr_macvlan "$i" "$family" "$vrid" "$vip_with_len"; done
	capture_start "$name"
	for i in 1 2; do
		config="debug vrrp
interface eth0
 vrrp $vrid version 3
 vrrp $vrid priority $((i == 1 ? 200 : 100))
 vrrp $vrid advertisement-interval $advert_ms
 vrrp $vrid $keyword $vip"
		frr_start "$i" "$config"
		if ((i == 1)); then
			frr_wait_state 1 "$vrid" "$family" Master 30
			log "$name: r1 is Master"
		fi
	done
	frr_wait_state 2 "$vrid" "$family" Backup 30
	log "$name: r2 is Backup"
	sleep "$(awk "BEGIN{print $advert_ms * 5 / 1000}")"
	log "$name: SIGTERM to r1's vrrpd (master)"
	stop_pid "${FRR_VRRPD_PID[1]}"
	frr_wait_state 2 "$vrid" "$family" Master 15
	sleep "$(awk "BEGIN{print $advert_ms * 4 / 1000}")"
	log "$name: SIGTERM to r2's vrrpd (new master)"
	stop_pid "${FRR_VRRPD_PID[2]}"
	sleep 0.5
	capture_stop
	for i in 1 2; do stop_pid "${FRR_ZEBRA_PID[i]}"; done
	capture_check_and_keep "$name"
	lab_down
}

scenario_frr_v3_ipv4() { frr_scenario frr-v3-ipv4 4 5 192.0.2.5/24 192.0.2.5 1000; }
scenario_frr_v3_ipv6() { frr_scenario frr-v3-ipv6 6 6 2001:db8::6/64 2001:db8::6 1000; }

# ---------------------------------------------------------------------------------------------

main() {
	local scenarios=("$@") name attempt
	((${#scenarios[@]})) || scenarios=("${ALL_SCENARIOS[@]}")
	mkdir -p "$OUT"
	for name in "${scenarios[@]}"; do
		[[ " ${ALL_SCENARIOS[*]} " == *" $name "* ]] || die "unknown scenario $name (known: ${ALL_SCENARIOS[*]})"
		# A scenario whose capture misses a priority-0 advert (a daemon or the capture losing
		# one) is run again, a bounded number of times.
		for attempt in 1 2 3; do
			"scenario_${name//-/_}"
			((CAPTURE_KEPT)) && break
			((attempt < 3)) || die "$name: no complete capture in 3 attempts"
			log "$name: capture incomplete, attempt $((attempt + 1))"
		done
	done
	local written=()
	for name in "${scenarios[@]}"; do written+=("$OUT/$name.pcap"); done
	python3 "$HERE/expected.py" "${written[@]}"
	log "done: ${scenarios[*]} written to $OUT"
}

main "$@"
