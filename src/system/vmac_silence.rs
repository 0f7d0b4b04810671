//! Keeps IPv6 VMACs off the wire when the kernel speaks on its own: an `ip6` table of ours
//! (`vipd_vmac`) whose output chain drops, on every interface named in its `vmacs6` set, MLD
//! reports and dones, router solicitations and anything from the unspecified address (DAD
//! probes, reports sent before a link-local exists). The kernel sends these from the VMAC's
//! virtual MAC whatever the VRRP state, and a LAN switch then learns the virtual MAC on a
//! BACKUP's port and sends it the master's traffic. IPv4 has sysctls for this (see
//! `daemon/attach.rs`); IPv6 has none for MLD.
//!
//! The MLD reports are not only dropped: a copy leaves from the VMAC's parent first (nft `dup`,
//! one chain per VMAC, `to_parent_<vmac>`), as keepalived's nftables code does, so a snooping
//! switch with a querier still registers ff02::12 and the VIPs' solicited-node groups on the
//! router's port, from the parent's own MAC.
//!
//! The set holds names, not indexes, so a VMAC is covered before it exists and before it goes
//! up (DAD and the first reports start then). The table is made on first use and removed at
//! exit; one made by an earlier run is replaced.

use std::sync::Arc;

use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, SetItem};
use nftables::schema::{
    Chain, Element, FlushObject, NfCmd, NfListObject, Rule, Set, SetType, SetTypeValue,
};
use nftables::stmt::{Dup, JumpTarget, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use tokio::sync::Mutex;

use super::error::SystemError;
use super::nft::{matches, payload, NftTable};

/// The table's name (ours alone; not keepalived's).
pub const TABLE: &str = "vipd_vmac";
const SET: &str = "vmacs6";
const CHAIN: &str = "out";

/// What the kernel sends by itself on an interface with IPv6 that a VMAC must never send.
const UNSOLICITED_TYPES: [&str; 4] = [
    "mld-listener-report",
    "mld-listener-done",
    "mld2-listener-report",
    "nd-router-solicit",
];

/// The MLD messages a copy of which leaves from the parent.
const MLD_REPORT_TYPES: [&str; 3] = [
    "mld-listener-report",
    "mld-listener-done",
    "mld2-listener-report",
];

/// A shared handle on the table: clones see the same table and the same names.
#[derive(Debug, Clone)]
pub struct VmacSilence {
    table: Arc<NftTable>,
    state: Arc<Mutex<Silenced>>,
}

#[derive(Debug, Default)]
struct Silenced {
    made: bool,
    /// Each VMAC silenced, with the parent (name, ifindex) its reports are copied to.
    vmacs: Vec<(String, String, u32)>,
}

impl Default for VmacSilence {
    fn default() -> Self {
        VmacSilence::new()
    }
}

impl VmacSilence {
    /// The table [`TABLE`], driven through the `nft` on PATH.
    pub fn new() -> VmacSilence {
        VmacSilence::with_binary("nft")
    }

    /// Uses another `nft` binary (tests, unusual installs).
    pub fn with_binary(nft: &str) -> VmacSilence {
        VmacSilence {
            table: Arc::new(NftTable::with_binary(TABLE, nft)),
            state: Arc::default(),
        }
    }

    /// Silences the VMAC called `vmac` (whether or not it exists yet), its MLD reports copied
    /// to `parent` (which must exist: nft resolves the name to `parent_ifindex`); the table is
    /// made first if this run has none. Already silenced with this parent is fine and costs no
    /// nft run; a new parent (or the same name with a new index) replaces the old one.
    pub async fn silence(
        &self,
        vmac: &str,
        parent: &str,
        parent_ifindex: u32,
    ) -> Result<(), SystemError> {
        let mut state = self.state.lock().await;
        let known = state.vmacs.iter().position(|(v, _, _)| v == vmac);
        if let Some(at) = known {
            let (_, name, index) = &state.vmacs[at];
            if name == parent && *index == parent_ifindex {
                return Ok(());
            }
        }
        let mut commands = Vec::new();
        if !state.made {
            commands.extend(make_table());
        }
        let to_parent = format!("to_parent_{vmac}");
        if known.is_none() {
            commands.push(NfCmd::Add(NfListObject::Element(Element {
                family: NfFamily::IP6,
                table: TABLE.into(),
                name: SET.into(),
                elem: vec![Expression::String(vmac.to_owned().into())].into(),
            })));
            commands.push(NfCmd::Add(NfListObject::Chain(Chain {
                family: NfFamily::IP6,
                table: TABLE.into(),
                name: to_parent.clone().into(),
                ..Chain::default()
            })));
            // Inserted: the copy must be made before the chain's drops.
            commands.push(NfCmd::Insert(NfListObject::Rule(Rule {
                family: NfFamily::IP6,
                table: TABLE.into(),
                chain: CHAIN.into(),
                expr: vec![
                    matches(oifname(), Expression::String(vmac.to_owned().into())),
                    Statement::Jump(JumpTarget {
                        target: to_parent.clone().into(),
                    }),
                ]
                .into(),
                ..Rule::default()
            })));
        } else {
            commands.push(NfCmd::Flush(FlushObject::Chain(Chain {
                family: NfFamily::IP6,
                table: TABLE.into(),
                name: to_parent.clone().into(),
                ..Chain::default()
            })));
        }
        commands.push(NfCmd::Add(NfListObject::Rule(Rule {
            family: NfFamily::IP6,
            table: TABLE.into(),
            chain: to_parent.into(),
            expr: vec![
                matches(payload("icmpv6", "type"), icmpv6_types(&MLD_REPORT_TYPES)),
                Statement::Dup(Dup {
                    addr: payload("ip6", "daddr"),
                    dev: Some(Expression::String(parent.to_owned().into())),
                }),
            ]
            .into(),
            ..Rule::default()
        })));
        self.table
            .apply(&format!("silence VMAC {vmac}"), commands)
            .await?;
        state.made = true;
        let entry = (vmac.to_owned(), parent.to_owned(), parent_ifindex);
        match known {
            Some(at) => state.vmacs[at] = entry,
            None => state.vmacs.push(entry),
        }
        Ok(())
    }

    /// Removes the table if this run made it.
    pub async fn remove(&self) -> Result<(), SystemError> {
        let mut state = self.state.lock().await;
        if !state.made {
            return Ok(());
        }
        self.table
            .apply(
                "remove the VMAC table",
                vec![NfCmd::Add(table()), NfCmd::Delete(table())],
            )
            .await?;
        *state = Silenced::default();
        Ok(())
    }

    /// The VMACs silenced so far.
    pub async fn silenced(&self) -> Vec<String> {
        let state = self.state.lock().await;
        state.vmacs.iter().map(|(v, _, _)| v.clone()).collect()
    }
}

fn table<'a>() -> NfListObject<'a> {
    NfListObject::Table(nftables::schema::Table {
        family: NfFamily::IP6,
        name: TABLE.into(),
        handle: None,
    })
}

/// `meta oifname`.
fn oifname<'a>() -> Expression<'a> {
    Expression::Named(NamedExpression::Meta(Meta {
        key: MetaKey::Oifname,
    }))
}

/// An anonymous set of ICMPv6 types by nft's names.
fn icmpv6_types<'a>(types: &[&'a str]) -> Expression<'a> {
    Expression::Named(NamedExpression::Set(
        types
            .iter()
            .map(|t| SetItem::Element(Expression::String((*t).into())))
            .collect(),
    ))
}

/// (Re)creates the table, its set and its chain; a stale one of an earlier run is replaced.
fn make_table<'a>() -> Vec<NfCmd<'a>> {
    let on_vmac = || matches(oifname(), Expression::String(format!("@{SET}").into()));
    let rule = |expr: Vec<Statement<'a>>| {
        NfCmd::Add(NfListObject::Rule(Rule {
            family: NfFamily::IP6,
            table: TABLE.into(),
            chain: CHAIN.into(),
            expr: expr.into(),
            ..Rule::default()
        }))
    };
    vec![
        // Adding first makes the delete succeed whether or not a stale table exists.
        NfCmd::Add(table()),
        NfCmd::Delete(table()),
        NfCmd::Add(table()),
        NfCmd::Add(NfListObject::Set(Box::new(Set {
            family: NfFamily::IP6,
            table: TABLE.into(),
            name: SET.into(),
            set_type: SetTypeValue::Single(SetType::Ifname),
            ..Set::default()
        }))),
        NfCmd::Add(NfListObject::Chain(Chain {
            family: NfFamily::IP6,
            table: TABLE.into(),
            name: CHAIN.into(),
            _type: Some(NfChainType::Filter),
            hook: Some(NfHook::Output),
            prio: Some(-1),
            policy: Some(NfChainPolicy::Accept),
            ..Chain::default()
        })),
        rule(vec![
            on_vmac(),
            matches(payload("icmpv6", "type"), icmpv6_types(&UNSOLICITED_TYPES)),
            Statement::Drop(None),
        ]),
        rule(vec![
            on_vmac(),
            matches(payload("ip6", "saddr"), Expression::String("::".into())),
            Statement::Drop(None),
        ]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::testns::TestNs;

    fn listing(ns: &TestNs) -> Option<String> {
        let out = ns.exec("nft", &["list", "table", "ip6", TABLE]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn index_of(ns: &TestNs, dev: &str) -> u32 {
        ns.ip_json(&["link", "show", dev])[0]["ifindex"]
            .as_u64()
            .expect("ifindex") as u32
    }

    #[test]
    fn table_replaces_a_stale_one_holds_the_names_and_goes_at_remove() {
        let ns = TestNs::create();
        for (dev, peer) in [("base0", "peer0"), ("base1", "peer1")] {
            ns.ip(&["link", "add", dev, "type", "veth", "peer", "name", peer]);
        }
        let (base0, base1) = (index_of(&ns, "base0"), index_of(&ns, "base1"));
        let stale = ns.exec(
            "nft",
            &["add table ip6 vipd_vmac; add chain ip6 vipd_vmac junk"],
        );
        assert!(
            stale.status.success(),
            "{}",
            String::from_utf8_lossy(&stale.stderr)
        );
        ns.run(move || async move {
            let silence = VmacSilence::new();
            silence.silence("vrrp.60", "base0", base0).await.unwrap();
            silence.silence("vrrp.60", "base0", base0).await.unwrap();
            silence.silence("vrrp.61", "base0", base0).await.unwrap();
            // The parent changed: the copy goes to the new one, nothing doubled.
            silence.silence("vrrp.61", "base1", base1).await.unwrap();
            assert_eq!(silence.silenced().await, vec!["vrrp.60", "vrrp.61"]);
        });
        let text = listing(&ns).expect("table exists");
        assert!(!text.contains("junk"), "stale chain replaced:\n{text}");
        for expected in [
            "hook output priority filter - 1",
            "oifname @vmacs6 icmpv6 type { mld-listener-report, mld-listener-done, nd-router-solicit, mld2-listener-report } drop",
            "oifname @vmacs6 ip6 saddr :: drop",
            "oifname \"vrrp.60\" jump to_parent_vrrp.60",
            "\"vrrp.61\"",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
        }
        let jump = text.find("jump to_parent_vrrp.60").unwrap();
        assert!(
            jump < text.find("saddr :: drop").unwrap(),
            "copy before drop:\n{text}"
        );
        assert_eq!(
            text.matches("dup to ip6 daddr device \"base0\"").count(),
            1,
            "{text}"
        );
        assert_eq!(
            text.matches("dup to ip6 daddr device \"base1\"").count(),
            1,
            "{text}"
        );
        assert_eq!(text.matches("jump to_parent_vrrp.61").count(), 1, "{text}");
        ns.run(move || async move {
            // Not made by this handle: nothing to remove.
            VmacSilence::new().remove().await.unwrap();
        });
        assert!(listing(&ns).is_some(), "another run's table left alone");
        ns.run(move || async move {
            let silence = VmacSilence::new();
            silence.silence("vrrp.62", "base0", base0).await.unwrap();
            silence.remove().await.unwrap();
            silence.remove().await.unwrap();
        });
        assert!(listing(&ns).is_none(), "table removed");
    }

    #[test]
    fn a_silenced_interface_sends_nothing_and_its_reports_leave_from_the_parent() {
        let ns = TestNs::create();
        // veth pairs: `vrrp.60` silenced with parent `base` (no IPv6 address of its own, so it
        // sends nothing by itself), `other` plain. Counting what each peer end receives.
        for (dev, peer) in [("vrrp.60", "peer60"), ("base", "peerb"), ("other", "peero")] {
            ns.ip(&["link", "add", dev, "type", "veth", "peer", "name", peer]);
            ns.ip(&["link", "set", peer, "up"]);
        }
        ns.ip(&["link", "set", "base", "addrgenmode", "none", "up"]);
        let base = index_of(&ns, "base");
        ns.run(move || async move {
            VmacSilence::new()
                .silence("vrrp.60", "base", base)
                .await
                .unwrap();
        });
        let count = ns.exec(
            "nft",
            &["add table inet count; add chain inet count in { type filter hook prerouting priority 0; }; add rule inet count in iifname \"peer60\" counter; add rule inet count in iifname \"peerb\" icmpv6 type mld2-listener-report counter; add rule inet count in iifname \"peero\" counter"],
        );
        assert!(
            count.status.success(),
            "{}",
            String::from_utf8_lossy(&count.stderr)
        );
        for dev in ["vrrp.60", "other"] {
            ns.ip(&["link", "set", dev, "up"]);
        }
        // DAD of the link-local, the MLD reports of its groups, the first router solicitation.
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let out = ns.exec("nft", &["list", "chain", "inet", "count", "in"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let packets = |dev: &str| -> u64 {
            let line = text
                .lines()
                .find(|l| l.contains(&format!("\"{dev}\"")))
                .unwrap_or_else(|| panic!("no counter for {dev}:\n{text}"));
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "packets").expect("packets");
            words[at + 1].parse().expect("a count")
        };
        assert!(packets("peero") > 0, "the plain veth sent nothing:\n{text}");
        assert_eq!(packets("peer60"), 0, "the silenced one sent:\n{text}");
        assert!(
            packets("peerb") > 0,
            "no report copied to the parent:\n{text}"
        );
    }
}
