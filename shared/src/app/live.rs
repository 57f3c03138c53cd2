//! Where a running function's config comes from: `draftgate config push` uploads a new config,
//! and each warm function asks its source for it (the reload itself is `assembly::live`).

use async_trait::async_trait;

use crate::config::{Config, ConfigError};
use crate::error::Cause;

/// Where a deployed function's config comes from, checked for changes.
#[async_trait]
pub trait ConfigSource: Send + Sync {
    /// The config if it changed since the last call, `None` when it did not.
    async fn changed(&self) -> Result<Option<Config>, ConfigFetchError>;
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigFetchError {
    /// The source could not be read (network, permissions); retrying later may succeed.
    #[error("config source unavailable")]
    Unavailable(#[source] Cause),
    /// The source holds a config that does not validate: every problem, located.
    #[error("{} config problem(s): {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ConfigError>),
}
