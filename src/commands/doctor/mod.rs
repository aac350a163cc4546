//! `doctor`: grouped, read-only checks of the environment, the configuration (offline) and the
//! running stack (live). Steps are named `<group>: <check>`; every failure carries a [`Finding`].
//! doctor never starts, registers or changes anything.
//!
//! The environment group is here; the configuration rules (pure, unit-tested) are in `config`,
//! the live checks in `live`.

use serde_json::json;

use crate::cli::DoctorArgs;
use crate::commands::Context;
use crate::config::{Backend, Settings};
use crate::diagnose::{Code, Finding};
use crate::report::{Outcome, Run};
use crate::stack::{self, docker};

mod live;

pub use live::mcp_metadata;

/// Runs the command.
pub async fn run(args: &DoctorArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    let mut run = ctx.reporter.run("doctor");
    // The same resource URI verify would mint for (the dialled URL for your own server).
    let mut settings = ctx.settings.clone();
    settings.use_dialled_resource();
    let settings = &settings;
    environment(&mut run, settings).await;
    configuration(&mut run, settings);
    if args.offline {
        let t = run.start("live: stack");
        run.skip(t, "skipped: --offline");
    } else {
        live::live(&mut run, settings).await?;
    }
    Ok(run.finish())
}

/// Records every configuration rule (the ones each acting verb checks first) as one step.
fn configuration(run: &mut Run<'_>, settings: &Settings) {
    for (rule, findings) in crate::diagnose::config::check(settings) {
        let name = format!("configuration: {}", rule.name);
        record(run, &name, rule.ok, findings);
    }
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

/// The Docker daemon, when the configured backend may use it (and whether our container runs).
async fn docker_daemon(run: &mut Run<'_>, settings: &Settings) {
    let t = run.start("environment: Docker");
    if settings.backend == Backend::Embedded {
        run.skip(t, "not used: the embedded backend is selected");
        return;
    }
    let docker = match docker::connect().await {
        Ok(docker) => docker,
        // The containers topology runs the AS in Docker whatever `auto` would pick.
        Err(finding)
            if settings.backend == Backend::Auto
                && settings.topology != crate::config::Topology::Containers =>
        {
            run.pass(
                t,
                format!(
                    "not answering; with --as auto, `up` uses the embedded AS ({})",
                    finding.message
                ),
                json!(null),
            );
            return;
        }
        Err(finding) => {
            run.fail(t, finding.message.clone(), json!(null));
            run.finding(finding);
            return;
        }
    };
    let ours = docker::own_running(&docker, &settings.container_name).await;
    let summary = if ours {
        format!(
            "the daemon answers; container {} of this project runs",
            settings.container_name
        )
    } else {
        "the daemon answers".to_owned()
    };
    run.pass(t, summary, json!(null));
}

async fn environment(run: &mut Run<'_>, settings: &Settings) {
    docker_daemon(run, settings).await;
    let findings = stack::foreign_held_ports(settings, true)
        .await
        .into_iter()
        .map(|(_, finding)| finding)
        .collect();
    record(
        run,
        "environment: ports",
        "the stack's ports are free or held by our stack",
        findings,
    );

    let findings = stack::COMPONENTS
        .into_iter()
        .filter_map(|component| {
            let changed = stack::started::stale(settings, component);
            (!changed.is_empty()).then(|| {
                let title = stack::process::title(component);
                Finding::warning(
                    Code::StaleComponent,
                    format!(
                        "the {title} runs with other settings than the configuration: {}",
                        stack::started::describe(&changed)
                    ),
                    "`authplane-dev up` (or verify / token) restarts it with the current configuration",
                )
                .why("checks against a server started with old settings report the old settings' problems")
            })
        })
        .collect();
    record(
        run,
        "environment: running components",
        "every running component was started with the current configuration",
        findings,
    );

    let mut findings = Vec::new();
    // Permission bits only where the platform has them (not Windows).
    let loose_mode = crate::stack::platform::mode(&settings.env_file)
        .and_then(Result::ok)
        .filter(|mode| mode & 0o077 != 0);
    match (std::fs::metadata(&settings.env_file), loose_mode) {
        (Err(_), _) => findings.push(Finding::warning(
            Code::ConfigInvalid,
            format!("{} does not exist", settings.env_file.display()),
            "run `authplane-dev up` once; it writes a .env with fresh secrets",
        )),
        (Ok(_), Some(mode)) => findings.push(
            Finding::warning(
                Code::FilePermissions,
                format!("{} is readable by other users", settings.env_file.display()),
                format!("chmod 600 {}", settings.env_file.display()),
            )
            .compare("600", format!("{mode:o}")),
        ),
        (Ok(_), None) => {}
    }
    record(
        run,
        "environment: .env",
        ".env present, mode 0600",
        findings,
    );
}
