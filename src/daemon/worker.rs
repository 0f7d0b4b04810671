//! The system worker: a task beside the event loop that makes kernel round trips on its behalf
//! (rtnetlink, nftables), in the order asked, so that a slow kernel call never delays an advert.
//! The loop sends [`Request`]s and goes on; each answer comes back as a [`Report`], an event like
//! any other. Requests name instances by [`InstanceId`], so a report for an instance removed in
//! the meantime is recognised and dropped.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::effects::{self, MasterResources};
use super::registry::InstanceId;
use crate::hooks::links::LinkOutcome;
use crate::system::error::SystemError;
use crate::system::netlink::{AddrGenMode, IpFamily, LinkInfo, MacvlanSpec, Netlink, VmacMode};
use crate::system::nft::NftTable;
use crate::system::vmac_silence::VmacSilence;
use vipd_config::LinkAction;

/// What the loop asks of the worker.
#[derive(Debug)]
pub enum Request {
    /// Make the instance's master resources present (`present`) or absent on `ifindex`.
    Master {
        instance: InstanceId,
        ifindex: u32,
        present: bool,
        resources: Arc<MasterResources>,
    },
    /// Find the instance's interface, make its VMAC, read the addresses to send from.
    Attach {
        instance: InstanceId,
        plan: AttachPlan,
    },
    /// Look up `track_interface` links by name.
    LookupLinks {
        instance: InstanceId,
        names: Vec<String>,
    },
    /// Delete a VMAC this run made.
    DeleteLink { ifindex: u32, name: String },
    /// Answered once every request sent before it has been carried out.
    Barrier { ticket: u64 },
    /// Set links administratively up or down (link actions of `origin`, for logs).
    SetLinks {
        origin: String,
        actions: Vec<LinkAction>,
    },
}

/// How the worker answers.
#[derive(Debug)]
pub enum Report {
    Master {
        instance: InstanceId,
        present: bool,
        errors: Vec<SystemError>,
    },
    Attached {
        instance: InstanceId,
        facts: AttachFacts,
    },
    Links {
        instance: InstanceId,
        links: Vec<(String, Option<LinkInfo>)>,
    },
    LinkDeleted {
        ifindex: u32,
        name: String,
        error: Option<SystemError>,
    },
    Barrier {
        ticket: u64,
    },
    LinksSet {
        origin: String,
        outcomes: Vec<LinkOutcome>,
    },
}

/// What attaching an instance needs looked up or made.
#[derive(Debug, Clone)]
pub struct AttachPlan {
    pub interface: String,
    pub family: IpFamily,
    /// With `use_vmac`: the macvlan to make (its parent is filled in once found).
    pub vmac: Option<VmacPlan>,
    /// Read the addresses of the interface adverts leave from (no `unicast_src_ip`).
    pub want_addresses: bool,
    /// IPv6 adverts leave from the VMAC's link-local (use_vmac without vmac_xmit_base).
    pub addresses_on_vmac: bool,
}

#[derive(Debug, Clone)]
pub struct VmacPlan {
    pub name: String,
    pub mac: [u8; 6],
}

/// What the kernel said.
#[derive(Debug)]
pub struct AttachFacts {
    pub link: Result<LinkInfo, SystemError>,
    /// The VMAC's ifindex, when one was planned and the interface exists.
    pub vmac: Option<Result<u32, SystemError>>,
    /// The usable addresses of the interface adverts leave from (empty when not asked or
    /// unreadable): IPv6 addresses still in (or failed) duplicate address detection left out.
    pub addresses: Vec<IpAddr>,
    /// Addresses left out of `addresses` because DAD has not finished with them.
    pub tentative: Vec<IpAddr>,
}

/// Carries out an attach plan (the worker does this for the loop; start-up does it before the
/// loop runs). An IPv6 VMAC is silenced (`vmac_silence`) before it is made or set up.
pub async fn attach(netlink: &Netlink, silence: &VmacSilence, plan: &AttachPlan) -> AttachFacts {
    let link = match netlink.link_by_name(&plan.interface).await {
        Ok(link) => link,
        Err(e) => {
            return AttachFacts {
                link: Err(e),
                vmac: None,
                addresses: Vec::new(),
                tentative: Vec::new(),
            }
        }
    };
    let vmac = match &plan.vmac {
        Some(vmac) => {
            let spec = MacvlanSpec {
                parent: link.ifindex,
                name: vmac.name.clone(),
                mac: vmac.mac,
                mode: VmacMode::Private,
                addr_gen_mode: match plan.family {
                    IpFamily::V4 => AddrGenMode::None,
                    // A link-local derived from the shared MAC would be the same on every router.
                    IpFamily::V6 => AddrGenMode::Random,
                },
            };
            // Before the link exists or goes up (DAD and the first reports start then); never
            // for a link of that name that is someone else's (ensure_macvlan refuses it below).
            if plan.family == IpFamily::V6 && netlink.find_macvlan(&spec).await.is_ok() {
                if let Err(e) = silence.silence(&vmac.name, &link.name, link.ifindex).await {
                    tracing::warn!(vmac = %vmac.name, "use_vmac: the kernel's MLD reports and router solicitations from the virtual MAC cannot be dropped, so a BACKUP's switch port may learn it: {e}");
                }
            }
            let made = async {
                let outcome = netlink.ensure_macvlan(&spec).await?;
                netlink.set_link_up(outcome.ifindex, true).await?;
                Ok(outcome.ifindex)
            }
            .await;
            Some(made)
        }
        None => None,
    };
    let from = match (&vmac, plan.addresses_on_vmac) {
        (Some(Ok(ifindex)), true) => Some(*ifindex),
        (Some(Err(_)), _) => None,
        _ => Some(link.ifindex),
    };
    let all = match from {
        Some(ifindex) if plan.want_addresses => {
            netlink.addresses(Some(ifindex)).await.unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let (unusable, usable): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|a| a.tentative || a.dad_failed);
    AttachFacts {
        link: Ok(link),
        vmac,
        addresses: usable.into_iter().map(|a| a.addr).collect(),
        tentative: unusable
            .into_iter()
            .filter(|a| !a.dad_failed)
            .map(|a| a.addr)
            .collect(),
    }
}

/// Looks up links by name (`None` for those that do not exist).
pub async fn lookup_links(netlink: &Netlink, names: &[String]) -> Vec<(String, Option<LinkInfo>)> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        out.push((name.clone(), netlink.link_by_name(name).await.ok()));
    }
    out
}

/// Sets each link up or down, reading its state first (for "as found at start").
pub async fn set_links(netlink: &Netlink, actions: &[LinkAction]) -> Vec<LinkOutcome> {
    let mut out = Vec::with_capacity(actions.len());
    for action in actions {
        let outcome = match netlink.link_by_name(&action.interface).await {
            Err(e) => LinkOutcome {
                action: action.clone(),
                was_up: None,
                error: Some(e.to_string()),
            },
            Ok(link) => LinkOutcome {
                action: action.clone(),
                was_up: Some(link.admin_up),
                error: match link.admin_up == action.up {
                    true => None,
                    false => netlink
                        .set_link_up(link.ifindex, action.up)
                        .await
                        .err()
                        .map(|e| e.to_string()),
                },
            },
        };
        out.push(outcome);
    }
    out
}

/// Starts the worker on the current runtime.
pub fn spawn(
    netlink: Netlink,
    nft: Option<NftTable>,
    silence: VmacSilence,
) -> (
    mpsc::UnboundedSender<Request>,
    mpsc::UnboundedReceiver<Report>,
) {
    let (request_tx, mut request_rx) = mpsc::unbounded_channel::<Request>();
    let (report_tx, report_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(request) = request_rx.recv().await {
            let report = match request {
                Request::Master {
                    instance,
                    ifindex,
                    present,
                    resources,
                } => {
                    let errors = if present {
                        effects::install(&netlink, nft.as_ref(), ifindex, &resources).await
                    } else {
                        effects::remove(&netlink, nft.as_ref(), ifindex, &resources).await
                    };
                    Report::Master {
                        instance,
                        present,
                        errors,
                    }
                }
                Request::Attach { instance, plan } => Report::Attached {
                    instance,
                    facts: attach(&netlink, &silence, &plan).await,
                },
                Request::LookupLinks { instance, names } => Report::Links {
                    instance,
                    links: lookup_links(&netlink, &names).await,
                },
                Request::DeleteLink { ifindex, name } => Report::LinkDeleted {
                    ifindex,
                    name,
                    error: netlink.delete_link(ifindex).await.err(),
                },
                Request::Barrier { ticket } => Report::Barrier { ticket },
                Request::SetLinks { origin, actions } => Report::LinksSet {
                    origin,
                    outcomes: set_links(&netlink, &actions).await,
                },
            };
            if report_tx.send(report).is_err() {
                break;
            }
        }
    });
    (request_tx, report_rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::testns::TestNs;

    /// A plan for the VMAC `vmac` with the virtual MAC of `vrid` (one MAC per macvlan of a
    /// parent: the kernel refuses a second).
    fn plan(family: IpFamily, vmac: &str, vrid: u8) -> AttachPlan {
        AttachPlan {
            interface: "eth0".into(),
            family,
            vmac: Some(VmacPlan {
                name: vmac.into(),
                mac: [0x00, 0x00, 0x5e, 0x00, 0x02, vrid],
            }),
            want_addresses: false,
            addresses_on_vmac: false,
        }
    }

    /// What `attach` silenced, and what it said of the VMAC.
    fn attach_in(ns: &TestNs, plan: AttachPlan) -> (Vec<String>, String) {
        ns.run(move || async move {
            let netlink = Netlink::new().expect("netlink");
            let silence = VmacSilence::new();
            let facts = attach(&netlink, &silence, &plan).await;
            let made = format!("{:?}", facts.vmac);
            let silenced = silence.silenced().await;
            silence.remove().await.expect("remove the table");
            (silenced, made)
        })
    }

    #[test]
    fn only_an_ipv6_vmac_of_ours_is_silenced() {
        let ns = TestNs::create();
        ns.ip(&[
            "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
        ]);
        ns.ip(&["link", "set", "eth0", "up"]);
        // Someone else's link holding the name a VMAC would take.
        ns.ip(&[
            "link", "add", "vrrp.61", "type", "veth", "peer", "name", "peer1",
        ]);

        let (silenced, made) = attach_in(&ns, plan(IpFamily::V6, "vrrp.60", 60));
        assert!(made.starts_with("Some(Ok("), "{made}");
        assert_eq!(silenced, vec!["vrrp.60"]);

        let (silenced, made) = attach_in(&ns, plan(IpFamily::V6, "vrrp.61", 61));
        assert!(made.contains("NameTaken"), "{made}");
        assert!(
            silenced.is_empty(),
            "someone else's link silenced: {silenced:?}"
        );

        let (silenced, made) = attach_in(&ns, plan(IpFamily::V4, "vrrp.62", 62));
        assert!(made.starts_with("Some(Ok("), "{made}");
        assert!(silenced.is_empty(), "an IPv4 VMAC silenced: {silenced:?}");
    }
}
