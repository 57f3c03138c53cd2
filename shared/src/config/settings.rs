//! Settings and secrets from the environment. A deployed function refuses to start without the
//! ones it needs, naming each missing one (in AWS they come from Secrets Manager through the
//! template's dynamic references).

use crate::secret::Secret;

/// What stops a function from starting: the settings it needs but lacks, and settings that
/// disagree with each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(.missing, .problems))]
pub struct Missing {
    pub missing: Vec<String>,
    pub problems: Vec<String>,
}

fn describe(missing: &[String], problems: &[String]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "missing required setting(s): {}",
            missing.join(", ")
        ));
    }
    parts.extend(problems.iter().cloned());
    parts.join("; ")
}

/// Collects required settings so all missing names are reported at once.
#[derive(Default)]
pub struct Env {
    missing: Vec<String>,
    problems: Vec<String>,
}

impl Env {
    pub fn new() -> Self {
        Env::default()
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }

    pub fn required(&mut self, name: &str) -> String {
        self.optional(name).unwrap_or_else(|| {
            self.missing.push(name.to_string());
            String::new()
        })
    }

    pub fn secret(&mut self, name: &str) -> Secret {
        Secret::new(self.required(name))
    }

    /// A setting is present but unusable, or disagrees with another: reported with the rest.
    pub fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(message.into());
    }

    pub fn finish(self) -> Result<(), Missing> {
        if self.missing.is_empty() && self.problems.is_empty() {
            Ok(())
        } else {
            Err(Missing {
                missing: self.missing,
                problems: self.problems,
            })
        }
    }

    /// End start-up: log what is missing or wrong and exit non-zero.
    pub fn finish_or_exit(self) {
        if let Err(m) = self.finish() {
            refuse_to_start(&m);
        }
    }
}

/// The one way a process refuses to start: the problem is logged (as JSON in a function) and
/// the process exits with EX_CONFIG, so Lambda reports an init error naming it.
#[allow(clippy::exit)]
pub fn refuse_to_start(problem: &dyn std::fmt::Display) -> ! {
    tracing::error!(problem = %problem, "refusing to start");
    std::process::exit(78)
}
