//! Configuration reload (SIGHUP and `vipd reload`): the file given to `vipd run -c` is read again;
//! an invalid or unreadable file changes nothing, a valid one is applied as a difference, with
//! instances matched by name.
//!
//! * unchanged instance: untouched;
//! * changed instance of the same virtual router: reconfigured in place, its state kept
//!   (`Router::reconfigure`); while master, only the VIPs, routes, rules and firewall entries
//!   that differ are removed or added;
//! * removed instance: stopped as on shutdown (addresses removed, then the priority-0 advert),
//!   its VMAC deleted and its sysctls restored, sockets nobody uses any more closed;
//! * added instance: attached and started as at startup;
//! * an instance whose identity changed (interface, VRID, family, version, VMAC, unicast peers or
//!   source, `dont_track_primary`, sync-group membership) is removed and added again, and so is
//!   every member of its sync group, since a group's routers change state together.
//!
//! Instance indices are never reused: a removed instance keeps its slot, marked retired, so a
//! reconciler report still in flight for it lands on that slot and never on an instance added by
//! the same reload. Sync groups keep their slots the same way (emptied).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use vipd_config as config;
use vipd_router::SyncGroup;

use super::Daemon;
use crate::daemon::effects::{Effect, MasterResources};
use crate::daemon::event_loop::state_name;
use crate::daemon::instance::Instance;
use crate::daemon::status::ReloadReport;

/// What a reload does with one instance, matched by name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    Unchanged,
    /// The same virtual router with other settings: applied in place, state kept.
    Changed,
    /// Stopped as on shutdown and started again, for the reason given.
    Restarted(String),
    Removed,
    Added,
}

impl Fate {
    fn stops(&self) -> bool {
        matches!(self, Fate::Removed | Fate::Restarted(_))
    }

    fn starts(&self) -> bool {
        matches!(self, Fate::Added | Fate::Restarted(_))
    }
}

/// One sync group as the daemon builds it: its name (none for a lone instance) and members.
type Grouping = (Option<String>, Vec<String>);

/// The instances grouped as `Daemon::start` groups them: each `vrrp_sync_group` with the members
/// no earlier group took, then every other instance alone.
fn groupings(config: &config::Config) -> Vec<Grouping> {
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
            out.push((Some(group.name.clone()), members));
        }
    }
    for instance in &config.instances {
        if !grouped.contains(&instance.name) {
            out.push((None, vec![instance.name.clone()]));
        }
    }
    out
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
    } else if old.dont_track_primary != new.dont_track_primary {
        Some("dont_track_primary changed")
    } else {
        None
    }
}

/// Decides each instance's fate, old instances first (file order), then the added ones.
fn plan(old: &config::Config, new: &config::Config) -> Vec<(String, Fate)> {
    let old_groups = groupings(old);
    let new_groups = groupings(new);
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
fn resource_diff(
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

fn is_empty(resources: &MasterResources) -> bool {
    resources.vips.is_empty()
        && resources.routes.is_empty()
        && resources.rules.is_empty()
        && resources.drop_set.is_empty()
}

/// `2024-05-01T12:00:00Z` for a time after the Unix epoch.
fn utc_timestamp(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil, inverted).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

impl Daemon {
    /// Reads the configuration file again and applies it; returns (and keeps for status) what
    /// happened. The daemon keeps running whatever the file holds.
    pub(super) async fn reload(&mut self) -> ReloadReport {
        let mut report = ReloadReport {
            at: utc_timestamp(SystemTime::now()),
            file: self.config_path.display().to_string(),
            applied: false,
            errors: Vec::new(),
            warnings: Vec::new(),
            changes: Vec::new(),
            needs_restart: Vec::new(),
        };
        let new = match config::load_file(&self.config_path) {
            Ok(loaded) => {
                report.warnings = loaded.warnings.iter().map(ToString::to_string).collect();
                if let Err(e) = crate::daemon::nft_available(&loaded.config) {
                    report
                        .errors
                        .push(format!("{}: {e}", self.config_path.display()));
                }
                // Last, as it takes effect: scripts run as the new script_user from here on.
                if report.errors.is_empty() && crate::daemon::notify::needed(&loaded.config) {
                    if let Err(e) = crate::daemon::notify::configure(&loaded.config.global) {
                        report
                            .errors
                            .push(format!("{}: {e}", self.config_path.display()));
                    }
                }
                loaded.config
            }
            Err(config::LoadError::Invalid { errors, warnings }) => {
                report.errors = errors.iter().map(ToString::to_string).collect();
                report.warnings = warnings.iter().map(ToString::to_string).collect();
                self.config.clone()
            }
            Err(e) => {
                report.errors.push(e.to_string());
                self.config.clone()
            }
        };
        for warning in &report.warnings {
            tracing::warn!("reload: {warning}");
        }
        if !report.errors.is_empty() {
            for error in &report.errors {
                tracing::error!("reload: {error}");
            }
            tracing::error!(
                "reload: {} rejected; nothing changed, vipd keeps running with the configuration it has",
                self.config_path.display()
            );
            self.last_reload = Some(report.clone());
            return report;
        }
        report.needs_restart = self.global_changes_needing_restart(&new);
        for item in &report.needs_restart {
            tracing::warn!("reload: needs a restart: {item}");
        }
        report.changes = self.apply_config(new).await;
        report.applied = true;
        for change in &report.changes {
            tracing::info!("reload: {change}");
        }
        tracing::info!("reload: {} applied", self.config_path.display());
        self.last_reload = Some(report.clone());
        report
    }

    /// global_defs changes this run cannot apply (the reconciler was started with its table).
    fn global_changes_needing_restart(&self, new: &config::Config) -> Vec<String> {
        let mut out = Vec::new();
        match &self.nft {
            Some(table) if table.name() != new.global.nftables_table => out.push(format!(
                "global_defs.nftables: the nftables table stays {:?} until vipd restarts (new name {:?})",
                table.name(),
                new.global.nftables_table
            )),
            None if new.needs_nftables() => {
                let names: Vec<&str> = new
                    .instances
                    .iter()
                    .filter(|i| !i.accept)
                    .map(|i| i.name.as_str())
                    .collect();
                out.push(format!(
                    "no_accept ({}): vipd started without an nftables table (no instance used no_accept), so it is not enforced until vipd restarts",
                    names.join(", ")
                ));
            }
            _ => {}
        }
        out
    }

    /// Applies a valid configuration as a difference; returns one line per instance that moved.
    async fn apply_config(&mut self, new: config::Config) -> Vec<String> {
        let fates = plan(&self.config, &new);
        let live: HashMap<String, usize> = self
            .instances
            .iter()
            .enumerate()
            .filter(|(_, i)| !i.retired)
            .map(|(index, i)| (i.cfg.name.clone(), index))
            .collect();
        let fate_of = |name: &str| fates.iter().find(|(n, _)| n == name).map(|(_, f)| f);

        let stopping: BTreeSet<usize> = fates
            .iter()
            .filter(|(_, f)| f.stops())
            .filter_map(|(name, _)| live.get(name))
            .map(|&index| self.instances[index].group)
            .collect();
        self.stop_groups(&stopping).await;
        // Announcements of the instances kept and started from here on follow the new globals.
        let old = std::mem::replace(&mut self.config, new);

        let mut changes = Vec::new();
        for (name, fate) in &fates {
            if *fate == Fate::Changed {
                let index = live[name];
                let cfg = self
                    .config
                    .instance(name)
                    .expect("planned from this configuration")
                    .clone();
                self.reconfigure_instance(index, cfg).await;
                let instance = &self.instances[index];
                let state = self.groups[instance.group].member(instance.member).state();
                changes.push(format!(
                    "{name}: changed, state kept ({})",
                    state_name(state)
                ));
            }
        }
        for (_, members) in groupings(&self.config) {
            if members.iter().all(|m| fate_of(m).is_some_and(Fate::starts)) {
                self.add_group(&members).await;
            }
        }
        for (name, fate) in &fates {
            match fate {
                Fate::Removed => changes.push(format!("{name}: removed")),
                Fate::Added => changes.push(format!("{name}: added")),
                Fate::Restarted(why) => changes.push(format!("{name}: restarted ({why})")),
                Fate::Unchanged | Fate::Changed => {}
            }
        }
        if changes.is_empty() && old == self.config {
            changes.push("the configuration is unchanged".to_owned());
        } else if changes.is_empty() {
            changes.push("no instance changed (global_defs only)".to_owned());
        }
        changes
    }

    /// Stops whole sync groups as shutdown stops everything: addresses removed first (so no ARP
    /// answer of ours contradicts the backup's gratuitous ARPs), then the priority-0 adverts; then
    /// the instances are retired, their VMACs deleted and unused sockets closed.
    async fn stop_groups(&mut self, groups: &BTreeSet<usize>) {
        if groups.is_empty() {
            return;
        }
        let mut removing = false;
        for &g in groups {
            for m in 0..self.group_members[g].len() {
                let index = self.group_members[g][m];
                removing |= self.stop_serving(index);
            }
        }
        if removing {
            self.flush_effects().await;
        }
        let now = self.now();
        let mut out = std::mem::take(&mut self.actions);
        for &g in groups {
            self.groups[g].shutdown(now, &mut out);
            self.apply(g, &mut out);
        }
        self.actions = out;
        let mut vmacs = Vec::new();
        for &g in groups {
            for index in std::mem::take(&mut self.group_members[g]) {
                // Whatever state it was in, nothing of its stays behind.
                self.remove_stale(index);
                let instance = &self.instances[index];
                if let (Some(vmac), Some(vmac_ifindex), Some(parent)) =
                    (&instance.cfg.vmac, instance.vip_ifindex, instance.ifindex)
                {
                    if vmac_ifindex != parent {
                        vmacs.push((
                            vmac_ifindex,
                            vmac.name.clone(),
                            instance.cfg.interface.clone(),
                        ));
                    }
                }
                self.retire(index);
            }
            self.groups[g] = SyncGroup::new(Vec::new());
        }
        self.close_unused_sockets();
        if !vmacs.is_empty() {
            self.flush_effects().await;
            for (ifindex, name, parent) in vmacs {
                self.delete_vmac(ifindex, &name, &parent).await;
            }
        }
    }

    /// Unhooks a stopped instance from sockets and the system; its slot stays (see module doc).
    fn retire(&mut self, index: usize) {
        let instance = &mut self.instances[index];
        let vrid = usize::from(instance.cfg.vrid);
        for socket in instance.sockets.drain(..) {
            let entry = &mut self.sockets[socket];
            if entry.by_vrid[vrid] == Some(index) {
                entry.by_vrid[vrid] = None;
            }
        }
        instance.send_socket = None;
        instance.ifindex = None;
        instance.vip_ifindex = None;
        instance.installed = None;
        instance.frame_sender = None;
        instance.garp = None;
        instance.last_advert = None;
        instance.tracked.clear();
        instance.retired = true;
    }

    /// Closes the sockets no instance listens on any more.
    fn close_unused_sockets(&mut self) {
        for entry in self
            .sockets
            .iter_mut()
            .filter(|s| !s.closed && s.by_vrid.iter().all(Option::is_none))
        {
            entry.closed = true;
        }
    }

    /// Deletes a removed instance's VMAC if this run made (or adopted) it and nobody else uses
    /// it, and restores the sysctls set for it (the parent's only when no VMAC is left on it).
    async fn delete_vmac(&mut self, ifindex: u32, name: &str, parent: &str) {
        let live = || self.instances.iter().filter(|i| !i.retired);
        if live().any(|i| i.vip_ifindex == Some(ifindex)) {
            return;
        }
        let parent_still_used = live().any(|i| i.cfg.vmac.is_some() && i.cfg.interface == parent);
        if self.vmacs.contains(&ifindex) {
            if let Err(e) = self.netlink.delete_link(ifindex).await {
                tracing::warn!("removing VMAC {name}: {e}");
            }
            self.vmacs.retain(|&v| v != ifindex);
        }
        let mut failures = self.sysctls.restore_interface(name);
        if !parent_still_used {
            failures.extend(self.sysctls.restore_interface(parent));
        }
        for e in failures {
            tracing::warn!("restoring sysctl: {e}");
        }
    }

    /// Applies a changed configuration to a kept instance: its router is reconfigured with its
    /// state kept, and a master's resources are brought in line by their difference.
    async fn reconfigure_instance(&mut self, index: usize, cfg: config::Instance) {
        let tracking_changed = self.instances[index].cfg.track_interfaces != cfg.track_interfaces;
        self.instances[index].adopt_config(cfg);
        if tracking_changed {
            self.refresh_tracked(index).await;
        }
        let (g, m) = (self.instances[index].group, self.instances[index].member);
        let router_config = self.instances[index].router_config();
        let now = self.now();
        let mut out = std::mem::take(&mut self.actions);
        if let Err(e) = self.groups[g].reconfigure(m, router_config, now, &mut out) {
            // The plan rebuilds instances whose identity changed, so this is a bug; keep running.
            tracing::error!(instance = %self.instances[index].cfg.name, "reload: {e}");
        }
        self.apply(g, &mut out);
        self.actions = out;
        self.update_installed(index);
    }

    /// A master whose VIPs, routes, rules or accept mode changed: removes what is no longer wanted
    /// and adds what is new, leaving the rest in place. New VIPs are announced.
    fn update_installed(&mut self, index: usize) {
        let instance = &self.instances[index];
        let (Some(ifindex), Some(installed)) = (instance.vip_ifindex, instance.installed.clone())
        else {
            return;
        };
        let accepts = self.groups[instance.group]
            .member(instance.member)
            .accepts_virtual_address_traffic();
        let wanted = Arc::new(instance.master_resources(accepts));
        let (gone, added) = resource_diff(&installed, &wanted);
        if !is_empty(&gone) {
            let _ = self.effects.send(Effect::Master {
                instance: index,
                ifindex,
                present: false,
                resources: Arc::new(gone),
            });
        }
        let instance = &mut self.instances[index];
        if !is_empty(&added) {
            instance.announce_after_install |= !added.vips.is_empty();
            let _ = self.effects.send(Effect::Master {
                instance: index,
                ifindex,
                present: true,
                resources: Arc::new(added),
            });
        }
        instance.installed = Some(wanted);
    }

    /// Adds and starts a sync group of new instances (named in the current configuration), as
    /// startup does: at fresh indices, so nothing in flight for an older instance reaches them.
    async fn add_group(&mut self, members: &[String]) {
        let g = self.groups.len();
        let mut indices = Vec::with_capacity(members.len());
        for (m, name) in members.iter().enumerate() {
            let cfg = self
                .config
                .instance(name)
                .expect("planned from this configuration")
                .clone();
            indices.push(self.instances.len());
            self.instances.push(Instance::new(cfg, g, m));
        }
        for &index in &indices {
            self.attach(index).await;
            self.refresh_tracked(index).await;
            self.remove_stale(index);
        }
        let group = self.build_group(&indices);
        self.groups.push(group);
        self.group_members.push(indices);
        self.start_group(g);
    }
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

    #[test]
    fn utc_timestamp_formats_civil_dates() {
        let at = |s: u64| utc_timestamp(UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_714_564_800 + 3_723), "2024-05-01T13:02:03Z");
    }
}
