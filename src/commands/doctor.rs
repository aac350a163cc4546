//! `doctor` (being built).

use crate::cli::DoctorArgs;
use crate::commands::Context;
use crate::report::Outcome;

/// Runs the command.
#[allow(clippy::unused_async)] // placeholder until the command is built
pub async fn run(_args: &DoctorArgs, _ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    anyhow::bail!("doctor is not implemented yet")
}
