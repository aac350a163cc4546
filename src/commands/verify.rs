//! `verify`: the whole flow, end to end, with a finding for anything that does not match.
//!
//! Steps: bring the stack up (as `up`), AS discovery (issuer checks), the MCP server's metadata
//! read first as an MCP client does (its resource must be the URL dialled; nothing is registered
//! before this), ensure the Mint resource, ensure a client_credentials client (reused from
//! `<run_dir>/client.json` while it still fits), mint with `resource=` and `scope=`, decode and
//! check the token BEFORE using it, the MCP handshake, tools/list and a round trip (`--tool`,
//! else echo, else the tools/list), then negative probes (no token, a token for another resource,
//! a token without the required scope). With `--dpop`
//! the token is minted bound to a fresh key, checked for its binding, sent with a fresh proof per
//! MCP request, and two more probes follow (the bound token as Bearer, a proof for another URL).
//!
//! This file lists the steps and chooses what is skipped after a failure; each step lives in
//! its own module under `steps/`, and the resource / client / mint part is shared with `token`
//! through `steps::Flow`.

use std::sync::Arc;

use serde_json::json;

use crate::cli::{ConsentChoice, Protocol, VerifyArgs, VerifyFlow};
use crate::commands::Context;
use crate::config::Settings;
use crate::flow::dpop::DpopKey;
use crate::flow::mcp::McpClient;
use crate::report::{Outcome, Run};
use crate::steps::Flow;
use crate::steps::PROBE_SCOPE;
use crate::steps::dpop::DPOP_PROBE_STEPS;
use crate::steps::mcp::{Era, ToolChoice, call_step_name, exercise_mcp};
use crate::steps::metadata;
use crate::steps::probe::{PROBE_STEPS, probe_no_token};
use crate::steps::probe_revoked::PROBE_REVOKED;

/// Runs the command (`--flow auth-code`: `verify_authcode`).
pub async fn run(args: &VerifyArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    check_flow_flags(args)?;
    if args.flow == VerifyFlow::AuthCode {
        return crate::commands::verify_authcode::run(args, ctx).await;
    }
    let mut run = ctx.reporter.run("verify");
    let Some((ctx, _lock)) = &crate::commands::preflight::prepare_context(ctx, &mut run).await?
    else {
        return Ok(run.finish());
    };
    let settings = &ctx.settings;
    let with_echo = settings.dials_embedded_echo();
    if !crate::stack::ensure_up(settings, &args.up, &mut run, with_echo).await? {
        return Ok(run.finish());
    }
    let mut flow = Flow::new(settings, ctx.reporter, with_echo, true)?;
    if args.dpop {
        flow.dpop = Some(Arc::new(DpopKey::generate()?));
    }
    if !flow.discover(&mut run).await {
        return Ok(run.finish());
    }
    if !flow.read_server_metadata(&mut run, with_echo).await {
        // An MCP client stops here too: nothing is registered for a server that does not answer
        // or announces another resource than the URL dialled.
        let mut rest = vec!["resource URI".to_owned()];
        rest.extend(registration_step_names(&settings.resource_slug, args));
        rest.extend(mcp_step_names(args, settings));
        skip_steps(
            &mut run,
            &rest,
            &format!("skipped: see the {} finding above", metadata::STEP),
        );
        return Ok(run.finish());
    }
    if !flow.check_resource_uri(&mut run) {
        // Registering or patching the resource with this URI would spread the mistake (and
        // `--fix` would "repair" a correct registration), so nothing more is done.
        let mut rest = registration_step_names(&settings.resource_slug, args);
        rest.extend(mcp_step_names(args, settings));
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
    let scope = flow.scope.clone();
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
        if args.dpop {
            skip_steps(
                &mut run,
                &["DPoP binding".to_owned()],
                "skipped: the token would be refused",
            );
        }
        skip_steps(
            &mut run,
            &mcp_step_names(args, settings),
            "skipped: the token would be refused (see the findings above)",
        );
        return Ok(run.finish());
    }
    if !flow.check_dpop_binding(&mut run, &minted) {
        skip_steps(
            &mut run,
            &mcp_step_names(args, settings),
            "skipped: the token is not DPoP-bound (see the finding above)",
        );
        return Ok(run.finish());
    }

    let http = flow.http.clone();
    let mut mcp = McpClient::new(http.clone(), &settings.mcp_url, Some(&minted.access_token));
    if let Some(key) = &flow.dpop {
        mcp = mcp.with_dpop(key.clone());
    }
    let choice = ToolChoice {
        tool: args.tool.clone(),
        args: args.args.clone(),
    };
    let Some(exercised) = exercise_mcp(&mut run, &mcp, args.protocol, &choice).await else {
        if !args.no_probes {
            for name in probe_names(args, settings) {
                let t = run.start(name);
                run.skip(t, "skipped: the MCP round trip failed");
            }
        }
        return Ok(run.finish());
    };
    let era = exercised.era;
    run.data("protocol_era", json!(era.name()));

    if args.no_probes {
        for name in probe_names(args, settings) {
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
            flow.probe_missing_scope(&mut run, &client, &exercised)
                .await;
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
        if args.dpop {
            flow.probe_dpop_as_bearer(&mut run, &minted.access_token, era)
                .await;
            flow.probe_dpop_other_htu(&mut run, &minted.access_token, era)
                .await;
        }
        if settings.echo_revocation {
            flow.probe_revoked_token(&mut run, &client, era).await;
        }
    }
    Ok(run.finish())
}

/// Refuses (a usage error, exit 2, before anything starts) flags that belong to the other flow.
fn check_flow_flags(args: &VerifyArgs) -> Result<(), clap::Error> {
    let interactive_only = [
        (args.browser, "--browser"),
        (args.redirect_uri.is_some(), "--redirect-uri"),
        (!args.omit.is_empty(), "--omit"),
        (args.consent == ConsentChoice::Deny, "--consent deny"),
    ];
    let conflict = match args.flow {
        VerifyFlow::ClientCredentials => {
            interactive_only
                .iter()
                .find(|(set, _)| *set)
                .map(|(_, flag)| {
                    format!("{flag} applies to the interactive flow only; add --flow auth-code")
                })
        }
        VerifyFlow::AuthCode => args.dpop.then(|| {
            "--dpop is not supported with --flow auth-code yet; drop one of them".to_owned()
        }),
    };
    match conflict {
        Some(message) => {
            Err(crate::cli::command().error(clap::error::ErrorKind::ArgumentConflict, message))
        }
        None => Ok(()),
    }
}

/// The names of the steps from the registration to the token check (to mark them skipped).
fn registration_step_names(slug: &str, args: &VerifyArgs) -> Vec<String> {
    let mut names = vec![
        format!("resource {slug}"),
        "client".to_owned(),
        "mint token".to_owned(),
        "check token".to_owned(),
    ];
    if args.dpop {
        names.push("DPoP binding".to_owned());
    }
    names
}

/// The probe steps these flags run.
fn probe_names(args: &VerifyArgs, settings: &Settings) -> Vec<&'static str> {
    let mut names = PROBE_STEPS.to_vec();
    if args.dpop {
        names.extend(DPOP_PROBE_STEPS);
    }
    if settings.echo_revocation {
        names.push(PROBE_REVOKED);
    }
    names
}

/// The names of the MCP and probe steps for these flags (to mark them skipped).
fn mcp_step_names(args: &VerifyArgs, settings: &Settings) -> Vec<String> {
    let tool = args.tool.as_deref().unwrap_or(crate::flow::mcp::ECHO_TOOL);
    let mut names: Vec<String> = match args.protocol {
        Protocol::Legacy => vec![
            "MCP initialize".into(),
            "notifications/initialized".into(),
            "tools/list".into(),
            call_step_name(tool, Era::Session),
        ],
        Protocol::Stateless => vec![
            "tools/list (stateless)".into(),
            call_step_name(tool, Era::Stateless),
        ],
        Protocol::Auto => vec!["protocol era".into()],
    };
    names.extend(probe_names(args, settings).iter().map(|s| (*s).to_owned()));
    names
}

fn skip_steps(run: &mut Run<'_>, names: &[String], why: &str) {
    for name in names {
        // "resource <slug>" has the stable id "resource" (steps::resource).
        let t = if name.starts_with("resource ") {
            run.start_step("resource", name)
        } else {
            run.start(name)
        };
        run.skip(t, why);
    }
}
