//! The daemon's side of link actions: a transition's `link_up` / `link_down` list goes to the
//! worker (the loop never waits on rtnetlink); a reload applies changed lists at once for the
//! state each instance or group is in and releases links no action names any more; shutdown
//! applies `on_stop` (default: every touched link back as found) after the loop.

use vipd_config as config;
use vipd_config::LinkAction;

use super::main_loop::Daemon;
use super::worker::{self, Request};
use crate::hooks::links;

impl Daemon {
    /// Hands `actions` (of `origin`, for logs) to the worker.
    pub(super) fn set_links(&mut self, origin: String, actions: Vec<LinkAction>) {
        if !actions.is_empty() {
            let _ = self.worker.send(Request::SetLinks { origin, actions });
        }
    }

    /// After a reload replaced `old`: every instance or group whose actions changed gets the
    /// list of the state it is in now; links no action names any more go back as found.
    pub(super) fn reapply_link_actions(&mut self, old: &config::Config) {
        let mut due: Vec<(String, Vec<LinkAction>)> = Vec::new();
        for cfg in &self.config.instances {
            let before = old.instance(&cfg.name).map(|i| &i.actions);
            if before == Some(&cfg.actions) {
                continue;
            }
            let Some(state) = self
                .registry
                .named(&cfg.name)
                .and_then(|id| self.registry.router(id))
                .map(|r| r.state())
            else {
                continue;
            };
            let list = links::actions_for(&cfg.actions, state);
            due.push((format!("INSTANCE {}", cfg.name), list.to_vec()));
        }
        for group in self.registry.groups() {
            let (Some(cfg), Some(state)) = (&group.cfg, group.announced) else {
                continue;
            };
            let before = old
                .sync_groups
                .iter()
                .find(|g| g.name == cfg.name)
                .map(|g| &g.actions);
            if before != Some(&cfg.actions) {
                let list = links::actions_for(&cfg.actions, state);
                due.push((format!("GROUP {}", cfg.name), list.to_vec()));
            }
        }
        due.push((
            "reload".to_owned(),
            links::released_links(&self.config, &self.hooks.links),
        ));
        for (origin, actions) in due {
            self.set_links(origin, actions);
        }
    }

    /// After the loop: the links as `on_stop` says, or back as found (the loop has stopped, so
    /// waiting on the kernel here delays no advert).
    pub(super) async fn stop_links(&mut self) {
        let plan = links::stop_plan(&self.config, &self.hooks.links);
        if plan.is_empty() {
            return;
        }
        let outcomes = worker::set_links(&self.netlink, &plan).await;
        self.hooks.links.on_outcomes("shutdown", &outcomes);
    }
}
