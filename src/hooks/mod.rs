//! What runs on a transition: notify scripts and FIFOs, later conntrackd and link actions. The
//! daemon owns one [`Hooks`] for its configuration and tells it about every instance and sync
//! group transition; each hook starts its work in the background and never blocks the loop.

pub mod notify;

use vipd_config as config;
use vipd_router::State;

use crate::system::exec::ScriptPolicy;

pub use notify::Notifier;

/// Everything that runs on a transition, for one configuration.
#[derive(Debug, Default)]
pub struct Hooks {
    notify: Notifier,
}

impl Hooks {
    /// The hooks `config` asks for. Looks nothing up on this system when it has no script and
    /// no FIFO (see [`notify::needed`]). An error means the configuration cannot be run.
    pub fn new(config: &config::Config) -> Result<Hooks, String> {
        Ok(Hooks {
            notify: Notifier::new(config)?,
        })
    }

    /// Switches to `config`'s hooks (a reload); on an error nothing changes. A configuration
    /// without scripts or FIFOs closes the old FIFOs.
    pub fn reconfigure(&mut self, config: &config::Config) -> Result<(), String> {
        *self = Hooks::new(config)?;
        Ok(())
    }

    /// `instance` entered `state` with `priority`. Must be called inside the tokio runtime.
    pub fn on_instance_transition(&self, instance: &config::Instance, state: State, priority: u8) {
        self.notify
            .on_instance_transition(instance, state, priority);
    }

    /// `instance` left MASTER for BACKUP because of `vipd maintenance` (notify's reason
    /// argument `maintenance`). Must be called inside the tokio runtime.
    pub fn on_instance_maintenance(&self, instance: &config::Instance, priority: u8) {
        self.notify.on_instance_maintenance(instance, priority);
    }

    /// Every member of `group` is now in `state`. Must be called inside the tokio runtime.
    pub fn on_group_transition(&self, group: &config::SyncGroup, state: State) {
        self.notify.on_group_transition(group, state);
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
