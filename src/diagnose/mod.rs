//! Findings: what is wrong, the two values compared, and the fix.
//!
//! This module owns the byte-for-byte rules (issuer, audience, scope, ports, clock, drift). Rules
//! are pure functions from observed values to [`Finding`]s; they do no I/O. `report.rs` renders
//! findings; commands only collect them.
//!
//! - [`url`] names the precise difference between two URLs (scheme, host, port, path, trailing
//!   slash, case, whitespace).
//! - [`claims`] checks a decoded token and the AS metadata against the configuration.
//! - [`scope`] is the scope ledger: server, resource, client ceiling, token.
//! - [`config`] holds the configuration rules doctor reports and every acting verb checks first.
//! - [`clock`] compares this host's clock with the AS's `Date` header.
//! - [`jwks`] checks the AS's signing keys; [`prm`] the MCP server's Protected Resource Metadata.
//! - [`authcode`] names what an AS answered an interactive MCP client (`verify --flow auth-code`).
//! - [`failure`] explains a request that failed: a server that does not answer, an AS that fails,
//!   a refused admin key, a token endpoint error, an MCP server's refusal.

pub mod authcode;
pub mod claims;
pub mod clock;
pub mod config;
pub mod failure;
mod finding;
pub mod jwks;
pub mod prm;
pub mod scope;
pub mod url;

pub use finding::{Code, Finding, Severity};
