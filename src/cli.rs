//! Command-line definitions (clap derive) and nothing else: no parsing of files, no I/O.
//!
//! On clap fields the `///` comment is the `--help` text. Besides the derive types, this module
//! shapes the derived [`clap::Command`] once for parsing and `--help` ([`command`]: global flags
//! collapsed into one line in subcommands, an examples section per subcommand) and once for the
//! completion scripts ([`completion_command`]: each subcommand offers only the flags it reads).

use std::path::PathBuf;

use clap::{Arg, Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::config::{Backend, Topology};
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

/// The last line of `authplane-dev --help`.
pub const START_HERE: &str = "Start here: authplane-dev verify";

/// Heading of the flags every subcommand accepts (shown in full only in `authplane-dev --help`).
const GLOBAL_HEADING: &str = "Global options";
/// Heading of the flags that choose the authorization-server backend.
const BACKEND_HEADING: &str = "Backend options";

/// Run, verify and diagnose a local Authplane authorization server and an MCP server it protects.
#[derive(Debug, Parser)]
#[command(name = "authplane-dev", version)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted before or after any subcommand. `--as` and `--image` are listed only by the
/// subcommands that choose a backend (see `PAGES`); the others are collapsed into one line in
/// every subcommand's help.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The .env file to read (and that `up` writes on first run); a file named here must exist
    /// [default: .env]
    #[arg(long, global = true, value_name = "PATH", help_heading = GLOBAL_HEADING)]
    pub env_file: Option<PathBuf>,
    /// The state directory: pid files, logs, client credentials, embedded AS data
    #[arg(long, global = true, value_name = "DIR", default_value = ".run", help_heading = GLOBAL_HEADING)]
    pub run_dir: PathBuf,
    /// Print exactly one JSON object on stdout instead of human output (usage errors too)
    #[arg(long, global = true, help_heading = GLOBAL_HEADING)]
    pub json: bool,
    /// When to use colours (NO_COLOR is honoured under auto)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, help_heading = GLOBAL_HEADING)]
    pub color: ColorChoice,
    /// Print secrets (admin key, client secret, full tokens) instead of redacting them
    #[arg(long, global = true, help_heading = GLOBAL_HEADING)]
    pub show_secrets: bool,
    /// Authorization-server backend (up, verify, token, doctor) [env: AUTHPLANE_DEV_AS] [default: auto]
    #[arg(long = "as", global = true, value_enum, value_name = "BACKEND", help_heading = BACKEND_HEADING)]
    pub backend: Option<Backend>,
    /// Where the MCP server runs: host (this machine) or containers (the AS's Docker network)
    /// (up, verify, token, doctor) [env: AUTHPLANE_DEV_TOPOLOGY] [default: host]
    #[arg(long, global = true, value_enum, value_name = "TOPOLOGY", help_heading = BACKEND_HEADING)]
    pub topology: Option<Topology>,
    /// Authserver image for the Docker backend (up, verify, token) [env: AUTHPLANE_DEV_IMAGE]
    #[arg(long, global = true, value_name = "IMAGE", help_heading = BACKEND_HEADING)]
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

/// Which OAuth flow `verify` walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum VerifyFlow {
    /// A machine client: register a client_credentials client through the admin API and mint
    #[default]
    ClientCredentials,
    /// An interactive MCP client: 401 → metadata → dynamic registration → authorize with PKCE
    /// and resource → login + consent → code exchange → MCP call → refresh
    AuthCode,
}

/// A parameter `verify --flow auth-code --omit` leaves out, to show what the AS answers a client
/// that forgets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Omit {
    /// No code_challenge on the authorize request (and no code_verifier on the exchange)
    Pkce,
    /// No resource indicator on the authorize request or the token requests
    Resource,
}

/// What `verify --flow auth-code` answers on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ConsentChoice {
    /// Press the approve button
    #[default]
    Approve,
    /// Press the deny button (shows what a client gets when the user says no)
    Deny,
}

/// Flags of `verify`.
#[derive(Debug, Args, Default)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent command-line switches, not states"
)]
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
    /// The tool to call for the round trip [default: echo when listed, else tools/list alone]
    #[arg(long, value_name = "NAME")]
    pub tool: Option<String>,
    /// The tool's arguments, a JSON object checked against its inputSchema [default: {}]
    #[arg(long, value_name = "JSON", requires = "tool", value_parser = parse_json_object)]
    pub args: Option<serde_json::Map<String, serde_json::Value>>,
    /// The scope to ask for [env: AUTHPLANE_DEV_SCOPE] [default: the server's scopes_supported]
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    /// The slug of the resource to register [env: AUTHPLANE_DEV_RESOURCE_SLUG] [default: derived from the resource URI]
    #[arg(long, value_name = "SLUG")]
    pub slug: Option<String>,
    /// Mint a DPoP-bound token (RFC 9449) and send a fresh proof with every MCP request; probe
    /// that the bound token is refused as Bearer and with a proof for another URL
    #[arg(long)]
    pub dpop: bool,
    /// The OAuth flow: client-credentials (a machine client, minted through the admin API) or
    /// auth-code (an interactive MCP client: discovery from the 401, dynamic registration, PKCE,
    /// login and consent, refresh)
    #[arg(long, value_enum, default_value_t = VerifyFlow::ClientCredentials)]
    pub flow: VerifyFlow,
    /// auth-code: open your browser at the authorization URL and wait for the redirect on a
    /// loopback listener (127.0.0.1), as `gh auth login` does [default: fill the login and consent
    /// forms headlessly with AUTHPLANE_DEV_USER_EMAIL / AUTHPLANE_DEV_USER_PASSWORD]
    #[arg(long)]
    pub browser: bool,
    /// auth-code: register and use this redirect URI instead of a loopback one
    /// (http://127.0.0.1:<port>/callback), to see whether the AS accepts your client's
    #[arg(long, value_name = "URI", conflicts_with = "browser", value_parser = parse_absolute_url)]
    pub redirect_uri: Option<String>,
    /// auth-code: leave a parameter out of the authorization request, to see what the AS answers
    /// a client that forgets it (repeatable)
    #[arg(long, value_enum, value_name = "PARAM")]
    pub omit: Vec<Omit>,
    /// auth-code: what to answer on the consent page
    #[arg(long, value_enum, default_value_t = ConsentChoice::Approve, conflicts_with = "browser")]
    pub consent: ConsentChoice,
    #[command(flatten)]
    pub up: UpArgs,
}

fn parse_absolute_url(text: &str) -> Result<String, String> {
    match url::Url::parse(text) {
        Ok(url) if url.has_host() => Ok(text.to_owned()),
        _ => Err(format!(
            "{text:?} is not an absolute URL; give one such as http://127.0.0.1:8976/callback or https://app.example.com/oauth/callback"
        )),
    }
}

fn parse_json_object(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!(
            "{text:?} is JSON but not an object; pass the arguments as an object, e.g. '{{\"city\":\"Paris\"}}'"
        )),
        Err(e) => Err(format!(
            "{text:?} is not JSON ({e}); pass the arguments as an object, e.g. '{{\"city\":\"Paris\"}}'"
        )),
    }
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
    /// The socket address to listen on (the containers topology's echo container uses
    /// 0.0.0.0:PORT; its port is published on 127.0.0.1) [default: 127.0.0.1:PORT]
    #[arg(long, value_name = "ADDRESS")]
    pub bind: Option<std::net::SocketAddr>,
}

/// Flags of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print completions for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// What a subcommand's help and completions show besides its own flags.
struct Page {
    /// The subcommand, as typed (`serve echo`).
    path: &'static str,
    /// The ids of the global flags the subcommand reads.
    globals: &'static [&'static str],
    /// Real command lines, each with a comment saying what it does.
    examples: &'static [&'static str],
}

/// The global flags every subcommand except `completions` reads (argument ids).
const COMMON: &[&str] = &["env_file", "run_dir", "json", "color", "show_secrets"];
/// [`COMMON`] plus the backend flags, for the subcommands that may start the AS.
const STARTS_AS: &[&str] = &[
    "env_file",
    "run_dir",
    "json",
    "color",
    "show_secrets",
    "backend",
    "topology",
    "image",
];
/// [`COMMON`] plus `--as`, for `doctor` (it checks the Docker daemon unless the backend is
/// embedded, and never pulls, so `--image` changes nothing for it).
const CHECKS_AS: &[&str] = &[
    "env_file",
    "run_dir",
    "json",
    "color",
    "show_secrets",
    "backend",
    "topology",
];

const PAGES: &[Page] = &[
    Page {
        path: "init",
        globals: COMMON,
        examples: &[
            "authplane-dev init                        # a complete .env on 9000, 9001, 8080",
            "authplane-dev init --ports 9100,9101,8180 # AS, admin API, MCP server elsewhere",
            "authplane-dev --env-file ci.env init --ports 19000,19001,18080",
        ],
    },
    Page {
        path: "up",
        globals: STARTS_AS,
        examples: &[
            "authplane-dev up                          # AS + echo server in the background",
            "authplane-dev up --as embedded            # never use Docker",
            "authplane-dev up --wait-timeout 180       # a slow machine",
        ],
    },
    Page {
        path: "verify",
        globals: STARTS_AS,
        examples: &[
            "authplane-dev verify                      # the whole flow; starts the stack if needed",
            "authplane-dev verify --fix                # also repair a drifted resource registration",
            "authplane-dev verify --mcp-url http://localhost:3000/mcp --tool list_tables  # your server",
            "authplane-dev verify --json --no-probes   # for scripts: one JSON object on stdout",
        ],
    },
    Page {
        path: "doctor",
        globals: CHECKS_AS,
        examples: &[
            "authplane-dev doctor                      # environment, configuration, live stack",
            "authplane-dev doctor --offline            # configuration only, no network",
            "authplane-dev doctor --mcp-url http://localhost:3000/mcp --json",
        ],
    },
    Page {
        path: "clean",
        globals: COMMON,
        examples: &[
            "authplane-dev clean                       # stop the stack; keep .env and AS data",
            "authplane-dev clean --all                 # also remove .run/, AS data and .env",
        ],
    },
    Page {
        path: "status",
        globals: COMMON,
        examples: &[
            "authplane-dev status                      # each component: pid, URL, answers?",
            "authplane-dev status --json               # the same as data for scripts",
        ],
    },
    Page {
        path: "logs",
        globals: COMMON,
        examples: &[
            "authplane-dev logs                        # the last 40 lines of each log",
            "authplane-dev logs authserver -n 100      # one component, more lines",
            "authplane-dev logs echo -f                # follow until Ctrl-C",
        ],
    },
    Page {
        path: "token",
        globals: STARTS_AS,
        examples: &[
            "authplane-dev token                       # only the token on stdout",
            "authplane-dev token --scope mcp:echo --json",
            "authplane-dev token --resource http://localhost:8080/mcp",
        ],
    },
    Page {
        path: "inspect",
        globals: COMMON,
        examples: &[
            "authplane-dev token | authplane-dev inspect -   # decode a fresh token",
            "authplane-dev inspect \"$TOKEN\" --mcp-url http://localhost:3000/mcp",
        ],
    },
    Page {
        path: "serve",
        globals: COMMON,
        examples: &[
            "authplane-dev serve authserver            # the embedded AS in the foreground",
            "authplane-dev serve echo                  # the echo MCP server in the foreground",
        ],
    },
    Page {
        path: "serve authserver",
        globals: COMMON,
        examples: &[
            "authplane-dev serve authserver            # state in .run/authserver",
            "authplane-dev serve authserver --state-dir /tmp/as",
        ],
    },
    Page {
        path: "serve echo",
        globals: COMMON,
        examples: &[
            "authplane-dev serve echo                  # needs a running AS",
            "authplane-dev serve echo --allowed-host host.docker.internal",
        ],
    },
    Page {
        path: "completions",
        globals: &[],
        examples: &[
            "authplane-dev completions bash > ~/.local/share/bash-completion/completions/authplane-dev",
            "authplane-dev completions zsh > ~/.zfunc/_authplane-dev   # a directory in $fpath",
            "authplane-dev completions fish > ~/.config/fish/completions/authplane-dev.fish",
        ],
    },
];

fn page(path: &str) -> Option<&'static Page> {
    PAGES.iter().find(|p| p.path == path)
}

/// The command line to parse and to show in `--help`: the global flags are listed once, under
/// their heading, in `authplane-dev --help`; a subcommand lists its own flags, the backend flags
/// when it reads them, one line naming the other global flags, and its examples.
pub fn command() -> clap::Command {
    let cmd = Cli::command().after_help(format!("{EXIT_CODES_HELP}\n\n{START_HERE}"));
    let globals: Vec<Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    cmd.mut_subcommands(|sc| {
        let path = sc.get_name().to_owned();
        collapse_globals(sc, &globals, &path)
    })
}

/// Hides, in `sc` and below, the global flags its help should not list. clap propagates a global
/// flag to a subcommand only when the subcommand has no argument of that id yet, so a hidden copy
/// added here takes the place of the propagated one: it still parses, and its value still reaches
/// [`Cli`], but `--help` leaves it out.
fn collapse_globals(mut sc: clap::Command, globals: &[Arg], path: &str) -> clap::Command {
    let page = page(path);
    let reads = |id: &str| page.is_none_or(|p| p.globals.contains(&id));
    for arg in globals {
        let id = arg.get_id().as_str();
        let listed = arg.get_help_heading() == Some(BACKEND_HEADING) && reads(id);
        if !listed {
            sc = sc.arg(arg.clone().hide(true));
        }
    }
    let collapsed: Vec<String> = globals
        .iter()
        .filter(|a| a.get_help_heading() == Some(GLOBAL_HEADING) && reads(a.get_id().as_str()))
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    let mut after = Vec::new();
    if !collapsed.is_empty() {
        after.push(format!(
            "{GLOBAL_HEADING}: {} (see authplane-dev --help)",
            collapsed.join(", ")
        ));
    }
    if let Some(page) = page {
        after.push(format!("Examples:\n  {}", page.examples.join("\n  ")));
    }
    if !after.is_empty() {
        sc = sc.after_help(after.join("\n\n"));
    }
    sc.mut_subcommands(|child| {
        let child_path = format!("{path} {}", child.get_name());
        collapse_globals(child, globals, &child_path)
    })
}

/// The command line the completion scripts describe: each subcommand offers exactly the global
/// flags it reads (`completions` none, `logs` no `--as`), besides its own. Only for generating
/// scripts; parse with [`command`].
pub fn completion_command() -> clap::Command {
    let mut cmd = Cli::command();
    let globals: Vec<Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    for arg in &globals {
        cmd = cmd.mut_arg(arg.get_id().as_str(), |a| a.global(false));
    }
    cmd.mut_subcommands(|sc| {
        let path = sc.get_name().to_owned();
        offer_globals(sc, &globals, &path)
    })
}

fn offer_globals(mut sc: clap::Command, globals: &[Arg], path: &str) -> clap::Command {
    let reads = |id: &str| page(path).is_none_or(|p| p.globals.contains(&id));
    for arg in globals {
        if reads(arg.get_id().as_str()) {
            sc = sc.arg(arg.clone().global(false));
        }
    }
    sc.mut_subcommands(|child| {
        let child_path = format!("{path} {}", child.get_name());
        offer_globals(child, globals, &child_path)
    })
}

/// The subcommand a command line names (`verify`, `serve echo`), found without parsing it, for
/// the `command` member of the JSON answer to a usage error; `authplane-dev` when none is named.
pub fn invoked_command(args: &[String]) -> String {
    let top = Cli::command();
    let globals: Vec<Arg> = top
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    let mut cmd = top;
    let mut path: Vec<String> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if let Some(flag) = arg.strip_prefix('-') {
            let long = flag.strip_prefix('-');
            let takes_value = cmd.get_arguments().chain(&globals).any(|a| {
                let named = match long {
                    Some(l) => !l.contains('=') && a.get_long() == Some(l),
                    None => flag.len() == 1 && a.get_short().is_some_and(|s| flag.starts_with(s)),
                };
                named && a.get_action().takes_values()
            });
            if takes_value {
                args.next();
            }
            continue;
        }
        match cmd.find_subcommand(arg) {
            Some(sc) => {
                path.push(arg.clone());
                let sc = sc.clone();
                cmd = sc;
            }
            None => break,
        }
    }
    if path.is_empty() {
        "authplane-dev".to_owned()
    } else {
        path.join(" ")
    }
}
