//! The founder's configuration: stage mapping, trigger windows, templates. Parsed once at start;
//! a config that does not parse, or maps a stage to nothing, stops the process with the file,
//! line and problem.

mod bundle;
mod drafting;
mod files;
mod parse;
mod schema;
pub mod settings;

use std::fmt;

pub use bundle::*;
pub use drafting::*;
pub use files::*;
pub use schema::*;

/// A config problem, located.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}
