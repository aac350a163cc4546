//! `inspect <jwt|->`: decode a token WITHOUT verifying it, show its header and claims, and check
//! them against the configuration with the same rules `verify` applies (audience, issuer, scope,
//! typ/alg/kid, required claims, expiry). Something that is not a JWT is a usage error (exit 2).

use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;

use crate::cli::InspectArgs;
use crate::commands::Context;
use crate::diagnose::claims::{self, AudienceSource, Expectations};
use crate::diagnose::{Finding, scope};
use crate::exit::ConfigError;
use crate::flow::jwt::{self, Jwt};
use crate::report::{Outcome, Run};

/// Runs the command.
pub async fn run(args: &InspectArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    let settings = &ctx.settings;
    let raw = if args.jwt == "-" {
        let mut input = String::new();
        tokio::io::stdin()
            .read_to_string(&mut input)
            .await
            .map_err(|e| ConfigError::Invalid(format!("cannot read the token from stdin: {e}")))?;
        input
    } else {
        args.jwt.clone()
    };
    let jwt = jwt::decode(&raw).map_err(|e| {
        ConfigError::Invalid(format!(
            "{e}. Pass an access token (three base64url parts separated by dots), or - to read \
             one from stdin; `authplane-dev token` prints a fresh one"
        ))
    })?;
    ctx.reporter.secret(raw.trim());

    let with_echo = settings.dials_embedded_echo();
    let (audience, audience_source) = if with_echo {
        (settings.audience(), AudienceSource::Echo)
    } else {
        (settings.mcp_url.clone(), AudienceSource::McpUrl)
    };
    let required = if with_echo {
        settings.scopes.clone()
    } else {
        vec![settings.scope.clone()]
    };
    let now = claims::now();
    let exp = Expectations {
        audience,
        audience_source,
        server_issuer: settings.server_issuer.clone(),
        sdk_issuer: settings.sdk_issuer.clone(),
        discovered_issuer: None,
        required_scopes: required.clone(),
        now,
    };

    let mut run = ctx.reporter.run("inspect");
    let t = run.start("decode");
    run.pass(
        t,
        format!(
            "alg {}, kid {}, typ {}; signature {} bytes (not verified)",
            jwt.header_str("alg").unwrap_or("(absent)"),
            jwt.header_str("kid").unwrap_or("(absent)"),
            jwt.header_str("typ").unwrap_or("(absent)"),
            jwt.signature_len
        ),
        json!({"header": jwt.header, "claims": jwt.claims}),
    );
    check(
        &mut run,
        "audience",
        format!(
            "aud {} (expected {})",
            jwt.audiences().join(" "),
            exp.audience
        ),
        claims::check_audience(&jwt, &exp).into_iter().collect(),
    );
    check(
        &mut run,
        "issuer",
        format!(
            "iss {} (expected {})",
            jwt.claim_str("iss").unwrap_or("(absent)"),
            exp.sdk_issuer.trim_end_matches('/')
        ),
        claims::check_token_issuer(&jwt, &exp).into_iter().collect(),
    );
    check(
        &mut run,
        "scope",
        format!(
            "scope {:?} (required {:?})",
            jwt.claim_str("scope").unwrap_or(""),
            required.join(" ")
        ),
        scope::check_token_scopes(&jwt.scopes(), &required)
            .into_iter()
            .collect(),
    );
    check(
        &mut run,
        "typ, alg, kid",
        "header as the SDK requires".to_owned(),
        claims::check_header(&jwt),
    );
    check(
        &mut run,
        "claims and expiry",
        times(&jwt, now),
        claims::check_claims_and_times(&jwt, now),
    );

    run.data("header", Value::Object(jwt.header.clone()));
    run.data("claims", Value::Object(jwt.claims.clone()));
    run.text(format!("header: {}", pretty(&jwt.header)));
    run.text(format!("claims: {}", pretty(&jwt.claims)));
    Ok(run.finish())
}

fn check(run: &mut Run<'_>, name: &str, summary: String, findings: Vec<Finding>) {
    let t = run.start(name);
    if findings.iter().any(Finding::is_error) {
        run.fail(t, summary, Value::Null);
    } else {
        run.pass(t, summary, Value::Null);
    }
    for f in findings {
        run.finding(f);
    }
}

fn times(jwt: &Jwt, now: i64) -> String {
    let parts: Vec<String> = ["iat", "nbf", "exp"]
        .into_iter()
        .filter_map(|c| {
            jwt.claim_i64(c)
                .map(|ts| format!("{c} {}", claims::describe_time(ts, now)))
        })
        .collect();
    if parts.is_empty() {
        "no iat, nbf or exp".to_owned()
    } else {
        parts.join(", ")
    }
}

fn pretty(map: &serde_json::Map<String, Value>) -> String {
    serde_json::to_string_pretty(map).unwrap_or_default()
}
