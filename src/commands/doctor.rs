//! `doctor`: grouped, read-only checks of the environment, the configuration (offline) and the
//! running stack (live). Steps are named "<group>: <check>"; every failure carries a [`Finding`].
//! doctor never starts, registers or changes anything.

use std::os::unix::fs::PermissionsExt as _;

use serde_json::json;

use crate::cli::{Component, DoctorArgs};
use crate::commands::Context;
use crate::config::{Settings, bind_address, var};
use crate::diagnose::claims::{self, AudienceSource, Expectations};
use crate::diagnose::scope::Ledger;
use crate::diagnose::{Code, Finding, url};
use crate::flow::admin::AdminClient;
use crate::flow::{FlowError, http_client, token};
use crate::report::{Outcome, Run};
use crate::stack::{ports, process};

/// Secrets the AS refuses as weak (reference/authserver-0.2.2.md §1.4), exact match.
pub const WEAK_SECRETS: &[&str] = &[
    "dev-secret-change-me",
    "dev-admin-key",
    "changeme",
    "secret",
    "password",
    "admin",
    "test",
];
/// The shortest secret doctor accepts.
pub const MIN_SECRET_LEN: usize = 16;

/// Runs the command.
pub async fn run(args: &DoctorArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    let mut run = ctx.reporter.run("doctor");
    let settings = &ctx.settings;
    environment(&mut run, settings);
    configuration(&mut run, settings);
    if args.offline {
        let t = run.start("live: stack");
        run.skip(t, "skipped: --offline");
    } else {
        live(&mut run, settings).await?;
    }
    Ok(run.finish())
}

/// Records one check: pass with `ok` when there are no findings, else fail (an error among them)
/// or warn, and the findings.
fn record(run: &mut Run<'_>, name: &str, ok: &str, findings: Vec<Finding>) {
    let t = run.start(name);
    if findings.is_empty() {
        run.pass(t, ok.to_owned(), json!(null));
        return;
    }
    let summary = findings
        .iter()
        .map(|f| f.message.clone())
        .collect::<Vec<_>>()
        .join("; ");
    if findings.iter().any(Finding::is_error) {
        run.fail(t, summary, json!(null));
    } else {
        run.warn(t, summary, json!(null));
    }
    for f in findings {
        run.finding(f);
    }
}

fn environment(run: &mut Run<'_>, settings: &Settings) {
    let listeners = [
        (
            var::SERVER_ADDRESS,
            settings.server_address.clone(),
            settings.server_port(),
            Component::Authserver,
        ),
        (
            var::ADMIN_ADDRESS,
            settings.admin_address.clone(),
            settings.admin_port(),
            Component::Authserver,
        ),
        (
            var::PORT,
            format!(":{}", settings.port),
            settings.port,
            Component::Echo,
        ),
    ];
    let mut findings = Vec::new();
    for (name, address, port, component) in listeners {
        if matches!(
            process::inspect(&settings.run_dir, component),
            process::PidState::Running(_)
        ) {
            continue;
        }
        let Ok(bind) = bind_address(name, &address) else {
            continue;
        };
        if let Err(holder) = ports::check(&bind, port) {
            findings.push(
                Finding::error(
                    Code::PortInUse,
                    format!("port {port} ({name}) is held by {}", holder.describe(port)),
                    format!("stop that process, or set {name} to a free port"),
                )
                .why("the stack is not running, so `authplane-dev up` could not bind this port"),
            );
        }
    }
    record(
        run,
        "environment: ports",
        "the stack's ports are free or held by our stack",
        findings,
    );

    let mut findings = Vec::new();
    match std::fs::metadata(&settings.env_file) {
        Err(_) => findings.push(Finding::warning(
            Code::ConfigInvalid,
            format!("{} does not exist", settings.env_file.display()),
            "run `authplane-dev up` once; it writes a .env with fresh secrets",
        )),
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => findings.push(
            Finding::warning(
                Code::WeakSecret,
                format!("{} is readable by other users", settings.env_file.display()),
                format!("chmod 600 {}", settings.env_file.display()),
            )
            .compare("600", format!("{:o}", meta.permissions().mode() & 0o777)),
        ),
        Ok(_) => {}
    }
    record(
        run,
        "environment: .env",
        ".env present, mode 0600",
        findings,
    );
}

/// The expectations the configuration implies (before any network).
fn expectations(settings: &Settings) -> Expectations {
    let with_echo = crate::commands::verify::dials_embedded_echo(settings);
    Expectations {
        audience: if with_echo {
            settings.audience()
        } else {
            settings.mcp_url.clone()
        },
        audience_source: if with_echo {
            AudienceSource::Echo
        } else {
            AudienceSource::McpUrl
        },
        server_issuer: settings.server_issuer.clone(),
        sdk_issuer: settings.sdk_issuer.clone(),
        discovered_issuer: None,
        required_scopes: settings.scopes.clone(),
        now: claims::now(),
    }
}

fn configuration(run: &mut Run<'_>, settings: &Settings) {
    // Issuers: the SDK's issuer must be the AS's issuer (the same rule verify applies to discovery).
    let mut findings = claims::check_issuers(
        &settings.server_issuer,
        &settings.server_issuer,
        &settings.sdk_issuer,
    );
    if settings.server_issuer.ends_with('/') {
        findings.push(
            Finding::warning(
                Code::ConfigInvalid,
                format!("{} ends with a slash", var::SERVER_ISSUER),
                format!(
                    "set {}={}",
                    var::SERVER_ISSUER,
                    settings.server_issuer.trim_end_matches('/')
                ),
            )
            .why("endpoint URLs are issuer + path, so they would contain a double slash"),
        );
    }
    record(
        run,
        "configuration: issuer",
        "AUTHPLANE_ISSUER names the AS's issuer",
        findings,
    );

    let exp = expectations(settings);
    let mut findings: Vec<Finding> = claims::check_resource_uri(&settings.resource_uri, &exp)
        .into_iter()
        .collect();
    if exp.audience_source == AudienceSource::Echo
        && let Some(differs) = url::difference(&exp.audience, &settings.mcp_url)
        && !url::same_local_server(&exp.audience, &settings.mcp_url)
    {
        findings.push(
            Finding::error(
                Code::AudienceMismatch,
                format!(
                    "the CLI dials {} but the server's audience is {}",
                    settings.mcp_url, exp.audience
                ),
                claims::audience_fix(&exp.audience, exp.audience_source),
            )
            .compare(exp.audience.clone(), settings.mcp_url.clone())
            .differs(differs),
        );
    }
    record(
        run,
        "configuration: resource URI",
        "resource URI = audience = MCP URL",
        findings,
    );

    // PORT must be the port in AUTHPLANE_BASE_URL: the audience names a port the server does not
    // listen on otherwise. Reported as audience_mismatch (the token audience is what breaks).
    let mut findings = Vec::new();
    if let Ok(base) = reqwest::Url::parse(&settings.base_url)
        && let Some(base_port) = base.port_or_known_default()
        && base_port != settings.port
        && exp.audience_source == AudienceSource::Echo
    {
        findings.push(Finding::error(
            Code::AudienceMismatch,
            format!("{} names port {base_port}, but the echo server listens on {}={}", var::BASE_URL, var::PORT, settings.port),
            format!("make {} and the port in {} the same", var::PORT, var::BASE_URL),
        ).why("the audience is the base URL; a client reaching the server on PORT mints for another URL")
        .compare(settings.port.to_string(), base_port.to_string()).differs("port"));
    }
    record(
        run,
        "configuration: port",
        "PORT is the base URL's port",
        findings,
    );

    let ledger = Ledger {
        server_requires: settings.scopes.clone(),
        requested: vec![settings.scope.clone()],
        ..Ledger::default()
    };
    let mut findings = ledger.check();
    if !settings.scopes.contains(&settings.scope) && findings.is_empty() {
        findings.push(
            Finding::error(
                Code::ScopeMismatch,
                format!(
                    "{}={} is not one of {}={}",
                    var::DEV_SCOPE,
                    settings.scope,
                    var::SCOPES,
                    settings.scopes.join(" ")
                ),
                format!(
                    "set {} to one of {}",
                    var::DEV_SCOPE,
                    settings.scopes.join(" ")
                ),
            )
            .compare(settings.scopes.join(" "), settings.scope.clone()),
        );
    }
    record(
        run,
        "configuration: scope",
        "the requested scope is the one the server requires",
        findings,
    );

    let mut findings = Vec::new();
    if let Ok(issuer) = reqwest::Url::parse(&settings.server_issuer)
        && issuer.scheme() == "http"
        && !issuer.host_str().is_some_and(url::is_loopback_host)
    {
        findings.push(
            Finding::warning(
                Code::ConfigInvalid,
                format!(
                    "the issuer {} is plain http on a non-loopback host",
                    settings.server_issuer
                ),
                "use https, or a loopback host (localhost) for local development",
            )
            .why("the AS accepts http only in dev mode; tokens travel unencrypted"),
        );
    }
    record(
        run,
        "configuration: dev mode",
        "http only on loopback",
        findings,
    );

    let mut findings = Vec::new();
    for (name, value) in [
        (var::ADMIN_API_KEY, &settings.admin_api_key),
        (var::SESSION_SECRET, &settings.session_secret),
    ] {
        if let Some(value) = value
            && (WEAK_SECRETS.contains(&value.as_str()) || value.chars().count() < MIN_SECRET_LEN)
        {
            findings.push(weak_secret(name));
        }
    }
    record(
        run,
        "configuration: secrets",
        "secrets are strong",
        findings,
    );
}

/// The finding for a weak secret (the value itself is never shown).
pub fn weak_secret(name: &str) -> Finding {
    Finding::error(
        Code::WeakSecret,
        format!("{name} is on the AS's weak-secret list or shorter than {MIN_SECRET_LEN} characters"),
        format!("set {name} to a long random value (`openssl rand -hex 32`), then `authplane-dev clean && authplane-dev up`"),
    )
    .why("the AS refuses weak secrets outside dev mode, and anyone can guess them")
}

async fn live(run: &mut Run<'_>, settings: &Settings) -> anyhow::Result<()> {
    let http = http_client()?;
    let metadata = match token::discover(&http, &settings.public_url).await {
        Ok(m) => m,
        Err(err) => {
            let t = run.start("live: discovery");
            run.skip(
                t,
                format!(
                    "skipped: the AS does not answer at {} ({err})",
                    settings.public_url
                ),
            );
            for name in ["live: admin key", "live: resource"] {
                let t = run.start(name);
                run.skip(t, "skipped: the AS does not answer");
            }
            return Ok(());
        }
    };
    record(
        run,
        "live: discovery",
        "the AS announces the configured issuer",
        claims::check_issuers(
            &metadata.issuer,
            &settings.server_issuer,
            &settings.sdk_issuer,
        ),
    );

    if let Ok(Some(server)) = token::server_time(&http, &settings.public_url).await {
        record(
            run,
            "live: clock",
            "this host's clock agrees with the AS's (within 30 s)",
            crate::diagnose::clock::check_clock_skew(claims::now(), server)
                .into_iter()
                .collect(),
        );
    } else {
        let t = run.start("live: clock");
        run.skip(t, "skipped: the AS sends no readable Date header");
    }

    let Some(key) = settings.admin_api_key.as_deref() else {
        let t = run.start("live: admin key");
        run.skip(t, format!("skipped: {} is not set", var::ADMIN_API_KEY));
        return Ok(());
    };
    let admin = AdminClient::new(http.clone(), &settings.admin_url, key);
    match admin.resource_by_slug(&settings.resource_slug).await {
        Err(FlowError::AdminKeyRejected {
            status,
            description,
            ..
        }) => {
            record(
                run,
                "live: admin key",
                "",
                vec![crate::commands::verify::admin_key_rejected(
                    settings,
                    status,
                    &description,
                )],
            );
            let t = run.start("live: resource");
            run.skip(t, "skipped: the admin key is rejected");
        }
        Err(err) => {
            if let Some(finding) = crate::commands::verify::as_server_error(&err) {
                record(run, "live: admin key", "", vec![finding]);
            } else {
                let t = run.start("live: admin key");
                run.skip(t, format!("skipped: the admin API does not answer ({err})"));
            }
            let t = run.start("live: resource");
            run.skip(t, "skipped: the admin API did not answer");
        }
        Ok(resource) => {
            record(
                run,
                "live: admin key",
                "the admin API accepts the key",
                Vec::new(),
            );
            let mut findings = Vec::new();
            if let Some(resource) = resource {
                if let Some(differs) = url::difference(&settings.resource_uri, &resource.uri) {
                    findings.push(
                        Finding::error(
                            Code::ResourceDrift,
                            format!(
                                "resource {} is registered with {} but configured as {}",
                                settings.resource_slug, resource.uri, settings.resource_uri
                            ),
                            "run `authplane-dev verify --fix` to patch the registration",
                        )
                        .compare(settings.resource_uri.clone(), resource.uri.clone())
                        .differs(differs),
                    );
                }
                if !resource.scope_names().contains(&settings.scope) {
                    findings.push(
                        Finding::error(
                            Code::ResourceDrift,
                            format!(
                                "resource {} does not declare scope {}",
                                settings.resource_slug, settings.scope
                            ),
                            "run `authplane-dev verify --fix` to patch the resource's scopes",
                        )
                        .compare(settings.scope.clone(), resource.scope_names().join(" ")),
                    );
                }
            }
            record(
                run,
                "live: resource",
                "the registered resource matches (or is not registered yet)",
                findings,
            );
            client_check(run, settings, &admin).await;
        }
    }
    Ok(())
}

/// The stored client (`<run_dir>/client.json`) has client_credentials and the scope in its ceiling.
async fn client_check(run: &mut Run<'_>, settings: &Settings, admin: &AdminClient) {
    let Some(stored) = crate::flow::credentials::load(&settings.run_dir) else {
        let t = run.start("live: client");
        run.skip(t, "skipped: no stored client yet (verify creates one)");
        return;
    };
    let Ok(Some(view)) = admin.client(&stored.client_id).await else {
        let t = run.start("live: client");
        run.skip(
            t,
            "skipped: the stored client is not known to this AS (verify replaces it)",
        );
        return;
    };
    let mut findings = Vec::new();
    if !view.grant_types.iter().any(|g| g == "client_credentials") {
        findings.push(
            Finding::error(
                Code::ClientGrantMissing,
                format!(
                    "the stored client {} lacks the client_credentials grant",
                    view.id
                ),
                "delete <run-dir>/client.json and re-run `authplane-dev verify`",
            )
            .compare("client_credentials", view.grant_types.join(" ")),
        );
    }
    let ledger = Ledger {
        server_requires: vec![settings.scope.clone()],
        requested: vec![settings.scope.clone()],
        client_ceiling: Some(view.ceiling()),
        ..Ledger::default()
    };
    findings.extend(ledger.check());
    record(
        run,
        "live: client",
        "the stored client may mint the scope",
        findings,
    );
}
