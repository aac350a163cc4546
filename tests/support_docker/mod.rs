//! The stand-in images the Docker tests build locally (nothing can be pulled here): the faithful
//! stand-in for the published `authplane/authserver` image, an older root-running one and a
//! busybox-like `chown`. Each is built once per test process from our own binary and tagged by a
//! hash of its build context, so test binaries and reruns share it.

#![allow(dead_code)] // each test file uses a different part of the helper

use std::sync::OnceLock;

use bollard::Docker;
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::support_stack::skip::{REQUIRE_DOCKER, skip};

pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

/// A connected client, or None (test skipped) when the daemon does not answer.
pub fn docker() -> Option<Docker> {
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
pub fn image(docker: &Docker) -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| build(docker, "Dockerfile", ""))
}

/// An older image of the kind that ran as root: the same server without `USER` or `WORKDIR`, and
/// a root-owned `/data`, so a volume it creates is root's.
pub fn root_image(docker: &Docker) -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| build(docker, "Dockerfile.root", "-root"))
}

/// The stand-in for the busybox image the volume_unwritable fix names (nothing can be pulled
/// here): the host's `chown` with its libraries, no entrypoint, like busybox.
pub fn chown_image(docker: &Docker) -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| build(docker, "Dockerfile.chown", "-chown"))
}

/// What the published image's config says (reference §1.1); the stand-in and the image the
/// loopback registry serves both carry it, and a test checks the built one against it.
pub const IMAGE_USER: &str = "nonroot:nonroot";
pub const IMAGE_WORKDIR: &str = "/data";
pub const IMAGE_PORTS: [&str; 2] = ["9000/tcp", "9001/tcp"];
pub const IMAGE_ENTRYPOINT: &str = "/authserver";
pub const IMAGE_CMD: &str = "serve";
/// distroless's nonroot user.
pub const NONROOT: u64 = 65532;

/// Builds `dockerfile` from [`context_tar`] unless present; the tag is a hash of the build context
/// (our binary and its libraries) plus `suffix`, so reruns with the same binary reuse the image
/// instead of piling up one image per test process; a rebuilt binary replaces it.
pub fn build(docker: &Docker, dockerfile: &str, suffix: &str) -> String {
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
pub const TEST_REPO: &str = "authplane-dev-test/authserver";

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Removes this checkout's earlier test images (other binaries: tags not starting with `keep`),
/// skipping any a container still uses (no force), so a test run elsewhere is never disturbed.
pub async fn prune_stale_test_images(docker: &Docker, keep: &str) {
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
pub fn checkout() -> String {
    hex(&Sha256::digest(env!("CARGO_MANIFEST_DIR").as_bytes()))[..16].to_owned()
}

/// distroless's /etc/passwd and /etc/group: `USER nonroot:nonroot` resolves through them.
pub const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
                      nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
pub const GROUP: &str = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n";

/// Appends a directory entry owned by `owner` (uid = gid).
pub fn append_dir(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, owner: u64) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(mode);
    h.set_uid(owner);
    h.set_gid(owner);
    h.set_size(0);
    b.append_data(&mut h, path, std::io::empty()).unwrap();
}

pub fn append_text(b: &mut tar::Builder<Vec<u8>>, path: &str, text: &str) {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(text.len() as u64);
    b.append_data(&mut h, path, text.as_bytes()).unwrap();
}

/// Appends `bin` as `<prefix><name>` and every shared library `ldd` lists for it at its own path
/// under `prefix`, each parent directory first (a layer needs them; a build context does not mind).
pub fn append_with_libraries(b: &mut tar::Builder<Vec<u8>>, prefix: &str, bin: &str, name: &str) {
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
pub fn append_server(b: &mut tar::Builder<Vec<u8>>, prefix: &str) {
    append_with_libraries(b, prefix, env!("CARGO_BIN_EXE_authplane-dev"), "authserver");
    append_dir(b, &format!("{prefix}etc/"), 0o755, 0);
    append_text(b, &format!("{prefix}etc/passwd"), PASSWD);
    append_text(b, &format!("{prefix}etc/group"), GROUP);
}

/// The build context of the three images: `rootfs/` (the server), `tools/` (the host's `chown`),
/// an empty `data/`, and a Dockerfile each. COPY makes files root's, so
/// /data's owner comes from `--chown`, as in the published image.
pub fn context_tar() -> Vec<u8> {
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
