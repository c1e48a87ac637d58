//! The agent runtime (issue 5): model providers and sessions so far.

pub mod provider;
pub mod sessions;
