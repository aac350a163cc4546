//! `logs` (being built).

use crate::cli::LogsArgs;
use crate::commands::Context;
use crate::report::Outcome;

/// Runs the command.
#[allow(clippy::unused_async)] // placeholder until the command is built
pub async fn run(_args: &LogsArgs, _ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    anyhow::bail!("logs is not implemented yet")
}
