//! The `authserver` personality of the binary: invoked under the name `authserver` it answers
//! `serve [--config PATH]` and `version` like the real authserver CLI, so a local Docker image of
//! this binary honours the image contract (`ENTRYPOINT ["/authserver"]`, `CMD ["serve"]`).
//!
//! Differences from `serve authserver`, because it runs inside a container: configuration comes
//! from the process environment only (no `.env`), the state lives in `/data` when that is a
//! writable directory (else `./data`), and a host-less address (`:9000`) binds every interface —
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

/// `/data` when it is a writable directory (the image's WORKDIR/volume), else `./data`.
fn state_dir() -> PathBuf {
    let data = PathBuf::from("/data");
    let probe = data.join(format!(".authplane-dev-probe-{}", std::process::id()));
    let writable = data.is_dir() && std::fs::write(&probe, b"").is_ok();
    if writable {
        let _ = std::fs::remove_file(&probe);
        data
    } else {
        PathBuf::from("data")
    }
}
