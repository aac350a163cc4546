//! `token` (being built).

use crate::cli::TokenArgs;
use crate::commands::Context;
use crate::report::Outcome;

/// Runs the command.
#[allow(clippy::unused_async)] // placeholder until the command is built
pub async fn run(_args: &TokenArgs, _ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    anyhow::bail!("token is not implemented yet")
}
