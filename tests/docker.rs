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

/// The stand-in for the published `authplane/authserver` image, shaped like it (reference §1.1):
/// our binary as /authserver with its shared libraries, distroless's passwd and group files, no
/// shell and no `chown`, `/data` owned by nonroot (65532:65532), `USER nonroot:nonroot`,
/// `WORKDIR /data`, `EXPOSE 9000 9001`, `ENTRYPOINT ["/authserver"]`, `CMD ["serve"]`. Built once
/// per test binary; returns its tag.
fn image(docker: &Docker) -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| build(docker, "Dockerfile", ""))
}

/// An older image of the kind that ran as root: the same server without `USER` or `WORKDIR`, and
/// a root-owned `/data`, so a volume it creates is root's.
fn root_image(docker: &Docker) -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| build(docker, "Dockerfile.root", "-root"))
}

/// The stand-in for the busybox image the volume_unwritable fix names (nothing can be pulled
/// here): the host's `chown` with its libraries, no entrypoint, like busybox.
fn chown_image(docker: &Docker) -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| build(docker, "Dockerfile.chown", "-chown"))
}

/// What the published image's config says (reference §1.1); the stand-in and the image the
/// loopback registry serves both carry it, and a test checks the built one against it.
const IMAGE_USER: &str = "nonroot:nonroot";
const IMAGE_WORKDIR: &str = "/data";
const IMAGE_PORTS: [&str; 2] = ["9000/tcp", "9001/tcp"];
const IMAGE_ENTRYPOINT: &str = "/authserver";
const IMAGE_CMD: &str = "serve";
/// distroless's nonroot user.
const NONROOT: u64 = 65532;

/// Builds `dockerfile` from [`context_tar`] unless present; the tag is a hash of the build context
/// (our binary and its libraries) plus `suffix`, so reruns with the same binary reuse the image
/// instead of piling up one image per test process; a rebuilt binary replaces it.
fn build(docker: &Docker, dockerfile: &str, suffix: &str) -> String {
    let tar = context_tar();
    let hash = hex(&Sha256::digest(&tar))[..16].to_owned();
    let tag = format!("{TEST_REPO}:{hash}{suffix}");
    rt().block_on(async {
        if docker.inspect_image(&tag).await.is_ok() {
            return;
        }
        prune_stale_test_images(docker, &format!("{TEST_REPO}:{hash}")).await;
        let options = BuildImageOptionsBuilder::default()
            .t(&tag)
            .dockerfile(dockerfile)
            .rm(true)
            .build();
        let mut stream = docker.build_image(options, None, Some(bollard::body_full(tar.into())));
        while let Some(item) = stream.next().await {
            let info = item.unwrap();
            assert!(info.error_detail.is_none(), "{info:?}");
        }
    });
    tag
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

/// Removes this checkout's earlier test images (other binaries: tags not starting with `keep`),
/// skipping any a container still uses (no force), so a test run elsewhere is never disturbed.
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
            if !tag.starts_with(keep) {
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

/// distroless's /etc/passwd and /etc/group: `USER nonroot:nonroot` resolves through them.
const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
                      nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n";

/// Appends a directory entry owned by `owner` (uid = gid).
fn append_dir(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, owner: u64) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(mode);
    h.set_uid(owner);
    h.set_gid(owner);
    h.set_size(0);
    b.append_data(&mut h, path, std::io::empty()).unwrap();
}

fn append_text(b: &mut tar::Builder<Vec<u8>>, path: &str, text: &str) {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(text.len() as u64);
    b.append_data(&mut h, path, text.as_bytes()).unwrap();
}

/// Appends `bin` as `<prefix><name>` and every shared library `ldd` lists for it at its own path
/// under `prefix`, each parent directory first (a layer needs them; a build context does not mind).
fn append_with_libraries(b: &mut tar::Builder<Vec<u8>>, prefix: &str, bin: &str, name: &str) {
    let ldd = std::process::Command::new("ldd").arg(bin).output().unwrap();
    let mut dirs = std::collections::BTreeSet::new();
    let mut files = vec![(bin.to_owned(), name.to_owned())];
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        if let Some(p) = line.split_whitespace().find(|w| w.starts_with('/')) {
            files.push((p.to_owned(), p.trim_start_matches('/').to_owned()));
        }
    }
    for (_, rel) in &files {
        let mut parent = std::path::Path::new(rel).parent();
        while let Some(d) = parent.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(format!("{prefix}{}/", d.display()));
            parent = d.parent();
        }
    }
    for d in &dirs {
        append_dir(b, d, 0o755, 0);
    }
    for (path, rel) in files {
        b.append_path_with_name(&path, format!("{prefix}{rel}"))
            .unwrap();
    }
}

/// The server's files under `prefix`: our binary as `authserver` with its libraries, and
/// distroless's passwd and group.
fn append_server(b: &mut tar::Builder<Vec<u8>>, prefix: &str) {
    append_with_libraries(b, prefix, env!("CARGO_BIN_EXE_authplane-dev"), "authserver");
    append_dir(b, &format!("{prefix}etc/"), 0o755, 0);
    append_text(b, &format!("{prefix}etc/passwd"), PASSWD);
    append_text(b, &format!("{prefix}etc/group"), GROUP);
}

/// The build context of the three images: `rootfs/` (the server), `tools/` (the host's `chown`),
/// an empty `data/`, and a Dockerfile each. COPY makes files root's, so
/// /data's owner comes from `--chown`, as in the published image.
fn context_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.sparse(false);
    append_server(&mut b, "rootfs/");
    let chown = ["/usr/bin/chown", "/bin/chown"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("the host has chown (coreutils)");
    append_with_libraries(&mut b, "tools/", chown, "bin/chown");
    append_dir(&mut b, "data/", 0o755, 0);
    let label = format!("LABEL dev.authplane.test.checkout={}", checkout());
    let run = format!("ENTRYPOINT [\"{IMAGE_ENTRYPOINT}\"]\nCMD [\"{IMAGE_CMD}\"]\n");
    let faithful = format!(
        "FROM scratch\nCOPY rootfs/ /\nCOPY --chown={NONROOT}:{NONROOT} data {IMAGE_WORKDIR}\n\
         USER {IMAGE_USER}\nWORKDIR {IMAGE_WORKDIR}\nEXPOSE 9000 9001\n{label}\n{run}"
    );
    let root = format!("FROM scratch\nCOPY rootfs/ /\nCOPY data /data\n{label}\n{run}");
    let tools = format!("FROM scratch\nCOPY tools/ /\n{label}\n");
    append_text(&mut b, "Dockerfile", &faithful);
    append_text(&mut b, "Dockerfile.root", &root);
    append_text(&mut b, "Dockerfile.chown", &tools);
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
    // The container does not read AUTHPLANE_DEV_USER_*: up made the user through the admin API.
    assert_eq!(step(&doc, "dev user")["detail"]["created"], true, "{doc:#}");

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
    assert_only_real_server_inputs(&docker, &name, image);
    // The image's user wrote the state: the server runs as nonroot, its data in the volume at
    // the real server's relative default (WORKDIR /data + `data/`).
    let state = archive(&docker, &name, "/data/data").expect("/data/data exists");
    assert!(!state.is_empty());
    for entry in &state {
        assert_eq!((entry.uid, entry.gid), (NONROOT, NONROOT), "{}", entry.path);
    }
    let kid = jwks_kid(stack.ports.public);

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

    // The kept volume is the data: a new container signs with the same key.
    let (code, doc) = stack.json(&["--as", "docker", "--image", image, "up"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        jwks_kid(stack.ports.public),
        kid,
        "the signing key survived clean"
    );
    assert_eq!(
        step(&doc, "dev user")["detail"]["created"],
        false,
        "{doc:#}"
    );

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

/// The layer: the faithful image's files (the server, passwd and group, `/data` owned by
/// nonroot in the tar header) and a file unique to `tag`.
fn layer_tar(tag: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.sparse(false);
    append_dir(&mut b, "data/", 0o755, NONROOT);
    append_server(&mut b, "");
    append_text(&mut b, "pulled-tag", tag);
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
            "config": {
                "User": IMAGE_USER,
                "WorkingDir": IMAGE_WORKDIR,
                "ExposedPorts": {IMAGE_PORTS[0]: {}, IMAGE_PORTS[1]: {}},
                "Entrypoint": [IMAGE_ENTRYPOINT],
                "Cmd": [IMAGE_CMD],
            },
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
    // The faithful image keeps its state in `data/` under its WORKDIR (the volume), as nonroot.
    let state_dir = std::path::Path::new(&volume.mountpoint).join("data");
    let fifo = state_dir.join("state.json");
    let made = std::fs::create_dir(&state_dir)
        .and_then(|()| std::os::unix::fs::chown(&state_dir, Some(65532), Some(65532)))
        .map_err(|e| e.to_string())
        .and_then(|()| {
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .output()
                .map_err(|e| e.to_string())
        });
    if !made.as_ref().is_ok_and(|out| out.status.success()) {
        // A rootless or remote engine, or a user in the docker group who cannot write below
        // /var/lib/docker: the FIFO cannot be put in place from this host.
        skip(
            REQUIRE_DOCKER,
            &format!(
                "cannot create a FIFO owned by 65532 in the volume's mount point {} ({}); the \
                 engine must be local and its volumes writable by this user (as root)",
                volume.mountpoint,
                made.map_or_else(
                    |e| e,
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

/// One entry of a container's file archive.
struct Entry {
    path: String,
    uid: u64,
    gid: u64,
    mode: u32,
    kind: tar::EntryType,
    text: String,
}

/// The entries under `path` in container `name` (running or not), from the Engine's archive API;
/// None when the path does not exist.
fn archive(docker: &Docker, name: &str, path: &str) -> Option<Vec<Entry>> {
    use std::io::Read as _;
    let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
        .path(path)
        .build();
    let bytes = rt().block_on(async {
        let mut stream = docker.download_from_container(name, Some(options));
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.ok()?);
        }
        Some(bytes)
    })?;
    let mut entries = Vec::new();
    let mut tar = tar::Archive::new(bytes.as_slice());
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let mut text = String::new();
        if header.entry_type().is_file() && header.size().unwrap() < 4096 {
            let _ = entry.read_to_string(&mut text);
        }
        entries.push(Entry {
            path: entry.path().unwrap().display().to_string(),
            uid: header.uid().unwrap(),
            gid: header.gid().unwrap(),
            mode: header.mode().unwrap(),
            kind: header.entry_type(),
            text,
        });
    }
    Some(entries)
}

/// The `kid` of the first key the AS on `port` publishes.
fn jwks_kid(port: u16) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET /.well-known/jwks.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let body = reply.split_once("\r\n\r\n").unwrap().1;
    let jwks: serde_json::Value = serde_json::from_str(body).unwrap();
    jwks["keys"][0]["kid"].as_str().unwrap().to_owned()
}

/// The container's creation: a throwaway container of `image`, removed on drop.
struct Created {
    docker: Docker,
    id: String,
}

impl Drop for Created {
    fn drop(&mut self) {
        let _ = rt().block_on(self.docker.remove_container(
            &self.id,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        ));
    }
}

fn create(docker: &Docker, image: &str) -> Created {
    let body = bollard::models::ContainerCreateBody {
        image: Some(image.to_owned()),
        ..Default::default()
    };
    let id = rt()
        .block_on(docker.create_container(
            None::<bollard::query_parameters::CreateContainerOptions>,
            body,
        ))
        .unwrap()
        .id;
    Created {
        docker: docker.clone(),
        id,
    }
}

/// Item 1 of the Docker path's fidelity: the image the tests run is shaped like the published
/// one, so a backend that only works as root (or with a shell in the image) fails here.
#[test]
fn the_stand_in_image_is_shaped_like_the_published_one() {
    let Some(docker) = docker() else { return };
    let image = image(&docker);
    let config = rt()
        .block_on(docker.inspect_image(image))
        .unwrap()
        .config
        .unwrap();
    assert_eq!(config.user.as_deref(), Some(IMAGE_USER));
    assert_eq!(config.working_dir.as_deref(), Some(IMAGE_WORKDIR));
    let mut ports = config.exposed_ports.unwrap_or_default();
    ports.sort();
    assert_eq!(ports, IMAGE_PORTS);
    assert_eq!(config.entrypoint, Some(vec![IMAGE_ENTRYPOINT.to_owned()]));
    assert_eq!(config.cmd, Some(vec![IMAGE_CMD.to_owned()]));

    let created = create(&docker, image);
    let data = archive(&docker, &created.id, "/data").expect("/data exists");
    let top = &data[0];
    assert_eq!(top.kind, tar::EntryType::Directory, "{}", top.path);
    assert_eq!((top.uid, top.gid), (NONROOT, NONROOT), "/data is nonroot's");
    assert_eq!(top.mode & 0o700, 0o700, "its owner may write it");
    let passwd = archive(&docker, &created.id, "/etc/passwd").unwrap();
    assert!(
        passwd[0]
            .text
            .lines()
            .any(|l| l.starts_with("nonroot:x:65532:65532:")),
        "USER nonroot resolves to 65532: {}",
        passwd[0].text
    );
    assert!(archive(&docker, &created.id, "/authserver").is_some());
    for absent in [
        "/bin/sh",
        "/bin/chown",
        "/usr/bin/chown",
        "/bin",
        "/usr/bin",
    ] {
        assert!(
            archive(&docker, &created.id, absent).is_none(),
            "{absent} is in the image; the published one has no shell"
        );
    }
}

/// The real server's variable names (tests/reference, copied from the reference's §1.3 table):
/// the full names in the table's first column, and for a `/_SUFFIX` or `(+_SUFFIX …)` shorthand
/// every way of putting the suffix after a prefix of the row's first name
/// (`AUTHPLANE_ADMIN_ENABLED` / `_ADDRESS` → `AUTHPLANE_ADMIN_ADDRESS`, …); and the names the
/// reference says only the SDK side reads.
fn reference_variables() -> (std::collections::BTreeSet<String>, Vec<String>) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/authserver-0.2.2-variables.md"
    ))
    .unwrap();
    let ticked =
        |s: &str| -> Vec<String> { s.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    let mut names = std::collections::BTreeSet::new();
    let mut sdk_side = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("SDK-side") {
            sdk_side = ticked(rest);
        }
        let Some(cell) = line.strip_prefix("| ").and_then(|l| l.split(" | ").next()) else {
            continue;
        };
        // One cell may hold `A/_B/_C` in a single pair of backticks.
        let tokens: Vec<String> = ticked(cell)
            .iter()
            .flat_map(|t| {
                let mut parts = t.split('/');
                let first = parts.next().unwrap().to_owned();
                std::iter::once(first).chain(parts.map(str::to_owned))
            })
            .collect();
        let Some(first) = tokens.iter().find(|t| t.starts_with("AUTHPLANE_")) else {
            continue;
        };
        for token in &tokens {
            if token.starts_with("AUTHPLANE_") {
                names.insert(token.clone());
            } else if token.starts_with('_') {
                let cuts = first.match_indices('_').map(|(i, _)| i);
                for cut in cuts.filter(|&i| i > "AUTHPLANE".len()) {
                    names.insert(format!("{}{token}", &first[..cut]));
                }
            }
        }
    }
    assert!(names.contains("AUTHPLANE_SERVER_ISSUER") && names.contains("AUTHPLANE_ADMIN_ADDRESS"));
    assert!(
        sdk_side.contains(&"AUTHPLANE_ISSUER".to_owned()),
        "{sdk_side:?}"
    );
    (names, sdk_side)
}

/// Item 3, the function: what [`container_env`] gives the container from a configuration that
/// sets every variable authplane-dev knows (ours, the MCP server's, the AS's) is only variables
/// the real server reads — none of the SDK side's or our own — and every AS variable set.
#[test]
fn the_container_environment_holds_only_what_the_real_server_reads() {
    use authplane_dev::config::{
        AUTHSERVER_PASSTHROUGH, DOCUMENTED, MCP_SERVER_SIDE, Overrides, Settings, Vars,
    };
    let (reference, sdk_side) = reference_variables();
    let mut pairs: Vec<(String, String)> = DOCUMENTED
        .iter()
        .chain(AUTHSERVER_PASSTHROUGH)
        .chain(MCP_SERVER_SIDE)
        .map(|name| ((*name).to_owned(), String::new()))
        .collect();
    // Values that resolve: the rest may stay empty.
    for (name, value) in [
        ("AUTHPLANE_SERVER_ISSUER", "http://localhost:9000"),
        ("AUTHPLANE_BASE_URL", "http://localhost:8080"),
        ("AUTHPLANE_DEV_AS", "docker"),
        ("PORT", "8080"),
        ("AUTHPLANE_SESSION_SAME_SITE", "strict"),
    ] {
        pairs.retain(|(k, _)| k != name);
        pairs.push((name.to_owned(), value.to_owned()));
    }
    let settings = Settings::resolve(
        Vars::from_parts(Vec::new(), pairs),
        &Overrides::default(),
        std::path::Path::new(".env"),
        std::path::Path::new(".run"),
    )
    .unwrap();
    let env = authplane_dev::stack::docker::container_env(&settings);
    let names: Vec<&str> = env.iter().map(|kv| kv.split_once('=').unwrap().0).collect();
    for name in &names {
        assert!(
            reference.contains(*name),
            "{name} is not in the real server's variable table: {names:?}"
        );
        assert!(!sdk_side.iter().any(|s| s == name), "{name} is SDK-side");
        assert!(
            !MCP_SERVER_SIDE.contains(name),
            "{name} is the MCP server's"
        );
    }
    for name in AUTHSERVER_PASSTHROUGH {
        assert!(
            names.contains(name),
            "{name} (a real server variable) was dropped"
        );
    }
    assert!(
        names.contains(&"AUTHPLANE_SESSION_SAME_SITE"),
        "a real server variable authplane-dev does not know is passed on: {names:?}"
    );
    assert!(
        env.contains(&"AUTHPLANE_SERVER_ADDRESS=:9000".to_owned()),
        "{env:?}"
    );
    assert!(
        env.contains(&"AUTHPLANE_ADMIN_ADDRESS=:9001".to_owned()),
        "{env:?}"
    );
}

/// Item 3, the real container: environment (beyond the image's own), command, entrypoint, user,
/// working directory and mounts of the container `up` created.
fn assert_only_real_server_inputs(docker: &Docker, name: &str, image: &str) {
    let (reference, sdk_side) = reference_variables();
    let image_config = rt()
        .block_on(docker.inspect_image(image))
        .unwrap()
        .config
        .unwrap();
    let c = container(docker, name).unwrap();
    let config = c.config.unwrap();
    let image_env = image_config.env.unwrap_or_default();
    let ours: Vec<String> = config
        .env
        .unwrap_or_default()
        .into_iter()
        .filter(|kv| !image_env.contains(kv))
        .collect();
    assert!(
        ours.iter()
            .any(|kv| kv.starts_with("AUTHPLANE_SERVER_ISSUER=")),
        "{ours:?}"
    );
    for kv in &ours {
        let var = kv.split_once('=').unwrap().0;
        assert!(
            reference.contains(var),
            "{var} is not in the real server's table"
        );
        assert!(!sdk_side.iter().any(|s| s == var), "{var} is SDK-side");
    }
    // Nothing of the image's contract is overridden.
    assert_eq!(config.cmd, image_config.cmd, "command");
    assert_eq!(config.entrypoint, image_config.entrypoint, "entrypoint");
    assert_eq!(config.user, image_config.user, "user");
    assert_eq!(
        config.working_dir, image_config.working_dir,
        "working directory"
    );
    let mounts = c.mounts.unwrap_or_default();
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    assert_eq!(
        mounts[0].name.as_deref(),
        Some(format!("{name}-data").as_str())
    );
    assert_eq!(mounts[0].destination.as_deref(), Some(IMAGE_WORKDIR));
    assert_eq!(mounts[0].rw, Some(true));
}

/// Item 2: a data volume an older root image wrote is not the faithful image's to write. `up`
/// says so as volume_unwritable (the volume, the user, both fixes), not as as_unreachable with
/// the embedded binary's `--state-dir` advice; each fix then works: the chown one-liner (run as
/// printed, with a local image holding the host's `chown` standing in for busybox) and
/// `clean --all`.
#[test]
fn a_volume_an_older_root_image_wrote_is_volume_unwritable_and_each_fix_works() {
    let Some(docker) = docker() else { return };
    // The fix is a command line for the docker CLI; the test runs it as printed.
    if std::process::Command::new("docker")
        .arg("--version")
        .output()
        .is_err()
    {
        skip(
            REQUIRE_DOCKER,
            "the docker CLI is needed to run the printed chown one-liner",
        );
        return;
    }
    let (faithful, old) = (image(&docker), root_image(&docker));
    let name = unique("rootvol");
    let _cleanup = Cleanup {
        docker: docker.clone(),
        name: name.clone(),
    };
    let stack = stack_for(&name);
    let volume = format!("{name}-data");
    let old_image_then_faithful = || {
        let (code, doc) = stack.json(&["--as", "docker", "--image", old, "up"]);
        assert_eq!(code, 0, "the root image runs: {doc:#}");
        let (code, doc) = stack.json(&["--as", "docker", "clean"]);
        assert_eq!(code, 0, "{doc:#}");
        let (code, doc) = stack.json(&["--as", "docker", "--image", faithful, "up"]);
        assert_eq!(code, 3, "{doc:#}");
        assert_eq!(codes(&doc), ["volume_unwritable"], "{doc:#}");
        finding(&doc, "volume_unwritable").clone()
    };

    let f = old_image_then_faithful();
    let message = str_of(&f, "message");
    assert!(
        message.contains(&volume) && message.contains(&name),
        "{message}"
    );
    let why = str_of(&f, "why");
    assert!(why.contains("nonroot:nonroot (65532:65532)"), "{why}");
    assert!(
        str_of(&f, "actual")
            .to_lowercase()
            .contains("permission denied"),
        "{f:#}"
    );
    let fix = str_of(&f, "fix");
    assert!(fix.contains("authplane-dev clean --all"), "{fix}");
    assert!(
        !fix.contains("--state-dir"),
        "advice for the embedded binary: {fix}"
    );
    let one_liner = fix
        .split('`')
        .find(|part| part.starts_with("docker run"))
        .unwrap_or_else(|| panic!("no docker run one-liner: {fix}"))
        .to_owned();
    assert!(
        one_liner.contains(&format!("-v {volume}:/data")) && one_liner.contains("65532:65532"),
        "{one_liner}"
    );
    assert!(
        container(&docker, &name).is_none(),
        "the failed container was removed"
    );

    // Fix 1: the one-liner as printed, busybox swapped for the local stand-in.
    let swapped = one_liner.replace(" busybox ", &format!(" {} ", chown_image(&docker)));
    assert_ne!(swapped, one_liner, "{one_liner}");
    let out = std::process::Command::new("sh")
        .args(["-c", &swapped])
        .output()
        .expect("the docker CLI runs");
    assert!(
        out.status.success(),
        "{swapped}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, doc) = stack.json(&["--as", "docker", "--image", faithful, "up"]);
    assert_eq!(code, 0, "after the chown: {doc:#}");

    // Fix 2: `clean --all` (a fresh volume, owned as the image's /data is), then `up`.
    let (code, doc) = stack.json(&["--as", "docker", "clean", "--all"]);
    assert_eq!(code, 0, "{doc:#}");
    old_image_then_faithful();
    let (code, doc) = stack.json(&["--as", "docker", "clean", "--all"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(!volume_exists(&docker, &name));
    let (code, doc) = stack.json(&["--as", "docker", "--image", faithful, "up"]);
    assert_eq!(code, 0, "after clean --all: {doc:#}");
    let (code, doc) = stack.json(&["--as", "docker", "clean", "--all"]);
    assert_eq!(code, 0, "{doc:#}");
}
