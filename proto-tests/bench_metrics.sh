#!/usr/bin/env bash
# /metrics under load (issue 11's benchmark). Not a test: it measures and prints figures.
#
# One vipd router with 255 instances at advert_int 0.01 (VRIDs 1..255, one /32 VIP each) and
# metrics on. A client on the LAN captures every advert; for IDLE_SECS nobody scrapes, then a
# scraper in the router's namespace fetches /metrics in a tight loop for SCRAPE_SECS. Printed:
# the scrape time (request to last byte) median and p99, the render time alone (the
# metrics_render example, same snapshot size), vipd's RSS before and after the scraping, and the
# worst gap between two adverts of one VRID on the wire, idle and while scraped.
#
# The lab is its own namespaces (switch with a bridge, gw-a 192.0.2.1, client 192.0.2.10), named
# vbm<pid>-…, removed on every exit path; documentation addresses only. Run as root:
#
#   bash proto-tests/bench_metrics.sh [--vipd PATH] [--idle-secs N] [--scrape-secs N] [--count N]
set -euo pipefail
cd "$(dirname "$0")/.."

VIPD=
IDLE_SECS=10
SCRAPE_SECS=30
COUNT=255
while [[ $# -gt 0 ]]; do
    case $1 in
        --vipd) VIPD=$2; shift ;;
        --idle-secs) IDLE_SECS=$2; shift ;;
        --scrape-secs) SCRAPE_SECS=$2; shift ;;
        --count) COUNT=$2; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "bench_metrics: unknown option $1" >&2; exit 1 ;;
    esac
    shift
done
[[ $(id -u) -eq 0 ]] || { echo "bench_metrics: run as root" >&2; exit 1; }

if [[ -z $VIPD ]]; then
    cargo build --profile dist --quiet --bin vipd
    VIPD="${CARGO_TARGET_DIR:-$PWD/target}/dist/vipd"
fi
cargo build --release --quiet --example metrics_render

P=vbm$$-
SW=${P}sw GA=${P}gw-a CL=${P}client
WORK=$(mktemp -d /tmp/vipd-bench-metrics.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for ns in "$SW" "$GA" "$CL"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ip netns add "$SW"
ip -n "$SW" link add br0 type bridge mcast_snooping 0 stp_state 0
ip -n "$SW" link set br0 up
port=0
for ns in "$GA" "$CL"; do
    port=$((port + 1))
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$SW" link add "p$port" type veth peer name eth0 netns "$ns"
    ip -n "$SW" link set "p$port" master br0 up
    ip -n "$ns" link set eth0 up
done
ip -n "$GA" addr add 192.0.2.1/24 dev eth0
ip -n "$CL" addr add 192.0.2.10/24 dev eth0

{
    printf 'global_defs:\n  vrrp_version: 3\n  metrics_listen: 127.0.0.1:9165\nvrrp_instance:\n'
    for ((i = 1; i <= COUNT; i++)); do
        if ((i <= 250)); then vip=198.51.100.$i; else vip=203.0.113.$((i - 250)); fi
        printf '  VI_%s: {interface: eth0, virtual_router_id: %s, priority: 200, advert_int: 0.01, virtual_ipaddress: [%s/32]}\n' "$i" "$i" "$vip"
    done
} >"$WORK/vipd.yaml"
VIPD_LOG=warn ip netns exec "$GA" "$VIPD" run -c "$WORK/vipd.yaml" --runtime-dir "$WORK/run" >"$WORK/vipd.log" 2>&1 &
VPID=$!
PIDS+=("$VPID")
for _ in $(seq 50); do
    ip netns exec "$GA" python3 -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:9165/metrics", timeout=1).read()' 2>/dev/null && break
    sleep 0.1
done
sleep 2 # every instance master

rss() { awk '/^VmRSS/ {print $2}' "/proc/$VPID/status"; }
ip netns exec "$CL" timeout $((IDLE_SECS + SCRAPE_SECS + 2)) tcpdump -i eth0 -n -s 64 -w "$WORK/adverts.pcap" \
    'ip proto 112' 2>/dev/null &
PIDS+=("$!")
sleep 1
START_IDLE=$(date +%s.%N)
sleep "$IDLE_SECS"
RSS_IDLE=$(rss)
START_SCRAPE=$(date +%s.%N)
ip netns exec "$GA" python3 - "$SCRAPE_SECS" >"$WORK/scrapes.txt" <<'PY'
import socket, sys, time
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", 9165), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    n = 0
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        n += len(chunk)
    s.close()
    print(f"{(time.monotonic() - t0) * 1000:.3f} {n}")
PY
END_SCRAPE=$(date +%s.%N)
RSS_SCRAPED=$(rss)
sleep 2
RSS_AFTER=$(rss)
wait "${PIDS[1]}" 2>/dev/null || true

RENDER=$(./target/release/examples/metrics_render 2>/dev/null | grep -A1 "all families" | tail -1 | sed 's/^ *//' || true)

python3 - "$WORK/adverts.pcap" "$WORK/scrapes.txt" "$START_IDLE" "$START_SCRAPE" "$END_SCRAPE" \
    "$RSS_IDLE" "$RSS_SCRAPED" "$RSS_AFTER" "$COUNT" "$RENDER" <<'PY'
import struct, sys, statistics
pcap, scrapes, t_idle, t_scrape, t_end = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:6])
rss_idle, rss_scraped, rss_after, count = map(int, sys.argv[6:10])
render = sys.argv[10]
data = open(pcap, "rb").read()
magic = struct.unpack("<I", data[:4])[0]
scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
off, last, gaps = 24, {}, {"idle": 0.0, "scraped": 0.0}
while off + 16 <= len(data):
    sec, frac, incl, _ = struct.unpack("<IIII", data[off:off + 16])
    pkt = data[off + 16: off + 16 + incl]
    off += 16 + incl
    t = sec + frac * scale
    if len(pkt) < 14 + 20 + 2 or pkt[12:14] != b"\x08\x00":
        continue
    ihl = (pkt[14] & 0x0F) * 4
    vrid = pkt[14 + ihl + 1]
    if vrid in last:
        gap = t - last[vrid]
        if t_idle <= t < t_scrape:
            gaps["idle"] = max(gaps["idle"], gap)
        elif t_scrape <= t < t_end:
            gaps["scraped"] = max(gaps["scraped"], gap)
    last[vrid] = t
times = [float(l.split()[0]) for l in open(scrapes) if l.strip()]
sizes = [int(l.split()[1]) for l in open(scrapes) if l.strip()]
times.sort()
p99 = times[min(len(times) - 1, int(len(times) * 0.99))] if times else float("nan")
print(f"vipd /metrics under load: {count} instances at advert_int 0.01, VRIDs heard on the wire: {len(last)}")
print(f"| figure | value |")
print(f"|---|---|")
print(f"| scrapes in the tight loop | {len(times)} ({sizes[0] if sizes else 0} bytes each) |")
print(f"| scrape time, request to last byte, median / p99 [ms] | {statistics.median(times):.2f} / {p99:.2f} |")
print(f"| render alone (examples/metrics_render) | {render or 'n/a'} |")
print(f"| RSS idle → end of scraping → 2 s later [MiB] | {rss_idle/1024:.2f} → {rss_scraped/1024:.2f} → {rss_after/1024:.2f} (growth {(rss_after - rss_idle)/1024:+.2f}) |")
print(f"| worst advert gap of one VRID, idle [ms] | {gaps['idle'] * 1000:.1f} |")
print(f"| worst advert gap of one VRID, while scraped [ms] | {gaps['scraped'] * 1000:.1f} |")
PY
