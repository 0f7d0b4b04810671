//! The reconciler task: applies what the event loop decided (VIPs present or absent) through
//! rtnetlink, in order, off the event loop, so that a slow kernel call never delays an advert.
//! Failures come back to the event loop as reports; they are retried when the loop asks again.

use std::net::IpAddr;

use tokio::sync::{mpsc, oneshot};

use crate::system::netlink::Netlink;

/// One virtual address as the system layer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipSpec {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub label: Option<String>,
}

/// What must be made true.
#[derive(Debug)]
pub enum Effect {
    /// The instance's VIPs must be on `ifindex`.
    InstallVips {
        instance: usize,
        ifindex: u32,
        vips: Vec<VipSpec>,
    },
    /// The instance's VIPs must not be on `ifindex`.
    RemoveVips {
        instance: usize,
        ifindex: u32,
        vips: Vec<VipSpec>,
    },
    /// Answers once every effect sent before it has been applied.
    Flush(oneshot::Sender<()>),
}

/// How an effect went, for status and logs.
#[derive(Debug)]
pub struct EffectReport {
    pub instance: usize,
    /// `None` when it succeeded.
    pub error: Option<String>,
}

/// Starts the reconciler on the current runtime.
pub fn spawn(
    netlink: Netlink,
) -> (
    mpsc::UnboundedSender<Effect>,
    mpsc::UnboundedReceiver<EffectReport>,
) {
    let (effect_tx, mut effect_rx) = mpsc::unbounded_channel::<Effect>();
    let (report_tx, report_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(effect) = effect_rx.recv().await {
            match effect {
                Effect::InstallVips {
                    instance,
                    ifindex,
                    vips,
                } => {
                    let mut error = None;
                    for vip in &vips {
                        if let Err(e) = netlink
                            .add_address(ifindex, vip.addr, vip.prefix_len, vip.label.as_deref())
                            .await
                        {
                            error = Some(e.to_string());
                        }
                    }
                    let _ = report_tx.send(EffectReport { instance, error });
                }
                Effect::RemoveVips {
                    instance,
                    ifindex,
                    vips,
                } => {
                    let mut error = None;
                    for vip in &vips {
                        if let Err(e) = netlink
                            .delete_address(ifindex, vip.addr, vip.prefix_len)
                            .await
                        {
                            // The interface may have vanished with its addresses: nothing left to remove.
                            if e.errno() != Some(libc::ENODEV) {
                                error = Some(e.to_string());
                            }
                        }
                    }
                    let _ = report_tx.send(EffectReport { instance, error });
                }
                Effect::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    });
    (effect_tx, report_rx)
}
