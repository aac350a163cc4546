//! What differs between Unix and Windows for the background servers: private file modes, detaching
//! a child from the terminal, and stopping it.
//!
//! On Unix a server leads its own process group, `clean` signals the group (SIGTERM, SIGCONT, then
//! SIGKILL after the grace period) and state files are created 0600/0700. Windows has no process
//! groups to signal and no graceful SIGTERM: a server is stopped by pid, at once (what `taskkill
//! /F` does), and files keep the ACLs inherited from the user's profile. Only Unix is tested.

use std::fs::{DirBuilder, OpenOptions};
use std::process::Command;
use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

use crate::exit::EnvError;
use crate::stack::process::{Stopped, alive};

/// How long a component gets to exit after SIGTERM before SIGKILL.
#[cfg(unix)]
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Makes `builder` create a directory only its owner can enter (Unix mode 0700).
pub fn private_dir(builder: &mut DirBuilder) -> &mut DirBuilder {
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(builder, 0o700);
    builder
}

/// Makes `options` create a file only its owner can read (Unix mode 0600).
pub fn private_file(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options
}

/// `path`'s permission bits, or `None` where the platform has none (Windows).
pub fn mode(path: &std::path::Path) -> Option<std::io::Result<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        Some(std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Sets `path`'s permission bits (Unix only; a no-op elsewhere).
pub fn set_mode(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// Completes when this process is asked to terminate (SIGTERM); never where there is no such
/// signal (Windows: Ctrl-C, watched by the callers, is the only request).
pub async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            term.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// Overwrites the start of `file` with `bytes` without moving a shared file offset (Unix) or
/// through it (elsewhere).
pub fn write_at_start(file: &std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, bytes, 0)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Seek as _, Write as _};
        let mut file = file;
        file.seek(std::io::SeekFrom::Start(0))?;
        file.write_all(bytes)
    }
}

/// True when `path` still names the file `file` has open: same device and inode on Unix. Where
/// std cannot tell (Windows), any file at `path` counts.
pub fn names_same_file(path: &std::path::Path, file: &std::fs::File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        match (std::fs::metadata(path), file.metadata()) {
            (Ok(on_disk), Ok(open)) => on_disk.dev() == open.dev() && on_disk.ino() == open.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.is_file()
    }
}

/// Detaches the child from the terminal that started it: Ctrl-C there does not reach it. On Unix
/// it leads its own process group, so stopping it stops whatever it started too.
pub fn detach(command: &mut Command) -> &mut Command {
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(command, 0);
    #[cfg(windows)]
    {
        // CREATE_NEW_PROCESS_GROUP: console Ctrl-C events are not delivered to it.
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        std::os::windows::process::CommandExt::creation_flags(command, CREATE_NEW_PROCESS_GROUP);
    }
    command
}

/// Kills `pid` (on Unix its whole process group) at once, without a grace period; used for a child
/// that must not outlive a failed start.
pub fn kill_now(pid: u32) {
    #[cfg(unix)]
    if let Ok(raw) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(raw),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    #[cfg(not(unix))]
    crate::stack::identity::kill(pid);
}

/// Stops the server `pid`: on Unix SIGTERM to its process group (SIGKILL after [`STOP_GRACE`]),
/// elsewhere killed by pid at once.
#[cfg(unix)]
pub fn stop(pid: u32) -> anyhow::Result<Stopped> {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;

    let raw = i32::try_from(pid).map_err(|_| anyhow::anyhow!("pid {pid} is out of range"))?;
    let group = Pid::from_raw(raw);
    match killpg(group, Signal::SIGTERM) {
        // A stopped server (Ctrl-Z, SIGSTOP) acts on SIGTERM only once continued.
        Ok(()) => {
            let _ = killpg(group, Signal::SIGCONT);
        }
        Err(nix::errno::Errno::ESRCH) => return Ok(Stopped::Terminated),
        Err(e) => {
            return Err(EnvError::explained(
                format!("cannot stop process group {pid}"),
                e.desc(),
                format!("stop it by hand: kill {pid}"),
            )
            .into());
        }
    }
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if !alive(pid) {
            return Ok(Stopped::Terminated);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = killpg(group, Signal::SIGKILL);
    wait_gone(pid, STOP_GRACE)?;
    Ok(Stopped::Killed)
}

/// Stops the server `pid`: on Unix SIGTERM to its process group (SIGKILL after a grace period),
/// elsewhere killed by pid at once.
#[cfg(not(unix))]
pub fn stop(pid: u32) -> anyhow::Result<Stopped> {
    if !alive(pid) {
        return Ok(Stopped::Terminated);
    }
    if !crate::stack::identity::kill(pid) {
        return Err(EnvError::explained(
            format!("cannot stop process {pid}"),
            "the system refused to end it",
            format!("stop it by hand: taskkill /PID {pid} /F"),
        )
        .into());
    }
    wait_gone(pid, Duration::from_secs(5))?;
    Ok(Stopped::Killed)
}

/// Waits up to `grace` for `pid` to be gone after it was killed.
fn wait_gone(pid: u32, grace: Duration) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline && alive(pid) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        return Err(EnvError::explained(
            format!("process {pid} is still running after it was killed"),
            "it may be stuck in the kernel (state D)",
            format!("check `ps -o pid,stat,cmd -p {pid}`"),
        )
        .into());
    }
    Ok(())
}
