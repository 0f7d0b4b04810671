# The namespace and clean-up harness of the benchmark scripts (bench.sh, bench_checks.sh,
# bench_faults.sh), sourced, not run. It owns: messages (die, log), the work dir and results file,
# the lab namespaces (a switch with a bridge, nodes cabled to it), background processes started in
# them, their removal on every exit path (and of namespaces left by earlier runs killed before
# their trap ran), the vipd build the benchmarks measure, and small polling helpers.
#
# Usage: set BENCH_NAME (message prefix) before sourcing; after parsing options call
# `bench_init TAG WORK_STEM` (TAG: the namespaces' prefix letters, e.g. vbn; they are named
# TAG<pid>-<lab>-<node>). A script may define `bench_lab_down_extra` (called first by lab_down)
# to stop processes it tracks itself.

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
# Root (the benchmarks build network namespaces) and every command named.
require_root_and() {
    [[ $EUID -eq 0 ]] || die "run as root: the benchmark builds network namespaces"
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is missing"
    done
}
log() { echo "[$(date +%T)] $*" >&2; }

# bench_init TAG WORK_STEM: sets PREFIX, WORK (mode 755: daemons may run as other users), RESULTS,
# LAB, LAB_NS, BG_PIDS; installs the traps; removes namespaces of dead earlier runs.
bench_init() {
    local tag=$1 stem=$2 netns owner
    BENCH_TAG=$tag
    PREFIX="$tag$$-"
    WORK=$(mktemp -d "/tmp/$stem.XXXXXX")
    chmod 755 "$WORK"
    RESULTS=$WORK/results.tsv
    : >"$RESULTS"
    LAB=0
    LAB_NS=()
    BG_PIDS=()
    KEEP=${KEEP:-0}
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    for netns in $(ip netns list | awk '{print $1}' | grep -E "^$tag[0-9]+-" || true); do
        owner=${netns#"$tag"}; owner=${owner%%-*}
        [[ -d /proc/$owner ]] || kill_netns "$netns"
    done
}

kill_netns() {
    local netns=$1 round pids pid
    for round in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(ip netns pids "$netns" 2>/dev/null || true)
        [[ -z $pids ]] && break
        for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
        sleep 0.05
    done
    ip netns del "$netns" 2>/dev/null || true
}

# Bash reports each SIGKILLed background job ("Killed …") on stderr; those are ours, on purpose.
lab_down() { lab_down_quiet 2>/dev/null; }
lab_down_quiet() {
    local pid netns
    if declare -F bench_lab_down_extra >/dev/null; then bench_lab_down_extra; fi
    for pid in "${BG_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for netns in "${LAB_NS[@]}"; do kill_netns "$netns"; done
    for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    BG_PIDS=()
    LAB_NS=()
}

bench_cleanup() {
    local status=$?
    trap '' INT TERM
    trap - EXIT
    lab_down
    local left
    left=$(ip netns list | awk '{print $1}' | grep "^${PREFIX}" || true)
    [[ -n $left ]] && { echo "$BENCH_NAME: namespaces left behind: $left" >&2; status=1; }
    if [[ $KEEP -eq 1 || $status -ne 0 && $status -ne 130 && $status -ne 143 ]]; then
        echo "$BENCH_NAME: work dir (configs, logs, results) kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}

# build_vipd: unless VIPD is set, builds the installed build (Cargo.toml's `dist` profile: fat
# LTO, one codegen unit), since RSS follows the binary's size; sets VIPD.
build_vipd() {
    if [[ -z ${VIPD:-} ]]; then
        log "building vipd (cargo build --profile dist)"
        cargo build --profile dist --quiet --bin vipd || die "cargo build --profile dist failed"
        VIPD="${CARGO_TARGET_DIR:-$PWD/target}/dist/vipd"
    fi
    [[ -x $VIPD ]] || die "no vipd binary at $VIPD"
}

# lab_switch: starts a new lab: a switch namespace with br0 (no snooping, no STP); sets LAB_P (the
# lab's namespace prefix) and LAB_SW.
lab_switch() {
    LAB=$((LAB + 1))
    LAB_P="${PREFIX}${LAB}-"
    LAB_SW=${LAB_P}sw
    LAB_NS=("$LAB_SW")
    LAB_PORTS=0
    ip netns add "$LAB_SW"
    ip -n "$LAB_SW" link set lo up
    ip -n "$LAB_SW" link add br0 type bridge mcast_snooping 0 stp_state 0
    ip -n "$LAB_SW" link set br0 up
}

# lab_node NODE: a namespace LAB_P<NODE> with eth0 cabled to the switch's next port p<n>; sets
# NODE_NS. DAD is off unless LAB_DAD=1 (addresses usable at once).
lab_node() {
    local netns=$LAB_P$1
    LAB_PORTS=$((LAB_PORTS + 1))
    LAB_NS+=("$netns")
    ip netns add "$netns"
    if [[ ${LAB_DAD:-0} != 1 ]]; then
        ip netns exec "$netns" sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    fi
    ip -n "$netns" link set lo up
    ip -n "$LAB_SW" link add "p$LAB_PORTS" type veth peer name eth0 netns "$netns"
    ip -n "$LAB_SW" link set "p$LAB_PORTS" master br0 up
    ip -n "$netns" link set eth0 up
    NODE_NS=$netns
}

# bg NETNS LOG CMD…: starts CMD in NETNS in the background, output to LOG; sets BG_PID.
bg() {
    local netns=$1 out=$2
    shift 2
    ip netns exec "$netns" "$@" >"$out" 2>&1 &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# wait_cond TENTHS CMD…: polls every 0.1 s.
wait_cond() {
    local tenths=$1 i
    shift
    for ((i = 0; i < tenths; i++)); do "$@" && return 0; sleep 0.1; done
    return 1
}
# grep -q would stop reading early: under pipefail ip's SIGPIPE then reads as "not held".
holds() { ip -n "$1" -4 -o addr show dev eth0 2>/dev/null | grep " $2/" >/dev/null; }
alive() { kill -0 "$1" 2>/dev/null; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
