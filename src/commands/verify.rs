//! `verify` (being built).

use crate::cli::VerifyArgs;
use crate::commands::Context;
use crate::report::Outcome;

/// Runs the command.
#[allow(clippy::unused_async)] // placeholder until the command is built
pub async fn run(_args: &VerifyArgs, _ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    anyhow::bail!("verify is not implemented yet")
}
