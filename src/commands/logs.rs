//! `logs [component] [-n N] [-f]`: the last lines of each component's log under a
//! `=== name ===` header; `-f` keeps printing appended lines until Ctrl-C. Every line goes through
//! the reporter, which redacts secrets.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::cli::{Component, LogsArgs};
use crate::commands::Context;
use crate::exit::ConfigError;
use crate::report::{Outcome, Reporter};
use crate::stack::{self, health, process};

/// How often `-f` looks for new data.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Runs the command.
pub async fn run(args: &LogsArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    if args.follow && ctx.reporter.json() {
        return Err(ConfigError::Invalid(
            "--follow cannot be combined with --json: --json prints one object at the end, and \
             following never ends. Fix: drop one of the two flags"
                .into(),
        )
        .into());
    }
    let run_dir = &ctx.settings.run_dir;
    let mut components: Vec<Component> = match args.component {
        Some(c) => vec![c],
        None => stack::COMPONENTS.to_vec(),
    };
    let mut run = ctx.reporter.run("logs");
    let mut by_name = serde_json::Map::new();
    let mut offsets = Vec::new();
    // Components that run as our containers: their logs come from the engine, not a file.
    let mut containers = Vec::new();
    for component in components.clone() {
        if let Some((docker, id, name)) = container_of(&ctx.settings, component).await {
            let lines = stack::docker::log_lines(&docker, &id, args.lines).await;
            run.text(format!(
                "=== {} (container {name}) ===",
                process::name(component)
            ));
            for line in &lines {
                run.text(line.clone());
            }
            by_name.insert(process::name(component).to_owned(), json!(lines));
            components.retain(|&c| c != component);
            containers.push((component, docker, id, name));
        }
    }
    for &component in &components {
        let path = process::log_path(run_dir, component);
        // Taken before the tail is read: a line appended in between is shown twice at worst,
        // never lost.
        offsets.push(std::fs::metadata(&path).map_or(0, |m| m.len()));
        let lines = health::tail(&path, args.lines);
        run.text(format!("=== {} ===", process::name(component)));
        if !path.exists() {
            run.text(format!(
                "(no log yet: {} is written when `authplane-dev up` starts it)",
                path.display()
            ));
        }
        for line in &lines {
            run.text(line.clone());
        }
        by_name.insert(process::name(component).to_owned(), json!(lines));
    }
    run.data("logs", serde_json::Value::Object(by_name));
    let outcome = run.finish();
    if !args.follow {
        return Ok(outcome);
    }
    // Ctrl-C and SIGTERM are caught from here on (registered before anything is shown, so a
    // signal right after the first lines still ends the command cleanly with exit 0).
    let interrupt = stop_signal()?;
    // Print the tails now, then stream; the returned outcome carries nothing more to print.
    for line in &outcome.text {
        ctx.reporter.line(line);
    }
    if containers.is_empty() {
        follow(ctx.reporter, run_dir, &components, &offsets, interrupt).await;
        return Ok(Outcome::new("logs"));
    }
    let prefix = components.len() + containers.len() > 1;
    let reporter = ctx.reporter;
    let streams =
        futures_util::future::join_all(containers.iter().map(|(component, docker, id, _)| {
            stack::docker::follow_logs(docker, id, move |line| {
                if prefix {
                    reporter.line(&format!("[{}] {line}", process::name(*component)));
                } else {
                    reporter.line(&line);
                }
            })
        }));
    tokio::select! {
        () = follow(ctx.reporter, run_dir, &components, &offsets, interrupt) => {}
        _ = streams => ctx.reporter.note(&format!(
            "container {} stopped: no more log lines to follow",
            containers
                .iter()
                .map(|(_, _, _, name)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    Ok(Outcome::new("logs"))
}

/// Completes on the first Ctrl-C (SIGINT) or SIGTERM.
#[cfg(unix)]
fn stop_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let watch = |kind: SignalKind, what: &str| {
        signal(kind)
            .map_err(|e| anyhow::anyhow!("cannot watch for {what} while following logs: {e}"))
    };
    let mut interrupt = watch(SignalKind::interrupt(), "Ctrl-C")?;
    let mut terminate = watch(SignalKind::terminate(), "SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Completes on the first Ctrl-C (the only stop request without Unix signals).
#[cfg(not(unix))]
fn stop_signal() -> anyhow::Result<impl Future<Output = ()>> {
    let mut interrupt = tokio::signal::windows::ctrl_c()
        .map_err(|e| anyhow::anyhow!("cannot watch for Ctrl-C while following logs: {e}"))?;
    Ok(async move {
        interrupt.recv().await;
    })
}

/// Prints lines appended to the logs (after `offsets`, one per component) until Ctrl-C or SIGTERM; each line is prefixed with its component when
/// more than one log is followed.
async fn follow(
    reporter: &Reporter,
    run_dir: &Path,
    components: &[Component],
    offsets: &[u64],
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut files: BTreeMap<&'static str, Followed> = components
        .iter()
        .zip(offsets)
        .map(|(&c, &offset)| {
            let path = process::log_path(run_dir, c);
            (
                process::name(c),
                Followed {
                    path,
                    offset,
                    partial: String::new(),
                },
            )
        })
        .collect();
    let prefix = components.len() > 1;
    loop {
        for (name, file) in &mut files {
            for line in file.read_new_lines() {
                if prefix {
                    reporter.line(&format!("[{name}] {line}"));
                } else {
                    reporter.line(&line);
                }
            }
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(FOLLOW_POLL) => {}
        }
    }
}

struct Followed {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl Followed {
    /// Complete lines appended since the last call. A file that shrank (removed by `clean`,
    /// recreated by `up`) is read again from the start.
    fn read_new_lines(&mut self) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let len = file.metadata().map_or(0, |m| m.len());
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset || file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut bytes = Vec::new();
        if file.read_to_end(&mut bytes).is_err() {
            return Vec::new();
        }
        self.offset += bytes.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&bytes));
        let mut lines = Vec::new();
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            lines.push(line.trim_end_matches(['\n', '\r']).to_owned());
        }
        lines
    }
}

/// The Docker client, container id and name when `component` runs as our container: the AS in
/// the Docker backend, the echo server in the containers topology.
async fn container_of(
    settings: &crate::config::Settings,
    component: Component,
) -> Option<(stack::docker::Client, String, String)> {
    match component {
        Component::Authserver => {
            let (docker, found) = stack::docker::configured_container(settings).await?;
            Some((docker, found.id?, settings.container_name.clone()))
        }
        Component::Echo => {
            let (docker, found) = stack::docker::echo_container::configured(settings).await?;
            Some((
                docker,
                found.id?,
                stack::docker::echo_container::name(settings),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followed_file_yields_complete_appended_lines_and_survives_truncation() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "old\n").unwrap();
        let mut f = Followed {
            path: path.clone(),
            offset: 4,
            partial: String::new(),
        };
        assert!(f.read_new_lines().is_empty());
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        write!(w, "one\ntw").unwrap();
        assert_eq!(f.read_new_lines(), vec!["one"]);
        writeln!(w, "o").unwrap();
        assert_eq!(f.read_new_lines(), vec!["two"]);
        std::fs::write(&path, "new\n").unwrap();
        assert_eq!(f.read_new_lines(), vec!["new"]);
    }
}
