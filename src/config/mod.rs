//! Settings: precedence, derived URLs, `.env` generation.
//!
//! Precedence is flag > process environment > `.env` file > built-in default (DESIGN §3). The
//! `.env` file is read as key/value pairs and never loaded into the process environment, so what a
//! child process sees is always explicit ([`Vars::child_env`]). Resolution is a pure function
//! ([`Settings::resolve`]) of the flags, the environment and the file's pairs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::exit::ConfigError;

mod env_file;
mod names;
mod slug;

pub use env_file::{
    ENV_FILE_HEADER, append_missing_secrets, env_file_written_by_us, generate_secret,
    initial_env_text, read_env_file, write_initial_env_file,
};
pub use names::{
    AUTHSERVER_PASSTHROUGH, DOCUMENTED, MCP_SERVER_SIDE, UnknownName, read_by_authserver,
    unknown_names, var,
};
pub use slug::derived_slug;

/// Built-in defaults.
pub mod default {
    pub const ISSUER: &str = "http://localhost:9000";
    pub const SERVER_ADDRESS: &str = ":9000";
    pub const ADMIN_ADDRESS: &str = ":9001";
    pub const BASE_URL: &str = "http://localhost:8080";
    pub const MCP_PATH: &str = "/mcp";
    pub const PORT: u16 = 8080;
    pub const SCOPES: &str = "mcp:echo";
    /// The local dev user's email (`.test` is reserved: it never names a real mailbox).
    pub const DEV_USER_EMAIL: &str = "dev@localhost.test";
    pub const RESOURCE_SLUG: &str = "demo-mcp";
    pub const IMAGE: &str = "authplane/authserver:latest";
    pub const CONTAINER: &str = "authplane-dev-authserver";
    /// The AS's name on the seed's Docker network (`http://authserver:9000`).
    pub const NETWORK_ALIAS: &str = "authserver";
    pub const RUN_DIR: &str = ".run";
}

/// Where a value came from; shown by `doctor` so a user knows which file or variable to edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Flag,
    Env,
    DotEnv,
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Flag => "command-line flag",
            Source::Env => "process environment",
            Source::DotEnv => ".env file",
            Source::Default => "built-in default",
        })
    }
}

/// The raw variables after precedence (flag > environment > `.env`), with where each came from.
///
/// Only variables that concern the stack are kept from the process environment (`AUTHPLANE_*`,
/// `PORT`), so unrelated environment never leaks into child processes.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, (String, Source)>,
}

impl Vars {
    /// Reads the `.env` file at `path` (a missing file is an empty one) and merges it under the
    /// given process environment.
    ///
    /// `required` is true when the user named the file (`--env-file`): then a missing file is a
    /// configuration error instead of an empty file.
    pub fn load(
        path: &Path,
        required: bool,
        process_env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Vars, ConfigError> {
        if required && !path.exists() {
            return Err(ConfigError::MissingEnvFile {
                path: path.display().to_string(),
            });
        }
        let pairs = read_env_file(path)?;
        Ok(Vars::from_parts(process_env, pairs))
    }

    /// Merges process environment over `.env` pairs; pure.
    pub fn from_parts(
        process_env: impl IntoIterator<Item = (String, String)>,
        dotenv_pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Vars {
        let mut values = BTreeMap::new();
        for (k, v) in dotenv_pairs {
            values.insert(k, (v, Source::DotEnv));
        }
        for (k, v) in process_env {
            if is_stack_variable(&k) {
                values.insert(k, (v, Source::Env));
            }
        }
        Vars { values }
    }

    /// Overrides a variable from a command-line flag.
    pub fn set_flag(&mut self, name: &str, value: impl Into<String>) {
        self.values
            .insert(name.to_owned(), (value.into(), Source::Flag));
    }

    /// Records the value a setting resolved to when nothing set it; its source stays
    /// [`Source::Default`].
    fn set_default(&mut self, name: &str, value: &str) {
        self.values
            .entry(name.to_owned())
            .and_modify(|(v, _)| {
                if v.trim().is_empty() {
                    value.clone_into(v);
                }
            })
            .or_insert_with(|| (value.to_owned(), Source::Default));
    }

    /// The value of `name`, if set anywhere. An empty value counts as set (the real AS treats an
    /// empty override as "set"), callers decide what empty means.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|(v, _)| v.as_str())
    }

    /// The value of `name` if set and not blank.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// Where `name` came from ([`Source::Default`] when unset).
    pub fn source(&self, name: &str) -> Source {
        self.values.get(name).map_or(Source::Default, |(_, s)| *s)
    }

    /// Every variable, for passing to a child process (`serve authserver`, `serve echo`, the
    /// container) exactly as resolved here.
    pub fn child_env(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }
}

fn is_stack_variable(name: &str) -> bool {
    name.starts_with("AUTHPLANE_") || name == var::PORT
}

/// Which authorization-server backend to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// An AS already answering at the public URL that authplane-dev did not start (external);
    /// else Docker when the daemon answers and the image is present or pullable; else embedded.
    Auto,
    /// The authserver image through the Docker Engine API.
    Docker,
    /// The AS built into this binary (`authplane-dev serve authserver`).
    Embedded,
    /// An AS someone else runs at the public URL: used as it is, never started or stopped.
    External,
}

impl Backend {
    fn parse(value: &str) -> Result<Backend, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "docker" => Ok(Backend::Docker),
            "embedded" => Ok(Backend::Embedded),
            "external" => Ok(Backend::External),
            _ => Err(ConfigError::InvalidValue {
                name: var::DEV_AS.into(),
                value: value.into(),
                reason: "it must be auto, docker, embedded or external".into(),
                fix: format!("set {}=auto (or docker / embedded / external)", var::DEV_AS),
            }),
        }
    }
}

/// Where the MCP server runs relative to the AS (the seed's two flows), which decides the host
/// its issuer must name: a name this machine resolves, or the AS's name on the Docker network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topology {
    /// The MCP server runs on this machine and reaches the AS through a published port
    /// (`http://localhost:9000`).
    Host,
    /// The MCP server runs in a container on the AS's Docker network and reaches the AS by its
    /// network alias (`http://authserver:9000`; the seed's `make docker-run`).
    Containers,
}

impl Topology {
    /// The setting's spelling: `host`, `containers`.
    pub fn as_str(self) -> &'static str {
        match self {
            Topology::Host => "host",
            Topology::Containers => "containers",
        }
    }

    fn parse(value: &str) -> Result<Topology, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "host" => Ok(Topology::Host),
            "containers" => Ok(Topology::Containers),
            _ => Err(ConfigError::InvalidValue {
                name: var::DEV_TOPOLOGY.into(),
                value: value.into(),
                reason: "it must be host (the MCP server runs on this machine) or containers \
                         (it runs in a container on the AS's Docker network)"
                    .into(),
                fix: format!(
                    "set {}=host (or containers), or remove it: host is the default",
                    var::DEV_TOPOLOGY
                ),
            }),
        }
    }
}

/// Values given on the command line, applied over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub backend: Option<Backend>,
    pub image: Option<String>,
    pub mcp_url: Option<String>,
    /// `verify --scope`: the scope to ask for (as `AUTHPLANE_DEV_SCOPE`).
    pub scope: Option<String>,
    /// `verify --slug`: the slug of the resource to register (as `AUTHPLANE_DEV_RESOURCE_SLUG`).
    pub slug: Option<String>,
    /// `verify --dpop`: the echo server must accept DPoP-bound tokens (`off` becomes `allowed`).
    pub dpop: bool,
}

/// The echo server's inbound DPoP mode (RFC 9449), authplane-sdk's three modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InboundDpop {
    /// Bearer tokens only; a DPoP-bound token or a proof is refused (the SDK's default).
    #[default]
    Off,
    /// Bearer tokens and DPoP-bound tokens (with `Authorization: DPoP` and a fresh proof).
    Allowed,
    /// DPoP-bound tokens only.
    Required,
}

impl InboundDpop {
    /// The setting's spelling: `off`, `allowed`, `required`.
    pub fn as_str(self) -> &'static str {
        match self {
            InboundDpop::Off => "off",
            InboundDpop::Allowed => "allowed",
            InboundDpop::Required => "required",
        }
    }

    /// Parses the setting (case-insensitive; `false`/`true` are accepted for off/allowed).
    pub fn parse(value: &str) -> Option<InboundDpop> {
        match value.trim().to_ascii_lowercase().as_str() {
            "off" | "false" | "0" | "no" => Some(InboundDpop::Off),
            "allowed" | "on" | "true" | "1" | "yes" => Some(InboundDpop::Allowed),
            "required" => Some(InboundDpop::Required),
            _ => None,
        }
    }
}

/// The resolved configuration every command works from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What the AS announces and stamps into `iss` (`AUTHPLANE_SERVER_ISSUER`).
    pub server_issuer: String,
    /// AS public listener (`:9000` form: no host means loopback for embedded servers).
    pub server_address: String,
    /// AS admin listener.
    pub admin_address: String,
    pub admin_api_key: Option<String>,
    pub session_secret: Option<String>,
    /// The local dev user who signs in at the AS's login page (`AUTHPLANE_DEV_USER_EMAIL`).
    pub dev_user_email: String,
    /// Their password (`AUTHPLANE_DEV_USER_PASSWORD`, a secret; `up` generates it).
    pub dev_user_password: Option<String>,
    /// Where the echo server's SDK discovers metadata (`AUTHPLANE_ISSUER`).
    pub sdk_issuer: String,
    pub base_url: String,
    pub mcp_path: String,
    /// The echo server's listening port (`PORT`).
    pub port: u16,
    /// Scopes the echo server requires (`AUTHPLANE_SCOPES`, space-separated).
    pub scopes: Vec<String>,
    /// Where the CLI calls the admin API.
    pub admin_url: String,
    /// Where the CLI reaches the AS's public endpoints.
    pub public_url: String,
    /// The scope the CLI registers and asks for.
    pub scope: String,
    pub resource_slug: String,
    /// The resource URI the CLI registers and requests with `resource=`.
    pub resource_uri: String,
    /// The MCP URL the CLI dials.
    pub mcp_url: String,
    pub backend: Backend,
    /// `AUTHPLANE_DEV_TOPOLOGY`: where the MCP server runs (this machine or the AS's Docker
    /// network), which decides the issuer host it can reach.
    pub topology: Topology,
    pub image: String,
    pub container_name: String,
    /// The `.env` file these settings were read from.
    pub env_file: PathBuf,
    /// The state directory (`.run/`): pid files, logs, client credentials, embedded AS data.
    pub run_dir: PathBuf,
    /// The raw variables, for child processes and for `doctor` to name sources.
    pub vars: Vars,
    /// `AUTHPLANE_DEV_BEHIND_PROXY`: a proxy serves `AUTHPLANE_BASE_URL` / the issuer and
    /// forwards to the listeners, so their ports may differ (the port rules become warnings).
    pub behind_proxy: bool,
    /// `AUTHPLANE_DEV_ECHO_REVOCATION`: the echo server checks every token for revocation through
    /// the AS's introspection endpoint, with a client `up` registers for it.
    pub echo_revocation: bool,
    /// `AUTHPLANE_*` names that are set but read by nothing (typos), for a warning.
    pub unknown_names: Vec<UnknownName>,
    /// The echo server's inbound DPoP mode (`AUTHPLANE_DEV_ECHO_DPOP`; `verify --dpop` raises
    /// `off` to `allowed`).
    pub echo_dpop: InboundDpop,
}

impl Settings {
    /// Resolves every setting from the merged variables and the command-line overrides; pure.
    pub fn resolve(
        mut vars: Vars,
        overrides: &Overrides,
        env_file: &Path,
        run_dir: &Path,
    ) -> Result<Settings, ConfigError> {
        if let Some(backend) = overrides.backend {
            let name = match backend {
                Backend::Auto => "auto",
                Backend::Docker => "docker",
                Backend::Embedded => "embedded",
                Backend::External => "external",
            };
            vars.set_flag(var::DEV_AS, name);
        }
        if let Some(image) = &overrides.image {
            vars.set_flag(var::DEV_IMAGE, image.clone());
        }
        if let Some(url) = &overrides.mcp_url {
            vars.set_flag(var::DEV_MCP_URL, url.clone());
        }
        if let Some(scope) = &overrides.scope {
            vars.set_flag(var::DEV_SCOPE, scope.clone());
        }
        if let Some(slug) = &overrides.slug {
            vars.set_flag(var::DEV_RESOURCE_SLUG, slug.clone());
        }

        let text = |name: &str, default: &str| -> String {
            vars.non_empty(name).unwrap_or(default).to_owned()
        };
        // Each pair that must agree (listen address and issuer, PORT and base URL) takes its
        // default from the other half when only one is set, so moving a port is one variable.
        // Two values that are both set are never adjusted: a mismatch is a finding.
        let server_issuer = match vars.non_empty(var::SERVER_ISSUER) {
            Some(issuer) => issuer.to_owned(),
            None => match vars.non_empty(var::SERVER_ADDRESS) {
                Some(address) => format!(
                    "http://localhost:{}",
                    listen_port(var::SERVER_ADDRESS, address)?
                ),
                None => default::ISSUER.to_owned(),
            },
        };
        let server_address = match vars.non_empty(var::SERVER_ADDRESS) {
            Some(address) => address.to_owned(),
            None => explicit_port(&server_issuer)
                .map_or_else(|| default::SERVER_ADDRESS.to_owned(), |p| format!(":{p}")),
        };
        let admin_address = text(var::ADMIN_ADDRESS, default::ADMIN_ADDRESS);
        let sdk_issuer = text(var::ISSUER, &server_issuer);
        let port = match vars.non_empty(var::PORT) {
            None => vars
                .non_empty(var::BASE_URL)
                .and_then(explicit_port)
                .unwrap_or(default::PORT),
            Some(p) => p
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| ConfigError::InvalidValue {
                    name: var::PORT.into(),
                    value: p.into(),
                    reason: "it must be a TCP port number (1-65535)".into(),
                    fix: format!("set {}=8080 or another free port", var::PORT),
                })?,
        };
        let base_url = text(var::BASE_URL, &format!("http://localhost:{port}"));
        let mcp_path = text(var::MCP_PATH, default::MCP_PATH);
        let scopes: Vec<String> = text(var::SCOPES, default::SCOPES)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let admin_port = listen_port(var::ADMIN_ADDRESS, &admin_address)?;
        listen_port(var::SERVER_ADDRESS, &server_address)?;
        let admin_url = text(
            var::DEV_ADMIN_URL,
            &format!("http://localhost:{admin_port}"),
        );
        let public_url = text(var::DEV_PUBLIC_URL, &server_issuer);
        let scope = vars
            .non_empty(var::DEV_SCOPE)
            .map(str::to_owned)
            .or_else(|| scopes.first().cloned())
            .unwrap_or_else(|| default::SCOPES.to_owned());
        let resource_slug = text(var::DEV_RESOURCE_SLUG, default::RESOURCE_SLUG);
        let audience = join_mcp_url(&base_url, &mcp_path);
        let resource_uri = text(var::DEV_RESOURCE_URI, &audience);
        let mcp_url = text(var::DEV_MCP_URL, &audience);
        let backend = Backend::parse(vars.non_empty(var::DEV_AS).unwrap_or("auto"))?;
        let topology = Topology::parse(vars.non_empty(var::DEV_TOPOLOGY).unwrap_or("host"))?;
        let image = text(var::DEV_IMAGE, default::IMAGE);
        let container_name = text(var::DEV_CONTAINER, default::CONTAINER);

        for (name, value) in [
            (var::SERVER_ISSUER, &server_issuer),
            (var::ISSUER, &sdk_issuer),
            (var::BASE_URL, &base_url),
            (var::DEV_ADMIN_URL, &admin_url),
            (var::DEV_PUBLIC_URL, &public_url),
            (var::DEV_RESOURCE_URI, &resource_uri),
            (var::DEV_MCP_URL, &mcp_url),
        ] {
            check_http_url(name, value)?;
        }

        let mut echo_dpop = match vars.non_empty(var::DEV_ECHO_DPOP) {
            None => InboundDpop::Off,
            Some(value) => InboundDpop::parse(value).ok_or_else(|| ConfigError::InvalidValue {
                name: var::DEV_ECHO_DPOP.into(),
                value: value.into(),
                reason: "it must be off, allowed or required".into(),
                fix: format!(
                    "set {}=allowed to accept DPoP-bound tokens (or remove it: off is the default)",
                    var::DEV_ECHO_DPOP
                ),
            })?,
        };
        if overrides.dpop && echo_dpop == InboundDpop::Off {
            echo_dpop = InboundDpop::Allowed;
            vars.set_flag(var::DEV_ECHO_DPOP, echo_dpop.as_str());
        }

        let behind_proxy = vars
            .non_empty(var::DEV_BEHIND_PROXY)
            .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
        let echo_revocation = match vars.non_empty(var::DEV_ECHO_REVOCATION) {
            None => false,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    return Err(ConfigError::InvalidValue {
                        name: var::DEV_ECHO_REVOCATION.into(),
                        value: v.into(),
                        reason: "it must be true/1/yes or false/0/no".into(),
                        fix: format!(
                            "set {}=true to check revocation, or remove it",
                            var::DEV_ECHO_REVOCATION
                        ),
                    });
                }
            },
        };
        let unknown_names = unknown_names(&vars);
        // Children (the embedded servers, the container) see the resolved values, so a value
        // derived here is the one they use too.
        for (name, value) in [
            (var::SERVER_ISSUER, &server_issuer),
            (var::SERVER_ADDRESS, &server_address),
            (var::ADMIN_ADDRESS, &admin_address),
            (var::ISSUER, &sdk_issuer),
            (var::BASE_URL, &base_url),
            (var::MCP_PATH, &mcp_path),
            (var::PORT, &port.to_string()),
            (var::SCOPES, &scopes.join(" ")),
        ] {
            vars.set_default(name, value);
        }

        Ok(Settings {
            behind_proxy,
            echo_revocation,
            unknown_names,
            echo_dpop,
            admin_api_key: vars.non_empty(var::ADMIN_API_KEY).map(str::to_owned),
            session_secret: vars.non_empty(var::SESSION_SECRET).map(str::to_owned),
            dev_user_email: vars
                .non_empty(var::DEV_USER_EMAIL)
                .unwrap_or(default::DEV_USER_EMAIL)
                .to_owned(),
            dev_user_password: vars.non_empty(var::DEV_USER_PASSWORD).map(str::to_owned),
            server_issuer,
            server_address,
            admin_address,
            sdk_issuer,
            base_url,
            mcp_path,
            port,
            scopes,
            admin_url,
            public_url,
            scope,
            resource_slug,
            resource_uri,
            mcp_url,
            backend,
            topology,
            image,
            container_name,
            env_file: env_file.to_owned(),
            run_dir: run_dir.to_owned(),
            vars,
        })
    }

    /// Reads the `.env` file and the process environment and resolves settings. `env_file_named`
    /// says the user passed `--env-file`, so a missing file is an error rather than an empty one.
    pub fn load(
        env_file: &Path,
        env_file_named: bool,
        run_dir: &Path,
        overrides: &Overrides,
    ) -> Result<Settings, ConfigError> {
        let vars = Vars::load(env_file, env_file_named, std::env::vars())?;
        Settings::resolve(vars, overrides, env_file, run_dir)
    }

    /// These settings moved to the three given ports (listen addresses, issuers, URLs), the rest
    /// kept; for `init --ports`.
    pub fn on_ports(&self, public: u16, admin: u16, mcp: u16) -> Result<Settings, ConfigError> {
        let mut vars = self.vars.clone();
        let issuer = format!("http://localhost:{public}");
        for (name, value) in [
            (var::SERVER_ADDRESS, format!(":{public}")),
            (var::SERVER_ISSUER, issuer.clone()),
            (var::ISSUER, issuer),
            (var::ADMIN_ADDRESS, format!(":{admin}")),
            (var::BASE_URL, format!("http://localhost:{mcp}")),
            (var::PORT, mcp.to_string()),
        ] {
            vars.set_flag(name, value);
        }
        vars.values.remove(var::DEV_ADMIN_URL);
        vars.values.remove(var::DEV_PUBLIC_URL);
        Settings::resolve(vars, &Overrides::default(), &self.env_file, &self.run_dir)
    }

    /// The same settings read again from the files (after `.env` was written or completed),
    /// keeping the command-line overrides.
    pub fn reload(&self) -> Result<Settings, ConfigError> {
        let flag = |name: &str| {
            (self.vars.source(name) == Source::Flag)
                .then(|| self.vars.get(name).map(str::to_owned))
                .flatten()
        };
        let overrides = Overrides {
            backend: flag(var::DEV_AS).map(|_| self.backend),
            image: flag(var::DEV_IMAGE),
            mcp_url: flag(var::DEV_MCP_URL),
            scope: flag(var::DEV_SCOPE),
            slug: flag(var::DEV_RESOURCE_SLUG),
            dpop: self.vars.source(var::DEV_ECHO_DPOP) == Source::Flag,
        };
        Settings::load(&self.env_file, false, &self.run_dir, &overrides)
    }

    /// The audience the echo server expects: base URL + MCP path, joined with exactly one slash
    /// (the SDKs' rule; a trailing slash on the path is kept).
    pub fn audience(&self) -> String {
        join_mcp_url(&self.base_url, &self.mcp_path)
    }

    /// The port of the AS public listener.
    pub fn server_port(&self) -> u16 {
        listen_port(var::SERVER_ADDRESS, &self.server_address).unwrap_or(9000)
    }

    /// The port of the AS admin listener.
    pub fn admin_port(&self) -> u16 {
        listen_port(var::ADMIN_ADDRESS, &self.admin_address).unwrap_or(9001)
    }

    /// True unless `--mcp-url` / `AUTHPLANE_DEV_MCP_URL` points at another server than the
    /// embedded echo server's audience (loopback names count as the same host). `verify`,
    /// `token`, `inspect` and `doctor` ask it to choose the audience a token must carry.
    pub fn dials_embedded_echo(&self) -> bool {
        self.mcp_url == self.audience()
            || crate::diagnose::url::same_local_server(&self.mcp_url, &self.audience())
    }

    /// Dialling your own server (--mcp-url) without naming a resource URI: the URL dialled is the
    /// resource identifier a token must be minted for, and without a slug set (`--slug`,
    /// `AUTHPLANE_DEV_RESOURCE_SLUG`) the resource's slug is derived from that URI
    /// ([`derived_slug`]), so the echo server's `demo-mcp` and each server you dial keep their
    /// own registration. Call it once, right after resolving, in every verb that mints or checks
    /// for the dialled server (`verify`, `token`, `doctor`).
    pub fn use_dialled_resource(&mut self) {
        if self.dials_embedded_echo() {
            return;
        }
        if self.vars.source(var::DEV_RESOURCE_URI) == Source::Default {
            self.resource_uri.clone_from(&self.mcp_url);
        }
        if self.vars.source(var::DEV_RESOURCE_SLUG) == Source::Default {
            self.resource_slug = derived_slug(&self.resource_uri);
        }
    }

    /// True when the scope to ask for was named (`--scope`, `AUTHPLANE_DEV_SCOPE`); otherwise
    /// `verify` takes a dialled server's scopes from its metadata (`scopes_supported`).
    pub fn scope_given(&self) -> bool {
        self.vars.source(var::DEV_SCOPE) != Source::Default
    }
}

/// The port written in an absolute URL, if any (`http://h` has none; its scheme's default does not
/// count).
fn explicit_port(url: &str) -> Option<u16> {
    url::Url::parse(url).ok()?.port()
}

/// `base_url` + `mcp_path` with exactly one slash at the join, as the Authplane SDKs build the
/// resource identifier.
pub fn join_mcp_url(base_url: &str, mcp_path: &str) -> String {
    format!(
        "{}/{}",
        base_url.trim_end_matches('/'),
        mcp_path.trim_start_matches('/')
    )
}

/// The port of a listener address in the real AS's forms: `:9000`, `host:9000`, `[::1]:9000`.
pub fn listen_port(name: &str, address: &str) -> Result<u16, ConfigError> {
    let port = address
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok());
    port.ok_or_else(|| ConfigError::InvalidValue {
        name: name.into(),
        value: address.into(),
        reason: "a listen address is HOST:PORT or :PORT".into(),
        fix: format!("set {name}=:9000 (any free port)"),
    })
}

/// The socket address an embedded server binds for a listener address: no host (`:9000`) means
/// loopback — our servers never listen beyond this machine unless told to.
pub fn bind_address(name: &str, address: &str) -> Result<String, ConfigError> {
    let port = listen_port(name, address)?;
    let host = address.rsplit_once(':').map_or("", |(h, _)| h);
    Ok(if host.is_empty() {
        format!("127.0.0.1:{port}")
    } else {
        format!("{host}:{port}")
    })
}

fn check_http_url(name: &str, value: &str) -> Result<(), ConfigError> {
    let parsed = url::Url::parse(value).map_err(|e| ConfigError::InvalidValue {
        name: name.into(),
        value: value.into(),
        reason: format!("it is not an absolute URL ({e})"),
        fix: format!("set {name} to an absolute http(s) URL such as http://localhost:9000"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ConfigError::InvalidValue {
            name: name.into(),
            value: value.into(),
            reason: "it must be an http or https URL with a host".into(),
            fix: format!("set {name} to an absolute http(s) URL such as http://localhost:9000"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn resolve(env: &[(&str, &str)], dotenv: &[(&str, &str)], o: &Overrides) -> Settings {
        let vars = Vars::from_parts(pairs(env), pairs(dotenv));
        Settings::resolve(vars, o, Path::new(".env"), Path::new(".run")).unwrap()
    }

    #[test]
    fn defaults_match_the_design_table() {
        let s = resolve(&[], &[], &Overrides::default());
        assert_eq!(s.server_issuer, "http://localhost:9000");
        assert_eq!(s.sdk_issuer, "http://localhost:9000");
        assert_eq!(s.admin_url, "http://localhost:9001");
        assert_eq!(s.public_url, "http://localhost:9000");
        assert_eq!(s.audience(), "http://localhost:8080/mcp");
        assert_eq!(s.resource_uri, "http://localhost:8080/mcp");
        assert_eq!(s.mcp_url, "http://localhost:8080/mcp");
        assert_eq!(s.scope, "mcp:echo");
        assert_eq!(s.resource_slug, "demo-mcp");
        assert_eq!(s.backend, Backend::Auto);
        assert_eq!(s.port, 8080);
    }

    #[test]
    fn verify_dpop_raises_an_off_echo_to_allowed_and_keeps_required() {
        let dpop = Overrides {
            dpop: true,
            ..Overrides::default()
        };
        assert_eq!(
            resolve(&[], &[], &Overrides::default()).echo_dpop,
            InboundDpop::Off
        );
        let s = resolve(&[], &[], &dpop);
        assert_eq!(s.echo_dpop, InboundDpop::Allowed);
        assert_eq!(s.vars.get(var::DEV_ECHO_DPOP), Some("allowed"));
        let s = resolve(&[("AUTHPLANE_DEV_ECHO_DPOP", "required")], &[], &dpop);
        assert_eq!(s.echo_dpop, InboundDpop::Required);
        let vars = Vars::from_parts(pairs(&[("AUTHPLANE_DEV_ECHO_DPOP", "sometimes")]), vec![]);
        let err = Settings::resolve(vars, &dpop, Path::new(".env"), Path::new(".run")).unwrap_err();
        assert!(err.to_string().contains("AUTHPLANE_DEV_ECHO_DPOP"), "{err}");
    }

    #[test]
    fn flag_beats_env_beats_dotenv() {
        let s = resolve(
            &[
                ("AUTHPLANE_DEV_AS", "docker"),
                ("AUTHPLANE_ISSUER", "http://env:1"),
            ],
            &[
                ("AUTHPLANE_DEV_AS", "auto"),
                ("AUTHPLANE_ISSUER", "http://file:1"),
            ],
            &Overrides {
                backend: Some(Backend::Embedded),
                ..Overrides::default()
            },
        );
        assert_eq!(s.backend, Backend::Embedded);
        assert_eq!(s.vars.source(var::DEV_AS), Source::Flag);
        assert_eq!(s.sdk_issuer, "http://env:1");
        assert_eq!(s.vars.source(var::ISSUER), Source::Env);
    }

    #[test]
    fn admin_url_follows_the_admin_port_and_scope_follows_scopes() {
        let s = resolve(
            &[],
            &[
                ("AUTHPLANE_ADMIN_ADDRESS", ":19001"),
                ("AUTHPLANE_SCOPES", "a:b c:d"),
            ],
            &Overrides::default(),
        );
        assert_eq!(s.admin_url, "http://localhost:19001");
        assert_eq!(s.scope, "a:b");
    }

    #[test]
    fn unrelated_process_environment_is_not_kept() {
        let v = Vars::from_parts(pairs(&[("HOME", "/root"), ("PORT", "1")]), Vec::new());
        assert!(v.get("HOME").is_none());
        assert_eq!(v.get("PORT"), Some("1"));
    }

    #[test]
    fn bad_values_are_configuration_errors() {
        for (name, value) in [
            ("PORT", "eighty"),
            ("AUTHPLANE_DEV_AS", "podman"),
            ("AUTHPLANE_ISSUER", "localhost:9000"),
            ("AUTHPLANE_ADMIN_ADDRESS", "9001"),
        ] {
            let vars = Vars::from_parts(pairs(&[(name, value)]), Vec::new());
            let err = Settings::resolve(
                vars,
                &Overrides::default(),
                Path::new(".env"),
                Path::new(".run"),
            )
            .unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn join_keeps_a_trailing_slash_on_the_path() {
        assert_eq!(join_mcp_url("http://h:1/", "/mcp"), "http://h:1/mcp");
        assert_eq!(join_mcp_url("http://h:1", "mcp/"), "http://h:1/mcp/");
    }

    #[test]
    fn bind_address_defaults_to_loopback() {
        assert_eq!(bind_address("X", ":9000").unwrap(), "127.0.0.1:9000");
        assert_eq!(bind_address("X", "0.0.0.0:9000").unwrap(), "0.0.0.0:9000");
    }

    #[test]
    fn env_file_is_written_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        let settings = resolve(&[], &[], &Overrides::default());
        assert!(write_initial_env_file(&path, &settings).unwrap());
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(first.starts_with(ENV_FILE_HEADER), "{first}");
        assert!(!write_initial_env_file(&path, &settings).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let read = read_env_file(&path).unwrap();
        assert!(
            read.iter()
                .any(|(k, v)| k == var::ADMIN_API_KEY && v.len() == 40)
        );
    }

    #[test]
    fn malformed_env_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "GOOD=1\nthis line is not valid\n").unwrap();
        let err = read_env_file(&path).unwrap_err().to_string();
        assert!(err.contains(".env"), "{err}");
    }

    /// Property-based fuzzing of `.env` reading and the checks on what it holds
    /// (`cargo test --lib fuzz`).
    mod fuzz {
        use super::*;
        use crate::authserver::AsConfig;
        use crate::fuzz::bytes;
        use proptest::prelude::*;

        /// A variable every setting is read from, or any name.
        fn name() -> impl Strategy<Value = String> {
            prop_oneof![
                proptest::sample::select(
                    DOCUMENTED
                        .iter()
                        .copied()
                        .chain([
                            "AUTHPLANE_CLIENT_CREDENTIALS_TOKEN_EXPIRY",
                            "AUTHPLANE_RATE_LIMIT_RPS",
                            "AUTHPLANE_RATE_LIMIT_BURST",
                            "AUTHPLANE_SIGNING_ALGORITHM",
                            "AUTHPLANE_ADMIN_ENABLED",
                        ])
                        .collect::<Vec<_>>(),
                )
                .prop_map(str::to_owned),
                "[A-Za-z_][A-Za-z0-9_.]{0,12}",
            ]
        }

        /// A value shaped like what the settings expect (so the checks behind the parser run),
        /// or anything.
        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                "(http|https|ftp)?(://)?(localhost|127\\.0\\.0\\.1|\\[::1\\]|[a-z]{0,6})?(:[0-9]{0,6})?(/[a-z/]{0,6})?",
                "\\[?[0-9a-f:.]{0,8}\\]?:-?[0-9]{0,6}",
                "-?[0-9]{0,5}(\\.[0-9]{0,3})?(h|m|s|ms|us|ns)?",
                "(auto|docker|embedded|ES256|RS256|true|1|yes|)",
                "[^'\r\n]{0,30}",
            ]
        }

        /// Reads `bytes` as a `.env` file and resolves everything from it.
        fn read_and_resolve(bytes: &[u8]) -> Result<(), String> {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(".env");
            std::fs::write(&path, bytes).unwrap();
            let pairs = match read_env_file(&path) {
                Ok(pairs) => pairs,
                Err(e) => {
                    let message = e.to_string();
                    // The error names the file the user has to open.
                    assert!(message.contains(&path.display().to_string()), "{message}");
                    return Err(message);
                }
            };
            let vars = Vars::from_parts(Vec::new(), pairs.clone());
            let as_config = AsConfig::from_vars(&vars);
            if let Err(e) = as_config.validate() {
                // Every problem tells which variable to set.
                let message = e.to_string();
                let problems: Vec<&str> = message.lines().skip(1).collect();
                assert!(!problems.is_empty(), "{message}");
                for problem in problems {
                    assert!(
                        problem.contains("AUTHPLANE_"),
                        "names no variable: {problem}"
                    );
                }
            }
            let _ = as_config.algorithm();
            match Settings::resolve(vars, &Overrides::default(), &path, &dir.path().join(".run")) {
                Ok(settings) => {
                    let _ = (
                        settings.server_port(),
                        settings.admin_port(),
                        settings.audience(),
                    );
                    let _ = bind_address(var::SERVER_ADDRESS, &settings.server_address);
                }
                Err(e) => {
                    // The error names a documented variable and quotes a value the file holds
                    // (defaults are always valid).
                    let message = e.to_string();
                    let ConfigError::InvalidValue { name, value, .. } = &e else {
                        panic!("not an invalid-value error: {message}");
                    };
                    assert!(DOCUMENTED.contains(&name.as_str()), "{message}");
                    assert!(message.contains(name.as_str()), "{message}");
                    assert!(pairs.iter().any(|(_, v)| v == value), "{message}");
                }
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn any_env_file_is_read_or_refused_cleanly(raw in bytes(512), text in any::<String>()) {
                let _ = read_and_resolve(&raw);
                let _ = read_and_resolve(text.as_bytes());
            }

            #[test]
            fn env_files_of_stack_variables_resolve_or_fail_cleanly(
                lines in proptest::collection::vec(
                    (name(), value(), proptest::sample::select(vec!["{k}={v}", "{k}='{v}'", "export {k}=\"{v}\"", " {k} = {v} # note", "#{k}={v}"])),
                    0..12,
                ),
                eol in prop_oneof![Just("\n"), Just("\r\n")],
            ) {
                let text: String = lines
                    .iter()
                    .map(|(k, v, form)| form.replace("{k}", k).replace("{v}", v) + eol)
                    .collect();
                let _ = read_and_resolve(text.as_bytes());
            }

            /// Single quotes keep everything verbatim except a backslash, which dotenvy's line
            /// joiner still reads as an escape (`KEY='a\'` is refused, with the file named).
            #[test]
            fn single_quoted_values_read_back_verbatim(
                pairs in proptest::collection::vec((name(), "[^'\\\\\r\n]{0,40}"), 0..10),
                eol in prop_oneof![Just("\n"), Just("\r\n")],
            ) {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join(".env");
                let text = pairs.iter().fold(String::new(), |acc, (k, v)| acc + k + "='" + v + "'" + eol);
                std::fs::write(&path, &text).unwrap();
                prop_assert_eq!(read_env_file(&path).unwrap(), pairs);
            }
        }
    }
}
