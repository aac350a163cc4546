//! `token`: print a fresh access token (registering the resource and client as `verify` does).
//!
//! stdout carries only the token: in human mode the steps run against a silent reporter and only
//! findings (on failure, on stderr with the summary) reach the real one; under `--json` the steps are recorded as usual and
//! `data` holds `{access_token, expires_in, scope, aud}`. The token is printed even without
//! `--show-secrets` — printing it is what the user asked for.

use serde_json::json;

use crate::cli::{TokenArgs, UpArgs};
use crate::commands::Context;
use crate::flow::jwt;
use crate::report::{ColorChoice, Outcome, OutputOptions, Reporter, Status};
use crate::steps::Flow;

/// Runs the command.
pub async fn run(args: &TokenArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    if ctx.reporter.json() {
        return mint_token(args, ctx).await;
    }
    // Human mode: the reporter prints steps on stdout as they end, so the steps run against a
    // silent reporter (JSON-mode rendering prints nothing until `render`, which we never call).
    let silent = Reporter::new(OutputOptions {
        json: true,
        color: ColorChoice::Never,
        show_secrets: false,
    });
    for secret in [
        &ctx.settings.admin_api_key,
        &ctx.settings.session_secret,
        &ctx.settings.dev_user_password,
    ]
    .into_iter()
    .flatten()
    {
        silent.secret(secret);
    }
    let inner = Context {
        settings: ctx.settings.clone(),
        reporter: &silent,
    };
    let outcome = mint_token(args, &inner).await?;
    // Whatever is shown besides the token goes to stderr, so `$(authplane-dev token)` captures
    // the token or nothing.
    ctx.reporter.divert_human_output();
    let mut run = ctx.reporter.run("token");
    if outcome.refused {
        run.refuse();
    }
    let has_error_finding = outcome
        .findings
        .iter()
        .any(crate::diagnose::Finding::is_error);
    for finding in outcome.findings {
        run.finding(finding);
    }
    if !has_error_finding
        && let Some(step) = outcome.steps.iter().find(|s| s.status == Status::Fail)
    {
        anyhow::bail!("{} failed: {}", step.name, step.summary);
    }
    for line in outcome.text {
        run.text(line);
    }
    Ok(run.finish())
}

async fn mint_token(args: &TokenArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    let mut run = ctx.reporter.run("token");
    let Some((ctx, _lock)) = &crate::commands::preflight::prepare_context(ctx, &mut run).await?
    else {
        return Ok(run.finish());
    };
    let settings = &ctx.settings;
    let up = UpArgs {
        no_pull: false,
        wait_timeout: 60,
    };
    if !crate::stack::ensure_up(settings, &up, &mut run, false).await? {
        return Ok(run.finish());
    }
    let mut flow = Flow::new(
        settings,
        ctx.reporter,
        settings.dials_embedded_echo(),
        false,
    )?;
    if !flow.discover(&mut run).await {
        return Ok(run.finish());
    }
    // For a server you dial, the scope is the one `verify` asks for: its scopes_supported, unless
    // one is named; reading them is the same metadata step (so the same resource is ensured).
    if !settings.dials_embedded_echo()
        && args.resource.is_none()
        && args.scope.is_none()
        && !settings.scope_given()
        && !flow.read_server_metadata(&mut run, false).await
    {
        return Ok(run.finish());
    }
    // With --resource the user names a resource registered elsewhere; only the configured one is
    // ensured here.
    if args.resource.is_none() && flow.ensure_resource(&mut run, false).await.is_none() {
        return Ok(run.finish());
    }
    let extra: Vec<String> = args.scope.iter().cloned().collect();
    let Some(client) = flow.ensure_client(&mut run, &extra).await else {
        return Ok(run.finish());
    };
    let scope = args.scope.clone().unwrap_or_else(|| flow.scope.clone());
    let resource = args
        .resource
        .clone()
        .unwrap_or_else(|| settings.resource_uri.clone());
    let Some(minted) = flow
        .mint(
            &mut run,
            "mint token",
            &client,
            Some(&scope),
            Some(&resource),
        )
        .await
    else {
        return Ok(run.finish());
    };
    let aud = jwt::decode(&minted.access_token)
        .map(|j| j.audiences())
        .unwrap_or_default();
    run.data("access_token", json!(minted.access_token));
    run.data("expires_in", json!(minted.expires_in));
    run.data("scope", json!(minted.scope));
    run.data("aud", json!(aud));
    run.text(minted.access_token);
    Ok(run.finish())
}
