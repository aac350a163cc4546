//! Port pre-flight: is a listening port free, and if not, which process holds it.
//!
//! A port is tested by binding the address the embedded server would bind. When that fails, the
//! holder is looked up without external tools: the LISTEN socket's inode from `/proc/net/tcp` and
//! `/proc/net/tcp6`, then the process whose `/proc/<pid>/fd` links to `socket:[inode]`. Processes
//! of other users cannot be inspected without privileges; the result says so.

use std::fs;
use std::net::TcpListener;

use crate::stack::process;

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
                "an unidentified process ({reason}; `ss -ltnp 'sport = :{port}'` as root shows it)"
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
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return Holder::Unknown {
            reason: "no LISTEN socket for it is visible in /proc/net/tcp".into(),
        };
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return Holder::Unknown {
            reason: "/proc cannot be read".into(),
        };
    };
    let mut denied = false;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let fds = match fs::read_dir(entry.path().join("fd")) {
            Ok(fds) => fds,
            Err(e) => {
                denied |= e.kind() == std::io::ErrorKind::PermissionDenied;
                continue;
            }
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            let hit = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|inode| inodes.contains(&inode));
            if hit {
                let cmdline = process::cmdline(pid)
                    .map(|c| process::display_cmdline(&c))
                    .unwrap_or_default();
                return Holder::Process { pid, cmdline };
            }
        }
    }
    Holder::Unknown {
        reason: if denied {
            "it belongs to a process this user is not permitted to inspect".into()
        } else {
            "no process with that socket was found".into()
        },
    }
}

/// Inodes of LISTEN sockets on `port` from `/proc/net/tcp` and `/proc/net/tcp6`.
fn listening_inodes(port: u16) -> Vec<u64> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = fs::read_to_string(table) {
            inodes.extend(parse_listen_inodes(&text, port));
        }
    }
    inodes
}

/// Parses a `/proc/net/tcp`-format table: rows whose local port is `port` and state is `0A`
/// (LISTEN); returns their inodes.
fn parse_listen_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let state = fields.get(3)?;
            let inode = fields.get(9)?.parse::<u64>().ok()?;
            let (_, hex_port) = local.rsplit_once(':')?;
            let row_port = u16::from_str_radix(hex_port, 16).ok()?;
            (row_port == port && *state == "0A" && inode != 0).then_some(inode)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// `/proc/net/tcp` is read as text: any table parses without a panic, and a LISTEN row
        /// for the port among garbage rows is found.
        #[test]
        fn fuzz_proc_net_tcp_never_panics_and_finds_listen_rows(
            garbage in proptest::collection::vec("\\PC{0,60}", 0..6),
            port in 1u16..,
            inode in 1u64..,
        ) {
            let mut table = String::from("  sl  local_address rem_address st ...\n");
            for line in &garbage {
                table.push_str(line);
                table.push('\n');
            }
            let _ = parse_listen_inodes(&table, port);
            let listen_row = format!(
                "   9: 0100007F:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0  0 {inode} 1 0\n"
            );
            table.push_str(&listen_row);
            prop_assert!(parse_listen_inodes(&table, port).contains(&inode));
        }
    }

    use super::*;

    #[test]
    fn listen_rows_are_matched_by_port_and_state() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0\n\
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 999 1 0\n\
   2: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0\n";
        assert_eq!(parse_listen_inodes(table, 8080), vec![12345]);
        assert_eq!(parse_listen_inodes(table, 8081), vec![777]);
        assert!(parse_listen_inodes(table, 9).is_empty());
    }

    #[test]
    fn a_held_port_names_this_process() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = check(&format!("127.0.0.1:{port}"), port).unwrap_err();
        assert_eq!(held.pid(), Some(std::process::id()), "{held:?}");
        drop(listener);
        assert!(check(&format!("127.0.0.1:{port}"), port).is_ok());
    }
}
