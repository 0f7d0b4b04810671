#!/bin/sh
# Seed 002's DNS recipe: vipd's notify_master command on a network without shared L2. Points
# DNS_NAME's A record at ADDRESS (the new master's own address) with one TSIG-signed dynamic
# update (nsupdate, Debian package bind9-dnsutils), retried DNS_ATTEMPTS times a second apart.
#
#   dns-failover-notify.sh ADDRESS
#
# Settings: /etc/vipd/dns-failover.env, or the file DNS_FAILOVER_ENV names (see
# conf/dns-failover.env). Exit status 0 when the server accepted the update; otherwise the last
# line on stderr says why (vipd logs it).
set -eu

address=${1:?usage: dns-failover-notify.sh ADDRESS}
env_file=${DNS_FAILOVER_ENV:-/etc/vipd/dns-failover.env}
[ -r "$env_file" ] || { echo "dns-failover: cannot read $env_file" >&2; exit 2; }
. "$env_file"
: "${DNS_SERVER:?not set in $env_file}" "${DNS_ZONE:?not set in $env_file}"
: "${DNS_NAME:?not set in $env_file}" "${DNS_KEY_FILE:?not set in $env_file}"
port=${DNS_PORT:-53}
ttl=${DNS_TTL:-5}
attempts=${DNS_ATTEMPTS:-5}

# Delete and add in one update message: the server applies both or neither, so the name never
# resolves to nothing, and a second master racing us leaves one answer (the last update wins).
update() {
    nsupdate -k "$DNS_KEY_FILE" -t 3 <<UPDATE
server $DNS_SERVER $port
zone $DNS_ZONE
update delete $DNS_NAME A
update add $DNS_NAME $ttl A $address
send
UPDATE
}

try=1
while :; do
    if error=$(update 2>&1); then
        echo "dns-failover: $DNS_NAME A $address (TTL $ttl) at $DNS_SERVER"
        exit 0
    fi
    if [ "$try" -ge "$attempts" ]; then
        echo "dns-failover: update of $DNS_NAME to $address failed after $try tries: $error" >&2
        exit 1
    fi
    try=$((try + 1))
    sleep 1
done
