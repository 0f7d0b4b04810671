//! What a reload does, decided without touching anything: each instance's fate, matched by name
//! (unchanged, changed in place, restarted, removed, added), with a sync group's members living
//! and dying together; and what a kept master must remove and add when its resources change.

use vipd_config as config;

use crate::daemon::effects::MasterResources;
use crate::daemon::registry::groupings;

/// What a reload does with one instance, matched by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    Unchanged,
    /// The same virtual router with other settings: applied in place, state kept.
    Changed,
    /// Stopped as on shutdown and started again, for the reason given.
    Restarted(String),
    Removed,
    Added,
}

impl Fate {
    pub fn stops(&self) -> bool {
        matches!(self, Fate::Removed | Fate::Restarted(_))
    }

    pub fn starts(&self) -> bool {
        matches!(self, Fate::Added | Fate::Restarted(_))
    }
}

/// One sync group by name (none for a lone instance) and its members' names.
type Grouping = (Option<String>, Vec<String>);

fn named_groupings(config: &config::Config) -> Vec<Grouping> {
    groupings(config)
        .into_iter()
        .map(|(cfg, members)| (cfg.map(|c| c.name), members))
        .collect()
}

/// Why a changed instance cannot keep its router and must be rebuilt, if it must.
fn rebuild_reason(old: &config::Instance, new: &config::Instance) -> Option<&'static str> {
    if old.interface != new.interface {
        Some("interface changed")
    } else if old.vrid != new.vrid {
        Some("virtual_router_id changed")
    } else if old.family != new.family {
        Some("address family changed")
    } else if old.version != new.version {
        Some("VRRP version changed")
    } else if old.vmac != new.vmac {
        Some("use_vmac or vmac_xmit_base changed")
    } else if old.unicast_peers != new.unicast_peers || old.unicast_src_ip != new.unicast_src_ip {
        Some("unicast_peer or unicast_src_ip changed")
    } else if is_ah(old) != is_ah(new) {
        Some("auth_type AH added or removed (its adverts use another IP protocol)")
    } else if old.dont_track_primary != new.dont_track_primary {
        Some("dont_track_primary changed")
    } else {
        None
    }
}

fn is_ah(instance: &config::Instance) -> bool {
    matches!(instance.authentication, Some(config::Authentication::Ah(_)))
}

/// Decides each instance's fate, old instances first (file order), then the added ones.
pub fn plan(old: &config::Config, new: &config::Config) -> Vec<(String, Fate)> {
    let old_groups = named_groupings(old);
    let new_groups = named_groupings(new);
    let group_of = |groups: &[Grouping], name: &str| -> Option<Grouping> {
        groups
            .iter()
            .find(|(_, m)| m.iter().any(|n| n == name))
            .cloned()
    };
    let mut fates: Vec<(String, Fate)> = old
        .instances
        .iter()
        .map(|before| {
            let fate = match new.instance(&before.name) {
                None => Fate::Removed,
                Some(after) => {
                    if let Some(reason) = rebuild_reason(before, after) {
                        Fate::Restarted(reason.to_owned())
                    } else if group_of(&old_groups, &before.name)
                        != group_of(&new_groups, &before.name)
                    {
                        Fate::Restarted("sync group membership changed".to_owned())
                    } else if before != after {
                        Fate::Changed
                    } else {
                        Fate::Unchanged
                    }
                }
            };
            (before.name.clone(), fate)
        })
        .collect();
    // A sync group's routers live and die together: one member stopping restarts the others.
    // Repeated until stable, though one pass suffices while groups are compared whole.
    loop {
        let stopping: Vec<String> = fates
            .iter()
            .filter(|(_, f)| f.stops())
            .map(|(n, _)| n.clone())
            .collect();
        let mut changed = false;
        for (_, members) in old_groups.iter().chain(new_groups.iter()) {
            let Some(cause) = members.iter().find(|m| stopping.contains(m)) else {
                continue;
            };
            for (name, fate) in fates.iter_mut() {
                if members.contains(name) && matches!(fate, Fate::Unchanged | Fate::Changed) {
                    *fate = Fate::Restarted(format!("its sync group restarts ({cause})"));
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    for after in &new.instances {
        if old.instance(&after.name).is_none() {
            fates.push((after.name.clone(), Fate::Added));
        }
    }
    fates
}

/// What must go and what must come for a master whose resources change from `installed` to
/// `wanted`: (to remove, to add). Entries present in both are left alone.
pub fn resource_diff(
    installed: &MasterResources,
    wanted: &MasterResources,
) -> (MasterResources, MasterResources) {
    fn missing<T: PartialEq + Clone>(from: &[T], in_: &[T]) -> Vec<T> {
        from.iter().filter(|x| !in_.contains(x)).cloned().collect()
    }
    let gone = MasterResources {
        vips: missing(&installed.vips, &wanted.vips),
        routes: missing(&installed.routes, &wanted.routes),
        rules: missing(&installed.rules, &wanted.rules),
        drop_set: missing(&installed.drop_set, &wanted.drop_set),
    };
    let added = MasterResources {
        vips: missing(&wanted.vips, &installed.vips),
        routes: missing(&wanted.routes, &installed.routes),
        rules: missing(&wanted.rules, &installed.rules),
        drop_set: missing(&wanted.drop_set, &installed.drop_set),
    };
    (gone, added)
}

pub fn is_empty(resources: &MasterResources) -> bool {
    resources.vips.is_empty()
        && resources.routes.is_empty()
        && resources.rules.is_empty()
        && resources.drop_set.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::effects::VipSpec;

    fn parse(yaml: &str) -> config::Config {
        config::parse_str(yaml, "test.yaml")
            .unwrap_or_else(|e| panic!("{e}"))
            .config
    }

    fn instance(name: &str, vrid: u8, priority: u8, vips: &str) -> String {
        format!(
            "  {name}: {{interface: eth0, virtual_router_id: {vrid}, priority: {priority}, \
             advert_int: 0.1, virtual_ipaddress: [{vips}]}}\n"
        )
    }

    fn config_of(instances: &[String], groups: &str) -> config::Config {
        parse(&format!(
            "global_defs: {{vrrp_version: 3}}\nvrrp_instance:\n{}{groups}",
            instances.concat()
        ))
    }

    fn fate<'a>(fates: &'a [(String, Fate)], name: &str) -> &'a Fate {
        &fates.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn plan_sorts_instances_into_unchanged_changed_removed_and_added() {
        let old = config_of(
            &[
                instance("A", 1, 100, "192.0.2.1/24"),
                instance("B", 2, 100, "192.0.2.2/24"),
                instance("C", 3, 100, "192.0.2.3/24"),
            ],
            "",
        );
        let new = config_of(
            &[
                instance("A", 1, 100, "192.0.2.1/24"),
                instance("B", 2, 150, "192.0.2.2/24, 192.0.2.22/24"),
                instance("D", 4, 100, "192.0.2.4/24"),
            ],
            "",
        );
        let fates = plan(&old, &new);
        assert_eq!(fate(&fates, "A"), &Fate::Unchanged);
        assert_eq!(fate(&fates, "B"), &Fate::Changed);
        assert_eq!(fate(&fates, "C"), &Fate::Removed);
        assert_eq!(fate(&fates, "D"), &Fate::Added);
        assert_eq!(fates.len(), 4);
    }

    #[test]
    fn plan_restarts_an_instance_whose_identity_changed() {
        let old = config_of(&[instance("A", 1, 100, "192.0.2.1/24")], "");
        let new = config_of(&[instance("A", 9, 100, "192.0.2.1/24")], "");
        assert_eq!(
            fate(&plan(&old, &new), "A"),
            &Fate::Restarted("virtual_router_id changed".into())
        );
    }

    #[test]
    fn plan_restarts_an_instance_that_takes_up_or_drops_ah_but_not_one_changing_its_key() {
        let v2 = |auth: &str| {
            parse(&format!(
                "vrrp_instance:\n  A: {{interface: eth0, virtual_router_id: 1, \
                 virtual_ipaddress: [192.0.2.1/24]{auth}}}\n"
            ))
        };
        let ah = |key: &str| format!(", authentication: {{auth_type: AH, auth_pass: {key}}}");
        let pass = ", authentication: {auth_type: PASS, auth_pass: k1}";
        assert!(matches!(
            fate(&plan(&v2(pass), &v2(&ah("k1"))), "A"),
            Fate::Restarted(reason) if reason.contains("auth_type AH")
        ));
        assert!(matches!(
            fate(&plan(&v2(&ah("k1")), &v2("")), "A"),
            Fate::Restarted(_)
        ));
        assert_eq!(
            fate(&plan(&v2(&ah("k1")), &v2(&ah("k2"))), "A"),
            &Fate::Changed
        );
    }

    #[test]
    fn plan_restarts_a_whole_sync_group_when_one_member_must_be_rebuilt() {
        let group = "vrrp_sync_group:\n  G: {group: [A, B]}\n";
        let old = config_of(
            &[
                instance("A", 1, 100, "192.0.2.1/24"),
                instance("B", 2, 100, "192.0.2.2/24"),
            ],
            group,
        );
        let new = config_of(
            &[
                instance("A", 1, 100, "192.0.2.1/24"),
                instance("B", 3, 100, "192.0.2.2/24"),
            ],
            group,
        );
        let fates = plan(&old, &new);
        assert!(matches!(fate(&fates, "A"), Fate::Restarted(why) if why.contains("sync group")));
        assert!(matches!(fate(&fates, "B"), Fate::Restarted(_)));
    }

    #[test]
    fn plan_restarts_members_when_the_sync_group_membership_changes() {
        let old = config_of(
            &[
                instance("A", 1, 100, "192.0.2.1/24"),
                instance("B", 2, 100, "192.0.2.2/24"),
                instance("C", 3, 100, "192.0.2.3/24"),
            ],
            "vrrp_sync_group:\n  G: {group: [A, B]}\n",
        );
        let new = config_of(
            &[
                instance("A", 1, 100, "192.0.2.1/24"),
                instance("B", 2, 100, "192.0.2.2/24"),
                instance("C", 3, 100, "192.0.2.3/24"),
            ],
            "vrrp_sync_group:\n  G: {group: [A]}\n",
        );
        let fates = plan(&old, &new);
        assert!(matches!(fate(&fates, "A"), Fate::Restarted(_)));
        assert!(matches!(fate(&fates, "B"), Fate::Restarted(_)));
        assert_eq!(fate(&fates, "C"), &Fate::Unchanged);
    }

    fn vip(addr: &str) -> VipSpec {
        VipSpec {
            addr: addr.parse().unwrap(),
            prefix_len: 24,
            label: None,
            dev: None,
            options: Default::default(),
        }
    }

    #[test]
    fn resource_diff_keeps_what_both_hold() {
        let installed = MasterResources {
            vips: vec![vip("192.0.2.1"), vip("192.0.2.2")],
            drop_set: vec!["192.0.2.1".parse().unwrap()],
            ..MasterResources::default()
        };
        let wanted = MasterResources {
            vips: vec![vip("192.0.2.2"), vip("192.0.2.3")],
            ..MasterResources::default()
        };
        let (gone, added) = resource_diff(&installed, &wanted);
        assert_eq!(gone.vips, vec![vip("192.0.2.1")]);
        assert_eq!(gone.drop_set, installed.drop_set);
        assert_eq!(added.vips, vec![vip("192.0.2.3")]);
        assert!(added.drop_set.is_empty());
        let (gone, added) = resource_diff(&wanted, &wanted);
        assert!(is_empty(&gone) && is_empty(&added));
    }
}
