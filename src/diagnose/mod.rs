//! Findings: what is wrong, the two values compared, and the fix.
//!
//! This module owns the byte-for-byte rules (issuer, audience, scope, ports, clock, drift). Rules
//! are pure functions from observed values to [`Finding`]s; they do no I/O. `report.rs` renders
//! findings; commands only collect them.

mod finding;

pub use finding::{Code, Finding, Severity};
