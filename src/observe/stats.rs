//! Per-instance statistics kept by the daemon: what the router cannot see (adverts rejected by the
//! wire layer, by [`WireError`]; checksum flavours; rival masters). Protocol counters are the
//! router's own ([`vipd_router::Counters`]); together they are the single source that status and
//! metrics read.

use vipd_wire::WireError;

/// Rejected adverts, one counter per [`WireError`] variant (in [`WireError::ALL`] order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectCounts([u64; WireError::ALL.len()]);

impl RejectCounts {
    pub fn count(&mut self, error: WireError) {
        self.0[Self::slot(error)] += 1;
    }

    pub fn get(&self, error: WireError) -> u64 {
        self.0[Self::slot(error)]
    }

    /// The non-zero counters with their error.
    pub fn nonzero(&self) -> impl Iterator<Item = (WireError, u64)> + '_ {
        WireError::ALL
            .iter()
            .zip(self.0.iter())
            .filter(|(_, &n)| n > 0)
            .map(|(&e, &n)| (e, n))
    }

    fn slot(error: WireError) -> usize {
        WireError::ALL
            .iter()
            .position(|&e| e == error)
            .expect("WireError::ALL lists every variant")
    }
}

/// Accepted IPv4 VRRPv3 adverts by checksum flavour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChecksumFlavours {
    pub pseudo_header: u64,
    pub plain: u64,
}

/// What the daemon counts about one instance beside the router's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceStats {
    pub rejected: RejectCounts,
    pub checksums: ChecksumFlavours,
    /// Lower-priority adverts heard while master (the router's `RivalMaster` anomaly).
    pub rival_master_adverts: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_counts_are_kept_per_error() {
        let mut counts = RejectCounts::default();
        counts.count(WireError::Ttl);
        counts.count(WireError::Ttl);
        counts.count(WireError::NotVrrp);
        assert_eq!(counts.get(WireError::Ttl), 2);
        assert_eq!(counts.get(WireError::Checksum), 0);
        let nonzero: Vec<_> = counts.nonzero().collect();
        assert_eq!(
            nonzero,
            vec![(WireError::Ttl, 2), (WireError::NotVrrp, 1)],
            "in WireError::ALL order"
        );
    }
}
