//! `verify`: the whole flow, end to end, with a finding for anything that does not match.
//!
//! Steps: bring the stack up (as `up`), AS discovery (issuer checks), ensure the Mint resource,
//! ensure a client_credentials client (reused from `<run_dir>/client.json` while it still fits),
//! mint with `resource=` and `scope=`, decode and check the token BEFORE using it, the MCP
//! handshake and an echo round trip (session era, stateless era, or auto), then negative probes
//! (no token, a token for another resource, a token without the required scope).
//!
//! The resource / client / mint part is shared with `token` through `Flow`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::cli::{Protocol, VerifyArgs};
use crate::commands::Context;
use crate::config::{Settings, var};
use crate::diagnose::claims::{self, AudienceSource, Expectations};
use crate::diagnose::scope::Ledger;
use crate::diagnose::{Code, Finding, url};
use crate::flow::admin::{AdminClient, NewResource, Resource};
use crate::flow::credentials::{self, StoredClient};
use crate::flow::jwt::{self, Jwt};
use crate::flow::mcp::{McpClient, McpReply, STATELESS_PROTOCOL_VERSION};
use crate::flow::token::{self, Metadata, TokenRequest, TokenResponse};
use crate::flow::{FlowError, http_client};
use crate::report::{Outcome, Run, StepTimer};
use crate::stack::lock::RunLock;

/// The extra scope the main resource declares and the client may ask for, so the "token without
/// the required scope" probe can mint a token that carries something else.
pub const PROBE_SCOPE: &str = "authplane-dev:probe";
/// The path of the second resource the wrong-audience probe mints for.
pub const PROBE_RESOURCE_PATH: &str = "/authplane-dev-probe";
/// The name of the clients authplane-dev creates.
pub const CLIENT_NAME: &str = "authplane-dev";

/// Runs the command.
pub async fn run(args: &VerifyArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    let mut run = ctx.reporter.run("verify");
    let Some((ctx, _lock)) = &with_env_file(ctx, &mut run).await? else {
        return Ok(run.finish());
    };
    let settings = &ctx.settings;
    let with_echo = dials_embedded_echo(settings);
    if !crate::stack::ensure_up(settings, &args.up, &mut run, with_echo).await? {
        return Ok(run.finish());
    }
    let mut flow = Flow::new(ctx, with_echo, true)?;
    if !flow.discover(&mut run).await {
        return Ok(run.finish());
    }
    if !check_resource_uri(&mut run, settings, &flow.expectations) {
        // Registering or patching the resource with this URI would spread the mistake (and
        // `--fix` would "repair" a correct registration), so nothing more is done.
        let mut rest = vec![
            format!("resource {}", settings.resource_slug),
            "client".to_owned(),
            "mint token".to_owned(),
            "check token".to_owned(),
        ];
        rest.extend(mcp_step_names(args));
        skip_steps(
            &mut run,
            &rest,
            "skipped: fix the resource URI first (see the finding above)",
        );
        return Ok(run.finish());
    }
    let Some(resource) = flow.ensure_resource(&mut run, args.fix).await else {
        return Ok(run.finish());
    };
    let probe_scope_ready = resource.scope_names().iter().any(|s| s == PROBE_SCOPE);
    let Some(client) = flow.ensure_client(&mut run, &[]).await else {
        return Ok(run.finish());
    };
    let scope = settings.scope.clone();
    let resource_uri = settings.resource_uri.clone();
    let Some(minted) = flow
        .mint(
            &mut run,
            "mint token",
            &client,
            Some(&scope),
            Some(&resource_uri),
        )
        .await
    else {
        return Ok(run.finish());
    };
    if !flow.check_token(&mut run, &minted.access_token) {
        skip_steps(
            &mut run,
            &mcp_step_names(args),
            "skipped: the token would be refused (see the findings above)",
        );
        return Ok(run.finish());
    }

    let http = flow.http.clone();
    let mcp = McpClient::new(http.clone(), &settings.mcp_url, Some(&minted.access_token));
    let Some(era) = exercise_mcp(&mut run, &mcp, args.protocol).await else {
        // The server's own metadata often names why it refused a token that passed every local
        // check: it was started with another resource URI or another issuer (doctor's rule).
        let issuer = flow
            .expectations
            .discovered_issuer
            .clone()
            .unwrap_or_else(|| settings.server_issuer.clone());
        crate::commands::doctor::mcp_metadata(&mut run, &http, settings, &issuer, "MCP metadata")
            .await;
        if !args.no_probes {
            for name in PROBE_STEPS {
                let t = run.start(name);
                run.skip(t, "skipped: the MCP round trip failed");
            }
        }
        return Ok(run.finish());
    };
    run.data("protocol_era", json!(era.name()));

    if args.no_probes {
        for name in PROBE_STEPS {
            let t = run.start(name);
            run.skip(t, "skipped (--no-probes)");
        }
    } else {
        probe_no_token(
            &mut run,
            &McpClient::new(http.clone(), &settings.mcp_url, None),
            era,
        )
        .await;
        flow.probe_other_resource(&mut run, &client, era).await;
        if probe_scope_ready {
            flow.probe_missing_scope(&mut run, &client, era).await;
        } else {
            let t = run.start(PROBE_STEPS[2]);
            run.skip(
                t,
                format!(
                    "skipped: resource {} does not declare {PROBE_SCOPE} (run `authplane-dev verify --fix` to add it)",
                    settings.resource_slug
                ),
            );
        }
    }
    Ok(run.finish())
}

const PROBE_STEPS: [&str; 3] = [
    "probe: no token",
    "probe: token for another resource",
    "probe: token without the required scope",
];

/// Runs the configuration pre-flight (which takes the run-directory lock and writes or completes
/// `.env`) and returns a context whose settings include what it wrote, with the lock to hold
/// until the verb ends; `None` when the configuration was refused.
pub(crate) async fn with_env_file<'r>(
    ctx: &Context<'r>,
    run: &mut Run<'_>,
) -> anyhow::Result<Option<(Context<'r>, RunLock)>> {
    Ok(crate::commands::preflight::prepare(ctx, run)
        .await?
        .map(|prepared| {
            (
                Context {
                    settings: prepared.settings,
                    reporter: ctx.reporter,
                },
                prepared.lock,
            )
        }))
}

/// The finding for an admin key the admin API refuses (shared with `doctor`).
pub(crate) fn admin_key_rejected(settings: &Settings, status: u16, description: &str) -> Finding {
    Finding::error(
                    Code::AdminKeyRejected,
                    format!(
                        "the admin API at {} rejected the admin key: {description}",
                        settings.admin_url
                    ),
                    format!(
                        "set {} to the key the AS was started with; if the AS runs with an old key, `authplane-dev clean && authplane-dev up` restarts it with the key in {}",
                        var::ADMIN_API_KEY,
                        settings.env_file.display()
                    ),
                )
                .why("every admin call carries Authorization: Bearer <AUTHPLANE_ADMIN_API_KEY>, compared by the AS in constant time")
                .compare("HTTP 2xx with the configured admin key", format!("HTTP {status}: {description}"))
}

/// True unless `--mcp-url` / `AUTHPLANE_DEV_MCP_URL` points at another server than the embedded
/// echo server's audience (see [`Settings::dials_embedded_echo`]).
pub(crate) fn dials_embedded_echo(settings: &Settings) -> bool {
    settings.dials_embedded_echo()
}

/// The configured resource URI must be the audience the server checks (step "resource URI").
fn check_resource_uri(run: &mut Run<'_>, settings: &Settings, exp: &Expectations) -> bool {
    let t = run.start("resource URI");
    let source = match exp.audience_source {
        AudienceSource::Echo => format!("{} + {}", var::BASE_URL, var::MCP_PATH),
        AudienceSource::McpUrl => "the MCP URL dialled".to_owned(),
    };
    match claims::check_resource_uri(&settings.resource_uri, exp) {
        None => {
            run.pass(
                t,
                format!(
                    "{} is the server's audience ({source})",
                    settings.resource_uri
                ),
                json!({"resource_uri": settings.resource_uri, "audience": exp.audience}),
            );
            true
        }
        Some(f) => {
            run.fail(
                t,
                format!(
                    "{} is not the server's audience {} ({source})",
                    settings.resource_uri, exp.audience
                ),
                json!({"resource_uri": settings.resource_uri, "audience": exp.audience}),
            );
            run.finding(f);
            false
        }
    }
}

/// The names of the MCP and probe steps for these flags (to mark them skipped).
fn mcp_step_names(args: &VerifyArgs) -> Vec<String> {
    let mut names: Vec<String> = match args.protocol {
        Protocol::Legacy => vec![
            "MCP initialize".into(),
            "notifications/initialized".into(),
            "tools/call echo".into(),
        ],
        Protocol::Stateless => vec!["tools/call echo (stateless)".into()],
        Protocol::Auto => vec!["protocol era".into()],
    };
    names.extend(PROBE_STEPS.iter().map(|s| (*s).to_owned()));
    names
}

fn skip_steps(run: &mut Run<'_>, names: &[String], why: &str) {
    for name in names {
        let t = run.start(name);
        run.skip(t, why);
    }
}

/// The resource / client / mint part of the flow, shared by `verify` and `token`.
pub(crate) struct Flow<'c> {
    ctx: &'c Context<'c>,
    pub(crate) http: reqwest::Client,
    admin: Option<AdminClient>,
    pub(crate) expectations: Expectations,
    pub(crate) ledger: Ledger,
    /// Register minted tokens as secrets (false for `token`, which prints the token on purpose).
    hide_tokens: bool,
    issuer: String,
}

impl<'c> Flow<'c> {
    /// A flow for `ctx`; `with_echo` says whether the embedded echo server is the target.
    pub(crate) fn new(
        ctx: &'c Context<'c>,
        with_echo: bool,
        hide_tokens: bool,
    ) -> anyhow::Result<Flow<'c>> {
        let settings = &ctx.settings;
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
            vec![settings.scope.clone()]
        };
        Ok(Flow {
            ctx,
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
        })
    }

    fn settings(&self) -> &Settings {
        &self.ctx.settings
    }

    /// Step 1: AS discovery and the issuer checks. False when the AS does not answer.
    pub(crate) async fn discover(&mut self, run: &mut Run<'_>) -> bool {
        let t = run.start("AS discovery");
        let public_url = self.settings().public_url.clone();
        match token::discover(&self.http, &public_url).await {
            Ok(metadata) => {
                self.record_discovery(run, t, &metadata);
                true
            }
            Err(err) => {
                let detail = err.detail();
                run.fail(t, err.to_string(), detail);
                run.finding(as_unreachable(&err, &public_url, var::DEV_PUBLIC_URL));
                false
            }
        }
    }

    fn record_discovery(&mut self, run: &mut Run<'_>, t: StepTimer, metadata: &Metadata) {
        let settings = self.settings();
        let findings = claims::check_issuers(
            &metadata.issuer,
            &settings.server_issuer,
            &settings.sdk_issuer,
        );
        let detail = json!({
            "issuer": metadata.issuer,
            "jwks_uri": metadata.jwks_uri,
            "token_endpoint": metadata.token_endpoint,
            "grant_types_supported": metadata.grant_types_supported,
        });
        let summary = format!("issuer {}", metadata.issuer);
        if findings.is_empty() {
            run.pass(t, summary, detail);
        } else {
            run.fail(
                t,
                format!("{summary} (does not match the configuration)"),
                detail,
            );
            for f in findings {
                run.finding(f);
            }
        }
        self.expectations.discovered_issuer = Some(metadata.issuer.clone());
        self.issuer.clone_from(&metadata.issuer);
    }

    /// The admin client, or a finding when no admin key is configured.
    fn admin(&self, run: &mut Run<'_>, step: &str) -> Option<AdminClient> {
        if let Some(admin) = &self.admin {
            return Some(admin.clone());
        }
        let t = run.start(step);
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

    /// Step 2: the Mint resource by slug, created when missing; drift is a finding (patched
    /// with `fix`).
    pub(crate) async fn ensure_resource(
        &mut self,
        run: &mut Run<'_>,
        fix: bool,
    ) -> Option<Resource> {
        let settings = self.settings().clone();
        let step = format!("resource {}", settings.resource_slug);
        let admin = self.admin(run, &step)?;
        let t = run.start(&step);
        let wanted_scopes = vec![
            (
                settings.scope.clone(),
                "required by the MCP server".to_owned(),
            ),
            (
                PROBE_SCOPE.to_owned(),
                "authplane-dev negative probe (grants nothing)".to_owned(),
            ),
        ];
        let existing = match admin.resource_by_slug(&settings.resource_slug).await {
            Ok(existing) => existing,
            Err(err) => {
                self.admin_failure(run, t, &err);
                return None;
            }
        };
        let Some(resource) = existing else {
            let new = NewResource {
                slug: settings.resource_slug.clone(),
                uri: settings.resource_uri.clone(),
                display_name: format!("{} (authplane-dev)", settings.resource_slug),
                scopes: wanted_scopes,
            };
            return match admin.create_resource(&new).await {
                Ok(created) => {
                    run.pass(
                        t,
                        format!("registered {} → {}", created.slug, created.uri),
                        resource_detail(&created, "created"),
                    );
                    self.ledger.resource_declares = Some(created.scope_names());
                    Some(created)
                }
                Err(err) => {
                    self.admin_failure(run, t, &err);
                    None
                }
            };
        };

        let declared = resource.scope_names();
        let uri_drift = url::difference(&settings.resource_uri, &resource.uri);
        let scope_missing = !declared.contains(&settings.scope);
        let probe_missing = !declared.iter().any(|s| s == PROBE_SCOPE);
        if uri_drift.is_none() && !scope_missing && !(probe_missing && fix) {
            let mut summary = format!("{} → {} (already registered)", resource.slug, resource.uri);
            if probe_missing {
                summary.push_str("; no ");
                summary.push_str(PROBE_SCOPE);
                summary.push_str(" scope, the missing-scope probe will be skipped");
            }
            run.pass(t, summary, resource_detail(&resource, "reused"));
            self.ledger.resource_declares = Some(declared);
            return Some(resource);
        }

        // Drift (or a missing probe scope under --fix): keep the declared scopes, add ours.
        let mut scopes: Vec<(String, String)> = resource
            .scopes
            .iter()
            .map(|s| (s.name.clone(), s.description.clone()))
            .collect();
        for (name, description) in &wanted_scopes {
            if !declared.contains(name) {
                scopes.push((name.clone(), description.clone()));
            }
        }
        if fix {
            return match admin
                .patch_resource(&resource.id, &settings.resource_uri, &scopes)
                .await
            {
                Ok(patched) => {
                    run.pass(
                        t,
                        format!("patched {} → {} (--fix)", patched.slug, patched.uri),
                        json!({"before": resource_detail(&resource, "drifted"), "after": resource_detail(&patched, "patched")}),
                    );
                    self.ledger.resource_declares = Some(patched.scope_names());
                    Some(patched)
                }
                Err(err) => {
                    self.admin_failure(run, t, &err);
                    None
                }
            };
        }
        run.fail(
            t,
            format!(
                "{} is registered with other values (use --fix to patch it)",
                resource.slug
            ),
            resource_detail(&resource, "drifted"),
        );
        let fix_text = format!(
            "run `authplane-dev verify --fix` to patch resource {} (or set {} to the registered URI if that one is right)",
            resource.slug,
            var::DEV_RESOURCE_URI
        );
        if let Some(differs) = uri_drift {
            run.finding(
                Finding::error(
                    Code::ResourceDrift,
                    format!(
                        "resource {} is registered with URI {}, but the configured resource URI is {}",
                        resource.slug, resource.uri, settings.resource_uri
                    ),
                    fix_text.clone(),
                )
                .why("the AS matches resource= against registered URIs byte for byte (invalid_target otherwise) and stamps that URI into aud")
                .compare(settings.resource_uri.clone(), resource.uri.clone())
                .differs(differs),
            );
        }
        if scope_missing {
            run.finding(
                Finding::error(
                    Code::ResourceDrift,
                    format!(
                        "resource {} does not declare scope {}",
                        resource.slug, settings.scope
                    ),
                    fix_text,
                )
                .why("since authserver 0.2.2 a token for a resource carries only scopes it declares (invalid_scope otherwise)")
                .compare(
                    wanted_scopes.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(" "),
                    declared.join(" "),
                ),
            );
        }
        None
    }

    /// Step 3: a client_credentials client whose ceiling holds the configured scope, the probe
    /// scope and `extra`. A stored client is reused while the AS still has it active with that
    /// grant and ceiling; otherwise a new one is created (never patched: a client we cannot
    /// vouch for is replaced, so runs do not pile up clients nor mutate foreign ones).
    pub(crate) async fn ensure_client(
        &mut self,
        run: &mut Run<'_>,
        extra: &[String],
    ) -> Option<StoredClient> {
        let admin = self.admin(run, "client")?;
        let t = run.start("client");
        let settings = self.settings().clone();
        let mut ceiling: Vec<String> = Vec::new();
        for scope in settings
            .scope
            .split_whitespace()
            .map(str::to_owned)
            .chain([PROBE_SCOPE.to_owned()])
            .chain(
                extra
                    .iter()
                    .flat_map(|s| s.split_whitespace().map(str::to_owned)),
            )
        {
            if !ceiling.contains(&scope) {
                ceiling.push(scope);
            }
        }

        let mut replaced = None;
        if let Some(stored) = credentials::load(&settings.run_dir) {
            self.ctx.reporter.secret(&stored.client_secret);
            if stored.belongs_to(&settings.admin_url, &self.issuer) {
                match admin.client(&stored.client_id).await {
                    Ok(Some(view)) => {
                        let have: BTreeSet<&String> = view.grant_types.iter().collect();
                        let view_ceiling = view.ceiling();
                        let reason = if view.status != "active" {
                            Some(format!("it is {}", view.status))
                        } else if !have.contains(&"client_credentials".to_owned()) {
                            Some("it lacks the client_credentials grant".to_owned())
                        } else {
                            ceiling
                                .iter()
                                .find(|s| !view_ceiling.contains(s))
                                .map(|missing| format!("its scope ceiling lacks {missing}"))
                        };
                        match reason {
                            None => {
                                self.ledger.client_ceiling = Some(view_ceiling);
                                run.pass(
                                    t,
                                    format!("reusing {} (from {})", view.id, credentials::path(&settings.run_dir).display()),
                                    json!({"client_id": view.id, "reused": true, "scope": view.scope, "grant_types": view.grant_types}),
                                );
                                run.data("client_id", json!(view.id));
                                return Some(stored);
                            }
                            Some(reason) => {
                                replaced = Some(format!(
                                    "stored client {} replaced: {reason}",
                                    stored.client_id
                                ));
                            }
                        }
                    }
                    Ok(None) => {
                        replaced = Some(format!(
                            "stored client {} is gone from the AS",
                            stored.client_id
                        ));
                    }
                    Err(err) => {
                        self.admin_failure(run, t, &err);
                        return None;
                    }
                }
            } else {
                replaced = Some("stored client belongs to another AS".to_owned());
            }
        }

        let scope = ceiling.join(" ");
        match admin.create_client(CLIENT_NAME, &scope).await {
            Ok(created) => {
                self.ctx.reporter.secret(&created.client_secret);
                let stored = StoredClient {
                    client_id: created.client_id.clone(),
                    client_secret: created.client_secret.clone(),
                    admin_url: settings.admin_url.clone(),
                    issuer: self.issuer.clone(),
                };
                let saved = credentials::save(&settings.run_dir, &stored);
                self.ledger.client_ceiling = Some(ceiling);
                let mut summary = format!("created {} with scope {scope:?}", created.client_id);
                if let Some(why) = &replaced {
                    summary.push_str(" (");
                    summary.push_str(why);
                    summary.push(')');
                }
                let detail = json!({
                    "client_id": created.client_id,
                    "reused": false,
                    "scope": scope,
                    "replaced": replaced,
                    "saved_to": credentials::path(&settings.run_dir).display().to_string(),
                });
                run.data("client_id", json!(created.client_id));
                match saved {
                    Ok(()) => run.pass(t, summary, detail),
                    Err(e) => run.warn(
                        t,
                        format!(
                            "{summary}; could not save it ({e:#}), the next run creates another"
                        ),
                        detail,
                    ),
                }
                Some(stored)
            }
            Err(err) => {
                self.admin_failure(run, t, &err);
                None
            }
        }
    }

    /// Step 4: client_credentials with `resource=` and `scope=`.
    pub(crate) async fn mint(
        &mut self,
        run: &mut Run<'_>,
        step: &str,
        client: &StoredClient,
        scope: Option<&str>,
        resource: Option<&str>,
    ) -> Option<TokenResponse> {
        let t = run.start(step);
        let public_url = self.settings().public_url.clone();
        let request = TokenRequest {
            client_id: &client.client_id,
            client_secret: &client.client_secret,
            scope,
            resource,
        };
        match token::mint(&self.http, &public_url, &request).await {
            Ok(minted) => {
                if self.hide_tokens {
                    self.ctx.reporter.secret(&minted.access_token);
                }
                run.pass(
                    t,
                    format!(
                        "{} token, scope {:?}, expires in {} s",
                        if minted.token_type.is_empty() {
                            "access"
                        } else {
                            &minted.token_type
                        },
                        minted.scope.as_deref().unwrap_or(""),
                        minted.expires_in.unwrap_or(0)
                    ),
                    json!({
                        "resource": resource,
                        "scope_requested": scope,
                        "scope_granted": minted.scope,
                        "expires_in": minted.expires_in,
                        "token_length": minted.access_token.len(),
                    }),
                );
                Some(minted)
            }
            Err(err) => {
                let detail = err.detail();
                run.fail(t, err.to_string(), detail);
                run.finding(token_failure(&err, self.settings(), scope, resource));
                None
            }
        }
    }

    /// Step 5: decode the token and check it against the configuration before using it. False
    /// when it would be refused.
    pub(crate) fn check_token(&mut self, run: &mut Run<'_>, token: &str) -> bool {
        let t = run.start("check token");
        let jwt = match jwt::decode(token) {
            Ok(jwt) => jwt,
            Err(e) => {
                run.fail(t, e.to_string(), Value::Null);
                run.finding(
                    Finding::error(
                        Code::TokenRejected,
                        format!("the AS returned an access token that is {e}"),
                        "point AUTHPLANE_DEV_PUBLIC_URL at an Authplane AS (its access tokens are JWTs)",
                    )
                    .compare("a JWT (RFC 9068)", "an opaque string"),
                );
                return false;
            }
        };
        self.expectations.now = claims::now();
        self.ledger.token_carries = Some(jwt.scopes());
        let mut findings = claims::check_token(&jwt, &self.expectations);
        // The ledger adds where along the way a missing scope was lost (resource, ceiling).
        for f in self.ledger.check() {
            if !findings
                .iter()
                .any(|g| g.code == f.code && g.message == f.message)
            {
                findings.push(f);
            }
        }
        let summary = token_summary(&jwt, self.expectations.now);
        let detail = json!({
            "header": jwt.header,
            "claims": jwt.claims,
            "expected_audience": self.expectations.audience,
            "scope_ledger": self.ledger,
        });
        let ok = !findings.iter().any(Finding::is_error);
        if ok {
            run.pass(t, summary, detail);
        } else {
            run.fail(t, format!("{summary} — would be refused"), detail);
        }
        for f in findings {
            run.finding(f);
        }
        ok
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

    /// Probe: a token for another registered resource must be refused (401).
    async fn probe_other_resource(&mut self, run: &mut Run<'_>, client: &StoredClient, era: Era) {
        let name = PROBE_STEPS[1];
        let settings = self.settings().clone();
        let slug = format!("{}-probe-other", settings.resource_slug);
        let Some(origin) = url::origin(&settings.mcp_url) else {
            let t = run.start(name);
            run.skip(t, "skipped: the MCP URL has no origin");
            return;
        };
        let uri = format!("{origin}{PROBE_RESOURCE_PATH}");
        let Some(admin) = self.admin.clone() else {
            return;
        };
        let t = run.start(name);
        let existing = match admin.resource_by_slug(&slug).await {
            Ok(r) => r,
            Err(err) => {
                self.admin_failure(run, t, &err);
                return;
            }
        };
        let resource = if let Some(r) = existing {
            r
        } else {
            let new = NewResource {
                slug: slug.clone(),
                uri: uri.clone(),
                display_name: "authplane-dev wrong-audience probe".to_owned(),
                scopes: vec![(settings.scope.clone(), "probe".to_owned())],
            };
            match admin.create_resource(&new).await {
                Ok(r) => r,
                Err(err) => {
                    self.admin_failure(run, t, &err);
                    return;
                }
            }
        };
        if resource.uri == self.expectations.audience {
            run.skip(
                t,
                format!("skipped: resource {slug} has the server's own URI"),
            );
            return;
        }
        let request = TokenRequest {
            client_id: &client.client_id,
            client_secret: &client.client_secret,
            scope: Some(&settings.scope),
            resource: Some(&resource.uri),
        };
        let minted = match token::mint(&self.http, &settings.public_url, &request).await {
            Ok(m) => m,
            Err(err) => {
                run.skip(
                    t,
                    format!(
                        "skipped: could not mint a token for {}: {err}",
                        resource.uri
                    ),
                );
                return;
            }
        };
        self.ctx.reporter.secret(&minted.access_token);
        let mcp = McpClient::new(
            self.http.clone(),
            &settings.mcp_url,
            Some(&minted.access_token),
        );
        let reply = match first_call(&mcp, era).await {
            Ok(r) => r,
            Err(err) => {
                fail_unreachable(run, t, &err, &settings.mcp_url);
                return;
            }
        };
        let detail = json!({"token_aud": resource.uri, "exchange": reply.exchange.to_json()});
        match reply.status {
            401 | 403 => run.pass(
                t,
                format!(
                    "{} refused a token with aud {} ({})",
                    settings.mcp_url, resource.uri, reply.status
                ),
                detail,
            ),
            s if (200..300).contains(&s) => {
                run.fail(
                    t,
                    format!("accepted a token with aud {} ({s})", resource.uri),
                    detail,
                );
                run.finding(
                    Finding::error(
                        Code::AudienceMismatch,
                        format!(
                            "the MCP server accepted a token minted for another resource ({})",
                            resource.uri
                        ),
                        "configure the server's verifier with its own URL as the resource identifier (authplane-sdk checks aud when given the resource)",
                    )
                    .why("without an audience check, a token for any resource of this AS unlocks this server")
                    .compare("HTTP 401 invalid_token", format!("HTTP {s}")),
                );
            }
            s => run.warn(t, format!("unexpected HTTP {s} (expected 401)"), detail),
        }
    }

    /// Probe: a token without the required scope must be refused (403), or the tool hidden;
    /// accepting it is a warning.
    async fn probe_missing_scope(&mut self, run: &mut Run<'_>, client: &StoredClient, era: Era) {
        let t = run.start(PROBE_STEPS[2]);
        let settings = self.settings().clone();
        let request = TokenRequest {
            client_id: &client.client_id,
            client_secret: &client.client_secret,
            scope: Some(PROBE_SCOPE),
            resource: Some(&settings.resource_uri),
        };
        let minted = match token::mint(&self.http, &settings.public_url, &request).await {
            Ok(m) => m,
            Err(err) => {
                run.skip(
                    t,
                    format!("skipped: could not mint a {PROBE_SCOPE} token: {err}"),
                );
                return;
            }
        };
        self.ctx.reporter.secret(&minted.access_token);
        let mcp = McpClient::new(
            self.http.clone(),
            &settings.mcp_url,
            Some(&minted.access_token),
        );
        let text = format!("authplane-dev-probe-{}", crate::config::generate_secret(8));
        let outcome = match era {
            Era::Stateless => mcp.call_echo_stateless(&text).await.map(|r| (r, None)),
            Era::Session => match mcp.initialize().await {
                Ok(init) if init.status == 200 => {
                    let version = init
                        .protocol_version()
                        .unwrap_or(crate::flow::mcp::SESSION_PROTOCOL_VERSION)
                        .to_owned();
                    let session = init.session_id.clone();
                    let _ = mcp.initialized(session.as_deref(), &version).await;
                    mcp.call_echo(session.as_deref(), &version, &text)
                        .await
                        .map(|r| (r, Some(init)))
                }
                other => other.map(|r| (r, None)),
            },
        };
        let (reply, init) = match outcome {
            Ok(pair) => pair,
            Err(err) => {
                fail_unreachable(run, t, &err, &settings.mcp_url);
                return;
            }
        };
        let detail = json!({
            "token_scope": minted.scope,
            "initialize": init.as_ref().map(|i| i.exchange.to_json()),
            "exchange": reply.exchange.to_json(),
        });
        let hidden = reply.tool_is_error() || reply.rpc_error().is_some();
        match reply.status {
            403 => {
                let error = reply
                    .bearer_challenge()
                    .and_then(|c| c.param("error"))
                    .unwrap_or("no error parameter")
                    .to_owned();
                run.pass(t, format!("refused with 403 ({error})"), detail);
            }
            401 => run.pass(t, "refused with 401", detail),
            200 if hidden => run.pass(t, "tool hidden (HTTP 200 with an error result)", detail),
            200 if reply.tool_text().is_some_and(|s| s.contains(&text)) => {
                run.warn(
                    t,
                    "accepted: the echo tool answered a token without the scope",
                    detail,
                );
                run.finding(
                    Finding::warning(
                        Code::ScopeNotEnforced,
                        format!(
                            "the MCP server ran the echo tool for a token without {} (scope {:?})",
                            settings.scope,
                            minted.scope.as_deref().unwrap_or("")
                        ),
                        format!(
                            "require the scope on the server (authplane-sdk: claims.require_scope(\"{}\"); FastMCP: auth=require_scopes(...)), and list it in {}",
                            settings.scope,
                            var::SCOPES
                        ),
                    )
                    .why("a scope only protects a tool if the resource server checks it; the AS just stamps it")
                    .compare("HTTP 403 insufficient_scope or the tool hidden", "HTTP 200 with the tool result"),
                );
            }
            s => run.warn(t, format!("unexpected answer HTTP {s}"), detail),
        }
    }
}

fn resource_detail(resource: &Resource, state: &str) -> Value {
    json!({
        "state": state,
        "id": resource.id,
        "slug": resource.slug,
        "uri": resource.uri,
        "scopes": resource.scope_names(),
    })
}

fn token_summary(jwt: &Jwt, now: i64) -> String {
    let auds = jwt.audiences().join(" ");
    let expires = jwt.claim_i64("exp").map_or_else(
        || "no exp".to_owned(),
        |exp| format!("expires {}", claims::describe_time(exp, now)),
    );
    format!(
        "aud {auds}, scope {:?}, {expires}",
        jwt.claim_str("scope").unwrap_or("")
    )
}

fn as_unreachable(err: &FlowError, url: &str, variable: &str) -> Finding {
    if let Some(f) = as_server_error(err) {
        return f;
    }
    let reason = match err {
        FlowError::Unreachable { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    Finding::error(
        Code::AsUnreachable,
        format!("the authorization server at {url} did not answer as expected: {reason}"),
        format!(
            "start the stack with `authplane-dev up` (check `authplane-dev status` / `authplane-dev logs authserver`), or set {variable} to where the AS listens"
        ),
    )
    .why("every step of the flow starts at the AS")
    .compare(format!("{url} answering"), reason)
}

/// The as_server_error finding for an AS answer with a 5xx status (None for anything else): the
/// AS itself failed, so the request and the AS's own words (problem+json `detail` or OAuth
/// `error_description`) are shown, and its log holds the cause.
pub(crate) fn as_server_error(err: &FlowError) -> Option<Finding> {
    let FlowError::Status {
        status,
        message,
        exchange,
        ..
    } = err
    else {
        return None;
    };
    if *status < 500 {
        return None;
    }
    let request = format!("{} {}", exchange.method, exchange.url);
    Some(
        Finding::error(
            Code::AsServerError,
            format!("the authorization server failed: {request} answered HTTP {status}: {message}"),
            "read the cause in the AS's log (`authplane-dev logs authserver`, or `docker logs \
             <container>` with the Docker backend) and fix it — for the embedded AS usually its \
             state directory (.run/authserver/: disk full, read-only, or a file replaced by \
             something else); `authplane-dev clean && authplane-dev up` restarts it, \
             `authplane-dev clean --all` starts afresh (registrations are lost)",
        )
        .why("a 5xx is the server's own failure, not a refusal of what was asked; the AS does not tell the client why, its log does")
        .compare(format!("{request} answering 2xx or a 4xx refusal"), format!("HTTP {status}: {message}")),
    )
}

/// Ends step `t` as failed because the MCP server did not answer, with the `mcp_unreachable`
/// finding that explains it.
fn fail_unreachable(run: &mut Run<'_>, t: StepTimer, err: &FlowError, url: &str) {
    run.fail(t, err.to_string(), err.detail());
    run.finding(mcp_unreachable(err, url));
}

fn mcp_unreachable(err: &FlowError, url: &str) -> Finding {
    let reason = match err {
        FlowError::Unreachable { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    Finding::error(
        Code::McpUnreachable,
        format!("the MCP server at {url} did not answer: {reason}"),
        format!(
            "start it with `authplane-dev up` (embedded echo) or start your server; check --mcp-url / {}",
            var::DEV_MCP_URL
        ),
    )
    .compare(format!("{url} answering"), reason)
}

/// Maps a token endpoint failure to a finding, by the OAuth `error` code.
fn token_failure(
    err: &FlowError,
    settings: &Settings,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Finding {
    if let Some(f) = as_server_error(err) {
        return f;
    }
    let FlowError::Status {
        status,
        code,
        message,
        ..
    } = err
    else {
        return as_unreachable(err, &settings.public_url, var::DEV_PUBLIC_URL);
    };
    let actual = format!(
        "HTTP {status} {}: {message}",
        code.as_deref().unwrap_or("(no error code)")
    );
    match code.as_deref() {
        Some("invalid_target") => Finding::error(
            Code::ResourceDrift,
            format!(
                "the AS has no resource registered with URI {}",
                resource.unwrap_or("(none)")
            ),
            format!(
                "run `authplane-dev verify --fix` to register/patch resource {}, or set {} (or `token --resource`) to a registered URI",
                settings.resource_slug,
                var::DEV_RESOURCE_URI
            ),
        )
        .why("the AS matches resource= against registered URIs byte for byte")
        .compare(resource.unwrap_or("(none)"), actual),
        Some("invalid_scope") => Finding::error(
            Code::ScopeMismatch,
            format!("the AS refused scope {:?}: {message}", scope.unwrap_or("")),
            format!(
                "declare it on resource {slug}: `{var}={scope} authplane-dev verify --fix` adds {var} to the resource's scopes (the client is re-created with a ceiling that holds it)",
                slug = settings.resource_slug,
                var = var::DEV_SCOPE,
                scope = scope.unwrap_or("<scope>"),
            ),
        )
        .why("a requested scope must be in the client's ceiling and declared by the resource")
        .compare(scope.unwrap_or("").to_owned(), actual),
        Some("invalid_client" | "unauthorized_client" | "unsupported_grant_type") => Finding::error(
            Code::ClientGrantMissing,
            format!("the AS refused the client: {message}"),
            "delete <run-dir>/client.json and re-run (a fresh client is created); if the message names client_credentials, set AUTHPLANE_CLIENT_CREDENTIALS_ENABLED=true for the AS",
        )
        .why("client_credentials needs an active confidential client holding that grant, on an AS with the grant enabled")
        .compare("HTTP 200 with an access token", actual),
        _ => Finding::error(
            Code::TokenRejected,
            format!("the token endpoint refused the request: {message}"),
            "read the AS log (`authplane-dev logs authserver`) for the cause",
        )
        .compare("HTTP 200 with an access token", actual),
    }
}

/// The MCP protocol era a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Era {
    /// 2024-11-05 … 2025-11-25: initialize + session.
    Session,
    /// 2026-07-28: no initialize, no session.
    Stateless,
}

impl Era {
    fn name(self) -> &'static str {
        match self {
            Era::Session => "session",
            Era::Stateless => "stateless",
        }
    }
}

/// The first request of an era, used by the probes.
async fn first_call(mcp: &McpClient, era: Era) -> Result<McpReply, FlowError> {
    match era {
        Era::Session => mcp.initialize().await,
        Era::Stateless => {
            mcp.call_echo_stateless(&format!(
                "authplane-dev-probe-{}",
                crate::config::generate_secret(8)
            ))
            .await
        }
    }
}

/// Steps 6–8 (or the single stateless call); returns the era that worked.
async fn exercise_mcp(run: &mut Run<'_>, mcp: &McpClient, protocol: Protocol) -> Option<Era> {
    match protocol {
        Protocol::Legacy => session_round_trip(run, mcp).await.then_some(Era::Session),
        Protocol::Stateless => stateless_round_trip(run, mcp)
            .await
            .then_some(Era::Stateless),
        Protocol::Auto => {
            let t = run.start("protocol era");
            let text = echo_text();
            match mcp.call_echo_stateless(&text).await {
                Ok(reply) if reply.status == 200 && echoed(&reply, &text) => {
                    run.pass(
                        t,
                        format!("stateless ({STATELESS_PROTOCOL_VERSION}): tools/call echo round-tripped"),
                        json!({"era": "stateless", "exchange": reply.exchange.to_json()}),
                    );
                    Some(Era::Stateless)
                }
                Ok(reply) if reply.status == 400 || reply.status == 404 || reply.status == 405 => {
                    run.pass(
                        t,
                        format!(
                            "session era: a {STATELESS_PROTOCOL_VERSION} request was answered {} — falling back to the three-step handshake",
                            reply.status
                        ),
                        json!({"era": "session", "stateless_attempt": reply.exchange.to_json()}),
                    );
                    session_round_trip(run, mcp).await.then_some(Era::Session)
                }
                Ok(reply) => {
                    fail_mcp(run, t, &reply, "a stateless tools/call", &text);
                    None
                }
                Err(err) => {
                    fail_unreachable(run, t, &err, mcp.url());
                    None
                }
            }
        }
    }
}

fn echo_text() -> String {
    format!("authplane-dev-{}", crate::config::generate_secret(12))
}

fn echoed(reply: &McpReply, text: &str) -> bool {
    !reply.tool_is_error() && reply.tool_text().is_some_and(|t| t.contains(text))
}

async fn stateless_round_trip(run: &mut Run<'_>, mcp: &McpClient) -> bool {
    let t = run.start("tools/call echo (stateless)");
    let text = echo_text();
    match mcp.call_echo_stateless(&text).await {
        Ok(reply) if reply.status == 200 && echoed(&reply, &text) => {
            run.pass(
                t,
                format!("{STATELESS_PROTOCOL_VERSION}: {text:?} came back"),
                json!({"era": "stateless", "exchange": reply.exchange.to_json()}),
            );
            true
        }
        Ok(reply) => {
            fail_mcp(run, t, &reply, "a stateless tools/call", &text);
            false
        }
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            false
        }
    }
}

async fn session_round_trip(run: &mut Run<'_>, mcp: &McpClient) -> bool {
    let t = run.start("MCP initialize");
    let init = match mcp.initialize().await {
        Ok(reply) => reply,
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            return false;
        }
    };
    if init.status != 200 || init.result().is_none() {
        fail_mcp(run, t, &init, "initialize", "");
        return false;
    }
    let version = init
        .protocol_version()
        .unwrap_or(crate::flow::mcp::SESSION_PROTOCOL_VERSION)
        .to_owned();
    let session = init.session_id.clone();
    let session_shown = session.as_deref().map_or_else(
        || "no session id".to_owned(),
        |s| format!("session {}…", s.chars().take(8).collect::<String>()),
    );
    let server = init
        .result()
        .and_then(|r| r.get("serverInfo"))
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    run.pass(
        t,
        format!("protocol {version}, {session_shown}, server {server}"),
        json!({"era": "session", "protocol_version": version, "session_id_prefix": session.as_deref().map(|s| s.chars().take(8).collect::<String>()), "server": server}),
    );

    let t = run.start("notifications/initialized");
    match mcp.initialized(session.as_deref(), &version).await {
        Ok(reply) if reply.status == 202 => run.pass(t, "202 Accepted", Value::Null),
        Ok(reply) if (200..300).contains(&reply.status) => run.warn(
            t,
            format!("{} (the spec says 202 Accepted)", reply.status),
            reply.exchange.to_json(),
        ),
        Ok(reply) => {
            fail_mcp(run, t, &reply, "notifications/initialized", "");
            return false;
        }
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            return false;
        }
    }

    let t = run.start("tools/call echo");
    let text = echo_text();
    match mcp.call_echo(session.as_deref(), &version, &text).await {
        Ok(reply) if reply.status == 200 && echoed(&reply, &text) => {
            run.pass(t, format!("{text:?} came back"), json!({"text": text}));
            true
        }
        Ok(reply) => {
            fail_mcp(run, t, &reply, "tools/call echo", &text);
            false
        }
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            false
        }
    }
}

/// A failed MCP step: the exchange as detail and a finding chosen by the status.
fn fail_mcp(run: &mut Run<'_>, t: StepTimer, reply: &McpReply, what: &str, text: &str) {
    let challenge = reply.bearer_challenge();
    let description = challenge
        .and_then(|c| c.param("error_description"))
        .map_or_else(
            || crate::flow::error_message(&reply.exchange.body_excerpt),
            str::to_owned,
        );
    let status = reply.status;
    let actual = format!("HTTP {status}: {description}");
    let detail = json!({"exchange": reply.exchange.to_json(), "challenge": challenge});
    run.fail(
        t,
        format!("{} — {description}", reply.exchange.line()),
        detail,
    );
    let finding = match status {
        401 => Finding::error(
            Code::TokenRejected,
            format!("the MCP server refused the token on {what}: {description}"),
            "the token passed every local check, so compare what the server verifies with: its issuer (AUTHPLANE_ISSUER) must be the AS it fetched keys from, and restart the server if the AS was restarted with a new key; `authplane-dev inspect <token>` shows the claims",
        )
        .why("the server verifies signature (JWKS of its issuer), iss, aud, typ and expiry and answers 401 invalid_token for any failure")
        .compare("HTTP 200", actual),
        403 if description.contains("Host") => Finding::error(
            Code::McpHandshakeFailed,
            format!("the MCP server refused the Host header on {what}: {description}"),
            "dial the server as localhost or 127.0.0.1, or allow the host on the server (serve echo --allowed-host)",
        )
        .why("rmcp's DNS-rebinding guard accepts only loopback Host headers by default")
        .compare("HTTP 200", actual),
        403 => Finding::error(
            Code::ScopeMismatch,
            format!("the MCP server refused the token's scope on {what}: {description}"),
            format!(
                "make {} name every scope the server requires ({}) and re-run `authplane-dev verify --fix`",
                var::DEV_SCOPE,
                var::SCOPES
            ),
        )
        .why("the server requires scopes the token does not carry (403 insufficient_scope)")
        .compare("HTTP 200", actual),
        301 | 302 | 307 | 308 => Finding::error(
            Code::McpHandshakeFailed,
            format!(
                "the MCP server redirects {what} to {}",
                reply.exchange.response_header("location").unwrap_or("(no Location)")
            ),
            format!(
                "dial the exact URL the server serves (a trailing slash is a different path): set {} or AUTHPLANE_MCP_PATH",
                var::DEV_MCP_URL
            ),
        )
        .why("MCP clients must not follow redirects of a POST silently; the resource URL must be exact")
        .compare("HTTP 200", actual),
        400 if what.contains("stateless") => Finding::error(
            Code::McpHandshakeFailed,
            format!("the MCP server does not accept {STATELESS_PROTOCOL_VERSION} stateless requests: {description}"),
            "use `--protocol legacy` (or `--protocol auto`) for session-era servers",
        )
        .compare("HTTP 200", actual),
        200 => Finding::error(
            Code::McpHandshakeFailed,
            format!(
                "{what} returned HTTP 200 but not the expected result{}",
                if text.is_empty() { String::new() } else { format!(" (the text {text:?} did not come back)") }
            ),
            "check the MCP server's log; the echo tool must return its `text` argument",
        )
        .compare(
            if text.is_empty() { "a JSON-RPC result".to_owned() } else { format!("a result containing {text:?}") },
            reply.exchange.body_excerpt.clone(),
        ),
        _ => Finding::error(
            Code::McpHandshakeFailed,
            format!("{what} failed with HTTP {status}: {description}"),
            "check the MCP server's log (`authplane-dev logs echo`); 406 means the Accept header, 415 the Content-Type, 404 an unknown session or path",
        )
        .compare("HTTP 200", actual),
    };
    run.finding(finding);
}

/// Probe: a request without a token must get 401 with a `resource_metadata` challenge.
async fn probe_no_token(run: &mut Run<'_>, mcp: &McpClient, era: Era) {
    let t = run.start(PROBE_STEPS[0]);
    let reply = match first_call(mcp, era).await {
        Ok(r) => r,
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            return;
        }
    };
    let metadata = reply
        .bearer_challenge()
        .and_then(|c| c.param("resource_metadata"))
        .map(str::to_owned);
    let detail = json!({"exchange": reply.exchange.to_json(), "resource_metadata": metadata});
    match (reply.status, metadata) {
        (401, Some(m)) => run.pass(t, format!("401 with resource_metadata={m}"), detail),
        (401, None) => {
            run.warn(
                t,
                "401 but no resource_metadata in WWW-Authenticate",
                detail,
            );
            run.finding(
                Finding::warning(
                    Code::McpHandshakeFailed,
                    "the MCP server's 401 carries no resource_metadata parameter",
                    "serve RFC 9728 protected-resource metadata and name it in WWW-Authenticate (authplane-sdk's challenge helper does)",
                )
                .why("MCP clients discover the authorization server through resource_metadata (MCP auth spec)")
                .compare(
                    "WWW-Authenticate: Bearer resource_metadata=\"…\"",
                    reply.exchange.response_header("www-authenticate").unwrap_or("(none)"),
                ),
            );
        }
        (s, _) if (200..300).contains(&s) => {
            run.fail(
                t,
                format!("accepted a request without a token ({s})"),
                detail,
            );
            run.finding(
                Finding::error(
                    Code::McpHandshakeFailed,
                    "the MCP server answered a request without any token",
                    "put the bearer-token check in front of every MCP route",
                )
                .why("an MCP server protected by Authplane must answer 401 to anonymous calls")
                .compare("HTTP 401", format!("HTTP {s}")),
            );
        }
        (s, _) => run.warn(t, format!("unexpected HTTP {s} (expected 401)"), detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ColorChoice, OutputOptions, Reporter};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    /// A session-era-only server (like FastMCP): a stateless request is a 400.
    async fn session_only_server(hide_tool: bool) -> String {
        let router = axum::Router::new().route(
            "/mcp",
            axum::routing::post(move |headers: HeaderMap, body: String| async move {
                let msg: Value = serde_json::from_str(&body).unwrap();
                let session = headers.get("mcp-session-id").is_some();
                let method = msg["method"].as_str().unwrap_or("").to_owned();
                if headers.get("authorization").is_none() {
                    return (StatusCode::UNAUTHORIZED, [("www-authenticate", "Bearer error=\"invalid_token\"")], "").into_response();
                }
                if method != "initialize" && !session {
                    return (StatusCode::BAD_REQUEST, "Missing session ID").into_response();
                }
                if method == "notifications/initialized" {
                    return StatusCode::ACCEPTED.into_response();
                }
                let result = if method == "initialize" {
                    json!({"protocolVersion":"2025-06-18","serverInfo":{"name":"fastmcp"}})
                } else if hide_tool {
                    json!({"content":[{"type":"text","text":"Unknown tool: 'echo'"}],"isError":true})
                } else {
                    json!({"content":[{"type":"text","text":msg["params"]["arguments"]["text"]}],"isError":false})
                };
                (
                    [("content-type", "application/json"), ("mcp-session-id", "abcdef123456")],
                    json!({"jsonrpc":"2.0","id":msg["id"],"result":result}).to_string(),
                )
                    .into_response()
            }),
        );
        format!("{}/mcp", crate::flow::mock::serve(router).await)
    }

    fn reporter() -> Reporter {
        Reporter::new(OutputOptions {
            json: true,
            color: ColorChoice::Never,
            show_secrets: false,
        })
    }

    #[tokio::test]
    async fn auto_falls_back_to_the_session_era_on_400() {
        let url = session_only_server(false).await;
        let mcp = McpClient::new(http_client().unwrap(), &url, Some("token"));
        let reporter = reporter();
        let mut run = reporter.run("verify");
        assert_eq!(
            exercise_mcp(&mut run, &mcp, Protocol::Auto).await,
            Some(Era::Session)
        );
        let outcome = run.finish();
        assert!(outcome.ok(), "{:?}", outcome.findings);
        let names: Vec<&str> = outcome.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "protocol era",
                "MCP initialize",
                "notifications/initialized",
                "tools/call echo"
            ]
        );
        assert_eq!(outcome.steps[0].detail["era"], "session");
        assert!(outcome.steps[1].summary.contains("2025-06-18"));
        assert!(outcome.steps[1].summary.contains("abcdef12…"));

        // --protocol stateless against it fails with mcp_handshake_failed and the exchange.
        let mut run = reporter.run("verify");
        assert_eq!(
            exercise_mcp(&mut run, &mcp, Protocol::Stateless).await,
            None
        );
        let outcome = run.finish();
        assert_eq!(outcome.findings[0].code, Code::McpHandshakeFailed);
        assert!(outcome.findings[0].fix.contains("--protocol legacy"));
        assert_eq!(outcome.steps[0].detail["exchange"]["status"], 400);
    }

    #[tokio::test]
    async fn a_hidden_tool_and_a_401_are_reported() {
        let url = session_only_server(true).await;
        let reporter = reporter();
        let mcp = McpClient::new(http_client().unwrap(), &url, Some("token"));
        let mut run = reporter.run("verify");
        assert_eq!(exercise_mcp(&mut run, &mcp, Protocol::Legacy).await, None);
        let outcome = run.finish();
        assert_eq!(outcome.findings[0].code, Code::McpHandshakeFailed);

        let anonymous = McpClient::new(http_client().unwrap(), &url, None);
        let mut run = reporter.run("verify");
        assert_eq!(
            exercise_mcp(&mut run, &anonymous, Protocol::Legacy).await,
            None
        );
        let outcome = run.finish();
        assert_eq!(outcome.findings[0].code, Code::TokenRejected);
        assert!(
            outcome.findings[0]
                .actual
                .as_deref()
                .unwrap()
                .starts_with("HTTP 401")
        );

        // The no-token probe: 401 without resource_metadata is a warning.
        let mut run = reporter.run("verify");
        probe_no_token(&mut run, &anonymous, Era::Session).await;
        let outcome = run.finish();
        assert!(outcome.ok());
        assert_eq!(
            outcome.findings[0].severity,
            crate::diagnose::Severity::Warning
        );
    }
}
