//! `status` (being built).

use crate::cli::StatusArgs;
use crate::commands::Context;
use crate::report::Outcome;

/// Runs the command.
#[allow(clippy::unused_async)] // placeholder until the command is built
pub async fn run(_args: &StatusArgs, _ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    anyhow::bail!("status is not implemented yet")
}
