//! The deal pipeline in draftgate's own terms: deals, events, triggers, drafts, the audit log,
//! and the mail they travel in. No AWS or provider types here, and nothing of the crate but
//! itself: every other layer builds on this one.

pub mod audit;
pub mod checks;
pub mod deal;
pub mod draft;
pub mod email;
pub mod event;
pub mod grounding;
pub mod headers;
pub mod mail;
pub mod time;
pub mod trigger;

pub use audit::*;
pub use deal::*;
pub use draft::*;
pub use email::*;
pub use event::*;
pub use trigger::*;
