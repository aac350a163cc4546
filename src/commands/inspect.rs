//! `inspect` (being built).

use crate::cli::InspectArgs;
use crate::commands::Context;
use crate::report::Outcome;

/// Runs the command.
#[allow(clippy::unused_async)] // placeholder until the command is built
pub async fn run(_args: &InspectArgs, _ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    anyhow::bail!("inspect is not implemented yet")
}
