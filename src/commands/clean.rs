//! `clean` (being built).

use crate::cli::CleanArgs;
use crate::commands::Context;
use crate::report::Outcome;

/// Runs the command.
#[allow(clippy::unused_async)] // placeholder until the command is built
pub async fn run(_args: &CleanArgs, _ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    anyhow::bail!("clean is not implemented yet")
}
