//! draftgate's library: everything that decides lives here; the Lambda functions and the
//! local runner only translate events in and effects out.

pub mod adapters;
pub mod app;
pub mod assembly;
pub mod config;
pub mod domain;
pub mod drafting;
pub mod error;
pub mod http;
pub mod ports;
pub mod providers;
pub mod rules;
pub mod secret;
pub mod signing;
pub mod tokens;
