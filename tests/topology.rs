//! The containers topology (`up --topology containers`, the seed's `make docker-run`) on the real
//! Docker engine of this machine: the AS container (the faithful stand-in image
//! tests/support_docker builds) and the echo server's container, built by the tool from its own
//! binary, on one network. Each test uses its own container names, ports and project directory
//! (so its own network and echo image) and removes everything of its project on drop, failed or
//! not. Each wrong issuer/topology combination is shown to fail for real (the server cannot reach
//! its issuer, the AS refuses to start) and to be named by the pre-flight and doctor. Without a
//! daemon the tests skip, unless AUTHPLANE_DEV_REQUIRE_DOCKER=1.

mod support_docker;
mod support_stack;

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    ListImagesOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptions, RemoveVolumeOptions,
};
use futures_util::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use support_docker::{docker, hex, image, rt};
use support_stack::{KillOnDrop, Stack, codes, finding, step, str_of, wait_until};

fn unique(what: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("authplane-dev-test-{what}-{}-{n}", std::process::id())
}

/// A stack whose `.env` is the seed's all-in-containers configuration: the issuer
/// `http://authserver:PORT` on both sides, secure cookies, the CLI reaching the AS through the
/// published port, the stand-in image and a container name of its own. The topology itself is
/// not set: `up --topology containers` sets it.
fn containers_stack(name: &str, image: &str) -> Stack {
    let stack = Stack::new();
    let p = stack.ports.public;
    for (k, v) in [
        ("AUTHPLANE_SERVER_ISSUER", format!("http://authserver:{p}")),
        ("AUTHPLANE_ISSUER", format!("http://authserver:{p}")),
        ("AUTHPLANE_DEV_PUBLIC_URL", format!("http://localhost:{p}")),
        ("AUTHPLANE_SESSION_SECURE", "true".to_owned()),
        ("AUTHPLANE_DEV_AS", "docker".to_owned()),
        ("AUTHPLANE_DEV_IMAGE", image.to_owned()),
        ("AUTHPLANE_DEV_CONTAINER", name.to_owned()),
    ] {
        stack.set_in_env_file(k, &v);
    }
    stack
}

/// The project label the tool gives this stack's objects: a hash of its directory (as the
/// binary sees it: the canonical path).
fn project_of(stack: &Stack) -> String {
    let dir = std::fs::canonicalize(stack.dir.path()).unwrap();
    hex(&Sha256::digest(dir.display().to_string().as_bytes()))[..16].to_owned()
}

/// Removes, on drop, every container, network, volume and image carrying `project`'s label, and
/// the containers named in `extra` (ones a test created itself), whatever the test got to.
struct Leftovers {
    docker: Docker,
    project: String,
    extra: Vec<String>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        let docker = self.docker.clone();
        let project = self.project.clone();
        let extra = std::mem::take(&mut self.extra);
        rt().block_on(async move {
            let force = || Some(RemoveContainerOptionsBuilder::default().force(true).build());
            for name in extra {
                let _ = docker.remove_container(&name, force()).await;
            }
            let left = ours(&docker, &project).await;
            for id in left.containers {
                let _ = docker.remove_container(&id, force()).await;
            }
            for name in left.networks {
                let _ = docker.remove_network(&name).await;
            }
            for name in left.volumes {
                let _ = docker
                    .remove_volume(&name, None::<RemoveVolumeOptions>)
                    .await;
            }
            for tag in left.images {
                let _ = docker
                    .remove_image(&tag, None::<RemoveImageOptions>, None)
                    .await;
            }
        });
    }
}

/// Everything on the engine that carries `project`'s label.
#[derive(Debug, Default)]
struct Ours {
    containers: Vec<String>,
    networks: Vec<String>,
    volumes: Vec<String>,
    images: Vec<String>,
}

impl Ours {
    fn is_empty(&self) -> bool {
        self.containers.is_empty()
            && self.networks.is_empty()
            && self.volumes.is_empty()
            && self.images.is_empty()
    }
}

async fn ours(docker: &Docker, project: &str) -> Ours {
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![format!("dev.authplane.project={project}")],
    )]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.id)
        .collect();
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| n.name)
        .collect();
    let volumes = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .ok()
        .and_then(|v| v.volumes)
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    let images = docker
        .list_images(Some(
            ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap_or_default()
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .collect();
    Ours {
        containers,
        networks,
        volumes,
        images,
    }
}

fn inspect(docker: &Docker, name: &str) -> Option<bollard::models::ContainerInspectResponse> {
    rt().block_on(docker.inspect_container(name, None::<InspectContainerOptions>))
        .ok()
}

/// The container's environment as a map.
fn env_of(c: &bollard::models::ContainerInspectResponse) -> HashMap<String, String> {
    c.config
        .as_ref()
        .and_then(|c| c.env.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| e.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// The host address `container_port/tcp` is published on.
fn published(
    c: &bollard::models::ContainerInspectResponse,
    container_port: u16,
) -> (String, String) {
    let bindings = c
        .host_config
        .as_ref()
        .and_then(|h| h.port_bindings.clone())
        .unwrap_or_default();
    let b = bindings[&format!("{container_port}/tcp")].as_ref().unwrap()[0].clone();
    (
        b.host_ip.unwrap_or_default(),
        b.host_port.unwrap_or_default(),
    )
}

/// The aliases of `c` on network `network` (None when it is not on it).
fn aliases_on(c: &bollard::models::ContainerInspectResponse, network: &str) -> Option<Vec<String>> {
    let networks = c.network_settings.as_ref()?.networks.as_ref()?;
    Some(networks.get(network)?.aliases.clone().unwrap_or_default())
}

/// The `iss` claim of a JWT (no verification: the tool's own checks do that).
fn iss_of(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.trim().split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["iss"].as_str().unwrap().to_owned()
}

/// The last log lines of container `name`.
fn logs_of(docker: &Docker, name: &str) -> String {
    rt().block_on(async {
        let options = bollard::query_parameters::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let mut stream = docker.logs(name, Some(options));
        let mut text = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        text
    })
}

/// Creates and starts container `name` from `image` on `network` the way someone else would (no
/// labels of ours, nothing published), with `env` and `cmd` (None: the image's own); waits for it
/// to exit and returns its exit code and log.
fn run_to_exit(
    docker: &Docker,
    name: &str,
    image: &str,
    network: &str,
    env: Vec<String>,
    cmd: Option<Vec<String>>,
) -> (i64, String) {
    let body = bollard::models::ContainerCreateBody {
        image: Some(image.to_owned()),
        env: Some(env),
        cmd,
        host_config: Some(bollard::models::HostConfig {
            network_mode: Some(network.to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    };
    rt().block_on(async {
        docker
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(name).build()),
                body,
            )
            .await
            .unwrap();
        docker
            .start_container(
                name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .unwrap();
    });
    let exited = wait_until(std::time::Duration::from_mins(2), || {
        inspect(docker, name)
            .and_then(|c| c.state)
            .is_some_and(|s| s.running == Some(false))
    });
    assert!(
        exited,
        "container {name} did not exit: {}",
        logs_of(docker, name)
    );
    let code = inspect(docker, name)
        .and_then(|c| c.state)
        .and_then(|s| s.exit_code)
        .unwrap();
    (code, logs_of(docker, name))
}

/// A directory without a `.env`, as a newcomer starts: only the ports (free ones), the stand-in
/// image and a container name of its own come from the environment; no issuer is set anywhere.
fn fresh_stack(name: &str, image: &str) -> Stack {
    let mut stack = Stack::without_env_file();
    stack
        .env
        .retain(|(k, _)| !k.ends_with("ISSUER") && k != "AUTHPLANE_DEV_AS");
    for (k, v) in [
        ("AUTHPLANE_DEV_AS", "docker"),
        ("AUTHPLANE_DEV_IMAGE", image),
        ("AUTHPLANE_DEV_CONTAINER", name),
    ] {
        stack.env.push((k.to_owned(), v.to_owned()));
    }
    stack
}

/// In a fresh directory `up --topology containers` derives the seed's container configuration
/// (issuer `http://authserver:PORT` on both sides, secure cookies, the CLI through the published
/// port), writes it to the `.env` and runs it; everything after follows.
#[test]
fn up_topology_containers_verify_status_logs_and_clean_all_leave_nothing_of_ours() {
    let Some(docker) = docker() else { return };
    let image = image(&docker);
    let name = unique("topology");
    let stack = fresh_stack(&name, image);
    let project = project_of(&stack);
    let _leftovers = Leftovers {
        docker: docker.clone(),
        project: project.clone(),
        extra: Vec::new(),
    };
    let p = stack.ports;
    let issuer = format!("http://authserver:{}", p.public);
    let network = format!("{name}-net");
    let echo = format!("{name}-echo");

    let (code, doc) = stack.json(&["up", "--topology", "containers"]);
    assert_eq!(code, 0, "{doc:#}");
    let env_file = std::fs::read_to_string(stack.path(".env")).unwrap();
    for line in [
        format!("AUTHPLANE_SERVER_ISSUER={issuer}"),
        format!("AUTHPLANE_ISSUER={issuer}"),
        format!("AUTHPLANE_DEV_PUBLIC_URL=http://localhost:{}", p.public),
        "AUTHPLANE_SESSION_SECURE=true".to_owned(),
        "AUTHPLANE_DEV_TOPOLOGY=containers".to_owned(),
    ] {
        assert!(env_file.lines().any(|l| l == line), "{line}:\n{env_file}");
    }
    assert_eq!(support_stack::mode(&stack.path(".env")), 0o600);
    assert_eq!(step(&doc, "network")["detail"]["created"], true, "{doc:#}");
    let built = &step(&doc, "echo image")["detail"];
    assert_eq!(built["built"], true, "{doc:#}");
    let echo_image = built["image"].as_str().unwrap().to_owned();
    assert!(
        echo_image.starts_with("authplane-dev/echo:") && echo_image.ends_with(&project),
        "{echo_image}"
    );

    // The network is a user-defined bridge carrying our labels.
    let net = rt()
        .block_on(docker.inspect_network(&network, None))
        .expect("the network exists");
    assert_eq!(net.driver.as_deref(), Some("bridge"));
    let labels = net.labels.unwrap_or_default();
    assert_eq!(labels["dev.authplane.managed"], "true");
    assert_eq!(labels["dev.authplane.project"], project);

    // The AS: on the network as `authserver`, the seed's issuer and secure cookies, listening on
    // the issuer's port (the echo container dials it there), published on 127.0.0.1 only.
    let as_container = inspect(&docker, &name).expect("the AS container exists");
    let aliases = aliases_on(&as_container, &network).expect("the AS is on the network");
    assert!(aliases.contains(&"authserver".to_owned()), "{aliases:?}");
    let env = env_of(&as_container);
    assert_eq!(env["AUTHPLANE_SERVER_ISSUER"], issuer);
    assert_eq!(env["AUTHPLANE_SESSION_SECURE"], "true");
    assert_eq!(env["AUTHPLANE_SERVER_ADDRESS"], format!(":{}", p.public));
    assert!(
        !env.contains_key("AUTHPLANE_ISSUER"),
        "MCP side only: {env:?}"
    );
    assert_eq!(
        published(&as_container, p.public),
        ("127.0.0.1".to_owned(), p.public.to_string())
    );

    // The echo server: our image, on the network, its issuer the AS's network name, no AS
    // secrets, published on 127.0.0.1.
    let echo_container = inspect(&docker, &echo).expect("the echo container exists");
    assert_eq!(
        echo_container.config.as_ref().unwrap().image.as_deref(),
        Some(echo_image.as_str())
    );
    assert!(aliases_on(&echo_container, &network).is_some());
    let env = env_of(&echo_container);
    assert_eq!(env["AUTHPLANE_ISSUER"], issuer);
    assert!(!env.contains_key("AUTHPLANE_ADMIN_API_KEY"), "{env:?}");
    assert!(!env.contains_key("AUTHPLANE_SESSION_SECRET"), "{env:?}");
    assert_eq!(
        published(&echo_container, p.echo),
        ("127.0.0.1".to_owned(), p.echo.to_string())
    );
    let built_image = rt().block_on(docker.inspect_image(&echo_image)).unwrap();
    let config = built_image.config.unwrap();
    assert_eq!(config.user.as_deref(), Some("65532:65532"));
    let labels = config.labels.unwrap();
    assert_eq!(labels["dev.authplane.managed"], "true");
    assert_eq!(labels["dev.authplane.project"], project);
    assert!(stack.pid("echo").is_none() && stack.pid("authserver").is_none());

    // verify passes end to end; every issuer check expects the network name while the CLI dials
    // localhost.
    let (code, doc) = stack.json(&["verify"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        str_of(step(&doc, "AS discovery"), "summary").contains(&issuer),
        "{doc:#}"
    );
    let out = stack.run(&["token"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(iss_of(&String::from_utf8_lossy(&out.stdout)), issuer);

    // A second up reuses the image and both containers.
    let (code, doc) = stack.json(&["up"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        step(&doc, "echo image")["detail"]["built"],
        false,
        "{doc:#}"
    );
    assert_eq!(
        step(&doc, "echo MCP server")["detail"]["started"],
        false,
        "{doc:#}"
    );

    let (code, doc) = stack.json(&["status"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        str_of(step(&doc, "echo MCP server"), "summary").contains(&format!("container {echo}")),
        "{doc:#}"
    );
    let (code, doc) = stack.json(&["logs"]);
    assert_eq!(code, 0, "{doc:#}");
    let echo_log: Vec<&str> = doc["logs"]["echo"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        echo_log
            .iter()
            .any(|l| l.contains(&format!("issuer {issuer}"))),
        "{doc:#}"
    );
    let (code, doc) = stack.json(&["doctor"]);
    assert_eq!(code, 0, "{doc:#}");

    // clean: the containers, the network and the image go; the volume (the AS's data) stays.
    let (code, doc) = stack.json(&["clean"]);
    assert_eq!(code, 0, "{doc:#}");
    let left = rt().block_on(ours(&docker, &project));
    assert!(
        left.containers.is_empty() && left.networks.is_empty(),
        "{left:?}"
    );
    assert!(left.images.is_empty(), "{left:?}");
    assert_eq!(left.volumes, vec![format!("{name}-data")]);
    // clean --all: nothing of ours is left on the engine.
    let (code, doc) = stack.json(&["clean", "--all"]);
    assert_eq!(code, 0, "{doc:#}");
    let left = rt().block_on(ours(&docker, &project));
    assert!(left.is_empty(), "{left:?}");
    assert!(inspect(&docker, &name).is_none() && inspect(&docker, &echo).is_none());
}

/// Each wrong combination of issuer and topology fails for real on the engine — the server cannot
/// reach its issuer, or the AS refuses to start — and the pre-flight and doctor name it before
/// anything runs.
#[test]
fn each_wrong_issuer_for_the_topology_fails_for_real_and_is_named() {
    let Some(docker) = docker() else { return };
    let as_image = image(&docker);
    let name = unique("wrong");
    let stack = containers_stack(&name, as_image);
    let project = project_of(&stack);
    let theirs = [unique("theirs-echo"), unique("theirs-as")];
    let _leftovers = Leftovers {
        docker: docker.clone(),
        project,
        extra: theirs.to_vec(),
    };
    let p = stack.ports;
    let network = format!("{name}-net");
    let (code, doc) = stack.json(&["up", "--topology", "containers"]);
    assert_eq!(code, 0, "{doc:#}");
    let echo_image = step(&doc, "echo image")["detail"]["image"]
        .as_str()
        .unwrap()
        .to_owned();
    let as_id = inspect(&docker, &name).unwrap().id;

    // 1. A server on this machine with the network name as its issuer: `authserver` does not
    //    resolve here, so the echo server cannot discover the AS and refuses to start.
    let other = support_stack::free_port();
    let out = stack
        .command(&["serve", "echo"])
        .env("AUTHPLANE_DEV_TOPOLOGY", "host")
        .env("PORT", other.to_string())
        .env("AUTHPLANE_BASE_URL", format!("http://localhost:{other}"))
        .env("AUTHPLANE_DEV_MODE", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach the authorization server at http://authserver:{}",
            p.public
        )),
        "{stderr}"
    );
    // … which the pre-flight names instead: issuer_mismatch with the topology and both choices.
    let (code, doc) = stack.json(&["--topology", "host", "verify"]);
    assert_eq!(code, 2, "{doc:#}");
    let f = finding(&doc, "issuer_mismatch");
    assert!(
        str_of(f, "message").contains("AUTHPLANE_DEV_TOPOLOGY=host"),
        "{f:#}"
    );
    assert!(
        str_of(f, "fix").contains(&format!("both http://localhost:{}", p.public))
            && str_of(f, "fix").contains(&format!("both http://authserver:{}", p.public)),
        "{f:#}"
    );
    let (_, doc) = stack.json(&["--topology", "host", "doctor"]);
    assert!(
        codes(&doc).contains(&"issuer_mismatch".to_owned()),
        "{doc:#}"
    );

    // 2. A server in a container with `localhost` as its issuer: that is the container itself.
    let localhost = format!("http://localhost:{}", p.public);
    let (code, log) = run_to_exit(
        &docker,
        &theirs[0],
        &echo_image,
        &network,
        vec![
            format!("AUTHPLANE_ISSUER={localhost}"),
            format!("PORT={}", p.echo),
            format!("AUTHPLANE_BASE_URL=http://localhost:{}", p.echo),
            "AUTHPLANE_DEV_MODE=true".to_owned(),
        ],
        Some(vec![
            "serve".into(),
            "echo".into(),
            "--bind".into(),
            format!("0.0.0.0:{}", p.echo),
        ]),
    );
    assert_eq!(code, 3, "{log}");
    assert!(
        log.contains(&format!(
            "cannot reach the authorization server at {localhost}"
        )),
        "{log}"
    );
    let (code, doc) = support_stack_json_with(
        &stack,
        &[
            ("AUTHPLANE_SERVER_ISSUER", &localhost),
            ("AUTHPLANE_ISSUER", &localhost),
        ],
        &["verify"],
    );
    assert_eq!(code, 2, "{doc:#}");
    let f = finding(&doc, "issuer_mismatch");
    assert!(
        str_of(f, "message").contains("AUTHPLANE_DEV_TOPOLOGY=containers"),
        "{f:#}"
    );
    assert_eq!(
        str_of(f, "expected"),
        format!("http://authserver:{}", p.public)
    );

    // 3. A non-localhost issuer without secure cookies: the AS refuses to start at all.
    let (code, log) = run_to_exit(
        &docker,
        &theirs[1],
        as_image,
        &network,
        vec![
            format!("AUTHPLANE_SERVER_ISSUER=http://authserver:{}", p.public),
            format!("AUTHPLANE_ADMIN_API_KEY={}", "k".repeat(40)),
            format!("AUTHPLANE_SESSION_SECRET={}", "s".repeat(40)),
        ],
        None,
    );
    assert_ne!(code, 0, "{log}");
    assert!(log.contains("without secure cookies"), "{log}");
    // … which the pre-flight names before anything is started or replaced.
    let (code, doc) =
        support_stack_json_with(&stack, &[("AUTHPLANE_SESSION_SECURE", "false")], &["up"]);
    assert_eq!(code, 2, "{doc:#}");
    let f = finding(&doc, "config_invalid");
    assert!(
        str_of(f, "fix").contains("AUTHPLANE_SESSION_SECURE=true"),
        "{f:#}"
    );
    assert_eq!(
        inspect(&docker, &name).unwrap().id,
        as_id,
        "the running AS container was left alone"
    );

    // Another project directory with the same container name: this project's network is not
    // its to use (nor to remove on its `clean`).
    let other = containers_stack(&name, as_image);
    let (code, doc) = other.json(&["up", "--topology", "containers"]);
    assert_eq!(code, 2, "{doc:#}");
    let f = finding(&doc, "config_invalid");
    assert!(
        str_of(f, "message").contains(&format!("{network} exists for another project directory")),
        "{f:#}"
    );
    let (code, doc) = other.json(&["clean"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        rt().block_on(docker.inspect_network(&network, None))
            .is_ok()
    );
    assert_eq!(inspect(&docker, &name).unwrap().id, as_id);

    let (code, doc) = stack.json(&["clean", "--all"]);
    assert_eq!(code, 0, "{doc:#}");
}

/// Runs `args` with `--json` and `vars` in the process environment (over the `.env`).
fn support_stack_json_with(stack: &Stack, vars: &[(&str, &str)], args: &[&str]) -> (i32, Value) {
    let mut cmd = stack.command(&[&["--json"], args].concat());
    cmd.envs(vars.iter().copied());
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not one JSON object ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

/// Ctrl-C while `up` waits for the echo server's container: both containers and the network
/// this `up` created are removed, exit 130. The echo server is held at startup for real: the test
/// pauses the AS container once `up` reports it ready, so the echo server's discovery of the AS
/// never gets an answer.
#[test]
fn ctrl_c_during_up_with_containers_removes_both_containers_and_the_network() {
    use std::io::BufRead as _;
    let Some(docker) = docker() else { return };
    let name = unique("interrupt");
    let stack = containers_stack(&name, image(&docker));
    let project = project_of(&stack);
    let _leftovers = Leftovers {
        docker: docker.clone(),
        project: project.clone(),
        extra: Vec::new(),
    };
    let echo = format!("{name}-echo");
    let mut up = KillOnDrop(
        stack
            .command(&["up", "--topology", "containers", "--wait-timeout", "600"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Each step's line goes to stdout as it ends; the interruption's message to stderr.
    let mut lines = std::io::BufReader::new(up.0.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let as_ready = line.starts_with("✓ authorization server");
        seen.push(line);
        if as_ready {
            break;
        }
    }
    assert!(
        seen.last()
            .is_some_and(|l| l.starts_with("✓ authorization server")),
        "up never reported the AS ready: {seen:#?}"
    );
    rt().block_on(docker.pause_container(&name)).unwrap();
    let hang = std::time::Duration::from_mins(2);
    assert!(
        wait_until(hang, || inspect(&docker, &echo).is_some()
            || up.0.try_wait().unwrap().is_some()),
        "up never created the echo container: {seen:#?}"
    );
    assert!(
        up.0.try_wait().unwrap().is_none(),
        "up ended before: {seen:#?}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(up.0.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let _: Vec<String> = lines.map(Result::unwrap).collect();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut up.0.stderr.take().unwrap(), &mut rest).unwrap();
    let status = up.0.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    for removed in [
        format!("removed container {echo}"),
        format!("removed container {name}"),
        format!("removed network {name}-net"),
    ] {
        assert!(rest.contains(&removed), "{removed}: {rest}");
    }
    assert!(!rest.contains("panicked"), "{rest}");
    let left = rt().block_on(ours(&docker, &project));
    assert!(
        left.containers.is_empty() && left.networks.is_empty(),
        "{left:?}"
    );
}

/// Without a Docker daemon the containers topology cannot fall back to the embedded AS: the
/// finding says so and offers the host topology instead.
#[test]
fn the_containers_topology_without_a_daemon_is_docker_unreachable_with_the_host_topology_as_fix() {
    let mut stack = fresh_stack(&unique("nodaemon"), "authplane-dev-test/none:0");
    let sock = stack.path("no-docker.sock");
    stack
        .env
        .push(("DOCKER_HOST".into(), format!("unix://{}", sock.display())));
    let (code, doc) = stack.json(&["up", "--topology", "containers"]);
    assert_eq!(code, 3, "{doc:#}");
    let f = finding(&doc, "docker_unreachable");
    assert!(
        str_of(f, "fix").contains("AUTHPLANE_DEV_TOPOLOGY=host")
            && !str_of(f, "fix").contains("embedded"),
        "{f:#}"
    );
    assert_eq!(step(&doc, "backend")["status"], "fail", "{doc:#}");
}
