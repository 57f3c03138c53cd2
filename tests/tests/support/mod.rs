//! Test plumbing shared by the integration tests.

pub mod aws;
