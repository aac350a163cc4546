//! doctor's live group: read-only requests to the running stack. The rules are in `diagnose/`;
//! this module fetches the observed values and records one step per check.

use crate::cli::Component;
use crate::config::{Settings, var};
use crate::diagnose::failure::{admin_key_rejected, as_server_error};
use crate::diagnose::scope::Ledger;
use crate::diagnose::{Code, Finding, claims, clock, jwks, prm, url};
use crate::flow::admin::AdminClient;
use crate::flow::token::{self, Metadata};
use crate::flow::{FlowError, get_json, http_client, protected_resource_metadata_url};
use crate::report::Run;
use crate::stack::process;

use super::record;

/// Runs the live checks in order: discovery, JWKS, clock, admin key, resource, client (these
/// need the AS), then the MCP server's metadata (needs only the MCP server).
pub async fn live(run: &mut Run<'_>, settings: &Settings) -> anyhow::Result<()> {
    let http = http_client()?;
    let issuer = match token::discover(&http, &settings.public_url).await {
        Ok(metadata) => {
            authserver(run, &http, settings, &metadata).await;
            metadata.issuer
        }
        Err(err) => {
            if let process::PidState::Running(pid) =
                process::inspect(&settings.run_dir, Component::Authserver)
            {
                // Our AS process is alive but silent (stopped, hung, or listening elsewhere):
                // that is a broken stack, not a stack that is merely not started.
                record(
                    run,
                    "live: discovery",
                    "",
                    vec![
                        Finding::error(
                            Code::AsUnreachable,
                            format!(
                                "the authorization server (pid {pid}) runs but does not answer at {}: {err}",
                                settings.public_url
                            ),
                            "check `authplane-dev logs authserver`; `authplane-dev clean && authplane-dev up` restarts it",
                        )
                        .why("doctor found the AS's pid file naming a live process"),
                    ],
                );
            } else {
                let t = run.start("live: discovery");
                run.skip(
                    t,
                    format!(
                        "skipped: the AS does not answer at {} ({err})",
                        settings.public_url
                    ),
                );
            }
            for name in [
                "live: JWKS",
                "live: clock",
                "live: admin key",
                "live: resource",
            ] {
                let t = run.start(name);
                run.skip(t, "skipped: the AS does not answer");
            }
            settings.server_issuer.clone()
        }
    };
    mcp_metadata(run, &http, settings, &issuer, MCP_METADATA).await;
    Ok(())
}

/// The checks that need the AS's answer to discovery.
async fn authserver(
    run: &mut Run<'_>,
    http: &reqwest::Client,
    settings: &Settings,
    metadata: &Metadata,
) {
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
    jwks_check(run, http, settings, metadata).await;

    if let Ok(Some(server)) = token::server_time(http, &settings.public_url).await {
        record(
            run,
            "live: clock",
            "this host's clock agrees with the AS's (within 30 s)",
            clock::check_clock_skew(claims::now(), server)
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
        return;
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
                vec![admin_key_rejected(settings, status, &description)],
            );
            let t = run.start("live: resource");
            run.skip(t, "skipped: the admin key is rejected");
        }
        Err(err) => {
            if let Some(finding) = as_server_error(&err) {
                record(run, "live: admin key", "", vec![finding]);
            } else {
                let t = run.start("live: admin key");
                run.skip(t, format!("skipped: the admin API does not answer ({err})"));
            }
            let t = run.start("live: resource");
            run.skip(t, "skipped: the admin API did not answer");
        }
        Ok(resource) => {
            // What the configuration checks already found wrong with the resource URI or the
            // scope: a registration that differs from that wrong value is no drift to `--fix`.
            let explained: Vec<Code> = run.findings().iter().map(|f| f.code).collect();
            record(
                run,
                "live: admin key",
                "the admin API accepts the key",
                Vec::new(),
            );
            record(
                run,
                "live: resource",
                "the registered resource matches (or is not registered yet)",
                resource.map_or_else(Vec::new, |r| resource_drift(settings, &r, &explained)),
            );
            client_check(run, settings, &admin).await;
        }
    }
}

/// `live: JWKS`: the announced `jwks_uri` answers with usable signing keys.
async fn jwks_check(
    run: &mut Run<'_>,
    http: &reqwest::Client,
    settings: &Settings,
    metadata: &Metadata,
) {
    const NAME: &str = "live: JWKS";
    if let Some(finding) = jwks::check_jwks_uri(&metadata.jwks_uri) {
        record(run, NAME, "", vec![finding]);
        return;
    }
    let url = jwks::reachable_uri(&metadata.jwks_uri, &metadata.issuer, &settings.public_url);
    let findings = match get_json(http, &url).await {
        Ok(doc) => jwks::check_jwks(&url, &doc),
        Err(FlowError::Unreachable { reason, .. }) => vec![jwks::unanswered(&url, &reason)],
        Err(FlowError::Status {
            status, message, ..
        }) => vec![jwks::not_served(&url, &format!("HTTP {status}: {message}"))],
        Err(err) => vec![jwks::not_served(&url, &err.to_string())],
    };
    record(
        run,
        NAME,
        &format!("{url} serves usable signing keys (ES256/RS256, use=sig)"),
        findings,
    );
}

/// The registered resource against the configured URI and scope. A configured value that the
/// configuration checks already refused (`explained`: an `audience_mismatch` for the URI, a
/// `scope_mismatch` for the scope) is not compared: `verify --fix` would register the wrong
/// value, and the finding already there names the real fix.
fn resource_drift(
    settings: &Settings,
    resource: &crate::flow::admin::Resource,
    explained: &[Code],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if explained.contains(&Code::AudienceMismatch) {
        // The configured URI is not the server's audience; the registration may well be right.
    } else if let Some(differs) = url::difference(&settings.resource_uri, &resource.uri) {
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
    if !explained.contains(&Code::ScopeMismatch)
        && !resource.scope_names().contains(&settings.scope)
    {
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
    findings
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
                "run `authplane-dev verify`: it replaces a stored client that no longer fits",
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

/// doctor's step name for [`mcp_metadata`].
const MCP_METADATA: &str = "live: MCP metadata";

/// Step `name`: the Protected Resource Metadata of the MCP server the CLI dials names the
/// configured resource URI and the AS's `issuer`. Skipped when the server does not answer. Shared
/// with `verify`, which runs it to explain a token the MCP server refused.
pub async fn mcp_metadata(
    run: &mut Run<'_>,
    http: &reqwest::Client,
    settings: &Settings,
    issuer: &str,
    name: &str,
) {
    let url = protected_resource_metadata_url(&settings.mcp_url);
    let findings = match get_json(http, &url).await {
        Ok(doc) => prm::check_prm(&url, &doc, &settings.resource_uri, issuer),
        Err(FlowError::Unreachable { reason, .. }) => {
            let t = run.start(name);
            run.skip(
                t,
                format!("skipped: the MCP server does not answer at {url} ({reason})"),
            );
            return;
        }
        Err(FlowError::Status {
            status, message, ..
        }) => vec![prm::not_served(&url, &format!("HTTP {status}: {message}"))],
        Err(err) => vec![prm::not_served(&url, &err.to_string())],
    };
    record(
        run,
        name,
        "the MCP server announces the configured resource URI and the AS's issuer",
        findings,
    );
}
