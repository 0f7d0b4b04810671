//! nftables for `no_accept`, in keepalived's layout: one `inet` table of ours (named `keepalived`
//! unless configured otherwise) with a set of IPv4 VIPs (`vips`) and one of IPv6 VIPs (`vips6`),
//! an `in` chain (hook input, priority -1) dropping traffic to them and an `out` chain (hook
//! output, priority -1) dropping traffic from them, IPv6 neighbour discovery always accepted
//! first. Driven through `nft -j -f -` with JSON built here; the table is ours alone.

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

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
        let t = &self.name;
        let mut commands = vec![
            // Adding first makes the delete succeed whether or not a stale table exists.
            json!({"add": {"table": {"family": "inet", "name": t}}}),
            json!({"delete": {"table": {"family": "inet", "name": t}}}),
            json!({"add": {"table": {"family": "inet", "name": t}}}),
            json!({"add": {"set": {"family": "inet", "table": t, "name": "vips", "type": "ipv4_addr"}}}),
            json!({"add": {"set": {"family": "inet", "table": t, "name": "vips6", "type": "ipv6_addr"}}}),
        ];
        for (chain, hook, field) in [("in", "input", "daddr"), ("out", "output", "saddr")] {
            commands.push(json!({"add": {"chain": {
                "family": "inet", "table": t, "name": chain,
                "type": "filter", "hook": hook, "prio": -1, "policy": "accept"
            }}}));
            commands.push(rule(
                t,
                chain,
                vec![
                    json!({"match": {"op": "==",
                        "left": {"payload": {"protocol": "icmpv6", "field": "type"}},
                        "right": {"set": ND_TYPES}}}),
                    json!({"accept": null}),
                ],
            ));
            for (protocol, set) in [("ip", "@vips"), ("ip6", "@vips6")] {
                commands.push(rule(
                    t,
                    chain,
                    vec![
                        json!({"match": {"op": "==",
                            "left": {"payload": {"protocol": protocol, "field": field}},
                            "right": set}}),
                        json!({"drop": null}),
                    ],
                ));
            }
        }
        self.apply("create table", commands).await
    }

    /// Puts `vip` in its family's set (traffic to and from it is dropped); already there is fine.
    pub async fn add_vip(&self, vip: IpAddr) -> Result<(), SystemError> {
        let element = self.element(vip);
        self.apply(&format!("add {vip}"), vec![json!({"add": element})])
            .await
    }

    /// Takes `vip` out of its set; already absent is fine.
    pub async fn remove_vip(&self, vip: IpAddr) -> Result<(), SystemError> {
        let element = self.element(vip);
        // add-then-delete in one transaction: deleting an absent element would fail.
        self.apply(
            &format!("remove {vip}"),
            vec![json!({"add": element.clone()}), json!({"delete": element})],
        )
        .await
    }

    /// The VIPs currently in the sets.
    pub async fn vips(&self) -> Result<Vec<IpAddr>, SystemError> {
        let mut found = Vec::new();
        for set in ["vips", "vips6"] {
            let out = self
                .run(
                    &format!("list set {set}"),
                    vec!["-j", "list", "set", "inet", &self.name, set],
                    None,
                )
                .await?;
            let parsed: Value = serde_json::from_str(&out).map_err(|e| SystemError::Nft {
                op: format!("list set {set}"),
                message: format!("unreadable JSON: {e}"),
            })?;
            let items = parsed["nftables"].as_array().cloned().unwrap_or_default();
            for item in items {
                for elem in item["set"]["elem"].as_array().cloned().unwrap_or_default() {
                    if let Some(ip) = elem.as_str().and_then(|s| s.parse().ok()) {
                        found.push(ip);
                    }
                }
            }
        }
        Ok(found)
    }

    /// Deletes the table; already absent is fine.
    pub async fn delete_table(&self) -> Result<(), SystemError> {
        let t = &self.name;
        self.apply(
            "delete table",
            vec![
                json!({"add": {"table": {"family": "inet", "name": t}}}),
                json!({"delete": {"table": {"family": "inet", "name": t}}}),
            ],
        )
        .await
    }

    fn element(&self, vip: IpAddr) -> Value {
        let set = if vip.is_ipv4() { "vips" } else { "vips6" };
        json!({"element": {"family": "inet", "table": self.name, "name": set, "elem": [vip.to_string()]}})
    }

    async fn apply(&self, op: &str, commands: Vec<Value>) -> Result<(), SystemError> {
        let document = json!({"nftables": commands}).to_string();
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

fn rule(table: &str, chain: &str, expr: Vec<Value>) -> Value {
    json!({"add": {"rule": {"family": "inet", "table": table, "chain": chain, "expr": expr}}})
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
    use crate::system::testns::TestNs;

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
