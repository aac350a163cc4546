//! The record of the backend a running stack was started with: `<run_dir>/backend` (0600), one
//! word, `embedded` or `docker`.
//!
//! `--as auto` decides once: while the authorization server it chose runs, later runs read this
//! record and keep that backend instead of asking Docker again (no engine call, no pull attempt
//! for a warm `verify`). The record is written by `up`, `verify` and `token` (under the run-
//! directory lock) once the authorization server is up, and removed by `clean`; a record whose
//! server no longer runs is ignored. This module owns the file and never prints.
//!
//! It also makes the choice itself ([`AsBackend::choose`]) for a stack that is not running yet.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::cli::Component;
use crate::config::{Backend, Settings, Source, var};
use crate::diagnose::Finding;
use crate::private_files::{Durability, write_file};
use crate::report::pull::PullEvent;
use crate::stack::docker;
use crate::stack::process::{self, PidState};

/// `<run_dir>/backend`.
pub fn record_path(run_dir: &Path) -> PathBuf {
    run_dir.join("backend")
}

/// The backend recorded in `run_dir`, if any (an unreadable or unknown record counts as none).
pub fn recorded(run_dir: &Path) -> Option<AsBackend> {
    let text = std::fs::read_to_string(record_path(run_dir)).ok()?;
    match text.trim() {
        "embedded" => Some(AsBackend::Embedded),
        "docker" => Some(AsBackend::Docker),
        _ => None,
    }
}

/// Records `backend` as the one the running stack was started with (atomically, mode 0600);
/// does nothing when it is already recorded, so a warm run writes nothing.
pub fn record(run_dir: &Path, backend: AsBackend) -> anyhow::Result<()> {
    if recorded(run_dir) == Some(backend) {
        return Ok(());
    }
    // Not synced: a record lost in a crash only costs one more decision.
    write_file(
        &record_path(run_dir),
        format!("{}\n", backend.name()).as_bytes(),
        Durability::Unsynced,
    )
}

/// The authorization-server backend that actually runs (after `auto` is decided).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AsBackend {
    /// `authplane-dev serve authserver` as a background child process.
    Embedded,
    /// The authserver image as a managed Docker container.
    Docker,
}

/// How [`AsBackend::choose`] decided, for the `backend` step.
pub struct Choice {
    pub backend: AsBackend,
    /// Why, in one short line: the step's summary, which fits a 100-column terminal line.
    pub why: String,
    /// The engine's own words when `auto` fell back to embedded (for the step's JSON detail only:
    /// they run to hundreds of characters).
    pub engine_error: Option<String>,
    /// True when the running stack's recorded backend was kept without asking Docker anew.
    pub kept: bool,
    /// The connected client when the backend is Docker.
    pub docker: Option<docker::Client>,
}

impl Choice {
    fn new(backend: AsBackend, why: String) -> Choice {
        Choice {
            backend,
            why,
            engine_error: None,
            kept: false,
            docker: None,
        }
    }

    /// The `backend` step's JSON detail.
    pub fn detail(&self) -> serde_json::Value {
        let mut detail = json!({"backend": self.backend.name(), "kept": self.kept});
        if let Some(error) = &self.engine_error {
            detail["engine_error"] = json!(error);
        }
        detail
    }
}

impl AsBackend {
    /// Decides the backend for `settings` and says why in one short line; for Docker it also
    /// returns the connected client. With `auto`, a running stack keeps the backend recorded when
    /// it was started ([`recorded`]; no engine call for the embedded one, no pull for
    /// either); otherwise `auto` falls back to embedded when the daemon does not answer or the
    /// image is unavailable, keeping the engine's words for the JSON detail. `docker` turns those
    /// into docker_unreachable / image_unavailable.
    pub async fn choose(
        settings: &Settings,
        no_pull: bool,
        pull_progress: impl FnMut(&PullEvent),
    ) -> Result<Choice, Finding> {
        let source = settings.vars.source(var::DEV_AS);
        let origin = match source {
            Source::Flag => "--as".to_owned(),
            Source::Default => "the default".to_owned(),
            other => format!(
                "{}={} ({other})",
                var::DEV_AS,
                backend_name(settings.backend)
            ),
        };
        let auto = settings.backend == Backend::Auto;
        if settings.backend == Backend::Embedded {
            return Ok(Choice::new(
                AsBackend::Embedded,
                format!("embedded (chosen by {origin})"),
            ));
        }
        if auto && let Some(kept) = Self::kept(settings).await {
            return Ok(kept);
        }
        let image = &settings.image;
        let docker = match docker::connect().await {
            Ok(d) => d,
            Err(f) if auto => {
                let engine_error = match &f.why {
                    Some(why) => format!("{}: {why}", f.message),
                    None => f.message.clone(),
                };
                return Ok(Choice {
                    engine_error: Some(engine_error),
                    ..Choice::new(
                        AsBackend::Embedded,
                        "embedded (auto: Docker does not answer)".to_owned(),
                    )
                });
            }
            Err(f) => return Err(f),
        };
        match docker::ensure_image(&docker, image, no_pull, pull_progress).await {
            Ok(pulled) => {
                let how = if pulled { "pulled" } else { "present" };
                let why = if auto {
                    format!("docker (auto: image {image} {how})")
                } else {
                    format!("docker (chosen by {origin}; image {image} {how})")
                };
                Ok(Choice {
                    docker: Some(docker),
                    ..Choice::new(AsBackend::Docker, why)
                })
            }
            Err(reason) if auto => Ok(Choice {
                engine_error: Some(reason),
                ..Choice::new(
                    AsBackend::Embedded,
                    format!("embedded (auto: image {image} is not available)"),
                )
            }),
            Err(reason) => Err(docker::image_finding(image, &reason)),
        }
    }

    /// The recorded backend of a stack whose authorization server still runs: the embedded one
    /// by its pid file alone, the container by one engine call (no image check, no pull).
    async fn kept(settings: &Settings) -> Option<Choice> {
        let recorded = recorded(&settings.run_dir)?;
        let why = format!(
            "{} (kept: the running stack was started with it)",
            recorded.name()
        );
        let choice = Choice {
            kept: true,
            ..Choice::new(recorded, why)
        };
        match recorded {
            AsBackend::Embedded => matches!(
                process::inspect(&settings.run_dir, Component::Authserver),
                PidState::Running(_)
            )
            .then_some(choice),
            AsBackend::Docker => {
                let docker = docker::connect().await.ok()?;
                docker::own_running(&docker, &settings.container_name)
                    .await
                    .then_some(Choice {
                        docker: Some(docker),
                        ..choice
                    })
            }
        }
    }

    /// The name shown in output and JSON.
    pub fn name(self) -> &'static str {
        match self {
            AsBackend::Embedded => "embedded",
            AsBackend::Docker => "docker",
        }
    }
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Auto => "auto",
        Backend::Docker => "docker",
        Backend::Embedded => "embedded",
        Backend::External => "external",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_garbage_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(recorded(dir.path()), None);
        record(dir.path(), AsBackend::Docker).unwrap();
        assert_eq!(recorded(dir.path()), Some(AsBackend::Docker));
        record(dir.path(), AsBackend::Embedded).unwrap();
        assert_eq!(recorded(dir.path()), Some(AsBackend::Embedded));
        std::fs::write(record_path(dir.path()), "podman\n").unwrap();
        assert_eq!(recorded(dir.path()), None);
    }
}
