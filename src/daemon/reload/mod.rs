//! Configuration reload (SIGHUP and `vipd reload`): the file given to `vipd run -c` is read again;
//! an invalid or unreadable file changes nothing, a valid one is applied as a difference
//! ([`plan`]), with instances matched by name.
//!
//! * unchanged instance: untouched;
//! * changed instance of the same virtual router: reconfigured in place, its state kept
//!   (`Router::reconfigure`); while master, only the VIPs, routes, rules and firewall entries
//!   that differ are removed or added;
//! * removed instance: leaves as on shutdown (`release.rs`), its VMAC deleted and its sysctls
//!   restored, sockets nobody uses any more closed;
//! * added instance: attached and started as at startup;
//! * an instance whose identity changed is removed and added again, and so is every member of its
//!   sync group, since a group's routers change state together.
//!
//! A reload runs in steps inside the event loop (departures, then changes, then attaching the
//! added instances); the caller is answered when the last step is done. A reload asked for
//! meanwhile waits for it.

pub mod plan;

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::oneshot;
use vipd_config as config;

use super::instance::Instance;
use super::main_loop::Daemon;
use super::registry::{groupings, GroupId, InstanceId};
use super::release::Purpose;
use super::worker::Request;
use crate::observe::snapshot::state_name;
use crate::observe::status::{utc_timestamp, ReloadReport};
use plan::{is_empty, resource_diff, Fate};

/// A reload under way.
pub struct PendingReload {
    replies: Vec<oneshot::Sender<ReloadReport>>,
    report: ReloadReport,
    /// The configuration to apply once the departures are done.
    new: Option<config::Config>,
    fates: Vec<(String, Fate)>,
    /// Added groups still attaching.
    starting: Vec<GroupId>,
    /// Changed instances waiting for their new tracked interfaces' state.
    looking_up: Vec<InstanceId>,
}

impl Daemon {
    /// Reads the configuration file again and starts applying it; `reply` gets (and status
    /// keeps) what happened once it is done. The daemon keeps running whatever the file holds.
    pub(super) fn reload(&mut self, reply: Option<oneshot::Sender<ReloadReport>>) {
        if self.pending_reload.is_some() {
            // The file is read again once the reload under way is done.
            self.queued_reloads.push(reply);
            return;
        }
        let now = SystemTime::now();
        let mut report = ReloadReport {
            at: utc_timestamp(now),
            at_unix: now
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            file: self.config_source.path.display().to_string(),
            applied: false,
            errors: Vec::new(),
            warnings: Vec::new(),
            changes: Vec::new(),
            needs_restart: Vec::new(),
        };
        if self.shutting_down {
            report.errors.push("vipd is shutting down".to_owned());
            if let Some(reply) = reply {
                let _ = reply.send(report);
            }
            return;
        }
        let new = match self.config_source.load() {
            Ok(loaded) => {
                report.warnings = loaded.warnings.iter().map(ToString::to_string).collect();
                if let Err(e) = crate::daemon::nft_available(&loaded.config) {
                    report
                        .errors
                        .push(format!("{}: {e}", self.config_source.path.display()));
                }
                // Last, as it takes effect: scripts run as the new script_user from here on.
                if report.errors.is_empty() {
                    if let Err(e) = self.hooks.reconfigure(&loaded.config) {
                        report
                            .errors
                            .push(format!("{}: {e}", self.config_source.path.display()));
                    }
                }
                Some(loaded.config)
            }
            Err(config::LoadError::Invalid { errors, warnings }) => {
                report.errors = errors.iter().map(ToString::to_string).collect();
                report.warnings = warnings.iter().map(ToString::to_string).collect();
                None
            }
            Err(e) => {
                report.errors.push(e.to_string());
                None
            }
        };
        for warning in &report.warnings {
            tracing::warn!("reload: {warning}");
        }
        let Some(new) = new.filter(|_| report.errors.is_empty()) else {
            for error in &report.errors {
                tracing::error!("reload: {error}");
            }
            tracing::error!(
                "reload: {} rejected; nothing changed, vipd keeps running with the configuration it has",
                self.config_source.path.display()
            );
            self.last_reload = Some(report.clone());
            if let Some(reply) = reply {
                let _ = reply.send(report);
            }
            return;
        };
        report.needs_restart = self.global_changes_needing_restart(&new);
        for item in &report.needs_restart {
            tracing::warn!("reload: needs a restart: {item}");
        }
        let fates = plan::plan(&self.config, &new);
        let mut stopping: Vec<GroupId> = fates
            .iter()
            .filter(|(_, f)| f.stops())
            .filter_map(|(name, _)| self.registry.named(name))
            .filter_map(|id| self.registry.instance(id).map(|i| i.group))
            .collect();
        stopping.sort();
        stopping.dedup();
        self.pending_reload = Some(PendingReload {
            replies: reply.into_iter().collect(),
            report,
            new: Some(new),
            fates,
            starting: Vec::new(),
            looking_up: Vec::new(),
        });
        if stopping.is_empty() {
            self.reload_after_departure();
        } else {
            self.depart(stopping, Purpose::Reload);
        }
    }

    /// global_defs changes this run cannot apply (the worker was started with its table).
    fn global_changes_needing_restart(&self, new: &config::Config) -> Vec<String> {
        let mut out = Vec::new();
        match &self.nft_table {
            Some(name) if *name != new.global.nftables_table => out.push(format!(
                "global_defs.nftables: the nftables table stays {name:?} until vipd restarts (new name {:?})",
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

    /// The removed and restarted groups are gone: the changes apply, the added groups attach.
    pub(super) fn reload_after_departure(&mut self) {
        let Some(pending) = self.pending_reload.as_mut() else {
            return;
        };
        let Some(new) = pending.new.take() else {
            return;
        };
        let fates = pending.fates.clone();
        // Announcements of the instances kept and started from here on follow the new globals.
        let old = std::mem::replace(&mut self.config, new);
        self.publish_http_settings();
        self.sync_trackers(true);
        let retracked = self.refresh_instance_tracks();
        let mut changes = Vec::new();
        for (name, fate) in &fates {
            if *fate != Fate::Changed {
                continue;
            }
            let (Some(id), Some(cfg)) = (self.registry.named(name), self.config.instance(name))
            else {
                continue;
            };
            self.reconfigure_instance(id, cfg.clone());
            let state = self
                .registry
                .router(id)
                .map_or("INIT", |r| state_name(r.state()));
            changes.push(format!("{name}: changed, state kept ({state})"));
        }
        // Instances kept as they were whose tracked objects were replaced (a changed definition).
        for id in retracked {
            let name = self.registry.instance(id).map(|i| i.cfg.name.clone());
            let changed = name.is_some_and(|n| {
                fates
                    .iter()
                    .any(|(f, fate)| *f == n && *fate == Fate::Changed)
            });
            if !changed && !self.group_starting(id) {
                self.reconfigure_router(id);
            }
        }
        let fate_of = |name: &str| fates.iter().find(|(n, _)| n == name).map(|(_, f)| f);
        let mut starting = Vec::new();
        for (cfg, members) in groupings(&self.config) {
            if members.iter().all(|m| fate_of(m).is_some_and(Fate::starts)) {
                let members: Vec<Arc<config::Instance>> = members
                    .iter()
                    .filter_map(|m| self.config.instance(m).cloned())
                    .collect();
                starting.push(self.add_group(cfg, members));
            }
        }
        self.reapply_link_actions(&old);
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
        let pending = self.pending_reload.as_mut().expect("checked above");
        pending.report.changes = changes;
        pending.starting = starting;
        self.finish_reload_if_done();
    }

    /// An added group has started.
    pub(super) fn reload_group_started(&mut self, group: GroupId) {
        if let Some(pending) = self.pending_reload.as_mut() {
            pending.starting.retain(|&g| g != group);
        }
        self.finish_reload_if_done();
    }

    fn finish_reload_if_done(&mut self) {
        let done = self
            .pending_reload
            .as_ref()
            .is_some_and(|p| p.new.is_none() && p.starting.is_empty() && p.looking_up.is_empty());
        if !done {
            return;
        }
        let mut pending = self.pending_reload.take().expect("checked above");
        pending.report.applied = true;
        for change in &pending.report.changes {
            tracing::info!("reload: {change}");
        }
        tracing::info!("reload: {} applied", self.config_source.path.display());
        // The reload ran the configuration reader again: its pages go back as at start-up.
        crate::system::startup_code::release_startup_code_logged("reload");
        self.last_reload = Some(pending.report.clone());
        for reply in pending.replies {
            let _ = reply.send(pending.report.clone());
        }
        if !self.queued_reloads.is_empty() {
            let mut queued = std::mem::take(&mut self.queued_reloads);
            let first = queued.remove(0);
            self.queued_reloads = queued;
            self.reload(first);
        }
    }

    /// Applies a changed configuration to a kept instance: its router is reconfigured with its
    /// state kept, and a master's resources are brought in line by their difference. With new
    /// tracked interfaces, the router is reconfigured once their state is known.
    fn reconfigure_instance(&mut self, id: InstanceId, cfg: Arc<config::Instance>) {
        let tracks = self.instance_tracks(&cfg);
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        let tracking_changed = instance.cfg.track_interfaces != cfg.track_interfaces;
        instance.adopt_config(cfg);
        instance.tracks = tracks;
        if tracking_changed {
            instance.reconfigure_after_lookup = true;
            self.request_tracked_links(id);
            if let Some(pending) = self.pending_reload.as_mut() {
                pending.looking_up.push(id);
            }
            return;
        }
        self.reconfigure_router(id);
    }

    /// Gives the instance's router its current configuration, keeping its state.
    pub(super) fn reconfigure_router(&mut self, id: InstanceId) {
        let Some(instance) = self.registry.instance(id) else {
            return;
        };
        let (group, member) = (instance.group, instance.member);
        let router_config = instance.router_config();
        let name = instance.cfg.name.clone();
        self.drive(group, |routers, now, out| {
            if let Err(e) = routers.reconfigure(member, router_config, now, out) {
                // The plan rebuilds instances whose identity changed, so this is a bug; keep
                // running.
                tracing::error!(instance = %name, "reload: {e}");
            }
        });
        self.update_serving(id);
    }

    /// A changed instance whose tracked interfaces were looked up is reconfigured.
    pub(super) fn reconfigure_after_lookup(&mut self, id: InstanceId) {
        self.reconfigure_router(id);
        if let Some(pending) = self.pending_reload.as_mut() {
            pending.looking_up.retain(|&i| i != id);
        }
        self.finish_reload_if_done();
    }

    /// A master whose VIPs, routes, rules or accept mode changed: removes what is no longer wanted
    /// and adds what is new, leaving the rest in place. New VIPs are announced.
    fn update_serving(&mut self, id: InstanceId) {
        let accepts = self
            .registry
            .router(id)
            .is_some_and(|r| r.accepts_virtual_address_traffic());
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        let wanted = Arc::new(instance.master_resources(accepts));
        let Some(serving) = instance.serving.as_mut() else {
            return;
        };
        let (gone, added) = resource_diff(&serving.resources, &wanted);
        let ifindex = serving.vip_ifindex;
        serving.resources = wanted;
        if !added.vips.is_empty() {
            serving.announce_after_install = true;
        }
        if !is_empty(&gone) {
            let _ = self.worker.send(Request::Master {
                instance: id,
                ifindex,
                present: false,
                resources: Arc::new(gone),
            });
        }
        if !is_empty(&added) {
            let _ = self.worker.send(Request::Master {
                instance: id,
                ifindex,
                present: true,
                resources: Arc::new(added),
            });
        }
    }

    /// Adds a sync group of new instances and asks for their attachment; the group starts when
    /// every member is attached.
    pub(super) fn add_group(
        &mut self,
        cfg: Option<config::SyncGroup>,
        members: Vec<Arc<config::Instance>>,
    ) -> GroupId {
        let group = self.registry.add_group(cfg, members, Instance::new);
        self.refresh_instance_tracks();
        if let Some(g) = self.registry.group_mut(group) {
            g.starting = true;
        }
        let ids = self
            .registry
            .group(group)
            .map(|g| g.members.clone())
            .unwrap_or_default();
        for id in ids {
            self.request_attach(id);
            self.request_tracked_links(id);
        }
        group
    }
}
