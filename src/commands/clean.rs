//! `clean`: stop every component this tool started (found through its pid file), remove the pid
//! and log files and the backend record, and keep the `.env` and the authorization server's data
//! (`<run_dir>/authserver`, client credentials). `--all` also removes the whole state directory,
//! and the `.env` file when authplane-dev wrote it (its first line is
//! [`config::ENV_FILE_HEADER`]); a `.env` someone else wrote is kept and said so. With Docker
//! answering it also removes this project's containers (the AS's and, from the containers
//! topology, the echo server's), network and echo images; the AS's volume only with `--all`.
//!
//! It holds the run-directory lock throughout, so it never stops servers another run is starting.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::cli::CleanArgs;
use crate::commands::Context;
use crate::config;
use crate::exit::EnvError;
use crate::report::{Outcome, Run};
use crate::stack::{self, process};

/// Runs the command.
pub async fn run(args: &CleanArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    let settings = &ctx.settings;
    let run_dir = &settings.run_dir;
    let mut run = ctx.reporter.run("clean");
    let had_run_dir = run_dir.exists();
    let lock = crate::commands::preflight::take_lock(run_dir, ctx.reporter).await?;
    let mut stopped = Vec::new();
    let mut removed: Vec<PathBuf> = Vec::new();

    // Whatever the backend is now: a developer who switched from docker to embedded still wants
    // the container this project started gone. Only objects labelled with this project are
    // touched; a container or volume of the same name from another directory is left alone.
    if let Ok(docker) = stack::docker::connect().await {
        use stack::docker::Removal;
        let name = &settings.container_name;
        let other = |what: &str, project: &str| {
            format!(
                "left {what} alone: it belongs to another project directory (label {}={project}); \
                 run `authplane-dev clean` there, or remove it with docker",
                stack::docker::PROJECT_LABEL
            )
        };
        remove_echo_container(&docker, name, &mut run, &mut stopped).await?;
        let timer = run.start("remove container");
        match stack::docker::remove_own(&docker, name).await {
            Ok(Removal::Removed) => {
                run.pass(
                    timer,
                    format!("stopped and removed container {name}"),
                    json!({"container": name}),
                );
                stopped.push(json!({"name": "authserver", "container": name}));
            }
            Ok(Removal::Absent) => run.skip(timer, "no container"),
            Ok(Removal::OtherProject(project)) => {
                run.skip(timer, other(&format!("container {name}"), &project));
            }
            Err(e) => {
                run.fail(timer, format!("cannot remove container {name}"), json!({}));
                return Err(e);
            }
        }
        remove_network_and_image(&docker, name, &mut run).await?;
        let volume = stack::docker::volume_name(name);
        let timer = run.start("data volume");
        if args.all {
            match stack::docker::remove_own_volume(&docker, name).await {
                Ok(Removal::Removed) => run.pass(
                    timer,
                    format!("removed volume {volume}"),
                    json!({"volume": volume}),
                ),
                Ok(Removal::Absent) => run.skip(timer, "no volume"),
                Ok(Removal::OtherProject(project)) => {
                    run.skip(timer, other(&format!("volume {volume}"), &project));
                }
                Err(e) => {
                    run.fail(timer, format!("cannot remove volume {volume}"), json!({}));
                    return Err(e);
                }
            }
        } else {
            run.skip(
                timer,
                format!("kept volume {volume} (`clean --all` removes it)"),
            );
        }
    }

    for component in stack::COMPONENTS {
        let timer = run.start(&format!("stop {}", process::title(component)));
        match process::inspect(run_dir, component) {
            process::PidState::Running(pid) => match process::stop(run_dir, component, pid) {
                Ok(how) => {
                    let how = match how {
                        process::Stopped::Terminated => "SIGTERM",
                        process::Stopped::Killed => "SIGKILL after the grace period",
                    };
                    run.pass(
                        timer,
                        format!("stopped (pid {pid}, {how})"),
                        json!({"pid": pid}),
                    );
                    stopped.push(json!({"name": process::name(component), "pid": pid}));
                    removed.push(process::pid_path(run_dir, component));
                }
                Err(e) => {
                    run.fail(timer, format!("cannot stop pid {pid}"), json!({"pid": pid}));
                    return Err(e);
                }
            },
            process::PidState::Stale { pid, reason } => {
                if let Ok(true) = process::remove_pid_file(run_dir, component) {
                    removed.push(process::pid_path(run_dir, component));
                }
                run.pass(
                    timer,
                    format!("was not running; removed a stale pid file ({reason})"),
                    json!({"stale_pid": pid}),
                );
            }
            process::PidState::Missing => run.skip(timer, "not running"),
        }
    }

    let mut kept: Vec<PathBuf> = Vec::new();
    let timer = run.start("remove files");
    let result = if args.all {
        remove_all(run_dir, &settings.env_file, &mut removed, &mut kept)
    } else {
        remove_pid_and_logs(run_dir, &mut removed, &mut kept).map(|()| {
            if settings.env_file.exists() {
                kept.push(settings.env_file.clone());
            }
        })
    };
    if let Err(e) = result {
        run.fail(
            timer,
            "cannot remove every file",
            json!({"removed": removed}),
        );
        return Err(e);
    }
    let mut summary = if removed.is_empty() {
        "nothing to remove".to_owned()
    } else {
        format!("removed {}", display_list(&removed))
    };
    if args.all && !kept.is_empty() {
        let _ = write!(
            summary,
            "; kept {} (not written by authplane-dev)",
            display_list(&kept)
        );
    }
    run.pass(timer, summary, json!({"removed": removed, "kept": kept}));
    if !args.all && !had_run_dir {
        remove_lone_lock(run_dir, lock);
    }
    if !args.all && !kept.is_empty() {
        run.text(format!(
            "kept: {} (`authplane-dev clean --all` removes them too)",
            display_list(&kept)
        ));
    }
    record(&mut run, &stopped, &removed, &kept);
    Ok(run.finish())
}

/// The containers topology's echo container next to AS container `name`, when this project
/// started it (whatever the topology is now). Steps appear only when there is one.
async fn remove_echo_container(
    docker: &stack::docker::Client,
    name: &str,
    run: &mut Run<'_>,
    stopped: &mut Vec<serde_json::Value>,
) -> anyhow::Result<()> {
    use stack::docker::{Removal, echo_container};
    let echo = echo_container::name_for(name);
    let timer = run.start("remove echo container");
    match echo_container::remove_own(docker, name).await {
        Ok(Removal::Removed) => {
            run.pass(
                timer,
                format!("stopped and removed container {echo}"),
                json!({"container": echo}),
            );
            stopped.push(json!({"name": "echo", "container": echo}));
        }
        Ok(Removal::Absent) => run.skip(timer, "no echo container"),
        Ok(Removal::OtherProject(project)) => run.skip(
            timer,
            format!(
                "left container {echo} alone: it belongs to another project directory (label {}={project})",
                stack::docker::PROJECT_LABEL
            ),
        ),
        Err(e) => {
            run.fail(timer, format!("cannot remove container {echo}"), json!({}));
            return Err(e);
        }
    }
    Ok(())
}

/// The containers topology's network (once its containers are gone) and this project's echo
/// images.
async fn remove_network_and_image(
    docker: &stack::docker::Client,
    name: &str,
    run: &mut Run<'_>,
) -> anyhow::Result<()> {
    use stack::docker::{Removal, echo_image, network};
    let net = network::name(name);
    let timer = run.start("remove network");
    match network::remove_own(docker, name).await {
        Ok(Removal::Removed) => run.pass(
            timer,
            format!("removed network {net}"),
            json!({"network": net}),
        ),
        Ok(Removal::Absent) => run.skip(timer, "no network"),
        Ok(Removal::OtherProject(project)) => run.skip(
            timer,
            format!(
                "left network {net} alone: authplane-dev did not create it in this directory (project label {project:?})"
            ),
        ),
        Err(e) => {
            run.fail(timer, format!("cannot remove network {net}"), json!({}));
            return Err(e);
        }
    }
    let timer = run.start("remove echo image");
    match echo_image::remove_own(docker, None).await {
        Ok(pruned) if pruned.removed.is_empty() && pruned.kept.is_empty() => {
            run.skip(timer, "no echo image");
        }
        Ok(pruned) => {
            let mut summary = if pruned.removed.is_empty() {
                String::new()
            } else {
                format!("removed image {}", pruned.removed.join(", "))
            };
            for (tag, why) in &pruned.kept {
                if !summary.is_empty() {
                    summary.push_str("; ");
                }
                let _ = write!(summary, "kept image {tag}: {why}");
            }
            run.pass(
                timer,
                summary,
                json!({"removed": pruned.removed, "kept": pruned.kept}),
            );
        }
        Err(e) => {
            run.fail(timer, "cannot remove the echo image", json!({}));
            return Err(e);
        }
    }
    Ok(())
}

fn record(run: &mut Run<'_>, stopped: &[serde_json::Value], removed: &[PathBuf], kept: &[PathBuf]) {
    run.data("stopped", json!(stopped));
    run.data("removed", json!(removed));
    run.data("kept", json!(kept));
}

fn display_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Removes `<run_dir>/<component>.pid`, `.log` and `.started.json` and the backend record; lists
/// everything else in `run_dir` (but the lock file) as kept.
fn remove_pid_and_logs(
    run_dir: &Path,
    removed: &mut Vec<PathBuf>,
    kept: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let files = stack::COMPONENTS
        .into_iter()
        .flat_map(|c| {
            [
                process::pid_path(run_dir, c),
                process::log_path(run_dir, c),
                stack::started::path(run_dir, c),
            ]
        })
        .chain([
            stack::backend::record_path(run_dir),
            stack::containers::record_path(run_dir),
            stack::docker::echo_image::record_path(run_dir),
        ]);
    for path in files {
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(cannot_remove(&path, &e)),
        }
    }
    if let Ok(entries) = std::fs::read_dir(run_dir) {
        let lock = stack::lock::lock_path(run_dir);
        let mut rest: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| *p != lock)
            .collect();
        rest.sort();
        kept.extend(rest);
    }
    Ok(())
}

/// Removes the whole state directory (the lock file in it too: a run waiting for it locks a new
/// one, see [`stack::lock`]) and the `.env` file when authplane-dev wrote it; a `.env` it did not
/// write goes to `kept`.
fn remove_all(
    run_dir: &Path,
    env_file: &Path,
    removed: &mut Vec<PathBuf>,
    kept: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    // The `.env` first: once the lock file is gone, a new run may start here.
    match config::env_file_written_by_us(env_file) {
        Ok(true) => match std::fs::remove_file(env_file) {
            Ok(()) => removed.push(env_file.to_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(cannot_remove(env_file, &e)),
        },
        Ok(false) => kept.push(env_file.to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(cannot_remove(env_file, &e)),
    }
    match std::fs::remove_dir_all(run_dir) {
        Ok(()) => removed.push(run_dir.to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(cannot_remove(run_dir, &e)),
    }
    Ok(())
}

/// Removes the run directory this `clean` created for its lock when the lock file is still all it
/// holds (a `clean` where nothing ran leaves no trace), releasing the lock; anything else in it
/// keeps both.
fn remove_lone_lock(run_dir: &Path, lock: stack::lock::RunLock) {
    let lock_file = stack::lock::lock_path(run_dir);
    let lone = std::fs::read_dir(run_dir)
        .is_ok_and(|mut entries| entries.all(|e| e.is_ok_and(|e| e.path() == lock_file)));
    if lone {
        // Unlinked while held: a run waiting on it notices and locks a new file.
        let _ = std::fs::remove_file(&lock_file);
        let _ = std::fs::remove_dir(run_dir);
    }
    drop(lock);
}

fn cannot_remove(path: &Path, e: &std::io::Error) -> anyhow::Error {
    EnvError::explained(
        format!("cannot remove {}", path.display()),
        e.to_string(),
        format!(
            "check its permissions and remove it by hand (`rm -r {}`)",
            path.display()
        ),
    )
    .into()
}
