//! `verify --flow auth-code`: the CLI as a spec-following interactive MCP client. Steps: the
//! configuration check and the stack (as `verify`), "MCP metadata" (an unauthenticated request,
//! its 401 and the Protected Resource Metadata it names), "AS discovery" (the AS the metadata
//! names), "authorization endpoints", the resource registered as `verify` does, "client
//! registration" (dynamic, public, loopback redirect URI), "authorize" / "login" / "consent"
//! (headless) or "browser" (`--browser`), "authorization response" (state, iss, code), "code
//! exchange" (PKCE verifier), "check token", the MCP round trip with the user's token, "refresh",
//! "MCP call (refreshed token)", "refresh token replay", and "probe: authorize without PKCE".
//!
//! This file lists the steps and what is skipped after a failure; the steps live in
//! `steps::authcode*`.

use serde_json::json;

use crate::cli::{ConsentChoice, Omit, Protocol, VerifyArgs};
use crate::commands::Context;
use crate::config::var;
use crate::diagnose::authcode::Omitted;
use crate::diagnose::{Code, Finding};
use crate::flow::authcode::{Pkce, random_state};
use crate::flow::browser::Browser;
use crate::flow::loopback::Loopback;
use crate::flow::mcp::McpClient;
use crate::report::{Outcome, Run};
use crate::steps::Flow;
use crate::steps::authcode::{
    AuthCodeOptions, CALLBACK_PATH, HEADLESS_STEPS, Interactive, PKCE_PROBE, loopback_redirect_uri,
};
use crate::steps::authcode_browser::BROWSER_TIMEOUT;
use crate::steps::authcode_tokens::REFRESH_STEPS;
use crate::steps::mcp::{Era, ToolChoice, call_step_name, exercise_mcp};
use crate::steps::metadata;

/// The options of the interactive flow, from the flags.
pub fn options(args: &VerifyArgs) -> AuthCodeOptions {
    AuthCodeOptions {
        browser: args.browser,
        redirect_uri: args.redirect_uri.clone(),
        omitted: Omitted {
            pkce: args.omit.contains(&Omit::Pkce),
            resource: args.omit.contains(&Omit::Resource),
        },
        deny_consent: args.consent == ConsentChoice::Deny,
    }
}

/// Runs `verify --flow auth-code`.
pub async fn run(args: &VerifyArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    let options = options(args);
    let mut run = ctx.reporter.run("verify");
    let Some((ctx, _lock)) = &crate::commands::preflight::prepare_context(ctx, &mut run).await?
    else {
        return Ok(run.finish());
    };
    let settings = &ctx.settings;
    if !options.browser && !dev_user_ready(settings, &mut run) {
        return Ok(run.finish());
    }
    let with_echo = settings.dials_embedded_echo();
    if !crate::stack::ensure_up(settings, &args.up, &mut run, with_echo).await? {
        return Ok(run.finish());
    }
    run.data("flow", json!("auth-code"));
    let plan = plan(args, &settings.resource_slug);
    let mut flow = Flow::new(settings, ctx.reporter, with_echo, true)?;

    // An MCP client starts at the server: its 401 names the metadata, which names the AS.
    if !flow.read_server_metadata(&mut run, with_echo).await {
        skip_rest(
            &mut run,
            &plan,
            &format!("skipped: see the {} finding above", metadata::STEP),
        );
        return Ok(run.finish());
    }
    if !flow.discover(&mut run).await {
        skip_rest(&mut run, &plan, "skipped: the AS did not answer");
        return Ok(run.finish());
    }
    let Some(endpoints) = flow.check_interactive_support(&mut run) else {
        skip_rest(
            &mut run,
            &plan,
            "skipped: the AS does not offer the interactive flow",
        );
        return Ok(run.finish());
    };
    if !flow.check_resource_uri(&mut run) {
        skip_rest(
            &mut run,
            &plan,
            "skipped: fix the resource URI first (see the finding above)",
        );
        return Ok(run.finish());
    }
    if flow.ensure_resource(&mut run, args.fix).await.is_none() {
        skip_rest(&mut run, &plan, "skipped: the resource is not registered");
        return Ok(run.finish());
    }

    // The redirect URI names a port this run holds, so nothing else can take the code even if a
    // browser followed the redirect; `--browser` waits on it.
    let loopback = Loopback::bind(CALLBACK_PATH).await?;
    let redirect_uri = options
        .redirect_uri
        .clone()
        .unwrap_or_else(|| loopback_redirect_uri(loopback.port()));
    let Some(registered) = flow
        .register_public_client(&mut run, &endpoints, &redirect_uri)
        .await
    else {
        skip_rest(&mut run, &plan, "skipped: no client registered");
        return Ok(run.finish());
    };
    let mut ia = Interactive {
        endpoints,
        client_id: registered.client_id,
        redirect_uri,
        pkce: Pkce::generate(),
        state: random_state(),
        browser: Browser::new(flow.http.clone()),
        omitted: options.omitted,
    };
    let response = if options.browser {
        flow.authorize_in_browser(&mut run, &ia, &loopback, BROWSER_TIMEOUT)
            .await
    } else {
        flow.authorize_headless(&mut run, &mut ia, options.deny_consent)
            .await
    };
    let Some(response) = response else {
        skip_rest(
            &mut run,
            &plan,
            "skipped: no authorization (see the finding above)",
        );
        return Ok(run.finish());
    };
    let Some(code) = flow.check_authorization_response(&mut run, &ia, &response) else {
        skip_rest(
            &mut run,
            &plan,
            "skipped: the authorization response is refused",
        );
        return Ok(run.finish());
    };
    let Some(tokens) = flow.exchange_code(&mut run, &ia, &code).await else {
        skip_rest(&mut run, &plan, "skipped: no token");
        return Ok(run.finish());
    };
    if !flow.check_token(&mut run, &tokens.access_token) {
        skip_rest(
            &mut run,
            &plan,
            "skipped: the token would be refused (see the findings above)",
        );
        return Ok(run.finish());
    }
    let mcp = McpClient::new(
        flow.http.clone(),
        &settings.mcp_url,
        Some(&tokens.access_token),
    );
    let choice = ToolChoice {
        tool: args.tool.clone(),
        args: args.args.clone(),
    };
    let Some(exercised) = exercise_mcp(&mut run, &mcp, args.protocol, &choice).await else {
        skip_rest(&mut run, &plan, "skipped: the MCP round trip failed");
        return Ok(run.finish());
    };
    run.data("protocol_era", json!(exercised.era.name()));
    if let Some(new) = flow.refresh_tokens(&mut run, &ia, &tokens).await {
        flow.call_with_refreshed(&mut run, &new.access_token, &exercised)
            .await;
        if let Some(used) = &tokens.refresh_token {
            flow.replay_refresh(&mut run, &ia, used).await;
        }
    }
    if args.no_probes {
        skip_rest(&mut run, &plan, "skipped (--no-probes)");
    } else if options.browser {
        skip_rest(
            &mut run,
            &plan,
            "skipped: the browser's session is not ours to use",
        );
    } else if options.omitted.pkce {
        skip_rest(
            &mut run,
            &plan,
            "skipped: this run sent no PKCE already (--omit pkce)",
        );
    } else {
        flow.probe_authorize_without_pkce(&mut run, &mut ia).await;
    }
    skip_rest(&mut run, &plan, "skipped: see the findings above");
    Ok(run.finish())
}

/// Check before acting: the headless flow logs in as the dev user, so both of its variables must
/// be set before anything starts; otherwise the run is refused (exit 2) with the fix.
fn dev_user_ready(settings: &crate::config::Settings, run: &mut Run<'_>) -> bool {
    // The email has a default (the one `up` creates); the password has none.
    if settings.dev_user_password.is_some() {
        return true;
    }
    let unset = [var::DEV_USER_PASSWORD];
    let t = run.start("dev user");
    run.fail(
        t,
        format!("{} is empty or not set", unset.join(" and ")),
        json!({"unset": unset}),
    );
    run.finding(
        Finding::error(
            Code::ConfigInvalid,
            format!(
                "`verify --flow auth-code` logs in as the dev user, but {} is empty or not set",
                unset.join(" and ")
            ),
            format!(
                "set {} and {} to a user of the AS (`authplane-dev up` writes both to .env and creates that user; an empty value in the environment overrides .env) — or log in yourself with `--browser`",
                var::DEV_USER_EMAIL,
                var::DEV_USER_PASSWORD
            ),
        )
        .compare("a password", "(empty or unset)"),
    );
    run.refuse();
    false
}

/// Every step these flags run after the stack is up, in order (to mark the rest skipped).
fn plan(args: &VerifyArgs, slug: &str) -> Vec<String> {
    let mut names: Vec<String> = [
        metadata::STEP,
        "AS discovery",
        "authorization endpoints",
        "resource URI",
    ]
    .map(str::to_owned)
    .to_vec();
    names.push(format!("resource {slug}"));
    names.push("client registration".to_owned());
    if args.browser {
        names.push("browser".to_owned());
    } else {
        names.extend(HEADLESS_STEPS.map(str::to_owned));
    }
    names.extend(["authorization response", "code exchange", "check token"].map(str::to_owned));
    let tool = args.tool.as_deref().unwrap_or(crate::flow::mcp::ECHO_TOOL);
    match args.protocol {
        Protocol::Legacy => names.extend([
            "MCP initialize".to_owned(),
            "notifications/initialized".to_owned(),
            "tools/list".to_owned(),
            call_step_name(tool, Era::Session),
        ]),
        Protocol::Stateless => names.extend([
            "tools/list (stateless)".to_owned(),
            call_step_name(tool, Era::Stateless),
        ]),
        Protocol::Auto => names.push("protocol era".to_owned()),
    }
    names.extend(REFRESH_STEPS.map(str::to_owned));
    names.push(PKCE_PROBE.to_owned());
    names
}

/// Marks every planned step not recorded yet as skipped, with `why`.
fn skip_rest(run: &mut Run<'_>, plan: &[String], why: &str) {
    for name in plan {
        if run.has_step(name) {
            continue;
        }
        // "resource <slug>" has the stable id "resource" (steps::resource).
        let t = if name.starts_with("resource ") && name != "resource URI" {
            run.start_step("resource", name)
        } else {
            run.start(name)
        };
        run.skip(t, why);
    }
}
