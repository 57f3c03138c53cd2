//! draftgate's library: everything that decides lives here; the Lambda functions and the
//! local runner only translate events in and effects out.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod drafting;
pub mod keys;
pub mod ports;
pub mod rules;
