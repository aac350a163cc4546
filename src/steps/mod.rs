//! The steps of the flow `verify` walks (and `token` walks up to the mint), one module per step:
//! [`discovery`] (AS metadata, issuer checks), [`resource`] (the resource URI, the Mint resource,
//! drift), [`client`] (the client_credentials client), [`mint`] (the token request),
//! [`token_check`] (the token checked before use), [`mcp`] (the handshake and echo round trip, both
//! eras), [`probe`] (the negative probes), [`dpop`] (`verify --dpop`: the binding and its two
//! probes), and the interactive flow of `verify --flow auth-code`: [`authcode`] (endpoints,
//! registration, authorize / login / consent), [`authcode_browser`] (`--browser`) and
//! [`authcode_tokens`] (authorization response, code exchange, refresh, replay).
//!
//! Each step starts and ends its own step on the [`Run`] it is given: it records what it saw and
//! the findings (built by the rules in `diagnose/`), and says whether the flow can go on. Which
//! steps run, in what order, and what is skipped after a failure is the verb's choice
//! (`commands/`). Nothing here imports from `commands/` or prints; every request goes through
//! `flow/`, the only client of the AS and the MCP server. The state carried from step to step is
//! [`Flow`].

use serde_json::Value;

use crate::config::{Settings, var};
use crate::diagnose::claims::{self, AudienceSource, Expectations};
use crate::diagnose::failure::{admin_key_rejected, as_server_error, as_unreachable};
use crate::diagnose::scope::Ledger;
use crate::diagnose::{Code, Finding};
use crate::flow::admin::AdminClient;
use crate::flow::{FlowError, http_client};
use crate::report::{Reporter, Run, StepTimer};

pub mod authcode;
pub mod authcode_browser;
pub mod authcode_tokens;
pub mod client;
pub mod discovery;
pub mod dpop;
pub mod mcp;
pub mod metadata;
pub mod mint;
pub mod probe;
pub mod probe_revoked;
pub mod resource;
pub mod token_check;

/// The extra scope the main resource declares and the client may ask for, so the "token without
/// the required scope" probe can mint a token that carries something else.
pub const PROBE_SCOPE: &str = "authplane-dev:probe";
/// The path of the second resource the wrong-audience probe mints for.
pub const PROBE_RESOURCE_PATH: &str = "/authplane-dev-probe";
/// The name of the clients authplane-dev creates.
pub const CLIENT_NAME: &str = "authplane-dev";

/// The flow's state from one step to the next: the settings, the HTTP and admin clients, what
/// the token must carry (learnt as the steps go: the discovered issuer, the scope ledger).
/// `verify` walks every step; `token` stops after the mint.
pub struct Flow<'c> {
    settings: &'c Settings,
    /// Minted tokens and client secrets are registered here as secrets (redacted in output).
    reporter: &'c Reporter,
    /// The HTTP client every request of the flow goes through.
    pub http: reqwest::Client,
    admin: Option<AdminClient>,
    /// What the token must carry for the server dialled; the discovered issuer is filled in by
    /// [`Flow::discover`].
    pub expectations: Expectations,
    /// Where the scope is along the way: required, declared, allowed, carried.
    ledger: Ledger,
    /// Register minted tokens as secrets (false for `token`, which prints the token on purpose).
    hide_tokens: bool,
    issuer: String,
    /// The scope asked for (space-separated): the configured one, or the dialled server's
    /// `scopes_supported` ([`Flow::use_scope`]).
    pub scope: String,
    /// The proof-of-possession key of `verify --dpop`: tokens are minted bound to it and sent
    /// with a fresh proof per MCP request.
    pub dpop: Option<std::sync::Arc<crate::flow::dpop::DpopKey>>,
    /// The AS metadata [`Flow::discover`] read (the interactive flow takes its endpoints from it).
    pub metadata: Option<crate::flow::token::Metadata>,
}

impl<'c> Flow<'c> {
    /// A flow for `settings`, reporting secrets to `reporter`; `with_echo` says whether the
    /// embedded echo server is the target ([`Settings::dials_embedded_echo`]); `hide_tokens`
    /// registers minted tokens as secrets (false for `token`, which prints the token on purpose).
    /// Fails only when the HTTP client cannot be built.
    pub fn new(
        settings: &'c Settings,
        reporter: &'c Reporter,
        with_echo: bool,
        hide_tokens: bool,
    ) -> anyhow::Result<Flow<'c>> {
        let http = http_client()?;
        let admin = settings
            .admin_api_key
            .as_deref()
            .map(|key| AdminClient::new(http.clone(), &settings.admin_url, key));
        let (audience, audience_source) = if with_echo {
            (settings.audience(), AudienceSource::Echo)
        } else {
            (settings.mcp_url.clone(), AudienceSource::McpUrl)
        };
        let required_scopes = if with_echo {
            settings.scopes.clone()
        } else {
            settings
                .scope
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        Ok(Flow {
            settings,
            reporter,
            http,
            admin,
            expectations: Expectations {
                audience,
                audience_source,
                server_issuer: settings.server_issuer.clone(),
                sdk_issuer: settings.sdk_issuer.clone(),
                discovered_issuer: None,
                required_scopes: required_scopes.clone(),
                now: claims::now(),
            },
            ledger: Ledger {
                server_requires: required_scopes,
                requested: settings
                    .scope
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                ..Ledger::default()
            },
            hide_tokens,
            issuer: settings.server_issuer.clone(),
            scope: settings.scope.clone(),
            dpop: None,
            metadata: None,
        })
    }

    /// Asks for `scope` (space-separated) from now on: a dialled server's `scopes_supported`
    /// when no scope was named. The server is then expected to require exactly these.
    pub fn use_scope(&mut self, scope: &str) {
        let scopes: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
        scope.clone_into(&mut self.scope);
        self.expectations.required_scopes.clone_from(&scopes);
        self.ledger.server_requires.clone_from(&scopes);
        self.ledger.requested = scopes;
    }

    fn settings(&self) -> &'c Settings {
        self.settings
    }

    /// The admin client, or a finding (as the step `id` / `step`) when no admin key is configured.
    fn admin(&self, run: &mut Run<'_>, id: &str, step: &str) -> Option<AdminClient> {
        if let Some(admin) = &self.admin {
            return Some(admin.clone());
        }
        let t = run.start_step(id, step);
        run.fail(t, format!("{} is not set", var::ADMIN_API_KEY), Value::Null);
        run.finding(
            Finding::error(
                Code::AdminKeyRejected,
                format!("no admin key: {} is not set", var::ADMIN_API_KEY),
                format!(
                    "run `authplane-dev up` once (it writes a .env with a fresh key), or set {} to the key the AS was started with",
                    var::ADMIN_API_KEY
                ),
            )
            .why("every admin API call needs Authorization: Bearer <admin key>")
            .compare("an admin key", "(unset)"),
        );
        None
    }

    /// Maps an admin API failure to a failed step and a finding.
    fn admin_failure(&self, run: &mut Run<'_>, t: StepTimer, err: &FlowError) {
        let detail = err.detail();
        run.fail(t, err.to_string(), detail);
        let settings = self.settings();
        match err {
            FlowError::AdminKeyRejected {
                status,
                description,
                ..
            } => {
                run.finding(admin_key_rejected(settings, *status, description));
            }
            FlowError::Unreachable { .. } => {
                run.finding(as_unreachable(err, &settings.admin_url, var::DEV_ADMIN_URL));
            }
            FlowError::Status { status, .. } if *status >= 500 => {
                if let Some(f) = as_server_error(err) {
                    run.finding(f);
                }
            }
            FlowError::Status {
                status, message, ..
            } if message.contains("client_credentials") && message.contains("not enabled") => {
                run.finding(
                    Finding::error(
                        Code::ClientGrantMissing,
                        format!("the AS does not allow client_credentials clients: {message}"),
                        "set AUTHPLANE_CLIENT_CREDENTIALS_ENABLED=true for the AS and restart it (`authplane-dev clean && authplane-dev up`)",
                    )
                    .why("verify mints machine tokens with the client_credentials grant")
                    .compare("client_credentials enabled", format!("HTTP {status}: {message}")),
                );
            }
            _ => {}
        }
    }
}
