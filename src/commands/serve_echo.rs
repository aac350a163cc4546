//! `serve_echo` (being built).

use crate::cli::ServeEchoArgs;
use crate::commands::Context;
use crate::report::Outcome;

/// Runs the command.
#[allow(clippy::unused_async)] // placeholder until the command is built
pub async fn run(_args: &ServeEchoArgs, _ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    anyhow::bail!("serve_echo is not implemented yet")
}
