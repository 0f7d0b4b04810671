#!/usr/bin/env bash
# The demo: builds vipd, makes a namespace lab with two routers and a client, shows the election,
# cuts the master's link, prints the measured outage, and removes everything. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
exec bash proto-tests/demo.sh
