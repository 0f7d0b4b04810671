//! `vipd sniff`: read VRRP adverts from a pcap file or a live interface and print one line (or JSON object) per packet.
