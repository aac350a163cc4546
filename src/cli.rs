//! Command-line definitions (clap derive) and nothing else: no parsing of files, no I/O.
//!
//! On clap fields the `///` comment is the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Backend;
use crate::report::ColorChoice;

/// Shown at the end of `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    the checked thing is wrong (verify/doctor found an error finding)
  2    usage or configuration error
  3    environment problem (Docker, ports, an unreachable service)
  4    internal error
  130  interrupted (Ctrl-C or SIGTERM during `up`; what it started was stopped)";

/// Run, verify and diagnose a local Authplane authorization server and an MCP server it protects.
#[derive(Debug, Parser)]
#[command(name = "authplane-dev", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The .env file to read (and that `up` writes on first run); a file named here must exist
    /// [default: .env]
    #[arg(long, global = true, value_name = "PATH")]
    pub env_file: Option<PathBuf>,
    /// The state directory: pid files, logs, client credentials, embedded AS data
    #[arg(long, global = true, value_name = "DIR", default_value = ".run")]
    pub run_dir: PathBuf,
    /// Print exactly one JSON object on stdout instead of human output
    #[arg(long, global = true)]
    pub json: bool,
    /// When to use colours (NO_COLOR is honoured under auto)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print secrets (admin key, client secret, full tokens) instead of redacting them
    #[arg(long, global = true)]
    pub show_secrets: bool,
    /// Authorization-server backend [env: AUTHPLANE_DEV_AS] [default: auto]
    #[arg(long = "as", global = true, value_enum, value_name = "BACKEND")]
    pub backend: Option<Backend>,
    /// Authserver image for the Docker backend [env: AUTHPLANE_DEV_IMAGE]
    #[arg(long, global = true, value_name = "IMAGE")]
    pub image: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a complete .env for this directory (fresh secrets; --ports moves all three ports)
    Init(InitArgs),
    /// Start the authorization server and the echo MCP server in the background, health-waited
    Up(UpArgs),
    /// Run the whole flow: register, mint, MCP handshake, tool call, negative probes
    Verify(VerifyArgs),
    /// Check every precondition and byte-for-byte rule, with a fix for each problem
    Doctor(DoctorArgs),
    /// Stop everything this tool started; keeps .env and AS data unless --all
    Clean(CleanArgs),
    /// Show each component of the stack and whether it answers
    Status(StatusArgs),
    /// Show the last lines of each component's log
    Logs(LogsArgs),
    /// Print a fresh access token (registering the resource and client as verify does)
    Token(TokenArgs),
    /// Decode a JWT and check its claims against the configuration
    Inspect(InspectArgs),
    /// Run one embedded server in the foreground
    Serve(ServeArgs),
    /// Print shell completions
    Completions(CompletionsArgs),
}

/// Flags of `init`.
#[derive(Debug, Args, Default)]
pub struct InitArgs {
    /// The AS public, AS admin and MCP server ports, e.g. 9100,9101,8180 [default: 9000,9001,8080]
    #[arg(long, value_name = "AS,ADMIN,MCP", value_parser = parse_ports)]
    pub ports: Option<StackPorts>,
}

/// The three ports of a stack, as `init --ports` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackPorts {
    pub public: u16,
    pub admin: u16,
    pub mcp: u16,
}

fn parse_ports(text: &str) -> Result<StackPorts, String> {
    let ports: Vec<u16> = text
        .split(',')
        .map(|p| p.trim().parse::<u16>().ok().filter(|p| *p != 0))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("{text:?} is not three port numbers (1-65535)"))?;
    match ports[..] {
        [public, admin, mcp] => Ok(StackPorts { public, admin, mcp }),
        _ => Err(format!(
            "{text:?} names {} port(s); give three: AS,ADMIN,MCP (e.g. 9100,9101,8180)",
            ports.len()
        )),
    }
}

/// Flags of `up`.
#[derive(Debug, Args, Default)]
pub struct UpArgs {
    /// Never pull the authserver image; fail (docker) or fall back (auto) when it is absent
    #[arg(long)]
    pub no_pull: bool,
    /// How long to wait for each component to become ready, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub wait_timeout: u64,
}

/// MCP protocol era to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Protocol {
    /// The session-era three-step handshake (initialize, notifications/initialized, tools/call)
    #[default]
    Legacy,
    /// The 2026-07-28 stateless era (one request, no session)
    Stateless,
    /// Try stateless, fall back to legacy, and report which era the server speaks
    Auto,
}

/// Flags of `verify`.
#[derive(Debug, Args, Default)]
pub struct VerifyArgs {
    /// Verify this MCP server instead of the embedded echo server [env: AUTHPLANE_DEV_MCP_URL]
    #[arg(long, value_name = "URL")]
    pub mcp_url: Option<String>,
    /// MCP protocol era
    #[arg(long, value_enum, default_value_t = Protocol::Legacy)]
    pub protocol: Protocol,
    /// Patch a drifted resource registration back to the configured URI and scopes
    #[arg(long)]
    pub fix: bool,
    /// Skip the negative probes (no token, wrong audience, missing scope)
    #[arg(long)]
    pub no_probes: bool,
    #[command(flatten)]
    pub up: UpArgs,
}

/// Flags of `doctor`.
#[derive(Debug, Args, Default)]
pub struct DoctorArgs {
    /// Check this MCP server instead of the embedded echo server [env: AUTHPLANE_DEV_MCP_URL]
    #[arg(long, value_name = "URL")]
    pub mcp_url: Option<String>,
    /// Only the checks that need no network (configuration and files)
    #[arg(long)]
    pub offline: bool,
}

/// Flags of `clean`.
#[derive(Debug, Args, Default)]
pub struct CleanArgs {
    /// Also remove AS data (Docker volume or embedded state), .run/ and .env
    #[arg(long)]
    pub all: bool,
}

/// Flags of `status`.
#[derive(Debug, Args, Default)]
pub struct StatusArgs {}

/// A component of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Component {
    Authserver,
    Echo,
}

/// Flags of `logs`.
#[derive(Debug, Args, Default)]
pub struct LogsArgs {
    /// Only this component
    #[arg(value_enum)]
    pub component: Option<Component>,
    /// How many lines of each log to show
    #[arg(short = 'n', long, default_value_t = 40)]
    pub lines: usize,
    /// Keep printing new lines as they are written (Ctrl-C to stop)
    #[arg(short, long)]
    pub follow: bool,
}

/// Flags of `token`.
#[derive(Debug, Args, Default)]
pub struct TokenArgs {
    /// Mint for this resource URI instead of the configured one
    #[arg(long, value_name = "URI")]
    pub resource: Option<String>,
    /// Ask for this scope (space-separated) instead of the configured one
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
}

/// Flags of `inspect`.
#[derive(Debug, Args, Default)]
pub struct InspectArgs {
    /// The JWT to decode; `-` reads it from stdin
    pub jwt: String,
    /// Check the audience against this MCP URL instead of the configured one
    #[arg(long, value_name = "URL")]
    pub mcp_url: Option<String>,
}

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub server: ServeTarget,
}

/// Which embedded server to run.
#[derive(Debug, Subcommand)]
pub enum ServeTarget {
    /// The embedded authorization server (wire-compatible with authserver 0.2.2)
    Authserver(ServeAuthserverArgs),
    /// The echo MCP server protected by authplane-sdk
    Echo(ServeEchoArgs),
}

/// Flags of `serve authserver`.
#[derive(Debug, Args, Default)]
pub struct ServeAuthserverArgs {
    /// Where the signing key, resources and clients are kept [default: RUN_DIR/authserver]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Flags of `serve echo`.
#[derive(Debug, Args, Default)]
pub struct ServeEchoArgs {
    /// Allow http, localhost and private-network issuers in the SDK (default: on for loopback
    /// issuers only) [env: AUTHPLANE_DEV_MODE]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub dev_mode: Option<bool>,
    /// Also accept requests whose Host header is one of these (DNS-rebinding guard allow-list)
    #[arg(long, value_name = "HOST")]
    pub allowed_host: Vec<String>,
}

/// Flags of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print completions for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
