//! One module per provider: verify, parse into canonical events, and its API client if any.

pub mod fields;
pub mod generic;
pub mod hubspot;
pub mod inbox;
pub mod pandadoc;
pub mod signature;

/// A provider's payload could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);
