//! `serve_authserver` (being built).

use crate::cli::ServeAuthserverArgs;
use crate::commands::Context;
use crate::report::Outcome;

/// Runs the command.
#[allow(clippy::unused_async)] // placeholder until the command is built
pub async fn run(_args: &ServeAuthserverArgs, _ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    anyhow::bail!("serve_authserver is not implemented yet")
}
