//! The pre-flight every acting verb (`up`, `verify`, `token`) runs before anything else: the
//! configuration rules doctor reports ([`crate::diagnose::config`]), then the run-directory lock
//! ([`crate::stack::lock`]), then the `.env` written or completed. Not a verb of its own; a step
//! the verbs share.
//!
//! An error-level finding stops the verb here, before it waits for the lock, starts a process or
//! container, calls the admin API or waits for anything: the run is marked refused (exit 2) and
//! carries the same findings doctor would print. Past the rules, the verb holds the lock until it
//! ends, so the `.env` is written, and servers, registrations and pid files are made, by one run
//! at a time.

use serde_json::json;

use crate::commands::Context;
use crate::config::{self, Settings};
use crate::diagnose::config as rules;
use crate::report::{Reporter, Run};
use crate::stack::lock::RunLock;

/// What the configuration rules are checked against when a secret is unset: the pre-flight
/// generates it into `.env` before anything starts, so "unset" is not a problem here.
const PLACEHOLDER_SECRET: &str = "placeholder-for-a-secret-generated-before-start";

/// What an acting verb goes on with once the pre-flight passed.
#[derive(Debug)]
pub struct Prepared {
    /// The settings to act on, including what the pre-flight wrote into `.env`.
    pub settings: Settings,
    /// The run-directory lock, held until this is dropped (keep it for the whole verb).
    pub lock: RunLock,
}

/// Checks the configuration, takes the run-directory lock (waiting for another run in this
/// directory) and writes or completes `.env`. Returns the settings to act on with the lock, or
/// `None` when a rule found an error (the run is then refused: exit 2, nothing started, no wait).
pub async fn prepare(ctx: &Context<'_>, run: &mut Run<'_>) -> anyhow::Result<Option<Prepared>> {
    let mut settings = ctx.settings.clone();
    settings.use_dialled_resource();
    if !check(&settings, run) {
        return Ok(None);
    }
    let lock = take_lock(&settings.run_dir, ctx.reporter).await?;
    // Read again under the lock: a run we waited for (or one that ended just before) may have
    // written the `.env` since the settings were resolved, and its secrets are the stack's.
    let mut settings = settings.reload()?;
    settings.use_dialled_resource();
    let settings = match complete_env_file(&settings, run)? {
        Some(mut completed) => {
            completed.use_dialled_resource();
            completed
        }
        None => settings,
    };
    for secret in [
        &settings.admin_api_key,
        &settings.session_secret,
        &settings.dev_user_password,
    ]
    .into_iter()
    .flatten()
    {
        ctx.reporter.secret(secret);
    }
    Ok(Some(Prepared { settings, lock }))
}

/// Takes the run-directory lock, saying on stderr (in every output mode) when another run makes
/// this one wait.
pub async fn take_lock(run_dir: &std::path::Path, reporter: &Reporter) -> anyhow::Result<RunLock> {
    RunLock::acquire(run_dir, |holder| {
        let pid = holder.map_or_else(String::new, |pid| format!(" (pid {pid})"));
        reporter.progress(&format!(
            "waiting for another authplane-dev in this directory{pid}"
        ));
    })
    .await
}

/// [`prepare`], as the context the verb continues with (its settings include what `.env` gained)
/// and the run-directory lock to hold until the verb ends; `None` when the configuration was
/// refused.
pub async fn prepare_context<'r>(
    ctx: &Context<'r>,
    run: &mut Run<'_>,
) -> anyhow::Result<Option<(Context<'r>, RunLock)>> {
    Ok(prepare(ctx, run).await?.map(|prepared| {
        (
            Context {
                settings: prepared.settings,
                reporter: ctx.reporter,
            },
            prepared.lock,
        )
    }))
}

/// Records the "configuration" step: every rule, by id, and the findings. False (and the run
/// refused) when a rule found an error.
fn check(settings: &Settings, run: &mut Run<'_>) -> bool {
    let t = run.start("configuration");
    let mut as_completed = settings.clone();
    for secret in [
        &mut as_completed.admin_api_key,
        &mut as_completed.session_secret,
    ] {
        if secret.is_none() {
            *secret = Some(PLACEHOLDER_SECRET.to_owned());
        }
    }
    let results = rules::check(&as_completed);
    let detail = json!({
        "env_file": settings.env_file.display().to_string(),
        "rules": results
            .iter()
            .map(|(rule, findings)| json!({
                "id": rule.id,
                "ok": !findings.iter().any(crate::diagnose::Finding::is_error),
                "findings": findings.iter().map(|f| f.code).collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>(),
    });
    let findings: Vec<_> = results.into_iter().flat_map(|(_, f)| f).collect();
    let errors = findings.iter().filter(|f| f.is_error()).count();
    let checked = rules::RULES.len();
    if errors > 0 {
        run.fail(
            t,
            format!("{errors} of the {checked} configuration rules failed; nothing was started"),
            detail,
        );
    } else if findings.is_empty() {
        run.pass(
            t,
            format!("{checked} rules passed ({})", settings.env_file.display()),
            detail,
        );
    } else {
        run.warn(
            t,
            format!("{checked} rules passed with {} warning(s)", findings.len()),
            detail,
        );
    }
    for finding in findings {
        run.finding(finding);
    }
    if errors > 0 {
        run.refuse();
    }
    errors == 0
}

/// Writes the first `.env`, or appends the secrets an existing one lacks; records a ".env" step
/// when it changed anything. Returns the settings read again when it did.
fn complete_env_file(settings: &Settings, run: &mut Run<'_>) -> anyhow::Result<Option<Settings>> {
    let path = &settings.env_file;
    let t = run.start(".env");
    let written = config::write_initial_env_file(path, settings);
    let summary = match written {
        Ok(true) => format!(
            "{} written (0600): ports, URLs, scopes, a fresh admin key and session secret, and \
             the dev user",
            path.display()
        ),
        Ok(false) => match config::append_missing_secrets(path, settings) {
            Ok(appended) if appended.is_empty() => {
                run.pass(
                    t,
                    format!("using {}", path.display()),
                    json!({"env_file": path.display().to_string(), "changed": false}),
                );
                return Ok(None);
            }
            Ok(appended) => format!(
                "appended a fresh {} to {} (your lines are unchanged; mode 0600)",
                appended.join(" and "),
                path.display()
            ),
            Err(e) => return Err(cannot_write(run, t, path, &e.to_string())),
        },
        Err(e) => return Err(cannot_write(run, t, path, &e.to_string())),
    };
    run.pass(
        t,
        summary,
        json!({"env_file": path.display().to_string(), "changed": true}),
    );
    Ok(Some(settings.reload()?))
}

fn cannot_write(
    run: &mut Run<'_>,
    t: crate::report::StepTimer,
    path: &std::path::Path,
    error: &str,
) -> anyhow::Error {
    run.fail(
        t,
        format!("cannot write {}", path.display()),
        json!({"env_file": path.display().to_string(), "error": error}),
    );
    crate::exit::EnvError::explained(
        format!("cannot write {}", path.display()),
        error.to_owned(),
        "check the permissions of the file and its directory, or pass --env-file PATH",
    )
    .into()
}
