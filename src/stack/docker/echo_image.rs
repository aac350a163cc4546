//! The echo server's image for the containers topology, built locally through the Engine API
//! (nothing is pulled, no registry is involved) from this very binary: a `FROM scratch` image
//! holding the binary and the shared libraries `ldd` lists for it (none for a static binary),
//! run as an unprivileged user. The tag is a hash of those files plus this project directory's
//! hash, so the image is reused while the binary is unchanged, a rebuilt binary gets a new one,
//! and each project directory owns its own (the layers are shared by content): it carries our
//! managed and project labels, and `clean` removes exactly this project's echo images.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, RemoveImageOptions};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::stack::docker::{MANAGED_LABEL, PROJECT_LABEL, project_hash};

/// The repository of the echo images.
pub const REPOSITORY: &str = "authplane-dev/echo";
/// Label naming an echo image built by authplane-dev (its value is the hash of its files).
pub const IMAGE_LABEL: &str = "dev.authplane.echo-image";
/// The binary's path inside the image.
pub const BINARY: &str = "/authplane-dev";
/// An unprivileged uid:gid (distroless's `nonroot`): the echo server needs no privilege and
/// writes nothing.
const USER: &str = "65532:65532";

/// A build context: the tar the engine builds from, and the tag it gets.
pub struct Context {
    pub tar: Vec<u8>,
    pub tag: String,
}

/// The build context for the binary running now.
pub fn context() -> Result<Context, String> {
    if !cfg!(target_os = "linux") {
        return Err(
            "the echo server's image is built from this binary, which only a Linux build can be"
                .to_owned(),
        );
    }
    let binary = std::env::current_exe()
        .map_err(|e| format!("cannot find this program's own binary: {e}"))?;
    context_for(&binary)
}

/// The build context for `binary` (a Linux executable): the binary as [`BINARY`], each shared
/// library `ldd` lists at its own path, and the Dockerfile.
pub fn context_for(binary: &Path) -> Result<Context, String> {
    let libraries = shared_libraries(binary)?;
    let mut tar = tar::Builder::new(Vec::new());
    // The engine cannot read GNU sparse entries, which the debug binary would otherwise become.
    tar.sparse(false);
    let mut files = vec![(
        binary.to_path_buf(),
        BINARY.trim_start_matches('/').to_owned(),
    )];
    files.extend(libraries.into_iter().map(|lib| {
        let inside = lib.display().to_string().trim_start_matches('/').to_owned();
        (lib, inside)
    }));
    let mut dirs = BTreeSet::new();
    for (_, inside) in &files {
        let mut parent = Path::new(inside).parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(format!("rootfs/{}/", dir.display()));
            parent = dir.parent();
        }
    }
    let io = |e: std::io::Error| format!("cannot pack the echo image's build context: {e}");
    for dir in &dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        tar.append_data(&mut header, dir, std::io::empty())
            .map_err(io)?;
    }
    for (path, inside) in &files {
        // Follows symbolic links (libc.so.6 → libc-2.36.so): the image gets the file itself.
        tar.append_path_with_name(path, format!("rootfs/{inside}"))
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    }
    let digest = Sha256::digest(tar.get_ref());
    let short = digest.iter().take(8).fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    let project = project_hash();
    let dockerfile = dockerfile(&short, &project);
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(dockerfile.len() as u64);
    tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .map_err(io)?;
    Ok(Context {
        tar: tar.into_inner().map_err(io)?,
        tag: format!("{REPOSITORY}:{short}-{project}"),
    })
}

/// The Dockerfile: the files, an unprivileged user, our labels, `serve echo` as the command.
fn dockerfile(hash: &str, project: &str) -> String {
    format!(
        "FROM scratch\nCOPY rootfs/ /\nUSER {USER}\n\
         LABEL {MANAGED_LABEL}=true {PROJECT_LABEL}={project} {IMAGE_LABEL}={hash}\n\
         ENTRYPOINT [\"{BINARY}\"]\nCMD [\"serve\", \"echo\"]\n"
    )
}

/// The shared libraries `ldd` lists for `binary` (the dynamic loader included); none for a
/// static binary.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let out = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| {
            format!(
                "cannot run `ldd` to list the shared libraries of {}: {e}",
                binary.display()
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let all = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
        // glibc's ldd says "not a dynamic executable", musl's "statically linked".
        if all.contains("not a dynamic executable") || all.contains("statically linked") {
            return Ok(Vec::new());
        }
        return Err(format!("`ldd {}` failed: {}", binary.display(), all.trim()));
    }
    Ok(text
        .lines()
        .filter_map(|line| line.split_whitespace().find(|w| w.starts_with('/')))
        .map(PathBuf::from)
        .collect())
}

/// `<run_dir>/echo-image`: the tag computed for this binary last time, with the binary's path,
/// size and modification time, so a warm `verify` need not pack and hash the binary again.
pub fn record_path(run_dir: &Path) -> PathBuf {
    run_dir.join("echo-image")
}

/// What identifies the running binary cheaply: its path, size and modification time.
fn binary_identity() -> Option<String> {
    let binary = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(&binary).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{} {modified} {}", meta.len(), binary.display()))
}

/// The tag recorded in `run_dir` for this very binary and project, if any.
pub fn recorded_tag(run_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(record_path(run_dir)).ok()?;
    let (identity, tag) = text.trim_end().split_once('\n')?;
    (identity == binary_identity()? && tag.ends_with(&project_hash())).then(|| tag.to_owned())
}

/// Records `tag` as this binary's (best effort: without the record the next run hashes again).
pub fn record_tag(run_dir: &Path, tag: &str) {
    if let Some(identity) = binary_identity() {
        let _ = crate::private_files::write_file(
            &record_path(run_dir),
            format!("{identity}\n{tag}\n").as_bytes(),
            crate::private_files::Durability::Unsynced,
        );
    }
}

/// Whether image `tag` exists.
pub async fn exists(docker: &Docker, tag: &str) -> bool {
    docker.inspect_image(tag).await.is_ok()
}

/// Makes sure the image of `context` exists: Ok(true) when it was built now, Ok(false) when it
/// was there; Err is the engine's reason.
pub async fn ensure(docker: &Docker, context: Context) -> Result<bool, String> {
    if docker.inspect_image(&context.tag).await.is_ok() {
        return Ok(false);
    }
    let options = BuildImageOptionsBuilder::default()
        .t(&context.tag)
        .dockerfile("Dockerfile")
        .rm(true)
        .forcerm(true)
        .build();
    let mut stream =
        docker.build_image(options, None, Some(bollard::body_full(context.tar.into())));
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(detail) = info.error_detail {
                    return Err(detail
                        .message
                        .unwrap_or_else(|| "the engine reported a build error".to_owned()));
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(true)
}

/// The tags of this project directory's echo images (of any binary).
async fn own_tags(docker: &Docker) -> anyhow::Result<Vec<String>> {
    let filters = std::collections::HashMap::from([(
        "label".to_owned(),
        vec![
            IMAGE_LABEL.to_owned(),
            format!("{PROJECT_LABEL}={}", project_hash()),
        ],
    )]);
    let options = bollard::query_parameters::ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let images = docker.list_images(Some(options)).await?;
    Ok(images.into_iter().flat_map(|i| i.repo_tags).collect())
}

/// Removes this project directory's echo images but `keep` (older binaries' images once a new one
/// runs; all of them for `clean`). One a container still uses is kept by the engine (it refuses
/// without force) and listed in [`Pruned::kept`] with the engine's words.
pub async fn remove_own(docker: &Docker, keep: Option<&str>) -> anyhow::Result<Pruned> {
    let mut pruned = Pruned::default();
    for tag in own_tags(docker).await? {
        if Some(tag.as_str()) == keep {
            continue;
        }
        match docker
            .remove_image(&tag, None::<RemoveImageOptions>, None)
            .await
        {
            Ok(_) => pruned.removed.push(tag),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            }) => pruned.kept.push((tag, message)),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(pruned)
}

/// What [`remove_own`] did.
#[derive(Debug, Default)]
pub struct Pruned {
    pub removed: Vec<String>,
    /// Images still in use: tag and the engine's reason.
    pub kept: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_holds_the_binary_its_libraries_and_a_scratch_dockerfile() {
        let Ok(context) = context() else { return };
        let mut archive = tar::Archive::new(context.tar.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(
            names.contains(&"rootfs/authplane-dev".to_owned()),
            "{names:?}"
        );
        assert!(names.contains(&"Dockerfile".to_owned()), "{names:?}");
        assert!(context.tag.starts_with("authplane-dev/echo:"));
        // The same binary gives the same tag: the image is reused.
        assert_eq!(super::context().unwrap().tag, context.tag);
    }

    #[test]
    fn the_dockerfile_is_from_scratch_unprivileged_and_labelled() {
        let text = dockerfile("abc", "p1");
        assert!(text.starts_with("FROM scratch\n"));
        assert!(text.contains("USER 65532:65532"));
        assert!(text.contains(
            "dev.authplane.managed=true dev.authplane.project=p1 dev.authplane.echo-image=abc"
        ));
    }
}
