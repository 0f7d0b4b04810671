#!/usr/bin/env python3
"""Writes <name>.expected.json beside every <name>.pcap in this directory: tshark's decode of
each VRRP packet, the reference the wire codec's fixture tests compare against.

Every value comes from a field of tshark's VRRP, IP and frame dissectors (PDML output); this
script only picks fields and converts their text to JSON types. Usage:

    pcap-fixtures/expected.py [FILE.pcap ...]     # default: every *.pcap beside this script

Output: a JSON array, one object per VRRP packet in capture order, with the keys (in this order)
frame, time, family, src, dst, ttl, version, type, vrid, priority, count_ip, auth_type,
adver_int, checksum, checksum_status, addresses, auth_string; packets behind an IPsec AH header
(keepalived's auth_type AH) also have ah_spi, ah_sequence, ah_icv. See README.md.
"""

import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

HERE = Path(__file__).resolve().parent

# tshark's own default, spelled out so that a personal preference file cannot change the
# verdict: VRRPv3 over IPv4 is checked with the IPv4 pseudo-header (what keepalived and FRR
# send). The VRRP dissector always verifies its checksum; it has no on/off preference.
TSHARK_PREFERENCES = ["-o", "vrrp.v3_checksum_as_in_v2:FALSE"]

CHECKSUM_VERDICTS = {"Good": "good", "Bad": "bad", "Unverified": "unverified"}


class DecodeError(Exception):
    """tshark's output for a packet is not what this script knows how to read."""


def tshark_pdml(pcap: Path) -> ElementTree.Element:
    with tempfile.TemporaryDirectory(prefix="vipd-expected-") as empty_home:
        # An empty HOME and XDG config dir: no personal Wireshark profile is read.
        environment = dict(os.environ, HOME=empty_home, XDG_CONFIG_HOME=empty_home)
        completed = subprocess.run(
            ["tshark", "-n", "-r", str(pcap), "-Y", "vrrp", "-T", "pdml", *TSHARK_PREFERENCES],
            check=True,
            capture_output=True,
            env=environment,
        )
    return ElementTree.fromstring(completed.stdout)


def fields_by_name(proto: ElementTree.Element) -> dict:
    """Every field under a protocol element, nested ones included, as name -> [field, ...]."""
    found: dict = {}
    for field in proto.iter("field"):
        found.setdefault(field.get("name"), []).append(field)
    return found


def one(fields: dict, name: str, frame: str) -> ElementTree.Element:
    values = fields.get(name, [])
    if len(values) != 1:
        raise DecodeError(f"frame {frame}: expected one {name}, tshark gave {len(values)}")
    return values[0]


def optional(fields: dict, name: str, frame: str):
    return one(fields, name, frame) if name in fields else None


def show(field) -> str:
    return field.get("show")


def decode_packet(packet: ElementTree.Element) -> dict:
    protos = packet.findall("proto")
    names = [proto.get("name") for proto in protos]
    frame_fields = fields_by_name(protos[names.index("frame")])
    frame = show(one(frame_fields, "frame.number", "?"))

    vrrp_index = names.index("vrrp")
    # The IP header that carries VRRP is the last one before it.
    ip_index = max(i for i in range(vrrp_index) if names[i] in ("ip", "ipv6"))
    ip_fields = fields_by_name(protos[ip_index])
    if names[ip_index] == "ip":
        family, src, dst, ttl = 4, "ip.src", "ip.dst", "ip.ttl"
    else:
        family, src, dst, ttl = 6, "ipv6.src", "ipv6.dst", "ipv6.hlim"

    vrrp = fields_by_name(protos[vrrp_index])
    seconds, _, fraction = show(one(frame_fields, "frame.time_epoch", frame)).partition(".")
    # Captures have microsecond resolution; tshark prints nanoseconds, so the digits cut here
    # are zeros. Kept as a string: a float would not round-trip six decimals of epoch seconds.
    time = f"{seconds}.{(fraction + '000000')[:6]}"

    interval = optional(vrrp, "vrrp.adver_int", frame)  # VRRPv2: 8 bits, seconds
    if interval is None:
        interval = one(vrrp, "vrrp.short_adver_int", frame)  # VRRPv3: 12 bits, centiseconds
    auth_type = optional(vrrp, "vrrp.auth_type", frame)
    auth_string = optional(vrrp, "vrrp.auth_string", frame)
    status_name = one(vrrp, "vrrp.checksum.status", frame).get("showname").split(": ", 1)[1]
    if status_name not in CHECKSUM_VERDICTS:
        raise DecodeError(f"frame {frame}: unknown checksum status {status_name!r}")
    address_field = "vrrp.ip_addr" if family == 4 else "vrrp.ipv6_addr"

    decoded = {
        "frame": int(frame),
        "time": time,
        "family": family,
        "src": show(one(ip_fields, src, frame)),
        "dst": show(one(ip_fields, dst, frame)),
        "ttl": int(show(one(ip_fields, ttl, frame))),
        "version": int(show(one(vrrp, "vrrp.version", frame))),
        "type": int(show(one(vrrp, "vrrp.type", frame))),
        "vrid": int(show(one(vrrp, "vrrp.virt_rtr_id", frame))),
        "priority": int(show(one(vrrp, "vrrp.prio", frame))),
        "count_ip": int(show(one(vrrp, "vrrp.addr_count", frame))),
        "auth_type": None if auth_type is None else int(show(auth_type)),
        "adver_int": int(show(interval)),
        "checksum": int(show(one(vrrp, "vrrp.checksum", frame)), 16),
        "checksum_status": CHECKSUM_VERDICTS[status_name],
        "addresses": [show(field) for field in vrrp.get(address_field, [])],
        "auth_string": None if auth_string is None else show(auth_string),
    }
    if "ah" in names[ip_index:vrrp_index]:
        ah = fields_by_name(protos[names.index("ah", ip_index)])
        decoded["ah_spi"] = int(show(one(ah, "ah.spi", frame)), 16)
        decoded["ah_sequence"] = int(show(one(ah, "ah.sequence", frame)))
        decoded["ah_icv"] = one(ah, "ah.icv", frame).get("value")
    return decoded


def expected_for(pcap: Path) -> list:
    return [decode_packet(packet) for packet in tshark_pdml(pcap).iter("packet")]


def write_json_array(path: Path, packets: list) -> None:
    # One packet per line: valid JSON that still diffs line by line when a capture is redone.
    lines = ",\n".join("  " + json.dumps(packet) for packet in packets)
    path.write_text(f"[\n{lines}\n]\n" if packets else "[]\n", encoding="utf-8")


def main(arguments: list) -> int:
    pcaps = [Path(argument) for argument in arguments] or sorted(HERE.glob("*.pcap"))
    if not pcaps:
        print(f"expected.py: no .pcap files in {HERE}", file=sys.stderr)
        return 1
    for pcap in pcaps:
        packets = expected_for(pcap)
        if not packets:
            print(f"expected.py: {pcap}: tshark found no VRRP packet", file=sys.stderr)
            return 1
        target = pcap.with_suffix(".expected.json")
        write_json_array(target, packets)
        zero = [p["frame"] for p in packets if p["priority"] == 0]
        verdicts = sorted({p["checksum_status"] for p in packets})
        print(f"{target.name}: {len(packets)} VRRP packets, priority 0 in frames {zero}, "
              f"checksums {'/'.join(verdicts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
