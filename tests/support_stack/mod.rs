//! A stack in a temp directory on free ports: writes the `.env`, runs the real binary there with a
//! scrubbed environment, and on drop runs `authplane-dev clean` and kills whatever the pid files
//! still name, so no test leaves a server behind even when it fails.

#![allow(dead_code)] // each test file uses a different part of the helper

pub mod leaks;
pub mod port;
pub mod python;
pub mod skip;

pub use port::free_port;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Free ports for the AS public listener, the AS admin listener and the echo server.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub public: u16,
    pub admin: u16,
    pub echo: u16,
}

impl Ports {
    /// Three distinct free ports, never handed out before in this process.
    ///
    /// They are chosen below the kernel's ephemeral range (32768–60999 by default) and not with
    /// `bind(0)`: a port picked there and released until the server binds it could meanwhile be
    /// handed by the kernel to another test's `bind(0)` or become the source port of an outgoing
    /// connection, and the server's bind then fails — rarely, and more often the busier the
    /// machine (the likely cause of `a_garbage_pid_file_is_reported_stale_and_replaced` failing
    /// once under heavy load). Tests of one binary run on parallel threads, so the ports already
    /// given are remembered.
    pub fn free() -> Ports {
        Ports {
            public: free_port(),
            admin: free_port(),
            echo: free_port(),
        }
    }

    /// The stack variables for these ports (embedded backend, fresh secrets).
    pub fn vars(self) -> Vec<(String, String)> {
        let p = self.public;
        [
            ("AUTHPLANE_SERVER_ISSUER", format!("http://localhost:{p}")),
            ("AUTHPLANE_SERVER_ADDRESS", format!(":{p}")),
            ("AUTHPLANE_ADMIN_ADDRESS", format!(":{}", self.admin)),
            ("AUTHPLANE_ADMIN_API_KEY", random(40)),
            ("AUTHPLANE_SESSION_SECRET", random(40)),
            ("AUTHPLANE_ISSUER", format!("http://localhost:{p}")),
            (
                "AUTHPLANE_BASE_URL",
                format!("http://localhost:{}", self.echo),
            ),
            ("PORT", self.echo.to_string()),
            ("AUTHPLANE_DEV_AS", "embedded".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

fn random(len: usize) -> String {
    authplane_dev::config::generate_secret(len)
}

/// A stack directory; dropping it cleans up.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub ports: Ports,
    /// Variables set in the process environment of every command (instead of, or over, `.env`).
    pub env: Vec<(String, String)>,
}

impl Stack {
    /// A temp dir with a `.env` for free ports.
    pub fn new() -> Stack {
        let mut stack = Stack::without_env_file();
        // Everything comes from the file, nothing from the process environment.
        stack.env.clear();
        let body: String = stack
            .ports
            .vars()
            .into_iter()
            .fold(String::new(), |mut acc, (k, v)| {
                acc.push_str(&k);
                acc.push('=');
                acc.push_str(&v);
                acc.push('\n');
                acc
            });
        std::fs::write(stack.path(".env"), body).unwrap();
        stack
    }

    /// A temp dir with no `.env`: the ports (not the secrets) go through the process environment.
    pub fn without_env_file() -> Stack {
        let ports = Ports::free();
        let env = ports
            .vars()
            .into_iter()
            .filter(|(k, _)| !k.contains("SECRET") && !k.contains("API_KEY"))
            .collect();
        Stack {
            dir: tempfile::tempdir().unwrap(),
            ports,
            env,
        }
    }

    /// A path inside the stack directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs the binary in the stack directory with a scrubbed environment.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The command [`Stack::run`] runs, for a test that spawns it and drives it itself.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_authplane-dev"));
        cmd.current_dir(self.dir.path()).env_clear();
        for keep in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(keep) {
                cmd.env(keep, v);
            }
        }
        cmd.env("NO_COLOR", "1");
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.args(args);
        cmd
    }

    /// Runs with `--json`; returns the exit code and the parsed object (panics with the output when
    /// stdout is not exactly one JSON object).
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let value: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stdout is not one JSON object ({e})\nstdout:\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), value)
    }

    /// The admin API key the stack's `.env` holds.
    pub fn admin_key(&self) -> String {
        let text = std::fs::read_to_string(self.path(".env")).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("AUTHPLANE_ADMIN_API_KEY="))
            .expect("an admin key in .env")
            .trim_matches('"')
            .to_owned()
    }

    /// The JSON the stack's AS admin API answers to `GET path`, with the `.env`'s admin key.
    /// Not for use inside a tokio runtime (it runs its own).
    pub fn admin_get(&self, path: &str) -> Value {
        let key = self.admin_key();
        let url = format!("http://localhost:{}{path}", self.ports.admin);
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            reqwest::Client::new()
                .get(&url)
                .bearer_auth(&key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {url}: {e}"))
                .json()
                .await
                .unwrap_or_else(|e| panic!("GET {url} JSON: {e}"))
        })
    }

    /// The slugs of every resource registered on the stack's AS (`GET /admin/resources` with the
    /// admin key of its `.env`), sorted.
    pub fn registered_slugs(&self) -> Vec<String> {
        let list = self.admin_get("/admin/resources");
        let mut slugs: Vec<String> = list
            .as_array()
            .unwrap_or_else(|| panic!("/admin/resources: {list}"))
            .iter()
            .map(|r| r["slug"].as_str().unwrap().to_owned())
            .collect();
        slugs.sort();
        slugs
    }

    /// Replaces (or adds, at the end) `name=value` in the stack's `.env`, as a user editing it.
    pub fn set_in_env_file(&self, name: &str, value: &str) {
        let path = self.path(".env");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{name}=")))
            .map(str::to_owned)
            .collect();
        lines.push(format!("{name}={value}"));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }

    /// The pid recorded in `.run/<name>.pid`, if any.
    pub fn pid(&self, name: &str) -> Option<u32> {
        let text = std::fs::read_to_string(self.path(&format!(".run/{name}.pid"))).ok()?;
        text.lines().next()?.trim().parse().ok()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let pids: Vec<u32> = ["authserver", "echo"]
            .iter()
            .filter_map(|n| self.pid(n))
            .collect();
        let _ = self.run(&["clean"]);
        for pid in pids {
            // Only a process that is still one of our servers: never a recycled pid.
            let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("serve"));
            if alive(pid) && ours {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let rest = &stat[stat.rfind(')').unwrap() + 1..];
            !matches!(rest.trim_start().chars().next(), Some('Z' | 'X'))
        }
        Err(_) => false,
    }
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
pub fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// File mode bits of `path`.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A foreground child a test drives itself, killed and reaped on drop (std never signals a child
/// it has already reaped, so a recycled pid is safe).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Another program that a pid file may come to name (a recycled pid): `sleep 300` as the leader of
/// its own process group, as our servers are. Signalling its group (what `clean` does to a
/// server) would end it, unlike a pid that leads no group (`killpg` fails with ESRCH, which
/// `clean` reads as "already gone"), so [`KillOnDrop::still_running`] afterwards proves that
/// nothing was sent. Killed on drop.
pub fn bystander() -> KillOnDrop {
    use std::os::unix::process::CommandExt as _;
    KillOnDrop(
        Command::new("sleep")
            .arg("300")
            .stdin(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap(),
    )
}

impl KillOnDrop {
    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// True while the child has not exited (a signal that ended it makes this false).
    pub fn still_running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the one JSON document a command prints under `--json`.

/// The step called `name`.
pub fn step<'a>(doc: &'a Value, name: &str) -> &'a Value {
    find_in(doc, "steps", "name", name)
}

/// The first finding with `code`.
pub fn finding<'a>(doc: &'a Value, code: &str) -> &'a Value {
    find_in(doc, "findings", "code", code)
}

/// The component called `name` in `status --json`.
pub fn component<'a>(status: &'a Value, name: &str) -> &'a Value {
    find_in(status, "components", "name", name)
}

/// Every finding code, in order.
pub fn codes(doc: &Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings array in {doc:#}"))
        .iter()
        .map(|f| f["code"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A string member, or "" when absent.
pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

fn find_in<'a>(doc: &'a Value, list: &str, key: &str, value: &str) -> &'a Value {
    doc[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} array in {doc:#}"))
        .iter()
        .find(|item| item[key] == value)
        .unwrap_or_else(|| panic!("no {list} entry with {key} {value:?} in {doc:#}"))
}
