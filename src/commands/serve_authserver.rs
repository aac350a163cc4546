//! `serve authserver`: runs the embedded authorization server in the foreground until Ctrl-C or
//! SIGTERM, configured from the same variables as the real server (process environment over
//! `.env`), state kept in `--state-dir` (default `<run-dir>/authserver`).

use std::path::{Path, PathBuf};

use crate::authserver::{self, AsConfig};
use crate::cli::ServeAuthserverArgs;
use crate::commands::Context;
use crate::report::{Outcome, Reporter};

/// Runs the command.
pub async fn run(args: &ServeAuthserverArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    let config = AsConfig::from_vars(&ctx.settings.vars);
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| ctx.settings.run_dir.join("authserver"));
    serve_foreground(config, &state_dir, ctx.reporter).await?;
    Ok(ctx.reporter.run("serve authserver").finish())
}

/// Binds, announces each listener through the reporter, and serves until Ctrl-C or SIGTERM.
/// Shared with the `authserver` personality.
pub async fn serve_foreground(
    config: AsConfig,
    state_dir: &Path,
    reporter: &Reporter,
) -> anyhow::Result<()> {
    if let Some(key) = &config.admin_api_key {
        reporter.secret(key);
    }
    if let Some(secret) = &config.session_secret {
        reporter.secret(secret);
    }
    let bound = authserver::bind(config, state_dir).await?;
    let public = bound.public_addr()?;
    let config = bound.config();
    reporter.line(&format!(
        "authserver: public http://{public} (issuer {}, {} key {}, state {})",
        config.issuer,
        config.algorithm().as_str(),
        bound.kid(),
        display_dir(state_dir).display()
    ));
    if let Some(admin) = bound.admin_addr()? {
        reporter.line(&format!("authserver: admin http://{admin}"));
        if config.admin_api_key.is_none() {
            reporter.note(&format!(
                "authserver: {} is not set, so every admin API call answers 401 \"admin API key \
                 not configured\"",
                crate::config::var::ADMIN_API_KEY
            ));
        }
    }
    let mut requests = bound.request_log();
    let run = bound.run(shutdown_signal());
    tokio::pin!(run);
    loop {
        tokio::select! {
            result = &mut run => {
                while let Ok(line) = requests.try_recv() {
                    reporter.line(&line);
                }
                return result;
            }
            Some(line) = requests.recv() => reporter.line(&line),
        }
    }
}

fn display_dir(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = crate::stack::platform::terminated() => {}
    }
}
