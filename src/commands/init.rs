//! `init`: write a complete `.env` for this directory before anything runs — fresh secrets and
//! every value the stack uses, on the default ports or the three given with `--ports`. The one
//! command that moves all ports at once. Never overwrites: an existing `.env` is the user's.
//! Writing, it holds the run-directory lock like every verb that changes state; a refused run
//! never waits for it.

use serde_json::json;

use crate::cli::InitArgs;
use crate::commands::Context;
use crate::config;
use crate::diagnose::config as rules;
use crate::exit::ConfigError;
use crate::report::Outcome;

/// Runs the command.
pub async fn run(args: &InitArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    let mut run = ctx.reporter.run("init");
    let path = &ctx.settings.env_file;
    if path.exists() {
        return Err(exists(path));
    }
    let settings = match args.ports {
        Some(p) => ctx.settings.on_ports(p.public, p.admin, p.mcp)?,
        None => ctx.settings.clone(),
    };
    let t = run.start("configuration");
    let findings: Vec<_> = rules::check(&settings)
        .into_iter()
        .flat_map(|(_, f)| f)
        .filter(crate::diagnose::Finding::is_error)
        .collect();
    if !findings.is_empty() {
        run.fail(
            t,
            "the ports given break a rule; nothing was written",
            json!(null),
        );
        for f in findings {
            run.finding(f);
        }
        run.refuse();
        return Ok(run.finish());
    }
    run.pass(
        t,
        format!("{} rules passed", rules::RULES.len()),
        json!(null),
    );
    let _lock = crate::commands::preflight::take_lock(&settings.run_dir, ctx.reporter).await?;
    let t = run.start(".env");
    let written = config::write_initial_env_file(path, &settings)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    if !written {
        // Another run wrote it since the check above.
        return Err(exists(path));
    }
    run.pass(
        t,
        format!("{} written (0600) with fresh secrets", path.display()),
        json!({"env_file": path.display().to_string()}),
    );
    run.text(format!(
        "AS:      {} (admin {})",
        settings.server_issuer, settings.admin_url
    ));
    run.text(format!("MCP URL: {}", settings.audience()));
    run.text("next: `authplane-dev verify`".to_owned());
    run.data(
        "endpoints",
        json!({
            "issuer": settings.server_issuer,
            "admin_url": settings.admin_url,
            "mcp_url": settings.audience(),
        }),
    );
    Ok(run.finish())
}

fn exists(path: &std::path::Path) -> anyhow::Error {
    ConfigError::Invalid(format!(
        "{} already exists, and authplane-dev never overwrites a .env. Edit the ports in it \
         (each listener and its URL must agree; `authplane-dev doctor --offline` checks them), or \
         move it away and run `authplane-dev init` again",
        path.display()
    ))
    .into()
}
