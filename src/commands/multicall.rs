//! The `authserver` personality of the binary (being built): invoked under the name `authserver`
//! it answers `serve` and `version` like the real authserver CLI, so a local image of this binary
//! honours the image contract.

use crate::report::{Outcome, Reporter};

/// Runs the `authserver`-named invocation with its arguments (without argv\[0\]).
#[allow(clippy::unused_async)] // placeholder until the command is built
pub async fn run(_args: Vec<String>, _reporter: &Reporter) -> anyhow::Result<Outcome> {
    anyhow::bail!("the authserver personality is not implemented yet")
}
