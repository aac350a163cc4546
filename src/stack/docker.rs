//! The Docker backend: the only module that speaks the Docker Engine API (bollard). It connects
//! (DOCKER_HOST or the platform default, API version negotiated), checks or pulls the authserver
//! image, runs the managed container (labels, named data volume, ports published on 127.0.0.1),
//! finds it again for `status`/`logs`/`clean`, and removes it and its volume.
//!
//! For the containers topology ([`Topology::Containers`]) its submodules add the user-defined
//! network the AS joins under its alias ([`network`]), the echo server's image built locally from
//! this binary ([`echo_image`]) and the echo server's container ([`echo_container`]).

pub mod echo_container;
pub mod echo_image;
pub mod network;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerSummary, CreateImageInfo, HostConfig, Mount, MountType,
    PortBinding, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::cli::Component;
use crate::config::{Settings, Topology, read_by_authserver, var};
use crate::diagnose::{Code, Finding};
use crate::report::pull::PullEvent;
use crate::stack::health;

/// The Engine API client, named here so other modules need not import bollard.
pub type Client = Docker;

/// Label every resource this tool creates carries.
pub const MANAGED_LABEL: &str = "dev.authplane.managed";
/// Label holding a hash of the absolute working directory.
pub const PROJECT_LABEL: &str = "dev.authplane.project";
/// The oldest Engine API version the backend uses.
const MIN_API: (u32, u32) = (1, 41);
/// Every Engine API request must be answered (response headers) within this; bollard's default
/// is 120 s. Streams that follow (pull progress, `logs -f`) are not cut by it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// A pull whose progress stream stays silent this long is given up.
const PULL_IDLE_TIMEOUT: Duration = Duration::from_mins(2);
/// Reading the last log lines of a container (a finite stream) may take at most this.
const LOG_TAIL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the client connects: DOCKER_HOST or the platform default socket.
pub fn host_description() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .map_or_else(
            || "unix:///var/run/docker.sock (the default; DOCKER_HOST is not set)".to_owned(),
            |h| format!("{h} (from DOCKER_HOST)"),
        )
}

/// Connects, negotiates the API version and checks it is at least 1.41. The error is the
/// docker_unreachable finding (exit 3).
pub async fn connect() -> Result<Docker, Finding> {
    let host = host_description();
    let unreachable = |why: String| {
        Finding::error(
            Code::DockerUnreachable,
            format!("the Docker daemon does not answer at {host}"),
            "start Docker (e.g. `sudo systemctl start docker`), check DOCKER_HOST, or run the \
             authorization server without Docker: `--as embedded`",
        )
        .why(why)
    };
    let docker = Docker::connect_with_defaults()
        .map_err(|e| unreachable(e.to_string()))?
        .with_timeout(REQUEST_TIMEOUT);
    let docker = tokio::time::timeout(Duration::from_secs(5), docker.negotiate_version())
        .await
        .map_err(|_| unreachable("no answer within 5 s".to_owned()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let version = tokio::time::timeout(Duration::from_secs(5), docker.version())
        .await
        .map_err(|_| unreachable("no answer within 5 s".to_owned()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let api = version.api_version.unwrap_or_default();
    if parse_api(&api) < MIN_API {
        return Err(Finding::error(
            Code::DockerUnreachable,
            format!("the Docker engine at {host} speaks API {api}, older than 1.41"),
            "upgrade Docker Engine to 20.10 or newer, or use `--as embedded`",
        ));
    }
    Ok(docker)
}

fn parse_api(api: &str) -> (u32, u32) {
    let mut parts = api.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Makes sure `image` is present: inspects it, then pulls it unless `no_pull`. `progress`
/// receives every pull message as a [`PullEvent`]. Ok(true) when it was pulled; Err is the
/// one-line reason it is unavailable.
pub async fn ensure_image(
    docker: &Docker,
    image: &str,
    no_pull: bool,
    mut progress: impl FnMut(&PullEvent),
) -> Result<bool, String> {
    if docker.inspect_image(image).await.is_ok() {
        return Ok(false);
    }
    if no_pull {
        return Err(format!(
            "image {image} is not present locally and --no-pull forbids pulling it"
        ));
    }
    let options = CreateImageOptionsBuilder::default()
        .from_image(image)
        .build();
    let mut stream = docker.create_image(Some(options), None, None);
    loop {
        let Ok(next) = tokio::time::timeout(PULL_IDLE_TIMEOUT, stream.next()).await else {
            return Err(format!(
                "image {image} is not present locally and pulling it stalled (no progress for {} s)",
                PULL_IDLE_TIMEOUT.as_secs()
            ));
        };
        let Some(item) = next else { break };
        let failed = match item {
            Ok(info) if info.error_detail.is_none() => {
                if let Some(event) = pull_event(info) {
                    progress(&event);
                }
                continue;
            }
            Ok(info) => info
                .error_detail
                .and_then(|d| d.message)
                .unwrap_or_else(|| "the engine reported an error".to_owned()),
            Err(e) => e.to_string(),
        };
        return Err(format!(
            "image {image} is not present locally and pulling it failed: {failed}"
        ));
    }
    if docker.inspect_image(image).await.is_ok() {
        Ok(true)
    } else {
        Err(format!("image {image} is still absent after the pull"))
    }
}

/// The backend-neutral form of one pull message. "Pulling from <repo>" carries the tag in its id
/// but is about the whole pull, like "Digest: …" and "Status: …", which carry none.
fn pull_event(info: CreateImageInfo) -> Option<PullEvent> {
    let status = info.status?;
    let layer = info.id.filter(|_| !status.starts_with("Pulling from"));
    let detail = info.progress_detail.unwrap_or_default();
    let bytes = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok());
    Some(PullEvent {
        layer,
        status,
        current: bytes(detail.current),
        total: bytes(detail.total).filter(|&t| t > 0),
    })
}

/// The image_unavailable finding for `reason`.
pub fn image_finding(image: &str, reason: &str) -> Finding {
    Finding::error(
        Code::ImageUnavailable,
        format!("the authserver image {image} is unavailable"),
        format!(
            "pull or build it (`docker pull {image}`, or build one as docs/docker.md \"Building an image locally\" shows), \
             set {} / --image to an image you have, or use `--as embedded`",
            var::DEV_IMAGE
        ),
    )
    .why(reason.to_owned())
}

/// A hash of the absolute working directory (the project label's value).
pub fn project_hash() -> String {
    let dir = std::env::current_dir().unwrap_or_default();
    let digest = Sha256::digest(dir.display().to_string().as_bytes());
    digest.iter().take(8).fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The named data volume of `container`.
pub fn volume_name(container: &str) -> String {
    format!("{container}-data")
}

/// The managed container called `name` (running or not), if any.
pub async fn find(docker: &Docker, name: &str) -> Result<Option<ContainerSummary>, String> {
    let mut filters = HashMap::new();
    filters.insert("name".to_owned(), vec![format!("^/{name}$")]);
    filters.insert("label".to_owned(), vec![format!("{MANAGED_LABEL}=true")]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let list = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| e.to_string())?;
    Ok(list.into_iter().next())
}

/// Whether a container summary is running.
pub fn is_running(c: &ContainerSummary) -> bool {
    c.state
        .as_ref()
        .is_some_and(|s| s.to_string().eq_ignore_ascii_case("running"))
}

/// The first name of a container, without the leading slash.
pub fn container_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map_or_else(String::new, |n| n.trim_start_matches('/').to_owned())
}

/// The running container (name, image) that publishes host `port`, if any.
pub async fn port_holder(docker: &Docker, port: u16) -> Option<(String, String)> {
    let list = docker
        .list_containers(Some(ListContainersOptionsBuilder::default().build()))
        .await
        .ok()?;
    list.into_iter().find_map(|c| {
        let publishes = c
            .ports
            .as_ref()?
            .iter()
            .any(|p| p.public_port == Some(port));
        publishes.then(|| (container_name(&c), c.image.clone().unwrap_or_default()))
    })
}

/// The ports the image's server listens on inside the container (its EXPOSE): public and admin.
pub const CONTAINER_PUBLIC_PORT: u16 = 9000;
pub const CONTAINER_ADMIN_PORT: u16 = 9001;

/// The ports the AS listens on inside its container: the image's EXPOSEd ones in the host
/// topology (only the published host ports matter there); in the containers topology the issuer's
/// own port, because the MCP server's container dials `http://authserver:<issuer port>` across the
/// network, past any port mapping.
pub fn container_ports(settings: &Settings) -> (u16, u16) {
    match settings.topology {
        Topology::Host => (CONTAINER_PUBLIC_PORT, CONTAINER_ADMIN_PORT),
        Topology::Containers => (settings.server_port(), settings.admin_port()),
    }
}

/// The labels of every object authplane-dev creates: managed, and this project directory's hash.
pub fn own_labels() -> HashMap<String, String> {
    [
        (MANAGED_LABEL.to_owned(), "true".to_owned()),
        (PROJECT_LABEL.to_owned(), project_hash()),
    ]
    .into()
}
/// The image's WORKDIR, where the server keeps its state (relative `data/…` paths); the data
/// volume is mounted here.
pub const DATA_DIR: &str = "/data";

/// The container's environment, sorted by name: every resolved variable the real authserver
/// reads ([`read_by_authserver`]) — not authplane-dev's own `AUTHPLANE_DEV_*`, not the MCP
/// server's — with the two listen addresses on the ports of [`container_ports`], to which the
/// host ports are published.
pub fn container_env(settings: &Settings) -> Vec<String> {
    let (public, admin) = container_ports(settings);
    let listen = [(var::SERVER_ADDRESS, public), (var::ADMIN_ADDRESS, admin)];
    let mut env: Vec<String> = settings
        .vars
        .child_env()
        .into_iter()
        .filter(|(k, _)| read_by_authserver(k) && listen.iter().all(|(name, _)| k != name))
        .map(|(k, v)| format!("{k}={v}"))
        .chain(listen.iter().map(|(name, port)| format!("{name}=:{port}")))
        .collect();
    env.sort();
    env
}

/// Creates the volume and the container and starts it; returns the container id. In the
/// containers topology the container joins [`network::name`] under the alias `authserver`
/// ([`network::ensure`] made it).
pub async fn start(docker: &Docker, settings: &Settings) -> anyhow::Result<String> {
    let name = &settings.container_name;
    let labels = own_labels();
    let volume = volume_name(name);
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(volume.clone()),
            labels: Some(labels.clone()),
            ..Default::default()
        })
        .await?;
    let (public, admin) = container_ports(settings);
    let port_bindings = published(&[
        (public, settings.server_port()),
        (admin, settings.admin_port()),
    ]);
    // No command, user or working directory: the image's own (`serve`, its non-root user, /data).
    let body = ContainerCreateBody {
        image: Some(settings.image.clone()),
        env: Some(container_env(settings)),
        labels: Some(labels),
        exposed_ports: Some(port_bindings.keys().cloned().collect()),
        host_config: Some(HostConfig {
            port_bindings: Some(port_bindings),
            mounts: Some(vec![Mount {
                target: Some(DATA_DIR.to_owned()),
                source: Some(volume),
                typ: Some(MountType::VOLUME),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        networking_config: (settings.topology == Topology::Containers)
            .then(|| network::joined(settings, &[crate::config::default::NETWORK_ALIAS])),
        ..Default::default()
    };
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(name).build()),
            body,
        )
        .await?;
    docker
        .start_container(
            &created.id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await?;
    Ok(created.id)
}

/// Port bindings: each `(container port, host port)` published on 127.0.0.1 only.
pub fn published(ports: &[(u16, u16)]) -> HashMap<String, Option<Vec<PortBinding>>> {
    ports
        .iter()
        .map(|(inside, host)| {
            let binding = PortBinding {
                host_ip: Some("127.0.0.1".to_owned()),
                host_port: Some(host.to_string()),
            };
            (format!("{inside}/tcp"), Some(vec![binding]))
        })
        .collect()
}

/// Why the container did not become ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// It exited while starting: its exit code, the user it ran as (the image's `USER`, "" for
    /// root) and its last log lines.
    Exited {
        exit_code: i64,
        user: String,
        log: Vec<String>,
    },
    /// It did not answer before the deadline: the last probe's error.
    NoAnswer(String),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::Exited { exit_code, log, .. } => write!(
                f,
                "the container exited during startup (exit code {exit_code}); last log lines:\n      | {}",
                log.join("\n      | ")
            ),
            NotReady::NoAnswer(last) => write!(f, "did not answer in time: {last}"),
        }
    }
}

/// Polls discovery until it answers, or the container exits, or `timeout` passes.
pub async fn wait_ready(
    docker: &Docker,
    settings: &Settings,
    id: &str,
    timeout: Duration,
) -> Result<(), NotReady> {
    wait_component_ready(docker, settings, Component::Authserver, id, timeout).await
}

/// Polls `component`'s readiness probe ([`health::probe`], through its published port) until it
/// answers, or its container `id` exits, or `timeout` passes.
pub async fn wait_component_ready(
    docker: &Docker,
    settings: &Settings,
    component: Component,
    id: &str,
    timeout: Duration,
) -> Result<(), NotReady> {
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        match health::probe(settings, component).await {
            Ok(()) => return Ok(()),
            Err(why) => last = why,
        }
        if let Ok(info) = docker
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            && let Some(state) = info.state
            && state.running == Some(false)
        {
            return Err(NotReady::Exited {
                exit_code: state.exit_code.unwrap_or(-1),
                user: info.config.and_then(|c| c.user).unwrap_or_default(),
                log: log_lines(docker, id, 20).await,
            });
        }
        if Instant::now() >= deadline {
            return Err(NotReady::NoAnswer(last));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The log line saying the server cannot write its data directory, if any. The real server
/// prints `error: open database: create db directory: mkdir data: permission denied` when /data
/// is another user's, and SQLite's "unable to open database file" / "readonly database" when
/// only the files in it are; ours prints "Permission denied (os error 13)". A refused bind
/// (`bind: permission denied`) is about a port, not the volume.
pub fn unwritable_data_line(log: &[String]) -> Option<&str> {
    log.iter().map(String::as_str).find(|line| {
        let line = line.to_ascii_lowercase();
        let denied = line.contains("permission denied") && !line.contains("bind");
        denied
            || line.contains("unable to open database file")
            || line.contains("readonly database")
    })
}

/// The image's user as the numeric `uid:gid` `chown` needs: distroless's `nonroot` is 65532,
/// root (or no `USER`) is 0, a user without a group gets its uid as the group.
fn numeric_owner(user: &str) -> String {
    let id = |part: &str| match part {
        "" | "root" => "0".to_owned(),
        "nonroot" => "65532".to_owned(),
        other => other.to_owned(),
    };
    let (uid, gid) = user.split_once(':').unwrap_or((user, user));
    format!("{}:{}", id(uid), id(gid))
}

/// The volume_unwritable finding: the server in container `name`, running as `user`, exited
/// with `exit_code` because it cannot write the data volume (`line` is its log line saying so).
pub fn volume_unwritable(name: &str, user: &str, line: &str, exit_code: i64) -> Finding {
    let volume = volume_name(name);
    let owner = numeric_owner(user);
    let runs_as = match user {
        "" => "root".to_owned(),
        u if numeric_owner(u) == u => u.to_owned(),
        u => format!("{u} ({owner})"),
    };
    Finding::error(
        Code::VolumeUnwritable,
        format!(
            "the authorization server in container {name} cannot write its data volume {volume} \
             (mounted at {DATA_DIR}) and exited with code {exit_code}"
        ),
        format!(
            "start afresh with `authplane-dev clean --all && authplane-dev up`: it deletes the \
             volume (the AS's signing key and registrations, so tokens minted so far stop \
             verifying), the run directory and a .env authplane-dev wrote (new secrets are \
             generated). Or keep the data: give the volume to the container's user with any image \
             that has `chown` (busybox, alpine; the authserver image has no shell) — `docker run \
             --rm --user 0 -v {volume}:{DATA_DIR} busybox chown -R {owner} {DATA_DIR}` — then \
             `authplane-dev up`"
        ),
    )
    .why(format!(
        "the image runs as user {runs_as}, and the volume's files belong to another user — \
         typically root, left by an older image that ran as root (a new volume takes the owner of \
         the image's {DATA_DIR}; an existing one keeps its own)"
    ))
    .compare(format!("{DATA_DIR} writable by {owner}"), line)
}

/// The last `n` log lines of a container (stdout and stderr).
pub async fn log_lines(docker: &Docker, id: &str, n: usize) -> Vec<String> {
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&n.to_string())
        .build();
    let mut out = Vec::new();
    let mut stream = docker.logs(id, Some(options));
    let read = async {
        while let Some(Ok(chunk)) = stream.next().await {
            let text = String::from_utf8_lossy(&chunk.into_bytes()).into_owned();
            out.extend(text.lines().map(str::to_owned));
        }
    };
    // What was read before the deadline is still worth showing.
    let _ = tokio::time::timeout(LOG_TAIL_TIMEOUT, read).await;
    out
}

/// Follows a container's logs, handing each line to `line` until the stream ends.
pub async fn follow_logs(docker: &Docker, id: &str, mut line: impl FnMut(String)) {
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .follow(true)
        .tail("0")
        .build();
    let mut stream = docker.logs(id, Some(options));
    while let Some(Ok(chunk)) = stream.next().await {
        let text = String::from_utf8_lossy(&chunk.into_bytes()).into_owned();
        for l in text.lines() {
            line(l.to_owned());
        }
    }
}

/// Stops and removes the managed container `name`; Ok(false) when there is none.
pub async fn remove(docker: &Docker, name: &str) -> anyhow::Result<bool> {
    let Some(found) = find(docker, name).await.map_err(anyhow::Error::msg)? else {
        return Ok(false);
    };
    let id = found.id.unwrap_or_else(|| name.to_owned());
    docker
        .remove_container(
            &id,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await?;
    Ok(true)
}

/// What [`remove_own`] and [`remove_own_volume`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Removed: it carried this project's label.
    Removed,
    /// There was none.
    Absent,
    /// One exists but was created for another project directory (its project label is given):
    /// left alone.
    OtherProject(String),
}

/// The project label of a managed container ("" when it has none).
pub fn project_of(c: &ContainerSummary) -> String {
    project_label(c.labels.as_ref())
}

/// Whether `c` was started by authplane-dev in this project directory.
pub fn is_own(c: &ContainerSummary) -> bool {
    project_of(c) == project_hash()
}

/// Whether our container `name` (this project's label) is running; false when it cannot be told.
pub async fn own_running(docker: &Docker, name: &str) -> bool {
    find(docker, name)
        .await
        .ok()
        .flatten()
        .is_some_and(|c| is_running(&c) && is_own(&c))
}

/// The daemon and the managed container of the configured name, when the backend may be Docker,
/// the daemon answers and such a container exists (running or not).
pub async fn configured_container(settings: &Settings) -> Option<(Docker, ContainerSummary)> {
    if settings.backend == crate::config::Backend::Embedded {
        return None;
    }
    let docker = connect().await.ok()?;
    let found = find(&docker, &settings.container_name).await.ok()??;
    Some((docker, found))
}

fn project_label(labels: Option<&HashMap<String, String>>) -> String {
    labels
        .and_then(|l| l.get(PROJECT_LABEL))
        .cloned()
        .unwrap_or_default()
}

/// Stops and removes the managed container `name` only when it carries this project's label
/// (started by authplane-dev in this directory), whichever backend is configured now.
pub async fn remove_own(docker: &Docker, name: &str) -> anyhow::Result<Removal> {
    let Some(found) = find(docker, name).await.map_err(anyhow::Error::msg)? else {
        return Ok(Removal::Absent);
    };
    if !is_own(&found) {
        return Ok(Removal::OtherProject(project_of(&found)));
    }
    remove(docker, name).await?;
    Ok(Removal::Removed)
}

/// Removes the data volume of `name` only when it carries our labels and this project's label.
pub async fn remove_own_volume(docker: &Docker, name: &str) -> anyhow::Result<Removal> {
    let volume = match docker.inspect_volume(&volume_name(name)).await {
        Ok(v) => v,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(Removal::Absent),
        Err(e) => return Err(e.into()),
    };
    let managed = volume.labels.get(MANAGED_LABEL).map(String::as_str) == Some("true");
    let project = project_label(Some(&volume.labels));
    if !managed || project != project_hash() {
        return Ok(Removal::OtherProject(project));
    }
    Ok(if remove_volume(docker, name).await? {
        Removal::Removed
    } else {
        Removal::Absent
    })
}

/// Removes the data volume of `name`; Ok(false) when there is none.
pub async fn remove_volume(docker: &Docker, name: &str) -> anyhow::Result<bool> {
    match docker
        .remove_volume(
            &volume_name(name),
            None::<bollard::query_parameters::RemoveVolumeOptions>,
        )
        .await
    {
        Ok(()) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|l| (*l).to_owned()).collect()
    }

    /// The real server's words are matched as well as ours (tests/docker.rs produces ours for
    /// real; the real image cannot be pulled here).
    #[test]
    fn an_unwritable_data_directory_is_recognised_in_either_servers_words() {
        for line in [
            "error: open database: create db directory: mkdir data: permission denied",
            "error: open database: sqlite ping: unable to open database file: out of memory (14)",
            "error: migrate database: attempt to write a readonly database (8)",
            "error: cannot use data as the authorization server's state directory. creating data: \
             Permission denied (os error 13).",
        ] {
            let log = lines(&["{\"level\":\"INFO\",\"msg\":\"starting authserver\"}", line]);
            assert_eq!(unwritable_data_line(&log), Some(line));
        }
        let other = lines(&[
            "error: listen tcp :9000: bind: permission denied",
            "error: configuration validation failed:",
        ]);
        assert_eq!(unwritable_data_line(&other), None);
    }

    #[test]
    fn the_owner_chown_needs_is_numeric() {
        assert_eq!(numeric_owner("nonroot:nonroot"), "65532:65532");
        assert_eq!(numeric_owner("nonroot"), "65532:65532");
        assert_eq!(numeric_owner("65532:65532"), "65532:65532");
        assert_eq!(numeric_owner("1000"), "1000:1000");
        assert_eq!(numeric_owner(""), "0:0");
        let f = volume_unwritable("c", "1000:1000", "denied", 1);
        assert!(f.why.unwrap().contains("runs as user 1000:1000,"));
        assert!(
            f.fix
                .contains("-v c-data:/data busybox chown -R 1000:1000 /data")
        );
    }
}
