//! The Docker backend against the real Docker engine of this machine. The authserver image is
//! built once per test process from our own binary (no registry needed); each test uses its own
//! container/volume name and free ports and removes them on drop. Without a daemon (or what a test
//! needs besides it: `script`, a local volume mount point) the tests skip with a printed reason,
//! unless AUTHPLANE_DEV_REQUIRE_DOCKER=1, which turns every skip into a failure.

mod support_stack;

use std::sync::OnceLock;

use bollard::Docker;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use support_stack::leaks::{assert_nothing_leaks, both_modes};
use support_stack::skip::{REQUIRE_DOCKER, skip};
use support_stack::{Stack, codes, finding, step, str_of};

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
        skip(REQUIRE_DOCKER, "the Docker daemon does not answer");
    }
    d
}

/// Builds the local test image once per binary; returns its tag. The tag is a hash of the build
/// context (our binary and its libraries), so reruns with the same binary reuse the image
/// instead of piling up one image per test process; a rebuilt binary replaces it.
fn image(docker: &Docker) -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let tar = context_tar();
        let hash = hex(&Sha256::digest(&tar))[..16].to_owned();
        let tag = format!("{TEST_REPO}:{hash}");
        rt().block_on(async {
            if docker.inspect_image(&tag).await.is_ok() {
                return;
            }
            prune_stale_test_images(docker, &tag).await;
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

/// The repository of the images the tests build.
const TEST_REPO: &str = "authplane-dev-test/authserver";

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Removes this checkout's earlier test images (other binaries), skipping any a container still
/// uses (no force), so a test run elsewhere is never disturbed.
async fn prune_stale_test_images(docker: &Docker, keep: &str) {
    let mut filters = std::collections::HashMap::new();
    filters.insert("reference".to_owned(), vec![format!("{TEST_REPO}:*")]);
    filters.insert(
        "label".to_owned(),
        vec![format!("dev.authplane.test.checkout={}", checkout())],
    );
    let options = bollard::query_parameters::ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    for image in docker.list_images(Some(options)).await.unwrap_or_default() {
        for tag in image.repo_tags {
            if tag != keep {
                let _ = docker
                    .remove_image(
                        &tag,
                        None::<bollard::query_parameters::RemoveImageOptions>,
                        None,
                    )
                    .await;
            }
        }
    }
}

/// A hash of this checkout's path: test images carry it, so pruning stays within one checkout.
fn checkout() -> String {
    hex(&Sha256::digest(env!("CARGO_MANIFEST_DIR").as_bytes()))[..16].to_owned()
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
    let dockerfile = format!(
        "FROM scratch\nCOPY . /\nLABEL dev.authplane.test.checkout={}\nENTRYPOINT [\"/authserver\"]\nCMD [\"serve\"]\n",
        checkout()
    );
    let dockerfile = dockerfile.as_bytes();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(dockerfile.len() as u64);
    b.append_data(&mut h, "Dockerfile", dockerfile).unwrap();
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

/// Creates and starts container `name` from `image` the way someone else would (`docker run`: no
/// labels of ours), with `env` and each `(container port, host port)` published on 127.0.0.1.
fn start_foreign_container(
    docker: &Docker,
    name: &str,
    image: &str,
    env: Vec<String>,
    ports: &[(u16, u16)],
) {
    let bindings = ports
        .iter()
        .map(|(inside, host)| {
            let binding = bollard::models::PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(host.to_string()),
            };
            (format!("{inside}/tcp"), Some(vec![binding]))
        })
        .collect();
    let body = bollard::models::ContainerCreateBody {
        image: Some(image.to_owned()),
        env: Some(env),
        exposed_ports: Some(
            ports
                .iter()
                .map(|(inside, _)| format!("{inside}/tcp"))
                .collect(),
        ),
        host_config: Some(bollard::models::HostConfig {
            port_bindings: Some(bindings),
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

    // Nothing the container path prints leaks a secret or a full token (tests/security.rs checks
    // the same for the embedded backend); doctor finds nothing wrong with a healthy container.
    let mut seen = Vec::new();
    let backend = ["--as", "docker", "--image", image];
    for verb in [
        &["status"][..],
        &["logs", "authserver"],
        &["verify", "--no-probes"],
        &["doctor"],
    ] {
        both_modes(&stack, &[&backend[..], verb].concat(), 0, &mut seen);
    }
    assert_nothing_leaks(&stack, &seen);

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
    // One short line; the engine's own words are in the detail.
    assert!(summary.len() < 80, "{summary}");
    assert!(
        backend["detail"]["engine_error"]
            .as_str()
            .is_some_and(|e| e.contains("does-not/exist:tag")),
        "{doc:#}"
    );
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

/// The port pre-flight runs before any pull: with the AS's port held by a host process (this
/// test) and an image that would have to be pulled from a registry that does not exist, `up`
/// reports `port_in_use` naming this process — and nothing about the image, because it never
/// tried to pull it.
#[test]
fn a_held_port_is_reported_before_any_pull() {
    let Some(docker) = docker() else { return };
    let name = unique("preflight");
    let _cleanup = Cleanup {
        docker: docker.clone(),
        name: name.clone(),
    };
    let stack = stack_for(&name);
    let _held = std::net::TcpListener::bind(("127.0.0.1", stack.ports.public)).unwrap();
    let unreachable_registry = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let image = format!(
        "127.0.0.1:{}/nowhere/authserver:never",
        unreachable_registry.local_addr().unwrap().port()
    );
    drop(unreachable_registry);
    let (code, doc) = stack.json(&["--as", "docker", "--image", &image, "up"]);
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(codes(&doc), ["port_in_use"], "{doc:#}");
    let message = str_of(finding(&doc, "port_in_use"), "message");
    assert!(
        message.contains(&std::process::id().to_string()),
        "names this process: {message}"
    );
    assert!(
        doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["name"] != "backend"),
        "no backend was chosen, so nothing was pulled: {doc:#}"
    );
    assert!(container(&docker, &name).is_none());
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

    // doctor's environment group says the same, with the docker backend selected...
    let (code, doc) = stack.json(&["--as", "docker", "doctor", "--offline"]);
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(finding(&doc, "docker_unreachable")["severity"], "error");
    assert_eq!(
        step(&doc, "environment: Docker")["status"],
        "fail",
        "{doc:#}"
    );
    // ...and with auto it is only a note: `up` would use the embedded AS.
    let (code, doc) = stack.json(&["--as", "auto", "doctor", "--offline"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        str_of(step(&doc, "environment: Docker"), "summary").contains("embedded"),
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
    start_foreign_container(
        &docker,
        &blocker,
        image,
        vec!["AUTHPLANE_SERVER_ADDRESS=:9000".into()],
        &[(9000, port)],
    );
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

/// A minimal Docker Registry HTTP API v2 on loopback serving one image: a schema2 manifest, its
/// config and one gzip layer (our binary, its libraries, /data and a file unique to `tag`, so
/// every pull downloads a layer the engine has never seen). The engine treats 127.0.0.0/8
/// registries as insecure and, sharing this host's network, reaches it over plain HTTP.
struct Registry {
    port: u16,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.server.abort();
    }
}

const MANIFEST_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// The layer: the same files as the built image's context, with their parent directories.
fn layer_tar(tag: &str) -> Vec<u8> {
    let bin = env!("CARGO_BIN_EXE_authplane-dev");
    let mut b = tar::Builder::new(Vec::new());
    b.sparse(false);
    let dir = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        b.append_data(&mut h, path, std::io::empty()).unwrap();
    };
    dir(&mut b, "data/", 0o777);
    b.append_path_with_name(bin, "authserver").unwrap();
    let ldd = std::process::Command::new("ldd").arg(bin).output().unwrap();
    let mut dirs = std::collections::BTreeSet::new();
    let mut libs = Vec::new();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        if let Some(p) = line.split_whitespace().find(|w| w.starts_with('/')) {
            let rel = p.trim_start_matches('/').to_owned();
            let mut parent = std::path::Path::new(&rel).parent();
            while let Some(d) = parent.filter(|d| !d.as_os_str().is_empty()) {
                dirs.insert(format!("{}/", d.display()));
                parent = d.parent();
            }
            libs.push((p.to_owned(), rel));
        }
    }
    for d in &dirs {
        dir(&mut b, d, 0o755);
    }
    for (path, rel) in libs {
        b.append_path_with_name(&path, &rel).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(tag.len() as u64);
    b.append_data(&mut h, "pulled-tag", tag.as_bytes()).unwrap();
    b.into_inner().unwrap()
}

impl Registry {
    /// Serves `<repo>:<tag>` on a free loopback port.
    fn start(repo: &str, tag: &str) -> Registry {
        use std::io::Write as _;
        let layer = layer_tar(tag);
        let diff_id = digest_of(&layer);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&layer).unwrap();
        let blob = gz.finish().unwrap();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/authserver"], "Cmd": ["serve"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": config.len(),
                "digest": digest_of(&config),
            },
            "layers": [{
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": blob.len(),
                "digest": digest_of(&blob),
            }],
        }))
        .unwrap();
        let manifest_digest = digest_of(&manifest);
        let blobs: std::collections::HashMap<String, bytes::Bytes> = [
            (digest_of(&config), bytes::Bytes::from(config)),
            (digest_of(&blob), bytes::Bytes::from(blob)),
        ]
        .into();
        let manifest = bytes::Bytes::from(manifest);
        let (repo, tag) = (repo.to_owned(), tag.to_owned());
        let handler = move |uri: axum::http::Uri| {
            let path = uri.path().to_owned();
            let found = if path == "/v2/" {
                Some(("application/json", bytes::Bytes::from_static(b"{}"), None))
            } else if let Some(reference) = path
                .strip_prefix(&format!("/v2/{repo}/manifests/"))
                .filter(|r| *r == tag || *r == manifest_digest)
            {
                let _ = reference;
                Some((
                    MANIFEST_TYPE,
                    manifest.clone(),
                    Some(manifest_digest.clone()),
                ))
            } else {
                path.strip_prefix(&format!("/v2/{repo}/blobs/"))
                    .and_then(|d| blobs.get(d).map(|b| (d.to_owned(), b.clone())))
                    .map(|(d, b)| ("application/octet-stream", b, Some(d)))
            };
            async move {
                use axum::http::{HeaderValue, StatusCode, header};
                use axum::response::IntoResponse;
                let Some((content_type, body, digest)) = found else {
                    return (
                        StatusCode::NOT_FOUND,
                        [(header::CONTENT_TYPE, "application/json")],
                        r#"{"errors":[{"code":"NOT_FOUND","message":"not here"}]}"#,
                    )
                        .into_response();
                };
                let mut response = (
                    [
                        (header::CONTENT_TYPE, content_type.to_owned()),
                        (header::CONTENT_LENGTH, body.len().to_string()),
                    ],
                    body,
                )
                    .into_response();
                let headers = response.headers_mut();
                headers.insert(
                    "Docker-Distribution-API-Version",
                    HeaderValue::from_static("registry/2.0"),
                );
                if let Some(d) = digest {
                    headers.insert("Docker-Content-Digest", HeaderValue::from_str(&d).unwrap());
                }
                response
            }
        };
        let listener = rt()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().fallback(handler);
        let server = rt().spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Registry { port, server }
    }
}

/// Removes an image on drop (force: the tag is this test's own).
/// A loopback registry serving an image tagged after the test's container `name` (so every run
/// pulls something new), its reference, and the guard that removes it once pulled.
fn served_image(docker: &Docker, name: &str) -> (Registry, String, ImageGuard) {
    let tag = name.trim_start_matches("authplane-dev-test-");
    let registry = Registry::start(TEST_REPO, tag);
    let image = format!("127.0.0.1:{}/{TEST_REPO}:{tag}", registry.port);
    let guard = ImageGuard {
        docker: docker.clone(),
        image: image.clone(),
    };
    (registry, image, guard)
}

struct ImageGuard {
    docker: Docker,
    image: String,
}

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let _ = rt().block_on(
            self.docker.remove_image(
                &self.image,
                Some(
                    bollard::query_parameters::RemoveImageOptionsBuilder::default()
                        .force(true)
                        .build(),
                ),
                None,
            ),
        );
    }
}

#[test]
fn up_pulls_an_absent_image_with_one_plain_line_per_layer_state() {
    let Some(docker) = docker() else { return };
    let name = unique("pull");
    // Declared before the container's guard, so dropped after it.
    let (_registry, image, image_guard) = served_image(&docker, &name);
    let cleanup = Cleanup {
        docker: docker.clone(),
        name: name.clone(),
    };
    let stack = stack_for(&name);
    let out = stack.run(&["--json", "--as", "docker", "--image", &image, "up"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(out.status.code(), Some(0), "{doc:#}\n{stderr}");
    let backend = step(&doc, "backend");
    assert_eq!(backend["detail"]["backend"], "docker", "{doc:#}");
    assert!(
        backend["summary"].as_str().unwrap().contains("pulled"),
        "{doc:#}"
    );
    // Plain lines (stderr is not a terminal): each layer state once, never one per tick.
    let layer_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with(&format!("pull {image}: layer ")))
        .collect();
    assert!(
        layer_lines.iter().any(|l| l.ends_with("Pull complete")),
        "{stderr}"
    );
    let downloading = layer_lines
        .iter()
        .filter(|l| l.contains(" Downloading"))
        .count();
    assert_eq!(
        downloading, 1,
        "one Downloading line for the one layer:\n{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("pull {image}: Digest: sha256:"))),
        "{stderr}"
    );
    let c = container(&docker, &name).expect("container exists");
    assert_eq!(c.config.unwrap().image.as_deref(), Some(image.as_str()));

    let (code, doc) = stack.json(&["--as", "docker", "clean", "--all"]);
    assert_eq!(code, 0, "{doc:#}");
    drop(cleanup);
    drop(image_guard);
    assert!(
        rt().block_on(docker.inspect_image(&image)).is_err(),
        "the pulled image is removed"
    );
}

#[test]
fn up_on_a_terminal_draws_pull_bars_instead_of_lines() {
    let Some(docker) = docker() else { return };
    // `.ci/run` installs `script` (Debian's bsdutils) where it is missing.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        skip(
            REQUIRE_DOCKER,
            "`script` (util-linux/bsdutils) is needed to give the command a terminal",
        );
        return;
    }
    let name = unique("tty");
    let (_registry, image, _image) = served_image(&docker, &name);
    let _cleanup = Cleanup {
        docker: docker.clone(),
        name: name.clone(),
    };
    let stack = stack_for(&name);
    let bin = env!("CARGO_BIN_EXE_authplane-dev");
    // `script` runs the command on a pseudo-terminal and copies what it drew to its stdout.
    let mut cmd = std::process::Command::new("script");
    cmd.args([
        "-qec",
        &format!("{bin} --as docker --image {image} up"),
        "/dev/null",
    ])
    .current_dir(stack.dir.path())
    .env_clear()
    .env("TERM", "xterm")
    .envs(stack.env.iter().map(|(k, v)| (k, v)));
    for keep in ["PATH", "HOME"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    let out = cmd.output().unwrap();
    let drawn = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{drawn}");
    assert!(
        drawn.contains("Downloading") || drawn.contains("Extracting"),
        "a layer bar was drawn:\n{drawn}"
    );
    assert!(
        !drawn.contains(&format!("pull {image}: layer ")),
        "no plain lines on a terminal:\n{drawn}"
    );
    assert!(drawn.contains(&format!("image {image} pulled")), "{drawn}");
    let (code, doc) = stack.json(&["--as", "docker", "clean", "--all"]);
    assert_eq!(code, 0, "{doc:#}");
}

/// `logs -f` running in the stack directory, its stdout lines arriving on a channel.
struct Follower {
    child: support_stack::KillOnDrop,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Follower {
    fn start(stack: &Stack) -> Follower {
        use std::io::BufRead as _;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_authplane-dev"));
        cmd.current_dir(stack.dir.path())
            .env_clear()
            .env("NO_COLOR", "1")
            .envs(stack.env.iter().map(|(k, v)| (k, v)))
            .args(["--as", "docker", "logs", "-f", "authserver"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for keep in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(keep) {
                cmd.env(keep, v);
            }
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower {
            child: support_stack::KillOnDrop(child),
            lines,
        }
    }

    /// Waits (up to 30 s) for a line containing `needle`; while waiting, calls `poke` every
    /// second (to make the server write a line).
    fn wait_for(&self, needle: &str, mut poke: impl FnMut()) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            poke();
            match self.lines.recv_timeout(std::time::Duration::from_secs(1)) {
                Ok(line) if line.contains(needle) => return true,
                Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
        false
    }

    /// Waits (up to 30 s) for the process to end by itself; its exit code.
    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        None
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.0.id()).unwrap());
        nix::sys::signal::kill(pid, signal).unwrap();
    }
}

/// One GET to `path` on the stack's public port (the server logs every request).
/// True when `GET path` on 127.0.0.1:`port` answers 200.
fn answers_ok(port: u16, path: &str) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    );
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    reply.starts_with(b"HTTP/1.1 200")
}

fn request(port: u16, path: &str) {
    use std::io::{Read as _, Write as _};
    if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        let _ = write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        );
        let _ = s.read_to_end(&mut Vec::new());
    }
}

#[test]
fn logs_follow_streams_the_container_and_ends_on_signals_and_container_stop() {
    let Some(docker) = docker() else { return };
    let image = image(&docker);
    let name = unique("follow");
    let _cleanup = Cleanup {
        docker: docker.clone(),
        name: name.clone(),
    };
    let stack = stack_for(&name);
    let (code, doc) = stack.json(&["--as", "docker", "--image", image, "up"]);
    assert_eq!(code, 0, "{doc:#}");
    let port = stack.ports.public;

    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
    ] {
        let mut follower = Follower::start(&stack);
        assert!(
            follower.wait_for(&format!("=== authserver (container {name}) ==="), || {}),
            "the tail's header"
        );
        // A request made after the tail was printed shows up only if the stream is followed.
        let path = format!("/follow-{signal:?}");
        assert!(
            follower.wait_for(&path, || request(port, &path)),
            "the line for {path} was followed"
        );
        follower.signal(signal);
        assert_eq!(follower.wait_exit(), Some(0), "ends cleanly on {signal:?}");
    }

    let mut follower = Follower::start(&stack);
    assert!(follower.wait_for("=== authserver", || {}));
    assert!(follower.wait_for("/follow-stop", || request(port, "/follow-stop")));
    rt().block_on(docker.stop_container(
        &name,
        None::<bollard::query_parameters::StopContainerOptions>,
    ))
    .unwrap();
    assert_eq!(
        follower.wait_exit(),
        Some(0),
        "ends when the container stops"
    );
}

#[test]
fn clean_removes_only_this_projects_container_whatever_the_backend() {
    let Some(docker) = docker() else { return };
    let image = image(&docker);
    let name = unique("owner");
    let _cleanup = Cleanup {
        docker: docker.clone(),
        name: name.clone(),
    };
    let ours = stack_for(&name);
    let (code, doc) = ours.json(&["--as", "docker", "--image", image, "up"]);
    assert_eq!(code, 0, "{doc:#}");

    // Another project directory configured with the same container name leaves it alone.
    let other = stack_for(&name);
    let (code, doc) = other.json(&["--as", "embedded", "clean", "--all"]);
    assert_eq!(code, 0, "{doc:#}");
    let summary = step(&doc, "remove container")["summary"].as_str().unwrap();
    assert!(summary.contains("another project"), "{doc:#}");
    assert!(
        step(&doc, "data volume")["summary"]
            .as_str()
            .unwrap()
            .contains("another project"),
        "{doc:#}"
    );
    assert!(container(&docker, &name).is_some(), "still there");
    assert!(volume_exists(&docker, &name));

    // ...and `up` there neither adopts nor replaces it.
    let id_before = container(&docker, &name).unwrap().id;
    let (code, doc) = other.json(&["--as", "docker", "--image", image, "up"]);
    assert_eq!(code, 2, "{doc:#}");
    assert_eq!(codes(&doc), ["config_invalid"], "{doc:#}");
    assert!(
        str_of(finding(&doc, "config_invalid"), "fix").contains("AUTHPLANE_DEV_CONTAINER"),
        "{doc:#}"
    );
    assert_eq!(
        container(&docker, &name).unwrap().id,
        id_before,
        "left alone"
    );

    // This project, switched to the embedded backend, removes its container (and keeps the data).
    let (code, doc) = ours.json(&["--as", "embedded", "clean"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(step(&doc, "remove container")["status"], "pass", "{doc:#}");
    assert!(container(&docker, &name).is_none(), "container removed");
    assert!(volume_exists(&docker, &name), "volume kept");
    let (code, doc) = ours.json(&["--as", "embedded", "clean", "--all"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(!volume_exists(&docker, &name), "volume removed");
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
    let made = std::process::Command::new("mkfifo").arg(&fifo).output();
    if !made.as_ref().is_ok_and(|out| out.status.success()) {
        // A rootless or remote engine, or a user in the docker group who cannot write below
        // /var/lib/docker: the FIFO cannot be put in place from this host.
        skip(
            REQUIRE_DOCKER,
            &format!(
                "cannot create a FIFO in the volume's mount point {} ({}); the engine must be \
                 local and its volumes writable by this user",
                volume.mountpoint,
                made.map_or_else(
                    |e| e.to_string(),
                    |out| String::from_utf8_lossy(&out.stderr).trim().to_owned()
                )
            ),
        );
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

/// The seed's `docker run authplane/authserver`: a container created directly through the Docker
/// API, by someone else (no labels of ours), publishing the stack's ports. `verify` uses it as an
/// external AS, starts only the echo server, and `clean --all` leaves the container running.
#[test]
fn a_container_someone_else_runs_is_used_as_an_external_as() {
    let Some(docker) = docker() else { return };
    let image = image(&docker);
    let name = unique("external");
    let theirs = unique("theirs");
    let _cleanup = Cleanup {
        docker: docker.clone(),
        name: name.clone(),
    };
    let _theirs = Cleanup {
        docker: docker.clone(),
        name: theirs.clone(),
    };
    let stack = stack_for(&name);
    stack.set_in_env_file("AUTHPLANE_DEV_AS", "auto");
    let env_text = std::fs::read_to_string(stack.path(".env")).unwrap();
    let from_env = |key: &str| {
        env_text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap()
            .to_owned()
    };
    start_foreign_container(
        &docker,
        &theirs,
        image,
        vec![
            format!(
                "AUTHPLANE_SERVER_ISSUER={}",
                from_env("AUTHPLANE_SERVER_ISSUER")
            ),
            "AUTHPLANE_SERVER_ADDRESS=:9000".into(),
            "AUTHPLANE_ADMIN_ADDRESS=:9001".into(),
            format!(
                "AUTHPLANE_ADMIN_API_KEY={}",
                from_env("AUTHPLANE_ADMIN_API_KEY")
            ),
            format!(
                "AUTHPLANE_SESSION_SECRET={}",
                from_env("AUTHPLANE_SESSION_SECRET")
            ),
        ],
        &[(9000, stack.ports.public), (9001, stack.ports.admin)],
    );
    let public = stack.ports.public;
    assert!(
        // docker-proxy listens at once; wait until the AS behind it answers discovery.
        support_stack::wait_until(std::time::Duration::from_mins(1), || {
            answers_ok(public, "/.well-known/oauth-authorization-server")
        }),
        "their container did not listen on {public}"
    );

    let (code, doc) = stack.json(&["verify"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(step(&doc, "backend")["detail"]["backend"], "external");
    assert!(
        str_of(step(&doc, "authorization server"), "summary").starts_with("external"),
        "{doc:#}"
    );
    assert!(
        container(&docker, &name).is_none(),
        "a container of ours was created"
    );

    let (code, doc) = stack.json(&["clean", "--all"]);
    assert_eq!(code, 0, "{doc:#}");
    let c = container(&docker, &theirs).expect("their container was removed");
    assert_eq!(
        c.state.unwrap().running,
        Some(true),
        "their container was stopped"
    );
}
