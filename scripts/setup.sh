#!/usr/bin/env bash
# Installs what vipd's demo and test suite need on a fresh Debian 12 machine (run as root).
# Idempotent: packages and tools already present are left alone.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (the lab needs network namespaces)" >&2
  exit 1
fi

packages=(build-essential pkg-config curl ca-certificates git iproute2 iputils-ping nftables
          tcpdump tshark keepalived frr python3 procps kmod dnsmasq-base openssl prometheus chromium
          bind9 bind9-dnsutils conntrackd conntrack
          man-db systemd)  # man-db, systemd: tests/package.rs renders the man page, verifies the unit
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # Keep packaged daemons (keepalived, frr, prometheus, named, conntrackd) from starting in the root namespace on
  # install: the tests start their own copies inside namespaces.
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1
  [ $had_policy -eq 1 ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; }
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ $had_policy -eq 1 ] || rm -f "$policy"
fi
# Debian's frr package enables zebra via systemd on some installs; the tests never want it in the root namespace.
if command -v systemctl >/dev/null && systemctl is-active --quiet frr 2>/dev/null; then systemctl stop frr || true; fi
if command -v systemctl >/dev/null && systemctl is-active --quiet keepalived 2>/dev/null; then systemctl stop keepalived || true; fi
# Debian's bind9 (the DNS recipe's lab test starts its own named in a namespace).
if command -v systemctl >/dev/null && systemctl is-active --quiet named 2>/dev/null; then systemctl stop named || true; fi
if command -v systemctl >/dev/null && systemctl is-active --quiet conntrackd 2>/dev/null; then systemctl stop conntrackd || true; fi
# Debian's prometheus (its promtool checks conf/prometheus; the lab test starts its own server).
if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then systemctl stop prometheus || true; fi

if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
  export PATH="$HOME/.cargo/bin:$PATH"
fi
# scripts/package.sh (and the test that builds the .deb) package with cargo-deb.
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy 2>/dev/null || true
modprobe macvlan 2>/dev/null || true
modprobe veth 2>/dev/null || true
