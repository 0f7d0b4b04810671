//! `vipd maintenance` and `vipd handover`: the typed requests as they travel on the control
//! socket (one command line), the daemon's typed reply (one JSON document), and what the
//! commands print with their exit codes (0 done, 1 refused or not done, 2 no daemon).

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which instances an operation names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Targets {
    /// These instances (a member of a sync group brings its whole group).
    Instances(Vec<String>),
    /// Every member of this `vrrp_sync_group`.
    Group(String),
    /// Every instance.
    All,
}

/// An operator's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    /// Put the targets in maintenance (`on`: a master hands over, then everyone stays BACKUP and
    /// out of the election, across restarts) or take them out of it.
    Maintenance { on: bool, targets: Targets },
    /// Hand over now (make-before-break), then return to the usual preemption rules.
    Handover { targets: Targets },
}

/// What happened to one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub instance: String,
    /// The state before (INIT, BACKUP, MASTER, FAULT).
    pub from: String,
    /// The state now.
    pub to: String,
    /// Whether it is in maintenance now.
    pub maintenance: bool,
    /// The router that took over, as heard in its first advert.
    pub successor: Option<String>,
    /// From our priority-0 advert to the successor's first advert.
    pub after_ms: Option<f64>,
    /// False when what was asked did not happen (a handover nobody took).
    pub ok: bool,
    /// The line the command prints.
    pub message: String,
}

/// The daemon's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperationReply {
    /// Why nothing was done (an unknown instance or group, nothing named, shutting down).
    pub error: Option<String>,
    pub outcomes: Vec<Outcome>,
}

impl OperationReply {
    pub fn refused(error: impl Into<String>) -> OperationReply {
        OperationReply {
            error: Some(error.into()),
            outcomes: Vec::new(),
        }
    }

    /// 0 when everything asked was done, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.error.is_some() || self.outcomes.iter().any(|o| !o.ok))
    }
}

impl Targets {
    fn words(&self) -> Vec<String> {
        match self {
            Targets::Instances(names) => names.clone(),
            Targets::Group(group) => vec!["--group".into(), group.clone()],
            Targets::All => vec!["--all".into()],
        }
    }

    fn parse(words: &[&str]) -> Result<Targets, String> {
        match words {
            ["--all"] => Ok(Targets::All),
            ["--group", group] => Ok(Targets::Group((*group).to_owned())),
            names if names.iter().any(|w| w.starts_with("--")) => Err(format!(
                "expected instance names, `--group NAME` or `--all`, got {:?}",
                names.join(" ")
            )),
            names => Ok(Targets::Instances(
                names.iter().map(|&n| n.to_owned()).collect(),
            )),
        }
    }
}

impl Operation {
    /// The command line the control socket carries.
    pub fn to_line(&self) -> String {
        let mut words = match self {
            Operation::Maintenance { on, targets } => {
                let mut w = vec![
                    "maintenance".to_owned(),
                    if *on { "on" } else { "off" }.to_owned(),
                ];
                w.extend(targets.words());
                w
            }
            Operation::Handover { targets } => {
                let mut w = vec!["handover".to_owned()];
                w.extend(targets.words());
                w
            }
        };
        words.retain(|w| !w.is_empty());
        words.join(" ")
    }

    /// Reads a command line; `None` when it is not a maintenance or handover command.
    pub fn parse_line(line: &str) -> Option<Result<Operation, String>> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["maintenance", "on", rest @ ..] | ["maintenance", "off", rest @ ..] => {
                let on = words[1] == "on";
                Some(match Targets::parse(rest) {
                    Ok(Targets::Instances(names)) if names.is_empty() => Err(
                        "maintenance: name the instances, or give `--group NAME` or `--all`"
                            .to_owned(),
                    ),
                    Ok(targets) => Ok(Operation::Maintenance { on, targets }),
                    Err(e) => Err(e),
                })
            }
            ["maintenance", ..] => Some(Err("maintenance: expected `on` or `off`".to_owned())),
            ["handover", rest @ ..] => Some(Targets::parse(rest).map(|targets| {
                let targets = match targets {
                    Targets::Instances(names) if names.is_empty() => Targets::All,
                    other => other,
                };
                Operation::Handover { targets }
            })),
            _ => None,
        }
    }
}

/// How long a client waits: a master waits at most 3 s for its successor.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// Sends `operation` to the daemon whose control socket is in `runtime_dir`.
pub fn request(runtime_dir: &Path, operation: &Operation) -> Result<OperationReply, String> {
    let text = crate::daemon::control::request(runtime_dir, &operation.to_line(), ANSWER_TIMEOUT)?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: unreadable answer: {e}",
            crate::daemon::control::socket_path(runtime_dir).display()
        )
    })
}

/// `vipd maintenance` / `vipd handover`: prints one line per instance and returns the exit code
/// (0 done, 1 refused or not done, 2 the daemon cannot be reached).
pub fn run(runtime_dir: &Path, operation: &Operation) -> i32 {
    let command = match operation {
        Operation::Maintenance { .. } => "vipd maintenance",
        Operation::Handover { .. } => "vipd handover",
    };
    match request(runtime_dir, operation) {
        Ok(reply) => {
            if let Some(e) = &reply.error {
                eprintln!("{command}: {e}");
            }
            for outcome in &reply.outcomes {
                if outcome.ok {
                    println!("{}", outcome.message);
                } else {
                    eprintln!("{}", outcome.message);
                }
            }
            reply.exit_code()
        }
        Err(e) => {
            eprintln!("{command}: {e}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_round_trip() {
        for operation in [
            Operation::Maintenance {
                on: true,
                targets: Targets::Instances(vec!["VI_1".into(), "VI_2".into()]),
            },
            Operation::Maintenance {
                on: false,
                targets: Targets::Group("G".into()),
            },
            Operation::Maintenance {
                on: true,
                targets: Targets::All,
            },
            Operation::Handover {
                targets: Targets::Instances(vec!["VI_gw".into()]),
            },
            Operation::Handover {
                targets: Targets::All,
            },
        ] {
            let line = operation.to_line();
            assert_eq!(Operation::parse_line(&line), Some(Ok(operation)), "{line}");
        }
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let err = |line: &str| Operation::parse_line(line).unwrap().unwrap_err();
        assert!(err("maintenance on").contains("name the instances"));
        assert!(err("maintenance sideways VI_1").contains("`on` or `off`"));
        assert!(err("maintenance on --group").contains("--group NAME"));
        assert!(err("handover --al").contains("--all"));
        assert_eq!(Operation::parse_line("status"), None);
    }

    #[test]
    fn exit_code_is_one_when_refused_or_not_done() {
        let done = Outcome {
            instance: "VI_1".into(),
            from: "MASTER".into(),
            to: "BACKUP".into(),
            maintenance: false,
            successor: Some("192.0.2.2".into()),
            after_ms: Some(1.1),
            ok: true,
            message: String::new(),
        };
        let mut reply = OperationReply {
            error: None,
            outcomes: vec![done.clone()],
        };
        assert_eq!(reply.exit_code(), 0);
        reply.outcomes.push(Outcome { ok: false, ..done });
        assert_eq!(reply.exit_code(), 1);
        assert_eq!(OperationReply::refused("unknown instance").exit_code(), 1);
    }
}
