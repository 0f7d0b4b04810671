//! Which log records `vipd run` writes: `VIPD_LOG`, read as `tracing_subscriber`'s `Targets`
//! (`LEVEL`, `TARGET=LEVEL`, comma-separated, e.g. `info,vipd::track=debug`), `info` when unset,
//! empty or not of that form.
//!
//! `Targets` rather than `EnvFilter`: the span and field-value filters EnvFilter adds bring the
//! regex engine (400 KB of code in the `dist` binary, whose mapped pages count in RSS); vipd's
//! logs are selected by level and module only.

use tracing_subscriber::filter::{LevelFilter, Targets};

/// The filter for `VIPD_LOG`'s value, and the reason it was not used as given.
pub fn filter(value: Option<&str>) -> (Targets, Option<String>) {
    let default = || Targets::new().with_default(LevelFilter::INFO);
    match value.map(str::trim) {
        None | Some("") => (default(), None),
        Some(text) => match text.parse::<Targets>() {
            Ok(targets) => (targets, None),
            Err(e) => (
                default(),
                Some(format!("VIPD_LOG={text:?}: {e}; logging at info")),
            ),
        },
    }
}

/// Installs the stderr writer with [`filter`] of `VIPD_LOG`.
pub fn init_from_env() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let value = std::env::var("VIPD_LOG").ok();
    let (targets, problem) = filter(value.as_deref());
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(targets)
        .init();
    if let Some(problem) = problem {
        tracing::warn!("{problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(targets: &Targets, target: &str, level: Level) -> bool {
        targets.would_enable(target, &level)
    }

    #[test]
    fn unset_or_empty_is_info_for_everything() {
        for value in [None, Some(""), Some("  ")] {
            let (targets, problem) = filter(value);
            assert!(problem.is_none());
            assert!(enabled(&targets, "vipd::daemon", Level::INFO));
            assert!(enabled(&targets, "rtnetlink", Level::INFO));
            assert!(!enabled(&targets, "vipd::daemon", Level::DEBUG));
        }
    }

    #[test]
    fn a_bare_level_applies_to_every_target() {
        let (targets, problem) = filter(Some("warn"));
        assert!(problem.is_none());
        assert!(enabled(&targets, "vipd::daemon", Level::WARN));
        assert!(!enabled(&targets, "vipd::daemon", Level::INFO));
        assert!(!enabled(&targets, "netlink_proto", Level::INFO));
    }

    #[test]
    fn module_levels_override_the_default_and_other_targets_follow_it() {
        let (targets, _) = filter(Some("warn,vipd::track=debug"));
        assert!(enabled(&targets, "vipd::track::script", Level::DEBUG));
        assert!(!enabled(&targets, "vipd::daemon", Level::INFO));
        assert!(enabled(&targets, "vipd::daemon", Level::WARN));
        // Only a target named: everything else is off, as with EnvFilter.
        let (only, _) = filter(Some("vipd=debug"));
        assert!(enabled(&only, "vipd::daemon", Level::DEBUG));
        assert!(!enabled(&only, "rtnetlink", Level::ERROR));
    }

    #[test]
    fn a_malformed_value_logs_at_info_and_says_why() {
        let (targets, problem) = filter(Some("vipd=loud"));
        assert!(enabled(&targets, "vipd::daemon", Level::INFO));
        assert!(!enabled(&targets, "vipd::daemon", Level::DEBUG));
        let problem = problem.expect("a reason");
        assert!(problem.contains("VIPD_LOG=\"vipd=loud\""), "{problem}");
    }
}
