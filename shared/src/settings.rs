//! Settings and secrets from the environment. A deployed function refuses to start without the
//! ones it needs, naming each missing one (in AWS they come from Secrets Manager through the
//! template's dynamic references).

use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("missing required setting(s): {}", .0.join(", "))]
pub struct Missing(pub Vec<String>);

/// Collects required settings so all missing names are reported at once.
#[derive(Default)]
pub struct Env {
    missing: Vec<String>,
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

    pub fn finish(self) -> Result<(), Missing> {
        if self.missing.is_empty() {
            Ok(())
        } else {
            Err(Missing(self.missing))
        }
    }

    /// End start-up: print what is missing and exit non-zero.
    pub fn finish_or_exit(self) {
        if let Err(m) = self.finish() {
            eprintln!("refusing to start: {m}");
            std::process::exit(78);
        }
    }
}
