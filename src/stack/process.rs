//! Background child processes and their pid files.
//!
//! `up` starts each embedded server as `authplane-dev --env-file … --run-dir … serve <name>`,
//! detached in its own process group, with a scrubbed environment plus the resolved variables, and
//! its output appended to `<run_dir>/<name>.log`. The pid file `<run_dir>/<name>.pid` records the
//! pid, the process start time (seconds since the epoch, from the OS through [`identity`]) and
//! the component, so a pid reused by an unrelated process is recognised as stale, not killed: a
//! pid file is trusted only while its pid runs, started at the recorded second and runs
//! `authplane-dev … serve <component>`.
//!
//! This module owns the files under `run_dir` that name processes; it never prints.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::cli::Component;
use crate::config::Settings;
use crate::exit::EnvError;
use crate::stack::{identity, platform};

/// The name used in file names, process arguments and JSON (`authserver`, `echo`).
pub fn name(component: Component) -> &'static str {
    match component {
        Component::Authserver => "authserver",
        Component::Echo => "echo",
    }
}

/// The name shown as a step (`authorization server`, `echo MCP server`).
pub fn title(component: Component) -> &'static str {
    match component {
        Component::Authserver => "authorization server",
        Component::Echo => "echo MCP server",
    }
}

/// `<run_dir>/<name>.pid`.
pub fn pid_path(run_dir: &Path, component: Component) -> PathBuf {
    run_dir.join(format!("{}.pid", name(component)))
}

/// `<run_dir>/<name>.log`.
pub fn log_path(run_dir: &Path, component: Component) -> PathBuf {
    run_dir.join(format!("{}.log", name(component)))
}

/// What a pid file says about a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidState {
    /// No pid file.
    Missing,
    /// The recorded process is alive and is our component.
    Running(u32),
    /// There is a pid file but it does not name a live process of ours; `reason` says why.
    Stale { pid: Option<u32>, reason: String },
}

/// The contents of a pid file: the pid, when that process started (seconds since the Unix epoch;
/// absent if the OS did not say) and the component name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidRecord {
    pub pid: u32,
    pub started_at: Option<u64>,
    pub component: String,
}

impl PidRecord {
    fn render(&self) -> String {
        let start = self.started_at.map_or_else(String::new, |t| t.to_string());
        format!(
            "{}\nstarted_at={start}\ncomponent={}\n",
            self.pid, self.component
        )
    }

    /// Parses a pid file's text; `None` when it is not one of ours (garbage, truncated).
    pub fn parse(text: &str) -> Option<PidRecord> {
        let mut lines = text.lines();
        let pid: u32 = lines.next()?.trim().parse().ok()?;
        if pid == 0 {
            return None;
        }
        let mut started_at = None;
        let mut component = String::new();
        for line in lines {
            // Older versions wrote `start_time=<clock ticks since boot>`, which cannot be
            // compared with seconds since the epoch: such a line is ignored, so the start time
            // is unknown and the command line alone decides (as it did when /proc had no answer).
            if let Some(v) = line.strip_prefix("started_at=") {
                started_at = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("component=") {
                v.trim().clone_into(&mut component);
            }
        }
        Some(PidRecord {
            pid,
            started_at,
            component,
        })
    }
}

/// Reads `component`'s pid file and checks the process it names.
pub fn inspect(run_dir: &Path, component: Component) -> PidState {
    let path = pid_path(run_dir, component);
    let text = match fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return PidState::Missing,
        Err(e) => {
            return PidState::Stale {
                pid: None,
                reason: format!("{} cannot be read ({e})", path.display()),
            };
        }
    };
    let Some(record) = PidRecord::parse(&text) else {
        return PidState::Stale {
            pid: None,
            reason: format!("{} does not hold a pid (corrupt content)", path.display()),
        };
    };
    match check_process(&record, component) {
        Ok(()) => PidState::Running(record.pid),
        Err(reason) => PidState::Stale {
            pid: Some(record.pid),
            reason,
        },
    }
}

/// Ok when `record.pid` is alive, is `authplane-dev … serve <component>` and (when recorded)
/// started at the recorded time; otherwise why not.
fn check_process(record: &PidRecord, component: Component) -> Result<(), String> {
    let pid = record.pid;
    let Some(process) = identity::lookup(pid) else {
        return Err(format!("process {pid} is gone"));
    };
    if !process.running {
        return Err(format!("process {pid} has exited"));
    }
    if let (Some(recorded), Some(actual)) = (record.started_at, process.started_at)
        && recorded != actual
    {
        return Err(format!(
            "pid {pid} now belongs to another process (start time differs)"
        ));
    }
    let ours = process
        .args
        .windows(2)
        .any(|w| w[0] == "serve" && w[1] == name(component));
    if ours {
        Ok(())
    } else {
        Err(format!(
            "pid {pid} now belongs to another program ({})",
            process.display_args()
        ))
    }
}

/// Err (exit 3) when `run_dir` exists but is not a directory (a file, a broken symlink's target
/// aside): nothing under it can be read or written, and the file is not ours to remove.
pub fn check_run_dir(run_dir: &Path) -> anyhow::Result<()> {
    match fs::metadata(run_dir) {
        Ok(meta) if !meta.is_dir() => Err(EnvError::explained(
            format!(
                "the state directory {} is not a directory",
                run_dir.display()
            ),
            "authplane-dev keeps its pid files, logs, client credentials and the embedded AS's \
             state there, and never removes a file it did not write",
            format!(
                "move it away (`mv {0} {0}.bak`), or pass --run-dir DIR",
                run_dir.display()
            ),
        )
        .into()),
        _ => Ok(()),
    }
}

/// Creates `run_dir` (mode 0700) if it does not exist, and restricts an existing one to its
/// owner: it holds the client secret, the AS's signing key and the logs.
pub fn ensure_run_dir(run_dir: &Path) -> anyhow::Result<()> {
    check_run_dir(run_dir)?;
    if !run_dir.is_dir() {
        platform::private_dir(fs::DirBuilder::new().recursive(true))
            .create(run_dir)
            .map_err(|e| {
                EnvError::explained(
                    format!("cannot create the state directory {}", run_dir.display()),
                    e.to_string(),
                    "check the permissions of the working directory, or pass --run-dir DIR",
                )
            })?;
    }
    restrict(run_dir, 0o700)
}

/// Sets `path`'s mode to `mode` unless it already is (a state file or directory someone created
/// with a looser mode, e.g. by an older version or by hand).
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    // No permission bits to check where the platform has none (Windows: inherited ACLs).
    let Some(current) = platform::mode(path) else {
        return Ok(());
    };
    if current.is_ok_and(|m| m == mode) {
        return Ok(());
    }
    platform::set_mode(path, mode).map_err(|e| {
        EnvError::explained(
            format!(
                "cannot restrict {} to its owner (mode {mode:o})",
                path.display()
            ),
            e.to_string(),
            format!(
                "it holds secrets: run `chmod {mode:o} {}` as its owner, or pass --run-dir with a \
                 directory of your own",
                path.display()
            ),
        )
        .into()
    })
}

/// `path` made absolute against the current directory (children run with the same cwd, but the
/// pid file and `ps` output should name the files unambiguously).
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_owned(), |cwd| cwd.join(path))
    }
}

/// Starts `component` in the background and writes its pid file. The returned [`Child`] lets the
/// caller notice an early exit while waiting for readiness; dropping it does not stop the process.
pub fn spawn(settings: &Settings, component: Component) -> anyhow::Result<Child> {
    let run_dir = absolute(&settings.run_dir);
    ensure_run_dir(&run_dir)?;
    let exe = std::env::current_exe().map_err(|e| {
        EnvError::explained(
            "cannot find the authplane-dev executable to start a background server",
            e.to_string(),
            "run authplane-dev from its installed path",
        )
    })?;
    let log = log_path(&run_dir, component);
    let open_log = || {
        platform::private_file(fs::OpenOptions::new().create(true).append(true))
            .open(&log)
            .map_err(|e| {
                EnvError::explained(
                    format!("cannot open the log file {}", log.display()),
                    e.to_string(),
                    format!("check the permissions of {}", run_dir.display()),
                )
            })
    };
    let stdout = open_log()?;
    // An existing log keeps its mode when appended to: make sure it is private.
    restrict(&log, 0o600)?;
    let stderr = open_log()?;
    let mut command = Command::new(&exe);
    // Detached: Ctrl-C in the terminal that ran `up` does not reach it, and on Unix it leads its
    // own process group, which `clean` signals as a whole.
    platform::detach(&mut command)
        .arg("--env-file")
        .arg(absolute(&settings.env_file))
        .arg("--run-dir")
        .arg(&run_dir)
        .arg("--color")
        .arg("never")
        .arg("serve")
        .arg(name(component))
        .env_clear()
        .envs(settings.vars.child_env())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    for keep in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(keep) {
            command.env(keep, value);
        }
    }
    let mut child = command.spawn().map_err(|e| {
        EnvError::explained(
            format!("cannot start `{} serve {}`", exe.display(), name(component)),
            e.to_string(),
            "check that the executable is still in place and the system has free process slots",
        )
    })?;
    let record = PidRecord {
        pid: child.id(),
        // The start time is the fork's, so reading it before the child has exec'd is fine.
        started_at: identity::lookup(child.id()).and_then(|p| p.started_at),
        component: name(component).to_owned(),
    };
    if let Err(e) = write_pid_file(&pid_path(&run_dir, component), &record) {
        // Without its pid file nothing could ever find and stop it again.
        platform::kill_now(child.id());
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    Ok(child)
}

fn write_pid_file(path: &Path, record: &PidRecord) -> anyhow::Result<()> {
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(EnvError::explained(
            format!("cannot write the pid file {}", path.display()),
            "a directory is in its place (authplane-dev never removes what it did not write)",
            format!(
                "remove it (`rm -r {}`) and run the command again",
                path.display()
            ),
        )
        .into());
    }
    let _ = fs::remove_file(path);
    let write = || -> std::io::Result<()> {
        let mut file = platform::private_file(fs::OpenOptions::new().write(true).create_new(true))
            .open(path)?;
        file.write_all(record.render().as_bytes())
    };
    write().map_err(|e| {
        EnvError::explained(
            format!("cannot write the pid file {}", path.display()),
            e.to_string(),
            "check the permissions of the state directory (--run-dir)",
        )
        .into()
    })
}

/// Removes `component`'s pid file; a missing file is fine.
pub fn remove_pid_file(run_dir: &Path, component: Component) -> std::io::Result<bool> {
    match fs::remove_file(pid_path(run_dir, component)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// How a stop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Exited after SIGTERM.
    Terminated,
    /// Needed SIGKILL (on Windows: always, there is no SIGTERM).
    Killed,
}

/// Stops the running `component` with pid `pid` (on Unix SIGTERM to its process group, then
/// SIGKILL after a grace period; see [`platform::stop`]) and removes its pid file.
pub fn stop(run_dir: &Path, component: Component, pid: u32) -> anyhow::Result<Stopped> {
    let stopped = platform::stop(pid)?;
    let _ = remove_pid_file(run_dir, component);
    Ok(stopped)
}

/// Stops a child this process started and reaps it (used when it never became ready).
pub fn stop_child(run_dir: &Path, component: Component, child: &mut Child) {
    platform::kill_now(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let _ = remove_pid_file(run_dir, component);
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    identity::lookup(pid).is_some_and(|p| p.running)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// A pid file is outside input (anyone can edit `.run/`): any text parses or is refused,
        /// never a panic, and what we write reads back the same.
        #[test]
        fn fuzz_pid_files_never_panic_and_round_trip(
            garbage in "\\PC{0,80}",
            pid in 1u32..,
            started_at in proptest::option::of(any::<u64>()),
            component in "[a-z]{1,12}",
        ) {
            let _ = PidRecord::parse(&garbage);
            let record = PidRecord { pid, started_at, component };
            prop_assert_eq!(PidRecord::parse(&record.render()), Some(record));
        }
    }

    use super::*;

    #[test]
    fn pid_records_round_trip_and_garbage_is_rejected() {
        let r = PidRecord {
            pid: 42,
            started_at: Some(7),
            component: "echo".into(),
        };
        assert_eq!(PidRecord::parse(&r.render()), Some(r));
        assert_eq!(PidRecord::parse("not a pid\n"), None);
        assert_eq!(PidRecord::parse(""), None);
        assert_eq!(PidRecord::parse("0\n"), None);
        assert_eq!(PidRecord::parse("\u{fffd}\u{0}"), None);
        assert_eq!(PidRecord::parse("12").map(|r| r.pid), Some(12));
    }

    #[test]
    fn garbage_pid_file_is_stale_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(pid_path(dir.path(), Component::Echo), b"\xff\xfegarbage").unwrap();
        assert!(matches!(
            inspect(dir.path(), Component::Echo),
            PidState::Stale { pid: None, .. }
        ));
        assert_eq!(
            inspect(dir.path(), Component::Authserver),
            PidState::Missing
        );
    }

    #[test]
    fn a_legacy_start_time_in_clock_ticks_is_read_as_unknown() {
        let legacy = "42\nstart_time=123456\ncomponent=echo\n";
        assert_eq!(
            PidRecord::parse(legacy),
            Some(PidRecord {
                pid: 42,
                started_at: None,
                component: "echo".into(),
            })
        );
        assert_eq!(
            PidRecord::parse("42\nstarted_at=\ncomponent=echo\n").map(|r| r.started_at),
            Some(None)
        );
    }

    #[test]
    fn a_reused_pid_is_told_by_its_start_time() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let started_at = identity::lookup(me).and_then(|p| p.started_at).unwrap();
        // The record of a server that had this pid an hour before this process started.
        let record = PidRecord {
            pid: me,
            started_at: Some(started_at - 3600),
            component: "echo".into(),
        };
        write_pid_file(&pid_path(dir.path(), Component::Echo), &record).unwrap();
        match inspect(dir.path(), Component::Echo) {
            PidState::Stale { pid, reason } => {
                assert_eq!(pid, Some(me));
                assert!(reason.contains("start time differs"), "{reason}");
            }
            other => panic!("expected stale, got {other:?}"),
        }
    }

    #[test]
    fn a_live_server_of_ours_is_running_and_its_pid_file_says_when_it_started() {
        // A process whose arguments contain `serve echo`, what check_process looks for: a shell
        // waiting in its builtin `read` (no child of its own to leave behind).
        let mut child = Command::new("sh")
            .args(["-c", "read -r line", "serve", "echo"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        // Right after the exec the kernel may not have set up the new argument area yet (the
        // command line reads empty for a moment): wait until it has, as `up`'s readiness wait does.
        for _ in 0..200 {
            if identity::lookup(pid).is_some_and(|p| !p.args.is_empty()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let dir = tempfile::tempdir().unwrap();
        let record = PidRecord {
            pid,
            started_at: identity::lookup(pid).and_then(|p| p.started_at),
            component: "echo".into(),
        };
        assert!(record.started_at.is_some());
        write_pid_file(&pid_path(dir.path(), Component::Echo), &record).unwrap();
        let text = fs::read_to_string(pid_path(dir.path(), Component::Echo)).unwrap();
        let state = inspect(dir.path(), Component::Echo);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(state, PidState::Running(pid), "{text}");
        assert!(text.contains("\nstarted_at="), "{text}");
        assert!(
            matches!(inspect(dir.path(), Component::Echo), PidState::Stale { .. }),
            "a reaped server is stale"
        );
    }

    #[test]
    fn a_pid_of_another_program_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let record = PidRecord {
            pid: me,
            started_at: identity::lookup(me).and_then(|p| p.started_at),
            component: "echo".into(),
        };
        write_pid_file(&pid_path(dir.path(), Component::Echo), &record).unwrap();
        match inspect(dir.path(), Component::Echo) {
            PidState::Stale { pid, reason } => {
                assert_eq!(pid, Some(me));
                assert!(reason.contains("another program"), "{reason}");
            }
            other => panic!("expected stale, got {other:?}"),
        }
    }
}
