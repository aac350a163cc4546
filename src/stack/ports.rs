//! Port pre-flight: is a listening port free, and if not, which process holds it.
//!
//! A port is tested by binding the address the embedded server would bind. When that fails, the
//! holder is looked up without external tools, through the `listeners` crate (the OS's socket
//! tables on Linux, macOS, Windows and the BSDs) and its command line through [`identity`].
//! Processes of other users cannot be inspected without privileges; the result says so.

use std::net::TcpListener;

use listeners::{Protocol, SocketState};

use crate::stack::identity;

/// Who holds a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Found: the process id and its command line (for humans).
    Process { pid: u32, cmdline: String },
    /// The socket exists but its owner could not be identified (usually another user's process).
    Unknown { reason: String },
}

impl Holder {
    /// One phrase for a finding: "pid 123 (python3 -m http.server 9000)" or why it is unknown.
    pub fn describe(&self, port: u16) -> String {
        match self {
            Holder::Process { pid, cmdline } if cmdline.is_empty() => format!("pid {pid}"),
            Holder::Process { pid, cmdline } => format!("pid {pid} ({cmdline})"),
            Holder::Unknown { reason } => format!(
                "an unidentified process ({reason}; `{}` shows it)",
                find_holder_command(port)
            ),
        }
    }

    /// The pid, when known.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Holder::Process { pid, .. } => Some(*pid),
            Holder::Unknown { .. } => None,
        }
    }
}

/// Whether the bind address is free; `Err` carries the holder when it is taken.
pub fn check(bind: &str, port: u16) -> Result<(), Holder> {
    match TcpListener::bind(bind) {
        Ok(listener) => {
            drop(listener);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(holder(port)),
        // Any other bind error (e.g. an address not on this machine) is the server's to report
        // with its own wording; the pre-flight only looks for "in use".
        Err(_) => Ok(()),
    }
}

/// Finds the process listening on TCP `port` (any address).
pub fn holder(port: u16) -> Holder {
    // All listeners rather than `get_process_by_port`: that one takes the first socket with the
    // port in any state, and a connection in TIME_WAIT (owned by no process) would hide the
    // listener.
    let listeners = match listeners::get_all() {
        Ok(listeners) => listeners,
        Err(e) => {
            return Holder::Unknown {
                reason: format!("the listening sockets cannot be listed ({e})"),
            };
        }
    };
    let pid = listeners
        .iter()
        .filter(|l| {
            l.protocol == Protocol::TCP && l.state == SocketState::Listen && l.socket.port() == port
        })
        .map(|l| l.process.pid)
        .min();
    match pid {
        Some(pid) => Holder::Process {
            pid,
            cmdline: identity::lookup(pid)
                .map(|p| p.display_args())
                .unwrap_or_default(),
        },
        // Sockets are listed only with the process that owns them, and a process of another
        // user cannot be looked into without privileges.
        None => Holder::Unknown {
            reason: "it belongs to a process this user is not permitted to inspect".into(),
        },
    }
}

/// The command that shows a port's holder with privileges, on this platform.
pub fn find_holder_command(port: u16) -> String {
    if cfg!(target_os = "linux") {
        format!("sudo ss -ltnp 'sport = :{port}'")
    } else if cfg!(windows) {
        format!("netstat -ano | findstr :{port}")
    } else {
        format!("sudo lsof -nP -iTCP:{port} -sTCP:LISTEN")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_port_names_this_process() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = check(&format!("127.0.0.1:{port}"), port).unwrap_err();
        assert_eq!(held.pid(), Some(std::process::id()), "{held:?}");
        drop(listener);
        assert!(check(&format!("127.0.0.1:{port}"), port).is_ok());
    }

    #[test]
    fn a_listener_of_another_process_is_named_with_its_command_line() {
        // A real listener in a child process, on IPv6 loopback (the `tcp6` table on Linux).
        let probe = TcpListener::bind("[::1]:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let script = format!(
            "import socket,sys\ns=socket.socket(socket.AF_INET6)\ns.bind(('::1',{port}))\n\
             s.listen()\nprint('ready',flush=True)\nsys.stdin.read()"
        );
        let mut child = std::process::Command::new("python3")
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut ready,
        )
        .unwrap();
        let found = holder(port);
        let described = found.describe(port);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(ready.trim(), "ready");
        assert_eq!(found.pid(), Some(child.id()), "{found:?}");
        // `python3` may be a launcher that execs the real interpreter by its full path.
        assert!(
            described.starts_with(&format!("pid {} (", child.id()))
                && described.contains("python3 -c import socket,sys s=socket.socket("),
            "{described}"
        );
    }

    #[test]
    fn a_port_nobody_listens_on_has_no_holder() {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let found = holder(port);
        assert_eq!(found.pid(), None, "{found:?}");
        assert!(found.describe(port).contains(&format!(":{port}")));
    }

    #[test]
    fn unknown_holders_say_how_to_find_them() {
        let unknown = Holder::Unknown {
            reason: "it belongs to a process this user is not permitted to inspect".into(),
        };
        let text = unknown.describe(8080);
        assert!(
            text.contains("not permitted") && text.contains("8080"),
            "{text}"
        );
    }
}
