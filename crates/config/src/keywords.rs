//! Which keyword lives in which block, and the message for a key found where it does not belong.
//!
//! keepalived only warns "Unknown keyword" for a keyword in the wrong block and then runs without
//! it (the seed gateway's `use_vmac` in `global_defs` silently gave no VMAC). vipd refuses such a
//! file, and says where the keyword would take effect.

/// A mapping of the configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    Root,
    GlobalDefs,
    Instance,
    SyncGroup,
    Authentication,
    Script,
    HttpGet,
    DnsQuery,
    TrackFile,
    TrackProcess,
    Conntrackd,
}

impl Block {
    /// How a message names the block: "global_defs", "a vrrp_instance", ...
    pub fn describe(self) -> &'static str {
        match self {
            Block::Root => "the top level",
            Block::GlobalDefs => "global_defs",
            Block::Instance => "a vrrp_instance",
            Block::SyncGroup => "a vrrp_sync_group",
            Block::Authentication => "the authentication block of a vrrp_instance",
            Block::Script => "a vrrp_script",
            Block::HttpGet => "the http_get check of a vrrp_script",
            Block::DnsQuery => "the dns_query check of a vrrp_script",
            Block::TrackFile => "a track_file",
            Block::TrackProcess => "a vrrp_track_process",
            Block::Conntrackd => "the conntrackd block of a vrrp_instance or vrrp_sync_group",
        }
    }

    /// The keywords vipd reads in this block.
    pub fn supported(self) -> &'static [&'static str] {
        match self {
            Block::Root => ROOT,
            Block::GlobalDefs => GLOBAL_DEFS,
            Block::Instance => INSTANCE,
            Block::SyncGroup => SYNC_GROUP,
            Block::Authentication => &["auth_type", "auth_pass"],
            Block::Script => SCRIPT,
            Block::HttpGet => HTTP_GET,
            Block::DnsQuery => DNS_QUERY,
            Block::TrackFile => TRACK_FILE,
            Block::TrackProcess => TRACK_PROCESS,
            Block::Conntrackd => CONNTRACKD,
        }
    }

    /// keepalived keywords of this block that vipd knows but does not implement.
    fn unsupported(self) -> &'static [&'static str] {
        match self {
            Block::Root => UNSUPPORTED_ROOT,
            Block::GlobalDefs => UNSUPPORTED_GLOBAL,
            Block::Instance => UNSUPPORTED_INSTANCE,
            Block::SyncGroup => UNSUPPORTED_SYNC_GROUP,
            Block::Authentication
            | Block::Script
            | Block::HttpGet
            | Block::DnsQuery
            | Block::TrackFile
            | Block::TrackProcess
            | Block::Conntrackd => &[],
        }
    }
}

pub const ROOT: &[&str] = &[
    "global_defs",
    "vrrp_instance",
    "vrrp_sync_group",
    "vrrp_script",
    "track_file",
    "vrrp_track_file",
    "vrrp_track_process",
];

/// Root keywords that open a mapping of named blocks (`vrrp_script: { NAME: {..} }`).
const NAMED_ROOT_BLOCKS: &[&str] = &[
    "vrrp_instance",
    "vrrp_sync_group",
    "vrrp_script",
    "track_file",
    "vrrp_track_file",
    "vrrp_track_process",
];

pub const GLOBAL_DEFS: &[&str] = &[
    "router_id",
    "vrrp_version",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_repeat",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_interval",
    "vrrp_gna_interval",
    "vrrp_down_timer_adverts",
    "vrrp_iptables",
    "nftables",
    "dynamic_interfaces",
    "max_auto_priority",
    "min_auto_priority_delay",
    "vrrp_rt_priority",
    "vrrp_no_swap",
    "vrrp_cpu_affinity",
    "vrrp_strict",
    "enable_script_security",
    "script_user",
    "notify_fifo",
    "vrrp_notify_fifo",
    "vrrp_check_unicast_src",
    "metrics_listen",
    "metrics_families",
];

pub const INSTANCE: &[&str] = &[
    "state",
    "interface",
    "virtual_router_id",
    "priority",
    "advert_int",
    "version",
    "nopreempt",
    "preempt",
    "preempt_delay",
    "accept",
    "no_accept",
    "unicast_src_ip",
    "mcast_src_ip",
    "unicast_peer",
    "check_unicast_src",
    "authentication",
    "v3_checksum_as_v2",
    "use_vmac",
    "vmac_xmit_base",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "virtual_routes",
    "virtual_rules",
    "track_interface",
    "track_script",
    "track_file",
    "track_process",
    "notify",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "garp_master_delay",
    "garp_master_repeat",
    "garp_master_refresh",
    "garp_master_refresh_repeat",
    "down_timer_adverts",
    "dont_track_primary",
    "debug",
    "lvs_sync_daemon_interface",
    "conntrackd",
    "on_master",
    "on_backup",
    "on_fault",
    "on_stop",
];

pub const SYNC_GROUP: &[&str] = &[
    "group",
    "notify",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "track_interface",
    "track_script",
    "track_file",
    "track_process",
    "conntrackd",
    "on_master",
    "on_backup",
    "on_fault",
    "on_stop",
];

/// vipd's `conntrackd` block (in an instance or a sync group).
pub const CONNTRACKD: &[&str] = &["mode", "control", "config", "binary", "timeout", "start"];

/// `vrrp_script`: keepalived's keywords, then vipd's own checks (the last four).
pub const SCRIPT: &[&str] = &[
    "script",
    "interval",
    "timeout",
    "weight",
    "reverse",
    "rise",
    "fall",
    "user",
    "init_fail",
    "tcp_connect",
    "http_get",
    "icmp_echo",
    "dns_query",
];

/// vipd's `http_get` check.
pub const HTTP_GET: &[&str] = &["url", "status", "body_contains", "tls_verify"];

/// vipd's `dns_query` check.
pub const DNS_QUERY: &[&str] = &["server", "name", "type", "expect_answer"];

pub const TRACK_FILE: &[&str] = &["file", "weight", "reverse", "init_file"];

pub const TRACK_PROCESS: &[&str] = &[
    "process",
    "param_match",
    "weight",
    "reverse",
    "quorum",
    "quorum_max",
    "delay",
    "fork_delay",
    "terminate_delay",
    "full_command",
];

const UNSUPPORTED_ROOT: &[&str] = &[
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "virtual_server",
    "virtual_server_group",
    "garp_group",
    "linkbeat_interfaces",
    "bfd_instance",
    "include",
    "net_namespace",
];

const UNSUPPORTED_GLOBAL: &[&str] = &[
    "notification_email",
    "notification_email_from",
    "smtp_server",
    "smtp_helo_name",
    "smtp_connect_timeout",
    "smtp_alert",
    "smtp_alert_vrrp",
    "no_email_faults",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "default_interface",
    "lvs_sync_daemon",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_min_garp",
    "vrrp_garp_extra_if",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
    "vrrp_skip_check_adv_addr",
    "vrrp_notify_priority_changes",
    "vrrp_priority",
    "vrrp_rlimit_rttime",
    "vrrp_ipsets",
    "vrrp_startup_delay",
    "vrrp_rx_bufs_policy",
    "vrrp_rx_bufs_multiplier",
    "nftables_priority",
    "nftables_counters",
    "nftables_ifindex",
    "vmac_prefix",
    "vmac_addr_prefix",
    "enable_snmp_vrrp",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_traps",
    "enable_dbus",
    "log_unknown_vrids",
    "disable_local_igmp",
    "startup_script",
    "shutdown_script",
];

const UNSUPPORTED_INSTANCE: &[&str] = &[
    "mcast_dst_ip",
    "use_ipvlan",
    "use_vmac_addr",
    "native_ipv6",
    "track_bfd",
    "track_src_ip",
    "unicast_ttl",
    "unicast_fault_no_peer",
    "old_unicast_checksum",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "garp_extra_if",
    "lower_prio_no_advert",
    "higher_prio_send_advert",
    "skip_check_adv_addr",
    "strict_mode",
    "notify_master_rx_lower_pri",
    "notify_priority_changes",
    "notify_deleted",
    "smtp_alert",
    "kernel_rx_buf_size",
    "linkbeat_use_polling",
    "promote_secondaries",
    "vrf",
];

const UNSUPPORTED_SYNC_GROUP: &[&str] = &[
    "track_bfd",
    "notify_priority_changes",
    "smtp_alert",
    "global_tracking",
    "sync_group_tracking_weight",
];

/// Instance keywords whose `global_defs` counterpart carries a `vrrp_` prefix, and back.
const PREFIXED_PAIRS: &[(&str, &str)] = &[
    ("garp_master_delay", "vrrp_garp_master_delay"),
    ("garp_master_repeat", "vrrp_garp_master_repeat"),
    ("garp_master_refresh", "vrrp_garp_master_refresh"),
    (
        "garp_master_refresh_repeat",
        "vrrp_garp_master_refresh_repeat",
    ),
    ("down_timer_adverts", "vrrp_down_timer_adverts"),
    ("check_unicast_src", "vrrp_check_unicast_src"),
    ("version", "vrrp_version"),
];

/// Every block, for lookups across blocks and for the test that each keyword has a reader.
pub(crate) const ALL_BLOCKS: [Block; 11] = [
    Block::Root,
    Block::GlobalDefs,
    Block::Instance,
    Block::SyncGroup,
    Block::Authentication,
    Block::Script,
    Block::HttpGet,
    Block::DnsQuery,
    Block::TrackFile,
    Block::TrackProcess,
    Block::Conntrackd,
];

/// The message for `key` found in `block`, where vipd does not read it.
pub fn unknown_key_message(block: Block, key: &str) -> String {
    if block == Block::Root {
        for keyword in NAMED_ROOT_BLOCKS {
            if let Some(name) = key
                .strip_prefix(keyword)
                .and_then(|rest| rest.strip_prefix(' '))
            {
                return format!(
                    "keepalived's \"{keyword} {0}\" is written as `{keyword}:` with `{0}:` under it",
                    name.trim()
                );
            }
        }
    }
    let ignored_here = match block {
        Block::Root => String::new(),
        _ => format!("; keepalived 2.2.7 ignores it in {}", block.describe()),
    };
    for (instance_kw, global_kw) in PREFIXED_PAIRS {
        if block == Block::GlobalDefs && key == *instance_kw {
            return format!(
                "{key} belongs in a vrrp_instance; in global_defs the default for all instances is spelled {global_kw}"
            );
        }
        if block == Block::Instance && key == *global_kw {
            return format!(
                "{key} belongs in global_defs; in a vrrp_instance it is spelled {instance_kw}"
            );
        }
    }
    let homes: Vec<Block> = ALL_BLOCKS
        .into_iter()
        .filter(|b| *b != block && b.supported().contains(&key))
        .collect();
    if let Some(home) = homes.first() {
        return format!("{key} belongs in {}{ignored_here}", home.describe());
    }
    if block.unsupported().contains(&key) {
        return format!("keepalived's {key} is not supported by vipd");
    }
    if let Some(home) = ALL_BLOCKS
        .into_iter()
        .find(|b| b.unsupported().contains(&key))
    {
        return format!(
            "keepalived's {key} (a keyword of {}) is not supported by vipd",
            home.describe()
        );
    }
    match closest(key, block.supported()) {
        Some(near) => format!(
            "unknown key {key} in {} (did you mean {near}?)",
            block.describe()
        ),
        None => format!("unknown key {key} in {}", block.describe()),
    }
}

/// The supported keyword nearest to `key`, if it is a plausible typo.
fn closest(key: &str, candidates: &[&'static str]) -> Option<&'static str> {
    candidates
        .iter()
        .map(|c| (edit_distance(key, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev + usize::from(ca != *cb);
            prev = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(prev + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_keyword_in_global_defs_says_where_it_belongs() {
        let m = unknown_key_message(Block::GlobalDefs, "use_vmac");
        assert_eq!(
            m,
            "use_vmac belongs in a vrrp_instance; keepalived 2.2.7 ignores it in global_defs"
        );
    }

    #[test]
    fn prefixed_spellings_are_pointed_out() {
        assert!(
            unknown_key_message(Block::GlobalDefs, "garp_master_refresh")
                .contains("vrrp_garp_master_refresh")
        );
        assert!(unknown_key_message(Block::Instance, "vrrp_version").contains("spelled version"));
    }

    #[test]
    fn typos_get_a_suggestion_and_unsupported_keywords_say_so() {
        assert!(unknown_key_message(Block::Instance, "virtual_routerid")
            .contains("did you mean virtual_router_id"));
        assert!(unknown_key_message(Block::Instance, "mcast_dst_ip").contains("not supported"));
        assert!(unknown_key_message(Block::Root, "vrrp_instance VI_1").contains("`VI_1:`"));
        assert_eq!(
            unknown_key_message(Block::Instance, "zzz"),
            "unknown key zzz in a vrrp_instance"
        );
    }
}
