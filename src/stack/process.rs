//! Background child processes and their pid files.
//!
//! `up` starts each embedded server as `authplane-dev --env-file … --run-dir … serve <name>`,
//! detached in its own process group, with a scrubbed environment plus the resolved variables, and
//! its output appended to `<run_dir>/<name>.log`. The pid file `<run_dir>/<name>.pid` records the
//! pid, the process start time (from `/proc/<pid>/stat`) and the command line marker, so a pid
//! reused by an unrelated process is recognised as stale, not killed.
//!
//! This module owns the files under `run_dir` that name processes; it never prints.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::cli::Component;
use crate::config::Settings;
use crate::exit::EnvError;

/// How long a component gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

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

/// The contents of a pid file: the pid, the kernel start time of that process (clock ticks since
/// boot; absent if `/proc` could not be read) and the component name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidRecord {
    pub pid: u32,
    pub start_time: Option<u64>,
    pub component: String,
}

impl PidRecord {
    fn render(&self) -> String {
        let start = self.start_time.map_or_else(String::new, |t| t.to_string());
        format!(
            "{}\nstart_time={start}\ncomponent={}\n",
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
        let mut start_time = None;
        let mut component = String::new();
        for line in lines {
            if let Some(v) = line.strip_prefix("start_time=") {
                start_time = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("component=") {
                v.trim().clone_into(&mut component);
            }
        }
        Some(PidRecord {
            pid,
            start_time,
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
    let Some(stat) = read_stat(pid) else {
        return Err(format!("process {pid} is gone"));
    };
    if stat.state == 'Z' || stat.state == 'X' {
        return Err(format!("process {pid} has exited"));
    }
    if let (Some(recorded), Some(actual)) = (record.start_time, stat.start_time)
        && recorded != actual
    {
        return Err(format!(
            "pid {pid} now belongs to another process (start time differs)"
        ));
    }
    let cmdline = cmdline(pid).unwrap_or_default();
    let args: Vec<&str> = cmdline.split('\0').collect();
    let ours = args
        .windows(2)
        .any(|w| w[0] == "serve" && w[1] == name(component));
    if ours {
        Ok(())
    } else {
        Err(format!(
            "pid {pid} now belongs to another program ({})",
            display_cmdline(&cmdline)
        ))
    }
}

struct Stat {
    state: char,
    start_time: Option<u64>,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or parentheses: the
    // fields that follow start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 of stat (starttime) is index 19 after the state (field 3).
    let start_time = fields.get(19).and_then(|v| v.parse().ok());
    Some(Stat { state, start_time })
}

/// The NUL-separated command line of `pid`.
pub fn cmdline(pid: u32) -> Option<String> {
    let bytes = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// A command line for humans: arguments joined with spaces, at most 120 characters.
pub fn display_cmdline(raw: &str) -> String {
    let joined = raw.trim_end_matches('\0').replace('\0', " ");
    if joined.chars().count() > 120 {
        let cut: String = joined.chars().take(117).collect();
        format!("{cut}...")
    } else {
        joined
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
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
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
    let current = fs::metadata(path).map(|m| m.permissions().mode() & 0o777);
    if current.is_ok_and(|m| m == mode) {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| {
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
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
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
    command
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
        .stderr(stderr)
        // Own process group: Ctrl-C in the terminal that ran `up` does not reach it, and `clean`
        // can signal the whole group.
        .process_group(0);
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
        start_time: read_stat(child.id()).and_then(|s| s.start_time),
        component: name(component).to_owned(),
    };
    if let Err(e) = write_pid_file(&pid_path(&run_dir, component), &record) {
        // Without its pid file nothing could ever find and stop it again.
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
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
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
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
    /// Needed SIGKILL.
    Killed,
}

/// Stops the running `component` with pid `pid` (SIGTERM to its process group, then SIGKILL after
/// a grace period) and removes its pid file.
pub fn stop(run_dir: &Path, component: Component, pid: u32) -> anyhow::Result<Stopped> {
    let stopped = stop_group(pid)?;
    let _ = remove_pid_file(run_dir, component);
    Ok(stopped)
}

/// Stops a child this process started and reaps it (used when it never became ready).
pub fn stop_child(run_dir: &Path, component: Component, child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = remove_pid_file(run_dir, component);
}

fn stop_group(pid: u32) -> anyhow::Result<Stopped> {
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
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline && alive(pid) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        return Err(EnvError::explained(
            format!("process {pid} is still running after SIGKILL"),
            "it may be stuck in the kernel (state D)",
            format!("check `ps -o pid,stat,cmd -p {pid}`"),
        )
        .into());
    }
    Ok(Stopped::Killed)
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    read_stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
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
            start_time in proptest::option::of(any::<u64>()),
            component in "[a-z]{1,12}",
        ) {
            let _ = PidRecord::parse(&garbage);
            let record = PidRecord { pid, start_time, component };
            prop_assert_eq!(PidRecord::parse(&record.render()), Some(record));
        }
    }

    use super::*;

    #[test]
    fn pid_records_round_trip_and_garbage_is_rejected() {
        let r = PidRecord {
            pid: 42,
            start_time: Some(7),
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
    fn a_pid_of_another_program_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let record = PidRecord {
            pid: me,
            start_time: read_stat(me).and_then(|s| s.start_time),
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
