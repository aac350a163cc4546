//! What this invocation started, so that an interrupted `up` (Ctrl-C / SIGTERM while it waits
//! for readiness) can stop it again and leave no process, container or pid file behind.
//!
//! The record is process-wide: one CLI invocation is one process, and the steps that start things
//! (`ensure_component`, `ensure_container`) are far from the command that handles the signal.
//! Processes are recorded right after they are spawned (no await in between, so a signal is
//! noticed only once the record exists) and forgotten when they are stopped and reaped; a child
//! that is not reaped keeps its pid, so a recorded pid can never name someone else's process.
//! A container is recorded by name before it is created, so one created by a request that was
//! cut short is still removed.

use std::path::PathBuf;
use std::sync::Mutex;

#[cfg(unix)]
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::cli::Component;
use crate::stack::{docker, process};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Launch {
    Process {
        run_dir: PathBuf,
        component: Component,
        pid: u32,
    },
    Container {
        name: String,
    },
    Network {
        name: String,
    },
}

static LAUNCHED: Mutex<Vec<Launch>> = Mutex::new(Vec::new());

fn launched() -> std::sync::MutexGuard<'static, Vec<Launch>> {
    LAUNCHED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records a background process this invocation spawned.
pub fn record_process(run_dir: PathBuf, component: Component, pid: u32) {
    launched().push(Launch::Process {
        run_dir,
        component,
        pid,
    });
}

/// Forgets a process this invocation stopped and reaped itself.
pub fn forget_process(pid: u32) {
    launched().retain(|l| !matches!(l, Launch::Process { pid: p, .. } if *p == pid));
}

/// Records a container this invocation is about to create.
pub fn record_container(name: &str) {
    launched().push(Launch::Container {
        name: name.to_owned(),
    });
}

/// Forgets a container this invocation removed itself.
pub fn forget_container(name: &str) {
    launched().retain(|l| !matches!(l, Launch::Container { name: n } if n == name));
}

/// Records a Docker network this invocation is about to create (removed after its containers).
pub fn record_network(name: &str) {
    launched().push(Launch::Network {
        name: name.to_owned(),
    });
}

/// Forgets a network this invocation did not create after all (it existed).
pub fn forget_network(name: &str) {
    launched().retain(|l| !matches!(l, Launch::Network { name: n } if n == name));
}

/// Stops everything recorded, newest first (the echo server before the authorization server):
/// SIGTERM to each process group then SIGKILL after the grace period, pid files removed;
/// containers force-removed (their data volume stays, as with `clean`). Returns one phrase per
/// thing stopped, and one per thing that could not be stopped (saying how to do it by hand).
pub async fn undo() -> Undone {
    let all = std::mem::take(&mut *launched());
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for launch in all.into_iter().rev() {
        match launch {
            Launch::Process {
                run_dir,
                component,
                pid,
            } => {
                let title = process::title(component);
                match process::stop(&run_dir, component, pid) {
                    Ok(_) => done.push(format!("stopped the {title} (pid {pid})")),
                    Err(e) => failed.push(format!("could not stop the {title} (pid {pid}): {e}")),
                }
            }
            Launch::Container { name } => {
                let removed = match docker::connect().await {
                    Ok(client) => docker::remove(&client, &name)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(f) => Err(f.message),
                };
                match removed {
                    Ok(true) => done.push(format!("removed container {name}")),
                    Ok(false) => {}
                    Err(e) => failed.push(format!(
                        "could not remove container {name} ({e}); remove it with `docker rm -f {name}`"
                    )),
                }
            }
            Launch::Network { name } => {
                let removed = match docker::connect().await {
                    Ok(client) => docker::network::remove(&client, &name)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(f) => Err(f.message),
                };
                match removed {
                    Ok(true) => done.push(format!("removed network {name}")),
                    Ok(false) => {}
                    Err(e) => failed.push(format!(
                        "could not remove network {name} ({e}); remove it with `docker network rm {name}`"
                    )),
                }
            }
        }
    }
    Undone { done, failed }
}

/// What [`undo`] did.
#[derive(Debug, Default)]
pub struct Undone {
    /// "stopped the authorization server (pid N)", "removed container X".
    pub done: Vec<String>,
    /// What could not be stopped, with the command to do it by hand.
    pub failed: Vec<String>,
}

/// SIGINT and SIGTERM (Windows: Ctrl-C), caught from the moment [`Interrupts::install`] returns.
pub struct Interrupts {
    #[cfg(unix)]
    int: Signal,
    #[cfg(unix)]
    term: Signal,
    #[cfg(not(unix))]
    ctrl_c: tokio::signal::windows::CtrlC,
}

impl Interrupts {
    /// Installs the handlers (they replace the default "terminate" action for this process).
    pub fn install() -> std::io::Result<Interrupts> {
        Ok(Interrupts {
            #[cfg(unix)]
            int: signal(SignalKind::interrupt())?,
            #[cfg(unix)]
            term: signal(SignalKind::terminate())?,
            #[cfg(not(unix))]
            ctrl_c: tokio::signal::windows::ctrl_c()?,
        })
    }

    /// Completes with the signal's name when one arrives.
    #[cfg(unix)]
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }

    /// Completes with the signal's name when one arrives.
    #[cfg(not(unix))]
    pub async fn recv(&mut self) -> &'static str {
        self.ctrl_c.recv().await;
        "Ctrl-C"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_removes_only_the_named_entry() {
        // The record is process-wide and other tests may use it: every entry here is unique to
        // this test, and only these are looked at.
        let run_dir = PathBuf::from("/nonexistent-run-forget");
        let ours = |l: &Launch| match l {
            Launch::Process { run_dir: d, .. } => *d == run_dir,
            Launch::Container { name } | Launch::Network { name } => {
                name.starts_with("authplane-dev-test-forget-")
            }
        };
        record_process(run_dir.clone(), Component::Authserver, 4_000_001);
        record_process(run_dir.clone(), Component::Echo, 4_000_002);
        record_container("authplane-dev-test-forget-a");
        record_container("authplane-dev-test-forget-b");
        forget_process(4_000_001);
        forget_container("authplane-dev-test-forget-a");
        let left: Vec<Launch> = launched().iter().filter(|l| ours(l)).cloned().collect();
        assert_eq!(
            left,
            vec![
                Launch::Process {
                    run_dir: run_dir.clone(),
                    component: Component::Echo,
                    pid: 4_000_002,
                },
                Launch::Container {
                    name: "authplane-dev-test-forget-b".to_owned(),
                },
            ]
        );
        forget_process(4_000_002);
        forget_container("authplane-dev-test-forget-b");
        assert!(!launched().iter().any(ours));
    }
}
