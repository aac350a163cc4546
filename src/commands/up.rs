//! `up` (being built).

use crate::cli::UpArgs;
use crate::commands::Context;
use crate::report::Outcome;

/// Runs the command.
#[allow(clippy::unused_async)] // placeholder until the command is built
pub async fn run(_args: &UpArgs, _ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    anyhow::bail!("up is not implemented yet")
}
