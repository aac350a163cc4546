//! `inspect <jwt|->`: decode a token, show its header and claims, check its `kid` and signature
//! against the AS's published keys when the AS answers (authplane-sdk, as the echo server does;
//! offline the signature is reported as not verified), and check the claims against the
//! configuration with the same rules `verify` applies (audience, issuer, scope, typ/alg/kid,
//! required claims, expiry). Something that is not a JWT is a usage error (exit 2).

use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;

use crate::cli::InspectArgs;
use crate::commands::Context;
use crate::diagnose::claims::{self, AudienceSource, Expectations};
use crate::diagnose::{Code, Finding, scope};
use crate::exit::ConfigError;
use crate::flow::jwt::{self, Jwt};
use crate::flow::signature::{self, Signature};
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
            "alg {}, kid {}, typ {}; signature {} bytes",
            jwt.header_str("alg").unwrap_or("(absent)"),
            jwt.header_str("kid").unwrap_or("(absent)"),
            jwt.header_str("typ").unwrap_or("(absent)"),
            jwt.signature_len
        ),
        json!({"header": jwt.header, "claims": jwt.claims}),
    );
    signature_step(&mut run, settings, raw.trim(), &jwt, &exp.audience).await;
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

/// Step "signature": the `kid` and signature against the keys the AS publishes (the SDK's
/// verifier for `AUTHPLANE_ISSUER`); skipped, saying the signature was not verified, when the AS
/// does not answer.
async fn signature_step(
    run: &mut Run<'_>,
    settings: &crate::config::Settings,
    token: &str,
    jwt: &Jwt,
    audience: &str,
) {
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    let issuer = &settings.sdk_issuer;
    let t = run.start("signature");
    let token_audience = jwt.audiences().first().cloned();
    match signature::check(issuer, token, token_audience.as_deref(), audience).await {
        Signature::Verified { kid } => run.pass(
            t,
            format!("verified with kid {kid} published by {issuer}"),
            json!({"issuer": issuer, "kid": kid}),
        ),
        Signature::NotChecked { reason } => {
            run.skip(t, format!("signature not verified: {reason}"));
        }
        Signature::KidUnknown { kid, published } => {
            run.fail(
                t,
                format!("kid {kid} is not published by {issuer}"),
                json!({"issuer": issuer, "kid": kid, "published": published}),
            );
            run.finding(
                Finding::error(
                    Code::TokenRejected,
                    format!("the token's kid {kid} is not published by the AS at {issuer}"),
                    "mint a new token from this AS (`authplane-dev token`); servers that verify with this AS reject the old one",
                )
                .why("a server fetches the signing keys from its AS and refuses a kid it cannot find (authplane-sdk: \"kid not found\"): the AS's data was reset since the token was minted (a new signing key: `clean --all`, a fresh state directory or volume), or the token comes from another AS")
                .compare(
                    format!("a kid in the AS's JWKS ({})", if published.is_empty() { "none".to_owned() } else { published.join(" ") }),
                    kid,
                ),
            );
        }
        Signature::Invalid { kid, message } => {
            run.fail(
                t,
                format!("signature invalid for kid {kid}"),
                json!({"issuer": issuer, "kid": kid, "error": message}),
            );
            run.finding(
                Finding::error(
                    Code::TokenRejected,
                    format!("the token's signature does not verify with key {kid} of the AS at {issuer}: {message}"),
                    "mint a new token from this AS (`authplane-dev token`); never edit a token by hand",
                )
                .why("the token was changed after it was signed, or signed by another AS that uses the same kid")
                .compare(format!("a signature by key {kid} of {issuer}"), "a signature that does not verify"),
            );
        }
    }
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
