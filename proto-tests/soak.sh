#!/usr/bin/env bash
# The soak (issue 15 item 8): a vipd pair under periodic faults for a long run (default one hour),
# run once and reported, not in CI. Not a test: it prints one markdown table.
#
# The lab: a switch (bridge) with va (192.0.2.1, priority 150) and vb (.2, priority 100), both
# vipd (VRID 51, advert_int 0.1, use_vmac, VIP 192.0.2.100/24, one virtual rule "from VIP table
# 100" and one virtual route 203.0.113.0/24 via 192.0.2.254 in table 100, metrics on as by
# default). va tracks a track_file (weight -60): value 1 puts it at 90, below vb.
#
# Faults, one at a time (a fault that falls due while another one or its settle window is still
# running waits for it, so each transition can be put down to one fault):
#   flap     every ~60 s: the current master's switch port down 1 s, up 3 s, three times
#            (expected: 2 MASTER transitions per down/up, the peer's and the flapped one's)
#   reload   every ~30 s: SIGHUP to both, alternating a real change (priority ±5 and an extra VIP
#            192.0.2.101/24 added or taken away) and no change (expected: none)
#   toggle   every ~45 s: va's track file flipped between 0 and 1 (expected: 1, the new master)
#
# Sampled every ~0.5 s: how many of va, vb hold the VIP (one is right; zero or two is a wrong
# sample, counted raw and outside the settle windows: a fault's duration plus --settle-secs after
# it). Every ~60 s: VmRSS and the fd count of both vipd processes. MASTER transitions come from
# each router's metrics (vipd_instance_transitions_total{to="MASTER"}), scraped at each fault's
# start and at its settle window's end: those inside a window are the fault's, those outside are
# unexplained; the log's "-> MASTER" lines are counted as a cross-check.
#
# Everything runs in namespaces vsk<pid>-1-… removed on every exit path (bench_lib.sh's traps,
# Ctrl-C included); documentation addresses only. Run as root from the repository:
#
#   bash proto-tests/soak.sh --minutes 2      # a short try
#   bash proto-tests/soak.sh                  # the hour
#
# Options: --minutes N (default 60), --settle-secs S (default 3), --vipd PATH (default
# target/release/vipd, built with `cargo build --release` if missing), --keep, --out FILE.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=60
SETTLE_SECS=3
VIPD=
KEEP=0
OUT=
FLAP_EVERY=60 RELOAD_EVERY=30 TOGGLE_EVERY=45 PROC_EVERY=60
FLAPS_PER_EVENT=3 FLAP_DOWN_SECS=1 FLAP_UP_SECS=3
SAMPLE_SECS=0.5

BENCH_NAME=soak
source proto-tests/bench_lib.sh
while [[ $# -gt 0 ]]; do
    case $1 in
        --minutes) MINUTES=$2; shift ;;
        --settle-secs) SETTLE_SECS=$2; shift ;;
        --vipd) VIPD=$2; shift ;;
        --keep) KEEP=1 ;;
        --out) OUT=$2; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[[ $MINUTES =~ ^[0-9]+$ && $MINUTES -ge 1 ]] || die "--minutes: a whole number of minutes, at least 1"
[[ $SETTLE_SECS =~ ^[0-9]+$ ]] || die "--settle-secs: a whole number of seconds"
require_root_and ip curl awk python3
bench_init vsk vipd-soak
if [[ -z $VIPD ]]; then
    VIPD=${CARGO_TARGET_DIR:-$PWD/target}/release/vipd
    if [[ ! -x $VIPD ]]; then
        log "building vipd (cargo build --release)"
        cargo build --release --quiet --bin vipd || die "cargo build --release failed"
    fi
fi
[[ -x $VIPD ]] || die "no vipd binary at $VIPD"

VIP=192.0.2.100 EXTRA_VIP=192.0.2.101 VRID=51
TRACK=$WORK/va.track

# ---------------------------------------------------------------- lab and daemons
lab_switch
SW=$LAB_SW
lab_node va; NS_va=$NODE_NS
lab_node vb; NS_vb=$NODE_NS
ip -n "$NS_va" addr add 192.0.2.1/24 dev eth0
ip -n "$NS_vb" addr add 192.0.2.2/24 dev eth0
PORT_va=p1 PORT_vb=p2

# write_conf NAME VARIANT (0: base, 1: the changed one).
write_conf() {
    local name=$1 variant=$2 prio vips="$VIP/24" track="" trackdef=""
    if [[ $name == va ]]; then prio=150; else prio=100; fi
    if [[ $variant -eq 1 ]]; then
        vips="$VIP/24, $EXTRA_VIP/24"
        if [[ $name == va ]]; then prio=$((prio - 5)); else prio=$((prio + 5)); fi
    fi
    if [[ $name == va ]]; then
        trackdef="track_file:
  trk: {file: $TRACK, weight: -60}"
        track="track_file: [trk], "
    fi
    cat >"$WORK/$name.conf.new" <<EOF
global_defs: {router_id: $name, vrrp_version: 3}
$trackdef
vrrp_instance:
  VI_S: {interface: eth0, virtual_router_id: $VRID, priority: $prio, advert_int: 0.1, use_vmac: true, ${track}
         virtual_ipaddress: [$vips],
         virtual_rules: ["from $VIP table 100 priority 100"],
         virtual_routes: ["203.0.113.0/24 via 192.0.2.254 table 100"]}
EOF
    mv "$WORK/$name.conf.new" "$WORK/$name.conf"
}

echo 0 >"$TRACK"
for name in va vb; do
    write_conf "$name" 0
    mkdir -p "$WORK/$name.run"
    eval "netns=\$NS_$name"
    # shellcheck disable=SC2154
    bg "$netns" "$WORK/$name.log" env VIPD_LOG="${VIPD_LOG:-info}" "$VIPD" run -c "$WORK/$name.conf" --runtime-dir "$WORK/$name.run"
    printf -v "PID_$name" '%s' "$BG_PID"
done
for name in va vb; do
    eval "pid=\$PID_$name"
    # `ip netns exec` and env exec, so the pid is vipd's own.
    wait_cond 50 eval '[[ $(cat /proc/$pid/comm 2>/dev/null) == vipd ]]' || die "$name: no vipd process (log: $(tail -n 3 "$WORK/$name.log"))"
done

holders() {
    local n=0
    holds_any "$NS_va" && n=$((n + 1))
    holds_any "$NS_vb" && n=$((n + 1))
    echo "$n"
}
# Not `ip | grep -q`: under pipefail, grep leaving at the first match makes ip's later lines a
# SIGPIPE and the pipeline false (seen once the extra VIP follows the VIP).
holds_any() {
    local text
    text=$(ip -n "$1" -4 -o addr show 2>/dev/null) || return 1
    [[ $text == *" $VIP/"* ]]
}
master_name() {
    if holds_any "$NS_va" && ! holds_any "$NS_vb"; then echo va
    elif holds_any "$NS_vb" && ! holds_any "$NS_va"; then echo vb
    else echo none; fi
}
wait_cond 100 eval '[[ $(master_name) == va ]]' || die "va never became the sole master (va: $(tail -n 3 "$WORK/va.log"))"

# masters NAME: the router's MASTER transitions so far, from its metrics (-1: no answer).
masters() {
    local netns text
    eval "netns=\$NS_$1"
    text=$(timeout 5 ip netns exec "$netns" curl -sf -m 3 http://127.0.0.1:9165/metrics 2>/dev/null) || { echo -1; return; }
    awk '/^vipd_instance_transitions_total\{/ && /to="MASTER"/ { n += $NF } END { print n + 0 }' <<<"$text"
}
log_masters() { grep -c -- "-> MASTER" "$WORK/$1.log" || true; }

# ---------------------------------------------------------------- sampling
SAMPLES=0 WRONG_RAW=0 WRONG_SETTLED=0 SETTLED_SAMPLES=0 IN_FAULT=0
PROC_N=0 NEXT_PROC=0
proc_sample() {
    local name pid rss fds line=""
    for name in va vb; do
        eval "pid=\$PID_$name"
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo -1)
        fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        alive "$pid" || { rss=-1; fds=-1; }
        printf '%s\t%s\t%s\t%s\n' "$(($(date +%s) - T0))" "$name" "${rss:--1}" "$fds" >>"$WORK/proc.tsv"
        line+="$name RSS ${rss:--1} KiB, $fds fds; "
    done
    log "  at $(($(date +%s) - T0)) s: $line$WRONG_RAW wrong samples raw, $WRONG_SETTLED after settling; load $(cut -d' ' -f1 /proc/loadavg)"
    PROC_N=$((PROC_N + 1))
}
# sample_for SECS: samples holders every SAMPLE_SECS for SECS; a sample while IN_FAULT is 1 counts
# in the raw figure only.
sample_for() {
    local deadline n
    deadline=$(($(date +%s%N) + $(awk -v s="$1" 'BEGIN { printf "%d", s * 1e9 }')))
    while :; do
        n=$(holders)
        SAMPLES=$((SAMPLES + 1))
        [[ $n -ne 1 ]] && WRONG_RAW=$((WRONG_RAW + 1))
        if [[ $IN_FAULT -eq 0 ]]; then
            SETTLED_SAMPLES=$((SETTLED_SAMPLES + 1))
            if [[ $n -ne 1 ]]; then
                WRONG_SETTLED=$((WRONG_SETTLED + 1))
                log "  wrong sample outside a settle window: $n holders"
            fi
        fi
        if [[ $(date +%s) -ge $NEXT_PROC ]]; then
            proc_sample
            NEXT_PROC=$((NEXT_PROC + PROC_EVERY))
        fi
        sleep "$SAMPLE_SECS"
        [[ $(date +%s%N) -ge $deadline ]] && break
    done
}

# ---------------------------------------------------------------- faults
# fault_window KIND EXPECTED_va EXPECTED_vb CMD…: runs the fault CMD (which samples while it
# acts), then the settle window; adds the transitions seen from its start to the window's end to
# the fault's account and those since the last window to the unexplained ones.
declare -A COUNT EXPECTED INSIDE UNEXPLAINED LAST FLAPPED
fault_window() {
    local kind=$1 name m
    shift
    for name in va vb; do
        m=$(masters "$name")
        if [[ $m -ge 0 ]]; then UNEXPLAINED[$name]=$((${UNEXPLAINED[$name]:-0} + m - LAST[$name])); LAST[$name]=$m; fi
    done
    IN_FAULT=1
    "$@"
    sample_for "$SETTLE_SECS"
    IN_FAULT=0
    for name in va vb; do
        m=$(masters "$name")
        if [[ $m -ge 0 ]]; then INSIDE[$kind.$name]=$((${INSIDE[$kind.$name]:-0} + m - LAST[$name])); LAST[$name]=$m; fi
    done
    COUNT[$kind]=$((${COUNT[$kind]:-0} + 1))
}

do_flap() {
    local master port other i
    master=$(master_name)
    [[ $master == none ]] && master=va
    if [[ $master == va ]]; then other=vb; else other=va; fi
    port=PORT_$master
    for ((i = 0; i < FLAPS_PER_EVENT; i++)); do
        ip -n "$SW" link set "${!port}" down
        sample_for "$FLAP_DOWN_SECS"
        ip -n "$SW" link set "${!port}" up
        sample_for "$FLAP_UP_SECS"
    done
    EXPECTED[flap.$master]=$((${EXPECTED[flap.$master]:-0} + FLAPS_PER_EVENT))
    EXPECTED[flap.$other]=$((${EXPECTED[flap.$other]:-0} + FLAPS_PER_EVENT))
    FLAPPED[$master]=$((${FLAPPED[$master]:-0} + 1))
}
RELOAD_N=0 VARIANT=0
do_reload() {
    if ((RELOAD_N % 2 == 0)); then
        VARIANT=$((1 - VARIANT))
        write_conf va "$VARIANT"
        write_conf vb "$VARIANT"
        COUNT[reload_changed]=$((${COUNT[reload_changed]:-0} + 1))
    fi
    RELOAD_N=$((RELOAD_N + 1))
    kill -HUP "$PID_va" "$PID_vb"
    sample_for "$SAMPLE_SECS"
}
do_toggle() {
    local value new_master
    value=$(cat "$TRACK")
    value=$((1 - value))
    echo "$value" >"$TRACK"
    if [[ $value -eq 1 ]]; then new_master=vb; else new_master=va; fi
    EXPECTED[toggle.$new_master]=$((${EXPECTED[toggle.$new_master]:-0} + 1))
    sample_for "$SAMPLE_SECS"
}

# ---------------------------------------------------------------- run
START_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)
END=$((T0 + MINUTES * 60))
NEXT_PROC=$T0
declare -A START_MASTERS START_LOG_MASTERS
for name in va vb; do
    LAST[$name]=$(masters "$name")
    [[ ${LAST[$name]} -ge 0 ]] || die "$name: no metrics at 127.0.0.1:9165"
    START_MASTERS[$name]=${LAST[$name]}
    START_LOG_MASTERS[$name]=$(log_masters "$name")
    UNEXPLAINED[$name]=0
done
log "work dir $WORK; $MINUTES min; va master; load $LOAD_START"
NEXT_FLAP=$((T0 + FLAP_EVERY)) NEXT_RELOAD=$((T0 + RELOAD_EVERY)) NEXT_TOGGLE=$((T0 + TOGGLE_EVERY))
while [[ $(date +%s) -lt $END ]]; do
    now=$(date +%s)
    if [[ $now -ge $NEXT_FLAP ]]; then
        NEXT_FLAP=$((NEXT_FLAP + FLAP_EVERY))
        log "flap of $(master_name)'s port (${FLAPS_PER_EVENT}x ${FLAP_DOWN_SECS}s down, ${FLAP_UP_SECS}s up)"
        fault_window flap do_flap
    elif [[ $now -ge $NEXT_TOGGLE ]]; then
        NEXT_TOGGLE=$((NEXT_TOGGLE + TOGGLE_EVERY))
        log "track file -> $((1 - $(cat "$TRACK")))"
        fault_window toggle do_toggle
    elif [[ $now -ge $NEXT_RELOAD ]]; then
        NEXT_RELOAD=$((NEXT_RELOAD + RELOAD_EVERY))
        log "reload ($( ((RELOAD_N % 2 == 0)) && echo "config changed to variant $((1 - VARIANT))" || echo unchanged))"
        fault_window reload do_reload
    else
        sample_for "$SAMPLE_SECS"
    fi
done
for name in va vb; do
    m=$(masters "$name")
    if [[ $m -ge 0 ]]; then UNEXPLAINED[$name]=$((${UNEXPLAINED[$name]:-0} + m - LAST[$name])); LAST[$name]=$m; fi
done
proc_sample
T1=$(date +%s)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# The end state: the holder carries the rule and the route, the other neither.
end_state() {
    local name netns rule route vip
    for name in va vb; do
        eval "netns=\$NS_$name"
        vip=$(ip -n "$netns" -4 -o addr show | grep -c " $VIP/" || true)
        rule=$(ip -n "$netns" rule show | grep -c "from $VIP lookup 100" || true)
        route=$(ip -n "$netns" route show table 100 | grep -c "^203.0.113.0/24 via 192.0.2.254" || true)
        printf '%s: VIP %s, rule %s, route %s; ' "$name" "$vip" "$rule" "$route"
    done
}
END_STATE=$(end_state)
ALIVE=""
for name in va vb; do
    eval "pid=\$PID_$name"
    alive "$pid" && ALIVE+="$name running; " || ALIVE+="$name EXITED; "
done

REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null) ]] && REV="$REV + uncommitted changes"
{
    for name in va vb; do
        for kind in flap toggle reload; do
            printf 'inside\t%s\t%s\t%s\n' "$kind" "$name" "${INSIDE[$kind.$name]:-0}"
            printf 'expected\t%s\t%s\t%s\n' "$kind" "$name" "${EXPECTED[$kind.$name]:-0}"
        done
        printf 'unexplained\t-\t%s\t%s\n' "$name" "${UNEXPLAINED[$name]}"
        printf 'metrics\t-\t%s\t%s\n' "$name" "$((LAST[$name] - START_MASTERS[$name]))"
        printf 'logged\t-\t%s\t%s\n' "$name" "$(($(log_masters "$name") - START_LOG_MASTERS[$name]))"
        printf 'flapped\t-\t%s\t%s\n' "$name" "${FLAPPED[$name]:-0}"
        printf 'reloads_applied\t-\t%s\t%s\n' "$name" "$(grep -c "reload: .* applied" "$WORK/$name.log" || true)"
    done
    for kind in flap toggle reload reload_changed; do printf 'count\t%s\t-\t%s\n' "$kind" "${COUNT[$kind]:-0}"; done
} >"$RESULTS"
python3 - "$RESULTS" "$WORK/proc.tsv" <<EOF | tee ${OUT:+"$OUT"}
import collections, sys
r = collections.defaultdict(int)
for line in open(sys.argv[1]):
    what, kind, name, value = line.rstrip("\n").split("\t")
    r[what, kind, name] = int(value)
proc = collections.defaultdict(list)
for line in open(sys.argv[2]):
    t, name, rss, fds = line.split()
    proc[name].append((int(t), int(rss), int(fds)))

print("vipd soak (issue 15 item 8)")
print("date:     $START_DATE, $((T1 - T0)) s ($MINUTES min asked)")
print("kernel:   $(uname -r); $(nproc) cores, shared: load $LOAD_START at start, $LOAD_END at end")
print("vipd:     $VIPD (git $REV), VIPD_LOG=${VIPD_LOG:-info}")
print("lab:      pair 150/100, advert_int 0.1, use_vmac, VIP + virtual rule + virtual route, va tracks a track_file (weight -60), metrics on")
print("faults:   flap every ${FLAP_EVERY}s (${FLAPS_PER_EVENT}x ${FLAP_DOWN_SECS}s down / ${FLAP_UP_SECS}s up of the master's port), reload every ${RELOAD_EVERY}s (every other one a change), track file toggle every ${TOGGLE_EVERY}s; settle ${SETTLE_SECS}s")
print("end:      $END_STATE$ALIVE")
print()
rows = [("figure", "va", "vb")]
for name in ("va", "vb"):
    if not proc[name]:
        print(f"no process samples for {name}")
def fig(label, f):
    rows.append((label, f("va"), f("vb")))
fig("RSS at start / end / max [KiB]", lambda n: f"{proc[n][0][1]} / {proc[n][-1][1]} / {max(p[1] for p in proc[n])}")
fig("RSS growth end - start [KiB]", lambda n: f"{proc[n][-1][1] - proc[n][0][1]:+d}")
fig("fds at start / end / max", lambda n: f"{proc[n][0][2]} / {proc[n][-1][2]} / {max(p[2] for p in proc[n])}")
fig("process samples", lambda n: str(len(proc[n])))
fig("port flap events of this router (x${FLAPS_PER_EVENT} down/up)", lambda n: str(r["flapped", "-", n]))
for kind, label in (("flap", "flaps"), ("toggle", "track file toggles"), ("reload", "reloads")):
    fig(f"MASTER transitions in {label}' windows: seen / expected", lambda n, k=kind: f"{r['inside', k, n]} / {r['expected', k, n]}")
fig("MASTER transitions outside every window (unexplained)", lambda n: str(r["unexplained", "-", n]))
fig("MASTER transitions, metrics / log", lambda n: f"{r['metrics', '-', n]} / {r['logged', '-', n]}")
fig("reloads applied (log)", lambda n: str(r["reloads_applied", "-", n]))
def table(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    line = lambda row: "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |"
    print(line(rows[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows[1:]:
        print(line(row))
table(rows)
print()
c = lambda k: r["count", k, "-"]
pair = [("pair figure", "value"),
        ("duration", f"{$T1 - $T0} s"),
        ("flap events (x$FLAPS_PER_EVENT down/up of the master's port)", str(c("flap"))),
        ("track file toggles", str(c("toggle"))),
        ("reloads (with a change / unchanged)", f"{c('reload')} ({c('reload_changed')} / {c('reload') - c('reload_changed')})"),
        ("holder samples (outside the settle windows)", "$SAMPLES ($SETTLED_SAMPLES)"),
        ("wrong samples, raw", "$WRONG_RAW"),
        ("wrong samples, outside the settle windows", "$WRONG_SETTLED")]
table(pair)
EOF
