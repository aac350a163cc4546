//! One file per subcommand; each exposes `run(args, ctx) -> anyhow::Result<Outcome>` and
//! orchestrates `stack/`, `flow/` and `diagnose/`. Commands never print: they record steps and
//! findings through the [`Reporter`] and return an [`Outcome`].
//!
//! Dispatch is the one exhaustive `match` in [`run`]: adding a verb is one variant in `cli.rs`,
//! one file here, one arm below.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::cli::{Cli, Command, ServeTarget};
use crate::config::{Overrides, Settings};
use crate::report::{Outcome, Reporter};

pub mod clean;
pub mod completions;
pub mod doctor;
pub mod init;
pub mod inspect;
pub mod logs;
pub mod multicall;
pub mod preflight;
pub mod serve_authserver;
pub mod serve_echo;
pub mod status;
pub mod token;
pub mod up;
pub mod verify;

/// What every command gets: the resolved settings and the reporter.
pub struct Context<'r> {
    pub settings: Settings,
    pub reporter: &'r Reporter,
}

impl<'r> Context<'r> {
    /// Resolves settings from the global flags, the process environment and the `.env` file.
    pub fn load(cli: &Cli, reporter: &'r Reporter) -> anyhow::Result<Context<'r>> {
        let mcp_url = match &cli.command {
            Command::Verify(a) => a.mcp_url.clone(),
            Command::Doctor(a) => a.mcp_url.clone(),
            Command::Inspect(a) => a.mcp_url.clone(),
            _ => None,
        };
        let (scope, slug) = match &cli.command {
            Command::Verify(a) => (a.scope.clone(), a.slug.clone()),
            _ => (None, None),
        };
        let overrides = Overrides {
            backend: cli.global.backend,
            image: cli.global.image.clone(),
            mcp_url,
            scope,
            slug,
            dpop: matches!(&cli.command, Command::Verify(a) if a.dpop),
        };
        let env_file = cli
            .global
            .env_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(".env"));
        let settings = Settings::load(
            &env_file,
            cli.global.env_file.is_some(),
            &cli.global.run_dir,
            &overrides,
        )
        .with_context(|| format!("resolving settings from {}", env_file.display()))?;
        for secret in [
            &settings.admin_api_key,
            &settings.session_secret,
            &settings.dev_user_password,
        ]
        .into_iter()
        .flatten()
        {
            reporter.secret(secret);
        }
        Ok(Context { settings, reporter })
    }
}

/// Name of the command, as used in the JSON `command` member.
pub fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Init(_) => "init",
        Command::Up(_) => "up",
        Command::Verify(_) => "verify",
        Command::Doctor(_) => "doctor",
        Command::Clean(_) => "clean",
        Command::Status(_) => "status",
        Command::Logs(_) => "logs",
        Command::Token(_) => "token",
        Command::Inspect(_) => "inspect",
        Command::Serve(s) => match s.server {
            ServeTarget::Authserver(_) => "serve authserver",
            ServeTarget::Echo(_) => "serve echo",
        },
        Command::Completions(_) => "completions",
    }
}

/// Runs the parsed command line.
pub async fn run(cli: &Cli, reporter: &Reporter) -> anyhow::Result<Outcome> {
    if let Command::Completions(args) = &cli.command {
        return completions::run(args, reporter);
    }
    let ctx = Context::load(cli, reporter)?;
    match &cli.command {
        Command::Init(args) => init::run(args, &ctx).await,
        Command::Up(args) => up::run(args, &ctx).await,
        Command::Verify(args) => verify::run(args, &ctx).await,
        Command::Doctor(args) => doctor::run(args, &ctx).await,
        Command::Clean(args) => clean::run(args, &ctx).await,
        Command::Status(args) => status::run(args, &ctx).await,
        Command::Logs(args) => logs::run(args, &ctx).await,
        Command::Token(args) => token::run(args, &ctx).await,
        Command::Inspect(args) => inspect::run(args, &ctx).await,
        Command::Serve(args) => match &args.server {
            ServeTarget::Authserver(a) => serve_authserver::run(a, &ctx).await,
            ServeTarget::Echo(a) => serve_echo::run(a, &ctx).await,
        },
        Command::Completions(_) => unreachable!("handled before settings are loaded"),
    }
}
