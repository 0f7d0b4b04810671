//! Transitional: the daemon's handle on transition hooks until `src/hooks` owns them.

use vipd_config as config;
use vipd_router::State;

pub struct Hooks;

impl Hooks {
    pub fn new(config: &config::Config) -> Result<Hooks, String> {
        if super::notify::needed(config) {
            super::notify::configure(&config.global)?;
        }
        Ok(Hooks)
    }

    pub fn reconfigure(&mut self, config: &config::Config) -> Result<(), String> {
        if super::notify::needed(config) {
            super::notify::configure(&config.global)?;
        }
        Ok(())
    }

    pub fn on_instance_transition(&self, instance: &config::Instance, state: State, priority: u8) {
        super::notify::run(instance, state, priority);
    }

    pub fn on_group_transition(&self, group: &config::SyncGroup, state: State) {
        super::notify::run_group(group, state);
    }
}
