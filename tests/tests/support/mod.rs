//! Test plumbing shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own subset

pub mod aws;
