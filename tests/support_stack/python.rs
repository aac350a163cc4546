//! The Python MCP servers of tests/python (FastMCP + authplane-fastmcp, the seed's kind of
//! server), started on a free port for a stack and killed when the test ends, even on failure.
//! Used by tests/fastmcp.rs (verify against them) and tests/oauth_clients.rs (the MCP SDK's
//! OAuth client against them).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{KillOnDrop, Stack, free_port, listening, wait_until};

/// A Python MCP server of tests/python, killed on drop.
pub struct PyServer {
    _process: KillOnDrop,
    /// `http://localhost:<port>/mcp`: what it announces as its resource.
    pub url: String,
}

/// Brings the stack's AS up (the adapter discovers it at startup), then starts `script` for it
/// on a free port and waits until it listens; panics with its log when it exits or never listens.
pub fn start(python: &Path, script: &str, stack: &Stack) -> PyServer {
    let (code, doc) = stack.json(&["up"]);
    assert_eq!(code, 0, "{doc:#}");
    let port = free_port();
    let log = stack.path(&format!("{script}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(python)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/python")
                .join(script),
        )
        .arg(format!("http://localhost:{}", stack.ports.public))
        .arg(format!("http://localhost:{port}"))
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let mut process = KillOnDrop(child);
    let up = wait_until(Duration::from_mins(1), || {
        listening(port) || !process.still_running()
    });
    assert!(
        up && process.still_running(),
        "{script} did not listen on {port}:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    PyServer {
        _process: process,
        url: format!("http://localhost:{port}/mcp"),
    }
}
