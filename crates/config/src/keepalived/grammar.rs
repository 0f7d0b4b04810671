//! Which keywords keepalived 2.2.7's VRRP process knows in each block, and the shape of their
//! values: a scalar line, a flag, a command line, a `{ }` list of one entry per line, or a
//! nested block. A keyword keepalived knows that vipd does not implement is skipped with a
//! warning; one keepalived does not know is an "Unknown keyword" to both.

use crate::keywords::Block;

/// How a keyword's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `keyword value...`: one word is typed (number or text), more are one string.
    Scalar,
    /// `keyword` alone is true; `keyword true|false|yes|no|on|off`; any other word is text.
    Flag,
    /// A command: the rest of the line as written, or the inside of its one quoted word.
    Command,
    /// `keyword { entry \n entry }`: one list item per line.
    List,
    /// `keyword [NAME] { ... }` with keywords of its own.
    Nested(Block),
}

/// keepalived's top-level blocks that vipd reads, with whether they carry a name.
pub fn root_block(keyword: &str) -> Option<(Block, bool)> {
    match keyword {
        "global_defs" => Some((Block::GlobalDefs, false)),
        "vrrp_instance" => Some((Block::Instance, true)),
        "vrrp_sync_group" => Some((Block::SyncGroup, true)),
        "vrrp_script" => Some((Block::Script, true)),
        "track_file" | "vrrp_track_file" => Some((Block::TrackFile, true)),
        "vrrp_track_process" => Some((Block::TrackProcess, true)),
        _ => None,
    }
}

/// Top-level keywords another keepalived process (checker, BFD) reads: the VRRP process
/// skips their whole block, and so does vipd, with one warning naming the block.
pub fn other_process(keyword: &str) -> Option<&'static str> {
    match keyword {
        "virtual_server" | "virtual_server_group" => Some("LVS (keepalived's checker process)"),
        "bfd_instance" => Some("BFD (keepalived's bfd process)"),
        _ => None,
    }
}

/// Top-level keywords of keepalived's VRRP process that vipd does not implement.
const ROOT_NOT_IMPLEMENTED: &[&str] = &[
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "track_group",
    "garp_group",
    "linkbeat_interfaces",
    "linkbeat_use_polling",
    "interface_up_down_delays",
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "use_pid_dir",
    "instance",
    "child_wait_time",
];

const GLOBAL_KEEPALIVED: &[&str] = &[
    "process_names",
    "process_name",
    "vrrp_process_name",
    "checker_process_name",
    "lvs_process_name",
    "bfd_process_name",
    "router_id",
    "notification_email_from",
    "smtp_server",
    "smtp_helo_name",
    "smtp_connect_timeout",
    "notification_email",
    "smtp_alert",
    "startup_script",
    "startup_script_timeout",
    "shutdown_script",
    "shutdown_script_timeout",
    "max_auto_priority",
    "min_auto_priority_delay",
    "smtp_alert_vrrp",
    "smtp_alert_checker",
    "checker_log_all_failures",
    "dynamic_interfaces",
    "no_email_faults",
    "default_interface",
    "disable_local_igmp",
    "lvs_timeouts",
    "lvs_flush",
    "lvs_flush_on_stop",
    "lvs_flush_onstop",
    "lvs_sync_daemon",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_repeat",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_down_timer_adverts",
    "vrrp_garp_interval",
    "vrrp_gna_interval",
    "vrrp_min_garp",
    "vrrp_garp_extra_if",
    "vrrp_vmac_garp_intvl",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
    "vrrp_version",
    "vrrp_iptables",
    "vrrp_ipsets",
    "nftables",
    "nftables_priority",
    "nftables_ifindex",
    "nftables_ipvs",
    "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark",
    "nftables_counters",
    "vrrp_check_unicast_src",
    "vrrp_skip_check_adv_addr",
    "vrrp_strict",
    "vrrp_priority",
    "vrrp_no_swap",
    "vrrp_rt_priority",
    "vrrp_cpu_affinity",
    "vrrp_rlimit_rttime",
    "vrrp_rlimit_rtime",
    "notify_fifo",
    "notify_fifo_script",
    "vrrp_notify_fifo",
    "vrrp_notify_fifo_script",
    "vrrp_notify_priority_changes",
    "fifo_write_vrrp_states_on_reload",
    "lvs_notify_fifo",
    "lvs_notify_fifo_script",
    "checker_priority",
    "checker_no_swap",
    "checker_rt_priority",
    "checker_cpu_affinity",
    "checker_rlimit_rttime",
    "checker_rlimit_rtime",
    "bfd_priority",
    "bfd_no_swap",
    "bfd_rt_priority",
    "bfd_cpu_affinity",
    "bfd_rlimit_rttime",
    "bfd_rlimit_rtime",
    "snmp_socket",
    "enable_traps",
    "enable_snmp_vrrp",
    "enable_snmp_keepalived",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_snmp_checker",
    "enable_dbus",
    "dbus_service_name",
    "script_user",
    "enable_script_security",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "process_monitor_rcv_bufs",
    "process_monitor_rcv_bufs_force",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force",
    "rs_init_notifies",
    "no_checker_emails",
    "vrrp_rx_bufs_policy",
    "vrrp_rx_bufs_multiplier",
    "vrrp_startup_delay",
    "log_unknown_vrids",
    "vmac_prefix",
    "vmac_addr_prefix",
    "umask",
    "random_seed",
    "reload_check_config",
    "reload_time_file",
    "reload_repeat",
    "reload_file",
    "include_check",
    "config_save_dir",
    "tmp_config_directory",
    "data_use_instance",
];

const INSTANCE_KEEPALIVED: &[&str] = &[
    "use_vmac",
    "use_vmac_addr",
    "vmac_xmit_base",
    "use_ipvlan",
    "unicast_peer",
    "unicast_fault_no_peer",
    "check_unicast_src",
    "old_unicast_checksum",
    "native_ipv6",
    "state",
    "interface",
    "vrf",
    "dont_track_primary",
    "track_interface",
    "track_script",
    "track_file",
    "track_process",
    "track_bfd",
    "mcast_src_ip",
    "unicast_src_ip",
    "mcast_dst_ip",
    "track_src_ip",
    "virtual_router_id",
    "unicast_ttl",
    "version",
    "priority",
    "advert_int",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "promote_secondaries",
    "linkbeat_use_polling",
    "virtual_routes",
    "virtual_rules",
    "accept",
    "no_accept",
    "skip_check_adv_addr",
    "strict_mode",
    "preempt",
    "nopreempt",
    "preempt_delay",
    "debug",
    "notify_backup",
    "notify_master",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify",
    "notify_master_rx_lower_pri",
    "smtp_alert",
    "notify_priority_changes",
    "lvs_sync_daemon_interface",
    "garp_master_delay",
    "garp_master_refresh",
    "garp_master_repeat",
    "garp_master_refresh_repeat",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "down_timer_adverts",
    "garp_extra_if",
    "vmac_garp_intvl",
    "lower_prio_no_advert",
    "higher_prio_send_advert",
    "kernel_rx_buf_size",
    "authentication",
];

const SYNC_GROUP_KEEPALIVED: &[&str] = &[
    "group",
    "track_interface",
    "track_script",
    "track_file",
    "track_process",
    "track_bfd",
    "notify_backup",
    "notify_master",
    "notify_fault",
    "notify_stop",
    "notify",
    "smtp_alert",
    "global_tracking",
    "sync_group_tracking_weight",
    "notify_priority_changes",
];

const SCRIPT_KEEPALIVED: &[&str] = &[
    "script",
    "interval",
    "timeout",
    "weight",
    "rise",
    "fall",
    "user",
    "init_fail",
];

const TRACK_FILE_KEEPALIVED: &[&str] = &["file", "weight", "init_file"];

const TRACK_PROCESS_KEEPALIVED: &[&str] = &[
    "process",
    "param_match",
    "weight",
    "quorum",
    "quorum_max",
    "delay",
    "terminate_delay",
    "fork_delay",
    "full_command",
];

/// The keywords keepalived 2.2.7's VRRP process knows in `block` (at the top level: those
/// vipd does not read; see [`root_block`] and [`other_process`] for the rest).
pub fn keepalived_keywords(block: Block) -> &'static [&'static str] {
    match block {
        Block::Root => ROOT_NOT_IMPLEMENTED,
        Block::GlobalDefs => GLOBAL_KEEPALIVED,
        Block::Instance => INSTANCE_KEEPALIVED,
        Block::SyncGroup => SYNC_GROUP_KEEPALIVED,
        Block::Authentication => &["auth_type", "auth_pass"],
        Block::Script => SCRIPT_KEEPALIVED,
        Block::TrackFile => TRACK_FILE_KEEPALIVED,
        Block::TrackProcess => TRACK_PROCESS_KEEPALIVED,
        Block::HttpGet | Block::DnsQuery | Block::Conntrackd => &[],
    }
}

/// Whether keepalived 2.2.7 knows `keyword` in `block`.
pub fn keepalived_knows(block: Block, keyword: &str) -> bool {
    if block == Block::Root && (root_block(keyword).is_some() || other_process(keyword).is_some()) {
        return true;
    }
    keepalived_keywords(block).contains(&keyword)
}

/// Whether vipd reads `keyword` in `block` of a keepalived.conf: keepalived knows it and vipd
/// implements it (vipd's own additions are left to its YAML, as keepalived would not read them).
pub fn vipd_reads(block: Block, keyword: &str) -> bool {
    keepalived_knows(block, keyword) && block.supported().contains(&keyword)
}

/// The shape of a keyword keepalived knows in `block`.
pub fn shape(block: Block, keyword: &str) -> Shape {
    match (block, keyword) {
        (Block::Instance, "authentication") => Shape::Nested(Block::Authentication),
        (
            Block::Instance,
            "virtual_ipaddress"
            | "virtual_ipaddress_excluded"
            | "virtual_routes"
            | "virtual_rules"
            | "unicast_peer"
            | "track_interface"
            | "track_script"
            | "track_file"
            | "track_process"
            | "track_bfd",
        )
        | (
            Block::SyncGroup,
            "group" | "track_interface" | "track_script" | "track_file" | "track_process"
            | "track_bfd",
        )
        | (Block::GlobalDefs, "notification_email")
        | (
            Block::Root,
            "static_ipaddress"
            | "static_routes"
            | "static_rules"
            | "linkbeat_interfaces"
            | "interface_up_down_delays",
        ) => Shape::List,
        (Block::Root, "track_group") => Shape::Nested(Block::SyncGroup),
        (Block::Root, "garp_group") => Shape::Nested(Block::GlobalDefs),
        (
            Block::Instance | Block::SyncGroup,
            "notify" | "notify_master" | "notify_backup" | "notify_fault" | "notify_stop",
        )
        | (Block::Script, "script")
        | (Block::GlobalDefs, "startup_script" | "shutdown_script") => Shape::Command,
        (
            Block::Instance,
            "nopreempt" | "preempt" | "accept" | "no_accept" | "dont_track_primary"
            | "check_unicast_src" | "vmac_xmit_base" | "use_vmac",
        )
        | (
            Block::GlobalDefs,
            "vrrp_strict"
            | "enable_script_security"
            | "vrrp_check_unicast_src"
            | "vrrp_iptables"
            | "nftables"
            | "dynamic_interfaces",
        )
        | (Block::TrackProcess, "full_command") => Shape::Flag,
        _ => Shape::Scalar,
    }
}

/// A name for a block in messages about the keepalived.conf.
pub fn keepalived_name(block: Block) -> &'static str {
    match block {
        Block::Root => "the top level",
        Block::GlobalDefs => "global_defs",
        Block::Instance => "a vrrp_instance",
        Block::SyncGroup => "a vrrp_sync_group",
        Block::Authentication => "an authentication block",
        Block::Script => "a vrrp_script",
        Block::TrackFile => "a track_file",
        Block::TrackProcess => "a vrrp_track_process",
        Block::HttpGet | Block::DnsQuery => "a vipd check",
        Block::Conntrackd => "vipd's conntrackd settings",
    }
}

/// Every block keepalived has that vipd reads, to find where a misplaced keyword belongs.
pub const KEEPALIVED_BLOCKS: [Block; 8] = [
    Block::Root,
    Block::GlobalDefs,
    Block::Instance,
    Block::SyncGroup,
    Block::Authentication,
    Block::Script,
    Block::TrackFile,
    Block::TrackProcess,
];
