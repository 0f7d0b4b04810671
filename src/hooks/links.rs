//! Link actions per state, without scripts (seed 003: the backup's WAN interface down, up on
//! master): which `link_up` / `link_down` a transition asks for, how each one went, the state
//! every touched link was found in before vipd first changed it, and what shutdown does with
//! them (`on_stop`, or back as found). The daemon's worker makes the rtnetlink calls; this file
//! only decides and keeps the record, so nothing here waits on the kernel.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use vipd_config::{Config, LinkAction, StateActions};
use vipd_router::State;

/// The list of `actions` for entering `state` (STOP has none: shutdown uses [`stop_plan`]).
pub fn actions_for(actions: &StateActions, state: State) -> &[LinkAction] {
    match state {
        State::Master => &actions.on_master,
        State::Backup => &actions.on_backup,
        State::Fault => &actions.on_fault,
        State::Initialize => &[],
    }
}

/// How one link action went, as the worker reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkOutcome {
    pub action: LinkAction,
    /// Administratively up before the change; `None` when the link could not be read.
    pub was_up: Option<bool>,
    pub error: Option<String>,
}

/// Counts of one interface's actions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkCounts {
    pub applied: u64,
    pub failed: u64,
    /// The last failure and when (seconds since the epoch).
    pub last_error: Option<(String, f64)>,
    /// What the last action asked (`true`: up).
    pub last_up: Option<bool>,
}

/// What link actions did during this run: kept across reloads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkRecord {
    /// By interface name.
    pub interfaces: BTreeMap<String, LinkCounts>,
    /// Whether each touched link was up before vipd first changed it.
    found: BTreeMap<String, bool>,
}

impl LinkRecord {
    /// Takes in what the worker did for `origin` (`INSTANCE NAME`, for logs).
    pub fn on_outcomes(&mut self, origin: &str, outcomes: &[LinkOutcome]) {
        for outcome in outcomes {
            let name = &outcome.action.interface;
            if let Some(was_up) = outcome.was_up {
                self.found.entry(name.clone()).or_insert(was_up);
            }
            let counts = self.interfaces.entry(name.clone()).or_default();
            counts.last_up = Some(outcome.action.up);
            match &outcome.error {
                None => {
                    counts.applied += 1;
                    tracing::info!("{origin}: {}", outcome.action);
                }
                Some(why) => {
                    counts.failed += 1;
                    let at = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64());
                    counts.last_error = Some((why.clone(), at));
                    tracing::warn!("{origin}: {} failed: {why}; VRRP goes on", outcome.action);
                }
            }
        }
    }

    /// Whether `interface` was up when vipd first changed it (`None`: never changed).
    pub fn found_up(&self, interface: &str) -> Option<bool> {
        self.found.get(interface).copied()
    }

    /// Failed actions, all interfaces together.
    pub fn failures(&self) -> u64 {
        self.interfaces.values().map(|c| c.failed).sum()
    }
}

/// Every subject's actions in `config`: `(INSTANCE NAME | GROUP NAME, actions)`.
pub fn subjects(config: &Config) -> impl Iterator<Item = (String, &StateActions)> {
    let instances = config
        .instances
        .iter()
        .map(|i| (format!("INSTANCE {}", i.name), &i.actions));
    let groups = config
        .sync_groups
        .iter()
        .map(|g| (format!("GROUP {}", g.name), &g.actions));
    instances.chain(groups)
}

/// What shutdown does to the links: each subject's `on_stop` list as written; every other link
/// an action touched goes back to the state it was found in, unless a subject with an `on_stop`
/// of its own names it in any of its lists (`on_stop: []` leaves its links as they are).
pub fn stop_plan(config: &Config, record: &LinkRecord) -> Vec<LinkAction> {
    let mut plan: Vec<LinkAction> = Vec::new();
    let mut settled: BTreeSet<&str> = BTreeSet::new();
    for (_, actions) in subjects(config) {
        let Some(on_stop) = &actions.on_stop else {
            continue;
        };
        settled.extend(actions.link_actions().map(|a| a.interface.as_str()));
        for action in on_stop {
            if !plan.iter().any(|a| a.interface == action.interface) {
                plan.push(action.clone());
            }
        }
    }
    for (interface, &up) in &record.found {
        if !settled.contains(interface.as_str()) {
            plan.push(LinkAction {
                interface: interface.clone(),
                up,
            });
        }
    }
    plan
}

/// After a reload: links vipd changed that no action of the new configuration names any more go
/// back to the state they were found in.
pub fn released_links(config: &Config, record: &LinkRecord) -> Vec<LinkAction> {
    let named: BTreeSet<&str> = subjects(config)
        .flat_map(|(_, a)| a.link_actions().map(|l| l.interface.as_str()))
        .collect();
    record
        .found
        .iter()
        .filter(|(interface, _)| !named.contains(interface.as_str()))
        .map(|(interface, &up)| LinkAction {
            interface: interface.clone(),
            up,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Config {
        let yaml = format!(
            "vrrp_instance:\n  VI_1:\n    interface: eth0\n    virtual_router_id: 1\n    virtual_ipaddress: [192.0.2.1/24]\n{extra}"
        );
        vipd_config::parse_str(&yaml, "t.yaml")
            .unwrap_or_else(|e| panic!("{e}"))
            .config
    }

    fn act(interface: &str, up: bool) -> LinkAction {
        LinkAction {
            interface: interface.into(),
            up,
        }
    }

    fn done(interface: &str, up: bool, was_up: bool) -> LinkOutcome {
        LinkOutcome {
            action: act(interface, up),
            was_up: Some(was_up),
            error: None,
        }
    }

    #[test]
    fn each_state_gets_its_list() {
        let c = parse("    on_master: [link_up wan]\n    on_backup: [link_down wan]\n    on_fault: [link_down wan, link_down dmz]\n");
        let a = &c.instances[0].actions;
        assert_eq!(actions_for(a, State::Master), [act("wan", true)]);
        assert_eq!(actions_for(a, State::Backup), [act("wan", false)]);
        assert_eq!(
            actions_for(a, State::Fault),
            [act("wan", false), act("dmz", false)]
        );
        assert!(actions_for(a, State::Initialize).is_empty());
    }

    #[test]
    fn the_first_state_seen_is_kept_and_failures_are_counted() {
        let mut record = LinkRecord::default();
        record.on_outcomes("INSTANCE VI_1", &[done("wan", false, true)]);
        record.on_outcomes("INSTANCE VI_1", &[done("wan", true, false)]);
        record.on_outcomes(
            "INSTANCE VI_1",
            &[LinkOutcome {
                action: act("gone", true),
                was_up: None,
                error: Some("no such interface".into()),
            }],
        );
        assert_eq!(
            record.found_up("wan"),
            Some(true),
            "found up before vipd's first change"
        );
        assert_eq!(record.found_up("gone"), None);
        assert_eq!(record.interfaces["wan"].applied, 2);
        assert_eq!(record.failures(), 1);
        let (why, _) = record.interfaces["gone"].last_error.clone().unwrap();
        assert_eq!(why, "no such interface");
    }

    #[test]
    fn shutdown_restores_what_was_found_unless_on_stop_says_otherwise() {
        let mut record = LinkRecord::default();
        record.on_outcomes("x", &[done("wan", true, false), done("dmz", false, true)]);
        let restore = parse("    on_master: [link_up wan]\n    on_backup: [link_down dmz]\n");
        assert_eq!(
            stop_plan(&restore, &record),
            [act("dmz", true), act("wan", false)]
        );
        let explicit = parse("    on_master: [link_up wan]\n    on_stop: [link_up wan]\n");
        assert_eq!(
            stop_plan(&explicit, &record),
            [act("wan", true), act("dmz", true)],
            "wan as on_stop says; dmz, named by no on_stop subject, as found"
        );
        let leave = parse("    on_master: [link_up wan, link_down dmz]\n    on_stop: []\n");
        assert!(stop_plan(&leave, &record).is_empty());
    }

    #[test]
    fn a_reload_releases_links_no_action_names_any_more() {
        let mut record = LinkRecord::default();
        record.on_outcomes("x", &[done("wan", true, false), done("dmz", true, false)]);
        let c = parse("    on_master: [link_up wan]\n");
        assert_eq!(released_links(&c, &record), [act("dmz", false)]);
    }
}
