//! The `authserver` personality of the binary: invoked under the name `authserver` it answers
//! `serve [--config PATH]` and `version` like the real authserver CLI, so a local Docker image of
//! this binary honours the image contract (`ENTRYPOINT ["/authserver"]`, `CMD ["serve"]`).
//!
//! Differences from `serve authserver`, because it runs inside a container: configuration comes
//! from the process environment only (no `.env`), the state lives in `./data` (the real server's
//! relative default; the image's WORKDIR is /data), and a host-less address (`:9000`) binds every interface —
//! the host publishes the ports on 127.0.0.1.

use std::path::PathBuf;

use crate::authserver::AsConfig;
use crate::commands::serve_authserver::serve_foreground;
use crate::config::Vars;
use crate::exit::ConfigError;
use crate::report::{Outcome, Reporter};

const USAGE: &str = "usage: authserver [--config PATH] serve | authserver version";

/// Runs the `authserver`-named invocation with its arguments (without argv\[0\]).
pub async fn run(args: Vec<String>, reporter: &Reporter) -> anyhow::Result<Outcome> {
    let mut command = None;
    let mut config_path = None;
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--config" | "-config" => {
                config_path = Some(iter.next().ok_or_else(|| {
                    ConfigError::Invalid(format!("--config needs a path. {USAGE}"))
                })?);
            }
            a if a.starts_with("--config=") => {
                config_path = Some(a["--config=".len()..].to_owned());
            }
            "serve" | "version" | "help" if command.is_none() => command = Some(arg),
            "--help" | "-h" if command.is_none() => command = Some("help".to_owned()),
            other => {
                return Err(ConfigError::Invalid(format!(
                    "unknown argument {other:?} for the authserver personality of authplane-dev. \
                     {USAGE}"
                ))
                .into());
            }
        }
    }
    match command.as_deref() {
        Some("version") => {
            reporter.line(&format!("authserver {}", env!("CARGO_PKG_VERSION")));
            Ok(reporter.run("authserver version").finish())
        }
        Some("help") => {
            reporter.line(USAGE);
            Ok(reporter.run("authserver help").finish())
        }
        Some("serve") => {
            if let Some(path) = config_path {
                reporter.note(&format!(
                    "authserver: --config {path} is ignored; this emulator reads AUTHPLANE_* \
                     environment variables only"
                ));
            }
            let vars = Vars::from_parts(std::env::vars(), Vec::new());
            let mut config = AsConfig::from_vars(&vars);
            config.bind_all_interfaces = true;
            serve_foreground(config, &state_dir(), reporter).await?;
            Ok(reporter.run("authserver serve").finish())
        }
        _ => Err(ConfigError::Invalid(format!("no command given. {USAGE}")).into()),
    }
}

/// `data` under the working directory, like the real server's default paths (`data/authserver.db`,
/// `data/keys`): `/data/data` in the published image (WORKDIR /data, the volume), `/data` in an
/// image without a WORKDIR. No fallback: a directory it cannot write is the error the real
/// server reports too.
fn state_dir() -> PathBuf {
    PathBuf::from("data")
}
