//! The Docker backend against the real Docker engine of this machine. The authserver image is
//! built once per test process from our own binary (no registry needed); each test uses its own
//! container/volume name and free ports and removes them on drop. Without a daemon the tests skip
//! with a printed reason, unless AUTHPLANE_DEV_REQUIRE_DOCKER=1.

mod support_stack;

use std::sync::OnceLock;

use bollard::Docker;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use support_stack::Stack;

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

/// A connected client, or None (test skipped) when the daemon does not answer.
fn docker() -> Option<Docker> {
    let d = rt().block_on(async {
        let d = Docker::connect_with_defaults().ok()?;
        let d = d.negotiate_version().await.ok()?;
        d.ping().await.ok()?;
        Some(d)
    });
    if d.is_none() {
        assert!(
            std::env::var("AUTHPLANE_DEV_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "the Docker daemon does not answer and AUTHPLANE_DEV_REQUIRE_DOCKER=1"
        );
        #[allow(clippy::print_stderr)] // the skip reason must be visible in test output
        {
            eprintln!("skipped: the Docker daemon does not answer");
        }
    }
    d
}

/// Builds the local test image once; returns its tag.
fn image(docker: &Docker) -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let tag = format!("authplane-dev-test/authserver:{}", std::process::id());
        let tar = context_tar();
        rt().block_on(async {
            let options = BuildImageOptionsBuilder::default().t(&tag).rm(true).build();
            let mut stream =
                docker.build_image(options, None, Some(bollard::body_full(tar.into())));
            while let Some(item) = stream.next().await {
                let info = item.unwrap();
                assert!(info.error_detail.is_none(), "{info:?}");
            }
        });
        tag
    })
}

/// The build context: our binary as /authserver, its shared libraries, /data and a Dockerfile.
fn context_tar() -> Vec<u8> {
    let bin = env!("CARGO_BIN_EXE_authplane-dev");
    let mut b = tar::Builder::new(Vec::new());
    b.sparse(false);
    b.append_path_with_name(bin, "authserver").unwrap();
    let ldd = std::process::Command::new("ldd").arg(bin).output().unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(str::to_owned);
        if let Some(p) = path {
            b.append_path_with_name(&p, p.trim_start_matches('/'))
                .unwrap();
        }
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o777);
    h.set_size(0);
    b.append_data(&mut h, "data/", std::io::empty()).unwrap();
    let dockerfile = b"FROM scratch\nCOPY . /\nENTRYPOINT [\"/authserver\"]\nCMD [\"serve\"]\n";
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(dockerfile.len() as u64);
    b.append_data(&mut h, "Dockerfile", &dockerfile[..])
        .unwrap();
    b.into_inner().unwrap()
}

/// Removes the container and volume called `name` on drop.
struct Cleanup {
    docker: Docker,
    name: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        rt().block_on(async {
            let _ = self
                .docker
                .remove_container(
                    &self.name,
                    Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                )
                .await;
            let _ = self
                .docker
                .remove_volume(
                    &format!("{}-data", self.name),
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await;
        });
    }
}

fn unique(what: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("authplane-dev-test-{what}-{}-{n}", std::process::id())
}

fn stack_for(name: &str) -> Stack {
    let mut stack = Stack::new();
    stack
        .env
        .push(("AUTHPLANE_DEV_CONTAINER".into(), name.to_owned()));
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        stack.env.push(("DOCKER_HOST".into(), host));
    }
    stack
}

fn container(docker: &Docker, name: &str) -> Option<bollard::models::ContainerInspectResponse> {
    rt().block_on(docker.inspect_container(
        name,
        None::<bollard::query_parameters::InspectContainerOptions>,
    ))
    .ok()
}

fn volume_exists(docker: &Docker, name: &str) -> bool {
    rt().block_on(docker.inspect_volume(&format!("{name}-data")))
        .is_ok()
}

fn step<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {doc:#}"))
}

#[test]
fn up_verify_status_clean_with_the_docker_backend() {
    let Some(docker) = docker() else { return };
    let image = image(&docker);
    let name = unique("flow");
    let _cleanup = Cleanup {
        docker: docker.clone(),
        name: name.clone(),
    };
    let stack = stack_for(&name);
    let (code, doc) = stack.json(&["--as", "docker", "--image", image, "up"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        step(&doc, "backend")["detail"]["backend"],
        "docker",
        "{doc:#}"
    );

    let c = container(&docker, &name).expect("container exists");
    assert_eq!(c.state.unwrap().running, Some(true));
    let labels = c.config.unwrap().labels.unwrap();
    assert_eq!(labels["dev.authplane.managed"], "true");
    assert!(labels.contains_key("dev.authplane.project"));
    let bindings = c.host_config.unwrap().port_bindings.unwrap();
    let b = bindings["9000/tcp"].as_ref().unwrap()[0].clone();
    assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        b.host_port.as_deref(),
        Some(stack.ports.public.to_string().as_str())
    );
    assert!(volume_exists(&docker, &name));
    assert!(stack.pid("authserver").is_none(), "no local AS process");

    let (code, doc) = stack.json(&["--as", "docker", "--image", image, "verify"]);
    assert_eq!(code, 0, "{doc:#}");

    let out = stack.run(&["--as", "docker", "status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("container {name}")), "{text}");

    let (code, doc) = stack.json(&["--as", "docker", "logs", "authserver"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        !doc["logs"]["authserver"].as_array().unwrap().is_empty(),
        "container logs: {doc:#}"
    );

    let (code, doc) = stack.json(&["--as", "docker", "clean"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(container(&docker, &name).is_none(), "container removed");
    assert!(volume_exists(&docker, &name), "volume kept");

    let (code, doc) = stack.json(&["--as", "docker", "clean", "--all"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(!volume_exists(&docker, &name), "volume removed");
}

#[test]
fn auto_falls_back_to_embedded_when_the_image_cannot_be_pulled() {
    let Some(docker) = docker() else { return };
    let name = unique("auto");
    let _cleanup = Cleanup {
        docker,
        name: name.clone(),
    };
    let stack = stack_for(&name);
    let (code, doc) = stack.json(&["--as", "auto", "--image", "does-not/exist:tag", "up"]);
    assert_eq!(code, 0, "{doc:#}");
    let backend = step(&doc, "backend");
    assert_eq!(backend["detail"]["backend"], "embedded", "{doc:#}");
    let summary = backend["summary"].as_str().unwrap();
    assert!(summary.contains("does-not/exist:tag"), "{summary}");
    assert!(stack.pid("authserver").is_some());
}

#[test]
fn docker_with_an_absent_image_and_no_pull_is_image_unavailable() {
    let Some(docker) = docker() else { return };
    let name = unique("nopull");
    let _cleanup = Cleanup {
        docker,
        name: name.clone(),
    };
    let stack = stack_for(&name);
    let (code, doc) = stack.json(&[
        "--as",
        "docker",
        "--image",
        "does-not/exist:tag",
        "up",
        "--no-pull",
    ]);
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(doc["findings"][0]["code"], "image_unavailable", "{doc:#}");
    assert!(stack.pid("authserver").is_none());
}

#[test]
fn an_unreachable_daemon_is_docker_unreachable() {
    let mut stack = Stack::new();
    stack
        .env
        .push(("DOCKER_HOST".into(), "unix:///nonexistent.sock".into()));
    let (code, doc) = stack.json(&["--as", "docker", "up"]);
    assert_eq!(code, 3, "{doc:#}");
    let f = &doc["findings"][0];
    assert_eq!(f["code"], "docker_unreachable", "{doc:#}");
    assert!(
        f["message"].as_str().unwrap().contains("/nonexistent.sock"),
        "{doc:#}"
    );
}

#[test]
fn a_port_held_by_a_container_names_it() {
    let Some(docker) = docker() else { return };
    let image = image(&docker);
    let name = unique("port");
    let blocker = unique("blocker");
    let _cleanup = Cleanup {
        docker: docker.clone(),
        name: name.clone(),
    };
    let _blocker = Cleanup {
        docker: docker.clone(),
        name: blocker.clone(),
    };
    let stack = stack_for(&name);
    let port = stack.ports.public;
    rt().block_on(async {
        let binding = bollard::models::PortBinding {
            host_ip: Some("127.0.0.1".into()),
            host_port: Some(port.to_string()),
        };
        let body = bollard::models::ContainerCreateBody {
            image: Some(image.to_owned()),
            env: Some(vec!["AUTHPLANE_SERVER_ADDRESS=:9000".into()]),
            exposed_ports: Some(vec!["9000/tcp".into()]),
            host_config: Some(bollard::models::HostConfig {
                port_bindings: Some([("9000/tcp".to_owned(), Some(vec![binding]))].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        docker
            .create_container(
                Some(
                    CreateContainerOptionsBuilder::default()
                        .name(&blocker)
                        .build(),
                ),
                body,
            )
            .await
            .unwrap();
        docker
            .start_container(
                &blocker,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .unwrap();
        let _ = ListContainersOptionsBuilder::default();
    });
    let (code, doc) = stack.json(&["--as", "docker", "--image", image, "up"]);
    assert_eq!(code, 3, "{doc:#}");
    let f = &doc["findings"][0];
    assert_eq!(f["code"], "port_in_use", "{doc:#}");
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains(&blocker) && message.contains(image),
        "{message}"
    );
    assert!(container(&docker, &name).is_none());
}

/// Ctrl-C while `up` waits for the container: the container this `up` created is removed, no
/// pid file or listener is left, exit 130. The AS in the container is held at startup for real:
/// the data volume is created beforehand with a FIFO as its state file (through the volume's
/// mount point on this host, where the engine runs), so it blocks opening it and never answers.
#[test]
fn ctrl_c_during_up_with_docker_removes_the_container_it_created() {
    use support_stack::{KillOnDrop, listening, wait_until};
    let Some(docker) = docker() else { return };
    let image = image(&docker);
    let name = unique("interrupt");
    let _cleanup = Cleanup {
        docker: docker.clone(),
        name: name.clone(),
    };
    let volume = rt()
        .block_on(docker.create_volume(bollard::models::VolumeCreateRequest {
            name: Some(format!("{name}-data")),
            ..Default::default()
        }))
        .unwrap();
    let fifo = std::path::Path::new(&volume.mountpoint).join("state.json");
    if !std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        #[allow(clippy::print_stderr)] // the skip reason must be visible in test output
        {
            eprintln!("skipped: the volume's mount point is not on this host (remote engine?)");
        }
        return;
    }

    let stack = stack_for(&name);
    let mut up = KillOnDrop(
        stack
            .command(&[
                "--as",
                "docker",
                "--image",
                image,
                "up",
                "--wait-timeout",
                "300",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let hang = std::time::Duration::from_mins(2);
    let created = wait_until(hang, || {
        container(&docker, &name).is_some() || up.0.try_wait().unwrap().is_some()
    });
    assert!(created, "up never created the container");
    assert!(container(&docker, &name).is_some(), "up ended before");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(up.0.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut status = None;
    assert!(
        wait_until(hang, || {
            status = up.0.try_wait().unwrap();
            status.is_some()
        }),
        "up hangs after SIGINT"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut up.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.unwrap().code(), Some(130), "{stderr}");
    assert!(
        stderr.contains(&format!("removed container {name}")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        container(&docker, &name).is_none(),
        "the container was left"
    );
    assert!(stack.pid("echo").is_none() && stack.pid("authserver").is_none());
    let p = stack.ports;
    for port in [p.public, p.admin, p.echo] {
        assert!(!listening(port), "port {port} still accepts connections");
    }
}
