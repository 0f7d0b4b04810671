//! The daemon's notify scripts and FIFOs, through one process-global [`Notifier`] (see
//! [`crate::hooks::notify`] for what they do).
// Transitional: removed when the daemon owns a Hooks value.

use std::sync::{Arc, RwLock};

use vipd_config as config;
use vipd_router::State;

use crate::hooks::Notifier;

static NOTIFIER: RwLock<Option<Arc<Notifier>>> = RwLock::new(None);

/// Resolves `global_defs`' script and FIFO settings and makes them the policy of every later
/// [`run`] and [`run_group`]. An error (an unknown user or group, a FIFO path that is not a
/// FIFO) means the configuration cannot be run.
pub fn configure(global: &config::GlobalDefs) -> Result<(), String> {
    let notifier = Arc::new(Notifier::resolve(global)?);
    *NOTIFIER.write().unwrap_or_else(|e| e.into_inner()) = Some(notifier);
    Ok(())
}

/// Whether `config` runs any script or writes any FIFO; without, [`configure`] need not run.
pub fn needed(config: &config::Config) -> bool {
    crate::hooks::notify::needed(config)
}

fn current() -> Arc<Notifier> {
    if let Some(notifier) = NOTIFIER.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return notifier.clone();
    }
    NOTIFIER
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(Default::default)
        .clone()
}

/// Starts the scripts configured for `instance` entering `state` and writes the FIFO line.
pub fn run(instance: &config::Instance, state: State, priority: u8) {
    current().on_instance_transition(instance, state, priority);
}

/// Starts the scripts configured for sync group `group` entering `state` and writes the FIFO
/// line.
pub fn run_group(group: &config::SyncGroup, state: State) {
    current().on_group_transition(group, state);
}
