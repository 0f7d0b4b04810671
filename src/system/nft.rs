//! nftables for `no_accept`, in keepalived's layout: one `inet` table of ours (named `keepalived`
//! unless configured otherwise) with a set of IPv4 VIPs (`vips`) and one of IPv6 VIPs (`vips6`),
//! an `in` chain (hook input, priority -1) dropping traffic to them and an `out` chain (hook
//! output, priority -1) dropping traffic from them, IPv6 neighbour discovery always accepted
//! first. Driven through `nft -j -f -` with documents typed by the `nftables` crate's schema
//! (the runner stays ours: it keeps nft's stderr, which tells a missing capability apart); the
//! table is ours alone.

use std::borrow::Cow;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use nftables::expr::{Expression, NamedExpression, Payload, PayloadField, SetItem};
use nftables::schema::{
    Chain, Element, NfCmd, NfListObject, NfObject, Nftables, Rule, Set, SetType, SetTypeValue,
    Table,
};
use nftables::stmt::{Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::system::error::SystemError;

/// keepalived's table name.
pub const DEFAULT_TABLE: &str = "keepalived";

const ND_TYPES: [&str; 5] = [
    "nd-router-solicit",
    "nd-router-advert",
    "nd-neighbor-solicit",
    "nd-neighbor-advert",
    "nd-redirect",
];

/// The set holding `vip`'s family.
fn set_name(vip: IpAddr) -> &'static str {
    if vip.is_ipv4() {
        "vips"
    } else {
        "vips6"
    }
}

/// Our nftables table.
#[derive(Debug, Clone)]
pub struct NftTable {
    name: String,
    nft: String,
}

impl NftTable {
    /// The table `name` (`keepalived` by default), driven through the `nft` on PATH.
    pub fn new(name: &str) -> NftTable {
        NftTable {
            name: name.to_string(),
            nft: "nft".into(),
        }
    }

    /// Uses another `nft` binary (tests, unusual installs).
    pub fn with_binary(name: &str, nft: &str) -> NftTable {
        NftTable {
            name: name.to_string(),
            nft: nft.to_string(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks that `nft` can be run; [`SystemError::NftMissing`] names the package otherwise.
    pub async fn check_available(&self) -> Result<(), SystemError> {
        let nft = self.nft.clone();
        blocking(move || match Command::new(&nft).arg("--version").output() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(SystemError::Nft {
                op: "--version".into(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SystemError::NftMissing),
            Err(e) => Err(SystemError::Io {
                op: format!("run {nft}"),
                source: e,
            }),
        })
        .await
    }

    /// (Re)creates the table with empty sets and its chains, in one transaction; a table of the
    /// same name left by a crash is replaced.
    pub async fn ensure_table(&self) -> Result<(), SystemError> {
        let mut commands = vec![
            // Adding first makes the delete succeed whether or not a stale table exists.
            NfCmd::Add(NfListObject::Table(self.table())),
            NfCmd::Delete(NfListObject::Table(self.table())),
            NfCmd::Add(NfListObject::Table(self.table())),
        ];
        for (name, set_type) in [("vips", SetType::Ipv4Addr), ("vips6", SetType::Ipv6Addr)] {
            commands.push(NfCmd::Add(NfListObject::Set(Box::new(Set {
                family: NfFamily::INet,
                table: self.name.as_str().into(),
                name: name.into(),
                set_type: SetTypeValue::Single(set_type),
                ..Set::default()
            }))));
        }
        for (chain, hook, field) in [
            ("in", NfHook::Input, "daddr"),
            ("out", NfHook::Output, "saddr"),
        ] {
            commands.push(NfCmd::Add(NfListObject::Chain(Chain {
                family: NfFamily::INet,
                table: self.name.as_str().into(),
                name: chain.into(),
                _type: Some(NfChainType::Filter),
                hook: Some(hook),
                prio: Some(-1),
                policy: Some(NfChainPolicy::Accept),
                ..Chain::default()
            })));
            commands.push(self.rule(
                chain,
                vec![
                    matches(
                        payload("icmpv6", "type"),
                        Expression::Named(NamedExpression::Set(
                            ND_TYPES
                                .iter()
                                .map(|t| SetItem::Element(Expression::String((*t).into())))
                                .collect(),
                        )),
                    ),
                    Statement::Accept(None),
                ],
            ));
            for (protocol, set) in [("ip", "@vips"), ("ip6", "@vips6")] {
                commands.push(self.rule(
                    chain,
                    vec![
                        matches(payload(protocol, field), Expression::String(set.into())),
                        Statement::Drop(None),
                    ],
                ));
            }
        }
        self.apply("create table", commands).await
    }

    /// Puts `vip` in its family's set (traffic to and from it is dropped); already there is fine.
    pub async fn add_vip(&self, vip: IpAddr) -> Result<(), SystemError> {
        self.apply(
            &format!("add {vip}"),
            vec![NfCmd::Add(NfListObject::Element(self.element(vip)))],
        )
        .await
    }

    /// Takes `vip` out of its set; already absent is fine.
    pub async fn remove_vip(&self, vip: IpAddr) -> Result<(), SystemError> {
        // add-then-delete in one transaction: deleting an absent element would fail.
        self.apply(
            &format!("remove {vip}"),
            vec![
                NfCmd::Add(NfListObject::Element(self.element(vip))),
                NfCmd::Delete(NfListObject::Element(self.element(vip))),
            ],
        )
        .await
    }

    /// The VIPs currently in the sets.
    pub async fn vips(&self) -> Result<Vec<IpAddr>, SystemError> {
        let mut found = Vec::new();
        for set in ["vips", "vips6"] {
            let op = format!("list set {set}");
            let out = self
                .run(
                    &op,
                    vec!["-j", "list", "set", "inet", &self.name, set],
                    None,
                )
                .await?;
            let listing: Nftables = serde_json::from_str(&out).map_err(|e| SystemError::Nft {
                op: op.clone(),
                message: format!("unreadable JSON: {e}"),
            })?;
            for object in listing.objects.iter() {
                let NfObject::ListObject(NfListObject::Set(set)) = object else {
                    continue;
                };
                for elem in set.elem.iter().flat_map(|elems| elems.iter()) {
                    if let Expression::String(text) = elem {
                        if let Ok(ip) = text.parse() {
                            found.push(ip);
                        }
                    }
                }
            }
        }
        Ok(found)
    }

    /// Deletes the table; already absent is fine.
    pub async fn delete_table(&self) -> Result<(), SystemError> {
        self.apply(
            "delete table",
            vec![
                NfCmd::Add(NfListObject::Table(self.table())),
                NfCmd::Delete(NfListObject::Table(self.table())),
            ],
        )
        .await
    }

    fn table(&self) -> Table<'_> {
        Table {
            family: NfFamily::INet,
            name: self.name.as_str().into(),
            handle: None,
        }
    }

    fn rule<'a>(&'a self, chain: &'a str, expr: Vec<Statement<'a>>) -> NfCmd<'a> {
        NfCmd::Add(NfListObject::Rule(Rule {
            family: NfFamily::INet,
            table: self.name.as_str().into(),
            chain: chain.into(),
            expr: expr.into(),
            ..Rule::default()
        }))
    }

    fn element(&self, vip: IpAddr) -> Element<'_> {
        Element {
            family: NfFamily::INet,
            table: self.name.as_str().into(),
            name: set_name(vip).into(),
            elem: vec![Expression::String(vip.to_string().into())].into(),
        }
    }

    /// Runs `commands` as one nft transaction; `op` names it in errors.
    pub(super) async fn apply(
        &self,
        op: &str,
        commands: Vec<NfCmd<'_>>,
    ) -> Result<(), SystemError> {
        let document = Nftables {
            objects: Cow::Owned(commands.into_iter().map(NfObject::CmdObject).collect()),
        };
        let document = serde_json::to_string(&document).map_err(|e| SystemError::Nft {
            op: op.to_string(),
            message: format!("cannot encode the request: {e}"),
        })?;
        self.run(op, vec!["-j", "-f", "-"], Some(document))
            .await
            .map(|_| ())
    }

    async fn run(
        &self,
        op: &str,
        args: Vec<&str>,
        stdin: Option<String>,
    ) -> Result<String, SystemError> {
        let nft = self.nft.clone();
        let op = op.to_string();
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        blocking(move || {
            let mut child = match Command::new(&nft)
                .args(&args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
            {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(SystemError::NftMissing)
                }
                Err(e) => {
                    return Err(SystemError::Io {
                        op: format!("run {nft}"),
                        source: e,
                    })
                }
            };
            if let Some(mut input) = child.stdin.take() {
                if let Some(text) = stdin {
                    input
                        .write_all(text.as_bytes())
                        .map_err(|e| SystemError::Io {
                            op: format!("write to {nft}"),
                            source: e,
                        })?;
                }
            }
            let out = child.wait_with_output().map_err(|e| SystemError::Io {
                op: format!("wait for {nft}"),
                source: e,
            })?;
            if !out.status.success() {
                let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
                if message.contains("Operation not permitted") {
                    return Err(SystemError::PermissionDenied {
                        op: format!("nft {op}"),
                    });
                }
                return Err(SystemError::Nft { op, message });
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        })
        .await
    }
}

/// `left == right`.
pub(super) fn matches<'a>(left: Expression<'a>, right: Expression<'a>) -> Statement<'a> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::EQ,
    })
}

/// A header field, e.g. `ip daddr`.
pub(super) fn payload<'a>(protocol: &'a str, field: &'a str) -> Expression<'a> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: field.into(),
        },
    )))
}

/// nft is a short-lived child process: run it off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SystemError> + Send + 'static,
) -> Result<T, SystemError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(SystemError::Nft {
            op: "run".into(),
            message: format!("worker failed: {e}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    // nft's own listing, read untyped: the assertions do not go through the schema under test.
    use crate::system::testns::TestNs;
    use serde_json::Value;

    fn listed(ns: &TestNs, table: &str) -> Option<Value> {
        let out = ns.exec("nft", &["-j", "list", "table", "inet", table]);
        if !out.status.success() {
            return None;
        }
        Some(serde_json::from_slice(&out.stdout).expect("nft -j JSON"))
    }

    fn set_elements(listing: &Value, set: &str) -> Vec<String> {
        listing["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["set"]["name"] == set)
            .flat_map(|i| i["set"]["elem"].as_array().cloned().unwrap_or_default())
            .map(|e| e.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn table_is_created_fed_emptied_replaced_and_deleted() {
        let ns = TestNs::create();
        // A stale table from a "crash", holding a leftover VIP and a foreign chain.
        let stale = ns.exec(
            "nft",
            &["add table inet keepalived; add set inet keepalived vips { type ipv4_addr; elements = { 192.0.2.99 } }; add chain inet keepalived junk"],
        );
        assert!(
            stale.status.success(),
            "{}",
            String::from_utf8_lossy(&stale.stderr)
        );
        ns.run(|| async {
            let table = NftTable::new(DEFAULT_TABLE);
            table.check_available().await.unwrap();
            table.ensure_table().await.unwrap();
            for _ in 0..2 {
                table.add_vip("192.0.2.3".parse().unwrap()).await.unwrap();
                table.add_vip("2001:db8::3".parse().unwrap()).await.unwrap();
            }
            let mut vips = table.vips().await.unwrap();
            vips.sort();
            assert_eq!(
                vips,
                vec![
                    "192.0.2.3".parse::<IpAddr>().unwrap(),
                    "2001:db8::3".parse().unwrap()
                ]
            );
        });
        let listing = listed(&ns, "keepalived").expect("table exists");
        assert_eq!(
            set_elements(&listing, "vips"),
            vec!["192.0.2.3"],
            "stale VIP gone"
        );
        assert_eq!(set_elements(&listing, "vips6"), vec!["2001:db8::3"]);
        let items = listing["nftables"].as_array().unwrap();
        let chains: Vec<&Value> = items.iter().filter_map(|i| i.get("chain")).collect();
        assert_eq!(chains.len(), 2, "junk chain replaced: {chains:?}");
        for (name, hook) in [("in", "input"), ("out", "output")] {
            let chain = chains.iter().find(|c| c["name"] == name).unwrap();
            assert_eq!(chain["hook"], hook);
            assert_eq!(chain["prio"], -1);
        }
        let text = String::from_utf8_lossy(
            &ns.exec("nft", &["list", "table", "inet", "keepalived"])
                .stdout,
        )
        .into_owned();
        for expected in [
            "ip daddr @vips drop",
            "ip6 daddr @vips6 drop",
            "ip saddr @vips drop",
            "ip6 saddr @vips6 drop",
            "nd-neighbor-solicit",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
        }
        let nd = text.find("nd-neighbor-solicit").unwrap();
        assert!(
            nd < text.find("ip6 daddr @vips6 drop").unwrap(),
            "ND accepted before the drop"
        );

        ns.run(|| async {
            let table = NftTable::new(DEFAULT_TABLE);
            for _ in 0..2 {
                table
                    .remove_vip("192.0.2.3".parse().unwrap())
                    .await
                    .unwrap();
                table
                    .remove_vip("2001:db8::3".parse().unwrap())
                    .await
                    .unwrap();
            }
            assert!(table.vips().await.unwrap().is_empty());
        });
        let listing = listed(&ns, "keepalived").unwrap();
        assert!(set_elements(&listing, "vips").is_empty());
        ns.run(|| async {
            let table = NftTable::new(DEFAULT_TABLE);
            table.delete_table().await.unwrap();
            table.delete_table().await.unwrap();
        });
        assert!(listed(&ns, "keepalived").is_none(), "table deleted");
    }

    #[test]
    fn ping_to_a_vip_in_the_set_is_dropped_and_a_custom_name_is_honoured() {
        let ns = TestNs::create();
        ns.ip(&["addr", "add", "192.0.2.3/32", "dev", "lo"]);
        let ping = |ns: &TestNs| {
            ns.exec("ping", &["-c", "1", "-W", "1", "192.0.2.3"])
                .status
                .success()
        };
        assert!(ping(&ns), "reachable before");
        ns.run(|| async {
            let table = NftTable::new("vipd_test");
            table.ensure_table().await.unwrap();
            table.add_vip("192.0.2.3".parse().unwrap()).await.unwrap();
        });
        assert!(listed(&ns, "vipd_test").is_some());
        assert!(listed(&ns, "keepalived").is_none());
        assert!(!ping(&ns), "dropped while in the set");
        ns.run(|| async {
            NftTable::new("vipd_test")
                .remove_vip("192.0.2.3".parse().unwrap())
                .await
                .unwrap();
        });
        assert!(ping(&ns), "reachable again");
    }

    #[test]
    fn missing_nft_names_the_package() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let table = NftTable::with_binary(DEFAULT_TABLE, "/nonexistent/nft");
        let err = runtime.block_on(table.check_available()).unwrap_err();
        assert!(matches!(err, SystemError::NftMissing));
        assert!(err.to_string().contains("nftables"), "{err}");
        let err = runtime.block_on(table.ensure_table()).unwrap_err();
        assert!(matches!(err, SystemError::NftMissing), "{err:?}");
    }
}
