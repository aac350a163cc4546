//! authplane-dev: run, verify and diagnose a local Authplane + MCP stack.
//!
//! The crate is a library with a thin binary (`src/main.rs`). Its top-level modules:
//!
//! - [`cli`] — the clap definitions of every subcommand and flag, nothing else.
//! - [`config`] — resolves settings (flag > process environment > `.env` > default) and writes
//!   the first `.env`.
//! - [`report`] — the single output layer: steps and findings rendered as human text or one JSON
//!   object, secrets redacted, spinners only on a terminal.
//! - [`exit`] — the exit-code enum and the typed errors that map onto it.
//! - [`stack`] — the lifecycle of background components: child processes and pid files, the Docker
//!   container (the only module that speaks bollard), port checks.
//! - [`authserver`] — the embedded authorization server, wire-compatible with authserver 0.2.2.
//! - [`echo`] — the embedded echo MCP server, protected by the official authplane-sdk verifier.
//! - [`flow`] — the client side of the flow: admin API, token endpoint, MCP (both eras), JWT decoding.
//! - [`diagnose`] — the byte-for-byte rules; turns observations into findings.
//! - [`steps`] — the steps of the flow `verify` and `token` walk, one module per step (discovery,
//!   resource, client, mint, token check, MCP round trip, probes).
//! - [`commands`] — one file per subcommand, orchestrating the modules above.
//! - [`private_files`] — writing files that hold secrets (0700 directories, 0600 files, atomic).

pub mod authserver;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diagnose;
pub mod echo;
pub mod exit;
pub mod flow;
#[cfg(test)]
mod fuzz;
pub mod private_files;
pub mod report;
pub mod stack;
pub mod steps;
