//! `verify`: the whole flow, end to end, with a finding for anything that does not match.
//!
//! Steps: bring the stack up (as `up`), AS discovery (issuer checks), ensure the Mint resource,
//! ensure a client_credentials client (reused from `<run_dir>/client.json` while it still fits),
//! mint with `resource=` and `scope=`, decode and check the token BEFORE using it, the MCP
//! handshake and an echo round trip (session era, stateless era, or auto), then negative probes
//! (no token, a token for another resource, a token without the required scope). With `--dpop`
//! the token is minted bound to a fresh key, checked for its binding, sent with a fresh proof per
//! MCP request, and two more probes follow (the bound token as Bearer, a proof for another URL).
//!
//! This file lists the steps and chooses what is skipped after a failure; each step lives in
//! its own module under `steps/`, and the resource / client / mint part is shared with `token`
//! through `steps::Flow`.

use std::sync::Arc;

use serde_json::json;

use crate::cli::{Protocol, VerifyArgs};
use crate::commands::Context;
use crate::config::Settings;
use crate::flow::dpop::DpopKey;
use crate::flow::mcp::McpClient;
use crate::report::{Outcome, Run};
use crate::steps::Flow;
use crate::steps::PROBE_SCOPE;
use crate::steps::dpop::DPOP_PROBE_STEPS;
use crate::steps::mcp::exercise_mcp;
use crate::steps::probe::{PROBE_STEPS, probe_no_token};
use crate::steps::probe_revoked::PROBE_REVOKED;

/// Runs the command.
pub async fn run(args: &VerifyArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
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
    if !flow.check_resource_uri(&mut run) {
        // Registering or patching the resource with this URI would spread the mistake (and
        // `--fix` would "repair" a correct registration), so nothing more is done.
        let mut rest = vec![
            format!("resource {}", settings.resource_slug),
            "client".to_owned(),
            "mint token".to_owned(),
            "check token".to_owned(),
        ];
        if args.dpop {
            rest.push("DPoP binding".to_owned());
        }
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
            for name in probe_names(args, settings) {
                let t = run.start(name);
                run.skip(t, "skipped: the MCP round trip failed");
            }
        }
        return Ok(run.finish());
    };
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
    let mut names: Vec<String> = match args.protocol {
        Protocol::Legacy => vec![
            "MCP initialize".into(),
            "notifications/initialized".into(),
            "tools/call echo".into(),
        ],
        Protocol::Stateless => vec!["tools/call echo (stateless)".into()],
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
