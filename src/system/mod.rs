//! The Linux side: raw VRRP sockets, rtnetlink (addresses, links, macvlans, routes, rules), sysctls,
//! nftables, AF_PACKET announcements and running external commands. Makes the world match what the
//! router asked for; decides nothing. Every module reports failure as an [`error::SystemError`].

pub mod announce;
pub mod error;
pub mod exec;
pub mod ifaddrs;
pub mod memory;
pub mod netlink;
pub mod nft;
pub mod readiness;
pub mod realtime;
pub mod socket;
pub mod startup_code;
pub mod sysctl;
#[cfg(test)]
pub mod testns;
pub mod vmac_silence;
