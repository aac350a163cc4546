//! What the operating system says about one process: whether it runs, when it started and its
//! command line.
//!
//! Asked through `sysinfo` (Linux, macOS, Windows, FreeBSD), refreshing only the one pid asked
//! about, so a lookup costs a few small reads rather than a walk of every process. The start time
//! is in seconds since the Unix epoch on every platform; together with the pid it names one
//! process, which is how a pid file tells its server from an unrelated process that was given the
//! same pid later.

use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind};

/// One process as the OS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// False for a process that has exited but not been reaped yet (a zombie) or is being torn
    /// down: it holds nothing and answers nothing.
    pub running: bool,
    /// Seconds since the Unix epoch; `None` when the OS did not say.
    pub started_at: Option<u64>,
    /// The arguments, program first; empty when the OS does not let this user read them.
    pub args: Vec<String>,
}

impl ProcessInfo {
    /// The arguments for humans: joined with spaces, at most 120 characters.
    pub fn display_args(&self) -> String {
        // One line: an argument may hold newlines (`python3 -c '…'`), a finding is one paragraph.
        let joined: String = self
            .args
            .join(" ")
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if joined.chars().count() > 120 {
            let cut: String = joined.chars().take(117).collect();
            format!("{cut}...")
        } else {
            joined
        }
    }
}

/// Looks up `pid`; `None` when no such process exists.
pub fn lookup(pid: u32) -> Option<ProcessInfo> {
    let pid = Pid::from_u32(pid);
    let mut system = System::new();
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing().with_cmd(UpdateKind::Always),
    );
    let process = system.process(pid)?;
    let running = !matches!(
        process.status(),
        ProcessStatus::Zombie | ProcessStatus::Dead
    );
    // sysinfo reports 0 when it could not read the start time.
    let started_at = Some(process.start_time()).filter(|&t| t != 0);
    let args = process
        .cmd()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    Some(ProcessInfo {
        running,
        started_at,
        args,
    })
}

/// Ends `pid` at once (TerminateProcess); true when the OS accepted. Used where there are no
/// Unix signals to send: Unix callers signal the process group instead.
#[cfg(not(unix))]
pub fn kill(pid: u32) -> bool {
    let pid = Pid::from_u32(pid);
    let mut system = System::new();
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing(),
    );
    system.process(pid).is_some_and(sysinfo::Process::kill)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_running_with_its_arguments() {
        let me = lookup(std::process::id()).expect("this test process exists");
        assert!(me.running);
        let own: Vec<String> = std::env::args().collect();
        assert_eq!(me.args, own);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let started = me.started_at.expect("a start time");
        assert!(
            started <= now && now - started < 24 * 3600,
            "{started} vs {now}"
        );
    }

    #[test]
    fn a_start_time_read_twice_is_equal() {
        let pid = std::process::id();
        let first = lookup(pid).and_then(|p| p.started_at);
        let second = lookup(pid).and_then(|p| p.started_at);
        assert!(first.is_some());
        assert_eq!(first, second);
    }

    #[test]
    fn a_child_is_seen_until_reaped_then_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        // Right after the exec the kernel may not have set up the new argument area yet (the
        // command line reads empty for a moment): wait for it.
        let mut info = lookup(pid).expect("the child runs");
        for _ in 0..200 {
            if !info.args.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            info = lookup(pid).expect("the child runs");
        }
        assert!(info.running);
        assert_eq!(info.args, ["sleep", "30"]);
        child.kill().unwrap();
        // Killed but not yet reaped: a zombie, which holds nothing.
        let mut exited = None;
        for _ in 0..200 {
            exited = lookup(pid);
            if exited.as_ref().is_some_and(|p| !p.running) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(exited.map(|p| p.running), Some(false));
        child.wait().unwrap();
        // Reaped: gone (or, rarely, the pid already given to an unrelated new process).
        assert!(lookup(pid).is_none_or(|p| p.args != info.args || p.started_at != info.started_at));
    }

    #[test]
    fn long_command_lines_are_shortened_for_humans() {
        let info = ProcessInfo {
            running: true,
            started_at: None,
            args: vec!["python3".into(), "x".repeat(200)],
        };
        let shown = info.display_args();
        assert_eq!(shown.chars().count(), 120);
        assert!(shown.starts_with("python3 xxx") && shown.ends_with("..."));
    }
}
