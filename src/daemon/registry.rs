//! Who is who: instances and sync groups in slabs behind typed ids that carry a generation, so a
//! late report for a removed instance is recognised and dropped and its slot can be reused; and
//! the one grouping rule (which instances form which sync group) that start and reload share.

use std::collections::BTreeSet;
use std::sync::Arc;

use vipd_config as config;
use vipd_router::{Router, State, SyncGroup};

use super::instance::Instance;

/// An instance's handle. A handle whose generation no longer matches its slot is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId {
    index: u32,
    generation: u32,
}

/// A sync group's handle (a lone instance is a group of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId {
    index: u32,
    generation: u32,
}

/// One `vrrp_sync_group` (or a lone instance) at run time.
pub struct Group {
    /// The configured group; `None` for a lone instance (most of them: boxed, so that a lone
    /// instance's group costs a pointer, not a whole `SyncGroup`).
    pub cfg: Option<Box<config::SyncGroup>>,
    pub members: Vec<InstanceId>,
    pub routers: SyncGroup,
    /// The state the group was last announced in (group notify scripts run once per group
    /// transition).
    pub announced: Option<State>,
    /// Added by a reload; its members are still attaching and its routers not built.
    pub starting: bool,
}

struct Slot<T> {
    generation: u32,
    /// Boxed: an `Instance` is about 1.9 KB, and a `Vec` of them grown by doubling would keep up
    /// to as many unused slots as used ones; a box is allocated at its size.
    value: Option<Box<T>>,
}

/// A slab whose handles carry the generation of the slot they were issued for.
struct Slab<T> {
    slots: Vec<Slot<T>>,
}

impl<T> Slab<T> {
    fn new() -> Self {
        Slab { slots: Vec::new() }
    }

    fn insert_with(&mut self, make: impl FnOnce(u32, u32) -> T) -> (u32, u32) {
        let index = match self.slots.iter().position(|s| s.value.is_none()) {
            Some(free) => free,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        slot.generation = slot.generation.wrapping_add(1);
        slot.value = Some(Box::new(make(index as u32, slot.generation)));
        (index as u32, slot.generation)
    }

    fn get(&self, index: u32, generation: u32) -> Option<&T> {
        self.slots
            .get(index as usize)
            .filter(|s| s.generation == generation)
            .and_then(|s| s.value.as_deref())
    }

    fn get_mut(&mut self, index: u32, generation: u32) -> Option<&mut T> {
        self.slots
            .get_mut(index as usize)
            .filter(|s| s.generation == generation)
            .and_then(|s| s.value.as_deref_mut())
    }

    fn remove(&mut self, index: u32, generation: u32) -> Option<T> {
        self.slots
            .get_mut(index as usize)
            .filter(|s| s.generation == generation)
            .and_then(|s| s.value.take())
            .map(|value| *value)
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().filter_map(|s| s.value.as_deref_mut())
    }

    fn iter(&self) -> impl Iterator<Item = (u32, u32, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.value.as_deref().map(|v| (i as u32, s.generation, v)))
    }
}

/// Every live instance and group.
pub struct Registry {
    instances: Slab<Instance>,
    groups: Slab<Group>,
}

/// One sync group as the daemon builds it: its configuration (none for a lone instance) and the
/// names of its members.
pub type Grouping = (Option<config::SyncGroup>, Vec<String>);

/// The instances grouped as the daemon runs them: each `vrrp_sync_group` with the members no
/// earlier group took, then every other instance alone, in file order.
pub fn groupings(config: &config::Config) -> Vec<Grouping> {
    let mut grouped = BTreeSet::new();
    let mut out = Vec::new();
    for group in &config.sync_groups {
        let members: Vec<String> = group
            .members
            .iter()
            .filter(|name| config.instance(name).is_some())
            .filter(|name| grouped.insert((*name).clone()))
            .cloned()
            .collect();
        if !members.is_empty() {
            out.push((Some(group.clone()), members));
        }
    }
    for instance in &config.instances {
        if !grouped.contains(&instance.name) {
            out.push((None, vec![instance.name.clone()]));
        }
    }
    out
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            instances: Slab::new(),
            groups: Slab::new(),
        }
    }

    /// Adds a group whose routers are not built yet (their members are still attaching); the
    /// members are made by `make(id, group, member index)`.
    pub fn add_group(
        &mut self,
        cfg: Option<config::SyncGroup>,
        members: Vec<Arc<config::Instance>>,
        make: impl Fn(InstanceId, GroupId, usize, Arc<config::Instance>) -> Instance,
    ) -> GroupId {
        let (gi, gg) = self.groups.insert_with(|_, _| Group {
            cfg: cfg.map(Box::new),
            members: Vec::new(),
            routers: SyncGroup::new(Vec::new()),
            announced: None,
            starting: false,
        });
        let group = GroupId {
            index: gi,
            generation: gg,
        };
        let mut ids = Vec::with_capacity(members.len());
        for (m, cfg) in members.into_iter().enumerate() {
            let (index, generation) = self.instances.insert_with(|index, generation| {
                make(InstanceId { index, generation }, group, m, cfg)
            });
            ids.push(InstanceId { index, generation });
        }
        self.groups.get_mut(gi, gg).expect("just inserted").members = ids;
        group
    }

    /// Builds the group's routers from its members' current configuration (still in Initialize).
    pub fn build_routers(&mut self, group: GroupId) {
        let Some(members) = self.group(group).map(|g| g.members.clone()) else {
            return;
        };
        // Exactly as many as members: `collect` through `filter_map` would start at four, and a
        // lone instance's group would carry three unused routers.
        let mut routers = Vec::with_capacity(members.len());
        routers.extend(members.iter().filter_map(|&id| self.instance(id)).map(|i| {
            Router::new(i.router_config())
                .expect("config validation guarantees a valid router configuration")
        }));
        if let Some(g) = self.group_mut(group) {
            g.routers = SyncGroup::new(routers);
        }
    }

    /// Removes a group and its members; returns the members.
    pub fn remove_group(&mut self, group: GroupId) -> Vec<Instance> {
        let Some(g) = self.groups.remove(group.index, group.generation) else {
            return Vec::new();
        };
        g.members
            .iter()
            .filter_map(|id| self.instances.remove(id.index, id.generation))
            .collect()
    }

    pub fn instance(&self, id: InstanceId) -> Option<&Instance> {
        self.instances.get(id.index, id.generation)
    }

    pub fn instance_mut(&mut self, id: InstanceId) -> Option<&mut Instance> {
        self.instances.get_mut(id.index, id.generation)
    }

    pub fn group(&self, id: GroupId) -> Option<&Group> {
        self.groups.get(id.index, id.generation)
    }

    pub fn group_mut(&mut self, id: GroupId) -> Option<&mut Group> {
        self.groups.get_mut(id.index, id.generation)
    }

    /// The router of a live instance, once its group's routers are built.
    pub fn router(&self, id: InstanceId) -> Option<&Router> {
        let instance = self.instance(id)?;
        let routers = &self.group(instance.group)?.routers;
        (instance.member < routers.members().len()).then(|| routers.member(instance.member))
    }

    /// Every live instance id, in slot order.
    pub fn ids(&self) -> Vec<InstanceId> {
        self.instances
            .iter()
            .map(|(index, generation, _)| InstanceId { index, generation })
            .collect()
    }

    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.iter().map(|(_, _, i)| i)
    }

    pub fn instances_mut(&mut self) -> impl Iterator<Item = &mut Instance> {
        self.instances.values_mut()
    }

    /// Appends the groups whose routers act on a timer by `now` (`SyncGroup::acts_from`; no
    /// allocation on the timer path: the caller keeps `out`).
    pub fn due_groups(&self, now: vipd_router::Micros, out: &mut Vec<GroupId>) {
        out.extend(
            self.groups
                .iter()
                .filter(|(_, _, g)| g.routers.acts_from().is_some_and(|d| d <= now))
                .map(|(index, generation, _)| GroupId { index, generation }),
        );
    }

    /// Every live group id, in slot order.
    pub fn group_ids(&self) -> Vec<GroupId> {
        self.groups
            .iter()
            .map(|(index, generation, _)| GroupId { index, generation })
            .collect()
    }

    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter().map(|(_, _, g)| g)
    }

    /// The live instance named `name`.
    pub fn named(&self, name: &str) -> Option<InstanceId> {
        self.instances
            .iter()
            .find(|(_, _, i)| i.cfg.name == name)
            .map(|(index, generation, _)| InstanceId { index, generation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_handle_finds_nothing_after_its_slot_is_reused() {
        let mut slab: Slab<&str> = Slab::new();
        let (a, ga) = slab.insert_with(|_, _| "a");
        assert_eq!(slab.get(a, ga), Some(&"a"));
        assert_eq!(slab.remove(a, ga), Some("a"));
        let (b, gb) = slab.insert_with(|_, _| "b");
        assert_eq!(b, a, "the free slot is reused");
        assert_ne!(gb, ga);
        assert_eq!(slab.get(a, ga), None, "the old handle is stale");
        assert_eq!(slab.get(b, gb), Some(&"b"));
        assert_eq!(slab.remove(a, ga), None);
    }

    #[test]
    fn groupings_take_sync_groups_first_then_lone_instances() {
        let yaml = r#"
vrrp_sync_group:
  G1:
    group: [VI_2, VI_1]
vrrp_instance:
  VI_1: {interface: eth0, virtual_router_id: 1, priority: 100, virtual_ipaddress: [192.0.2.1/24]}
  VI_2: {interface: eth0, virtual_router_id: 2, priority: 100, virtual_ipaddress: [192.0.2.2/24]}
  VI_3: {interface: eth0, virtual_router_id: 3, priority: 100, virtual_ipaddress: [192.0.2.3/24]}
"#;
        let config = config::parse_str(yaml, "t.yaml").unwrap().config;
        let g = groupings(&config);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].0.as_ref().map(|c| c.name.as_str()), Some("G1"));
        assert_eq!(g[0].1, vec!["VI_2".to_owned(), "VI_1".to_owned()]);
        assert!(g[1].0.is_none());
        assert_eq!(g[1].1, vec!["VI_3".to_owned()]);
    }
}
