//! What runs on a transition: notify scripts and FIFOs, conntrackd's primary-backup sequence
//! and link actions. The daemon owns one [`Hooks`] for its configuration and tells it about every
//! instance and sync group transition; each hook starts its work in the background and never
//! blocks the loop. Link actions come back to the caller as a list for the daemon's worker (the
//! rtnetlink calls are its business); their record stays here.

pub mod conntrackd;
pub mod links;
pub mod notify;

use vipd_config as config;
use vipd_config::LinkAction;
use vipd_router::State;

use crate::system::exec::ScriptPolicy;

pub use conntrackd::ConntrackdHook;
pub use links::LinkRecord;
pub use notify::Notifier;

/// Everything that runs on a transition, for one configuration.
#[derive(Debug, Default)]
pub struct Hooks {
    notify: Notifier,
    /// One per instance or sync group with a `conntrackd` block.
    conntrackd: Vec<ConntrackdHook>,
    /// What link actions did in this run (kept across reloads).
    pub links: LinkRecord,
}

impl Hooks {
    /// The hooks `config` asks for. Looks nothing up on this system when it has no script and
    /// no FIFO (see [`notify::needed`]). An error means the configuration cannot be run.
    pub fn new(config: &config::Config) -> Result<Hooks, String> {
        Ok(Hooks {
            notify: Notifier::new(config)?,
            conntrackd: links::subjects(config)
                .filter_map(|(subject, a)| {
                    Some(ConntrackdHook::new(subject, a.conntrackd.clone()?))
                })
                .collect(),
            links: LinkRecord::default(),
        })
    }

    /// Switches to `config`'s hooks (a reload); on an error nothing changes. A configuration
    /// without scripts or FIFOs closes the old FIFOs. A conntrackd integration whose subject
    /// and settings stay the same keeps its task and its counts; the link record is kept.
    pub fn reconfigure(&mut self, config: &config::Config) -> Result<(), String> {
        let mut new = Hooks::new(config)?;
        for hook in &mut new.conntrackd {
            if let Some(k) = self
                .conntrackd
                .iter()
                .position(|old| old.subject == hook.subject && old.settings == hook.settings)
            {
                *hook = self.conntrackd.swap_remove(k);
            }
        }
        new.links = std::mem::take(&mut self.links);
        *self = new;
        Ok(())
    }

    /// `instance` entered `state` with `priority`: its scripts and conntrackd sequence start;
    /// the link actions to carry out are returned. Must be called inside the tokio runtime.
    #[must_use]
    pub fn on_instance_transition(
        &self,
        instance: &config::Instance,
        state: State,
        priority: u8,
    ) -> Vec<LinkAction> {
        self.notify
            .on_instance_transition(instance, state, priority);
        self.conntrackd_of(&format!("INSTANCE {}", instance.name), state);
        links::actions_for(&instance.actions, state).to_vec()
    }

    /// `instance` left MASTER for BACKUP because of `vipd maintenance` (notify's reason
    /// argument `maintenance`): as a transition to BACKUP otherwise (conntrackd, link actions,
    /// which are returned). Must be called inside the tokio runtime.
    #[must_use]
    pub fn on_instance_maintenance(
        &self,
        instance: &config::Instance,
        priority: u8,
    ) -> Vec<LinkAction> {
        self.notify.on_instance_maintenance(instance, priority);
        self.conntrackd_of(&format!("INSTANCE {}", instance.name), State::Backup);
        links::actions_for(&instance.actions, State::Backup).to_vec()
    }

    /// Every member of `group` is now in `state`; the link actions to carry out are returned.
    /// Must be called inside the tokio runtime.
    #[must_use]
    pub fn on_group_transition(&self, group: &config::SyncGroup, state: State) -> Vec<LinkAction> {
        self.notify.on_group_transition(group, state);
        self.conntrackd_of(&format!("GROUP {}", group.name), state);
        links::actions_for(&group.actions, state).to_vec()
    }

    fn conntrackd_of(&self, subject: &str, state: State) {
        if let Some(hook) = self.conntrackd.iter().find(|h| h.subject == subject) {
            hook.on_transition(state);
        }
    }

    /// The conntrackd integrations, for status and metrics.
    pub fn conntrackd(&self) -> &[ConntrackdHook] {
        &self.conntrackd
    }

    /// The script policy resolved from the configuration; `None` while nothing needed one.
    pub fn policy(&self) -> Option<&ScriptPolicy> {
        self.notify.policy()
    }

    /// The policy scripts run under (`script_user`, `enable_script_security`): the resolved
    /// one, else keepalived's default, looked up now on first use.
    pub fn script_policy(&self) -> &ScriptPolicy {
        self.notify.script_policy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> config::Config {
        config::parse_str(yaml, "test.yaml")
            .unwrap_or_else(|e| panic!("{e}"))
            .config
    }

    #[test]
    fn reconfigure_swaps_the_policy_and_keeps_the_old_one_on_an_error() {
        let instance = "vrrp_instance:\n  VI_1: {interface: eth0, virtual_router_id: 1, \
                        priority: 100, notify_master: /bin/true, virtual_ipaddress: [192.0.2.1/24]}\n";
        let as_nobody = parse(&format!(
            "global_defs: {{script_user: nobody, enable_script_security: true}}\n{instance}"
        ));
        let mut hooks = Hooks::new(&as_nobody).unwrap();
        let nobody = hooks.policy().cloned().unwrap();
        assert_eq!((nobody.user.as_str(), nobody.security), ("nobody", true));

        let unknown = parse(&format!(
            "global_defs: {{script_user: vipd-no-such-user}}\n{instance}"
        ));
        let refused = hooks.reconfigure(&unknown).unwrap_err();
        assert!(refused.contains("vipd-no-such-user"), "{refused}");
        assert_eq!(
            hooks.policy(),
            Some(&nobody),
            "a failed reload changed the policy"
        );

        let quiet = parse(
            "vrrp_instance:\n  VI_1: {interface: eth0, virtual_router_id: 1, \
             priority: 100, virtual_ipaddress: [192.0.2.1/24]}\n",
        );
        hooks.reconfigure(&quiet).unwrap();
        assert_eq!(hooks.policy(), None);
        assert_eq!(
            hooks.script_policy(),
            &ScriptPolicy::resolve(None, false).unwrap()
        );
    }
}
