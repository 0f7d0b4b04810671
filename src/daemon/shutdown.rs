//! Shutdown on SIGTERM/SIGINT: every group departs as a reload removal does (`release.rs`: VMAC
//! VIPs first, priority-0 adverts, make-before-break for the others) while the loop keeps
//! running; once all have left, what is left of ours is removed (VMACs, sysctls, the nftables
//! tables) and vipd exits.

use super::main_loop::Daemon;
use super::release::Purpose;

impl Daemon {
    pub(super) fn begin_shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        tracing::info!("shutting down: handing over and removing virtual addresses");
        self.shutting_down = true;
        let groups = self.registry.group_ids();
        if !groups.is_empty() {
            self.depart(groups, Purpose::Shutdown);
        }
    }

    /// After the loop: the leftovers no departure took (the loop has stopped, so waiting on the
    /// kernel here delays no advert).
    pub(super) async fn finish_shutdown(&mut self) {
        self.stop_links().await;
        for vmac in std::mem::take(&mut self.vmacs) {
            if let Err(e) = self.netlink.delete_link(vmac).await {
                tracing::warn!("removing VMAC #{vmac}: {e}");
            }
        }
        if let Err(e) = self.vmac_silence.remove().await {
            tracing::warn!(
                "removing nftables table {}: {e}",
                crate::system::vmac_silence::TABLE
            );
        }
        for e in self.sysctls.restore_all() {
            tracing::warn!("restoring sysctl: {e}");
        }
        if let Some(nft) = &self.nft {
            if let Err(e) = nft.delete_table().await {
                tracing::warn!("removing nftables table {}: {e}", nft.name());
            }
        }
    }
}
