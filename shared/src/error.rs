//! Error plumbing shared by every layer: causes keep their chain (`#[source]`), and logs print the
//! whole chain on one line.

use std::error::Error;
use std::fmt;

/// The underlying cause of a failure. A plain message converts too (`"...".into()`).
pub type Cause = Box<dyn Error + Send + Sync + 'static>;

/// An operation against another service that failed, with that service's error as its source.
#[derive(Debug, thiserror::Error)]
#[error("{operation}")]
pub struct CallFailed {
    operation: String,
    #[source]
    source: Cause,
}

impl CallFailed {
    pub fn new(operation: &str, err: impl Error + Send + Sync + 'static) -> Self {
        CallFailed {
            operation: operation.to_string(),
            source: Box::new(err),
        }
    }
}

/// Displays an error followed by each of its sources: `outer: cause: root cause`.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("store unavailable")]
    struct Outer(#[source] Cause);

    #[test]
    fn a_chain_names_every_cause_in_order() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e = Outer(Box::new(io));
        assert_eq!(
            Chain(&e).to_string(),
            "store unavailable: connection refused"
        );
        let plain = Outer("deal kept changing".into());
        assert_eq!(
            Chain(&plain).to_string(),
            "store unavailable: deal kept changing"
        );
    }
}
