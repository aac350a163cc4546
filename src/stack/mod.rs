//! The lifecycle of background components: child processes and pid files, the Docker container,
//! port checks (being built).

use crate::config::Settings;
use crate::report::Run;

/// Brings the stack up as `up` would (temporary stub until the `stack` branch lands: it assumes
/// the stack is already running and reports nothing). Returns true when everything needed is up.
#[allow(clippy::unused_async)] // stub; the real function awaits the components
pub async fn ensure_up(
    _settings: &Settings,
    _args: &crate::cli::UpArgs,
    _run: &mut Run<'_>,
    _with_echo: bool,
) -> anyhow::Result<bool> {
    Ok(true)
}
