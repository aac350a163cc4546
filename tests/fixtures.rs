//! The fixtures suite: every directory under `fixtures/` is one scenario. Its `env` is a `.env`
//! overlay (placeholders `{AS_PORT}`, `{ADMIN_PORT}`, `{ECHO_PORT}`, `{STUB_PORT}`) applied on top
//! of a healthy free-port base config; `expected.json` gives, for `doctor` and (optionally)
//! `verify`, the exit code and the finding codes, compared as sorted lists (a code reported twice
//! must be listed twice): `{"doctor": {"exit": 1, "codes": ["…"]}, "verify": {…}}`. An optional
//! `setup.json` says how to set it up, in this order:
//! - `"stub_as": <jwks>`: a loopback stub AS serving discovery and this JWKS (`{STUB_PORT}`);
//! - `"apply"`: `"cli"` (default: the overlay goes into the CLI's process environment, the stack
//!   runs the base config), `"server"` (the overlay is written into `.env` before `up`) or
//!   `"restart_authserver"` (after `up`, the overlay is written into `.env` and only the AS is
//!   restarted, by the test; the echo server keeps its start-up configuration);
//! - `"hold_port": "AS_PORT" | "ADMIN_PORT" | "ECHO_PORT"`: the test listens on that port during
//!   the run;
//! - `"authserver_clock": "+10m"`: the AS runs under libfaketime with its clock shifted (skipped
//!   with a message when libfaketime is not installed, unless `AUTHPLANE_DEV_REQUIRE_FAKETIME=1`,
//!   which .ci/run sets after installing it);
//! - `"up": false`: no stack;
//! - `"register": <resource>`: replaces the resource of that slug `up` registered (admin API);
//! - `"verify_first": true`: `verify` runs (and must pass) before the overlay is applied, so a
//!   client is stored in `.run/client.json`;
//! - `"patch_client": <body>`: PATCHed onto that stored client through the admin API.
//!
//! Both files are read strictly: an unknown key or value is an error naming the scenario, never a
//! silent fallback to a default.

mod support_stack;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use support_stack::skip::{REQUIRE_FAKETIME, skip};
use support_stack::{KillOnDrop, Stack};

/// The finding codes of a command's JSON document, sorted, duplicates kept.
fn codes(doc: &Value) -> Vec<String> {
    let mut codes: Vec<String> = doc["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings array in {doc:#}"))
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect();
    codes.sort();
    codes
}

/// `expected.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    doctor: Outcome,
    verify: Option<Outcome>,
}

/// What one verb must end with.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Outcome {
    exit: i32,
    codes: Vec<String>,
}

impl Outcome {
    /// Panics unless `code` and the findings of `doc` are these.
    fn assert_matches(&self, name: &str, verb: &str, code: i32, doc: &Value) {
        let mut want = self.codes.clone();
        want.sort();
        assert_eq!(codes(doc), want, "{name}: {verb} finding codes: {doc:#}");
        assert_eq!(code, self.exit, "{name}: {verb} exit code: {doc:#}");
    }
}

/// `setup.json` (see the module header); an absent file or key is the default.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Setup {
    stub_as: Option<Value>,
    apply: Apply,
    hold_port: Option<Held>,
    authserver_clock: Option<String>,
    up: bool,
    register: Option<Value>,
    verify_first: bool,
    patch_client: Option<Value>,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            stub_as: None,
            apply: Apply::Cli,
            hold_port: None,
            authserver_clock: None,
            up: true,
            register: None,
            verify_first: false,
            patch_client: None,
        }
    }
}

/// Where the overlay goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Apply {
    Cli,
    Server,
    RestartAuthserver,
}

/// Which port the test holds.
#[derive(Debug, Clone, Copy, Deserialize)]
enum Held {
    #[serde(rename = "AS_PORT")]
    As,
    #[serde(rename = "ADMIN_PORT")]
    Admin,
    #[serde(rename = "ECHO_PORT")]
    Echo,
}

/// Reads `dir/file` strictly as `T`; `default` when the file is absent.
fn read_strict<T: serde::de::DeserializeOwned>(dir: &Path, file: &str, default: Option<T>) -> T {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && default.is_some() => default.unwrap(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

fn overlay(dir: &Path, stack: &Stack, stub_port: Option<u16>) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("env")).unwrap_or_default();
    let text = text
        .replace("{STUB_PORT}", &stub_port.unwrap_or(0).to_string())
        .replace("{AS_PORT}", &stack.ports.public.to_string())
        .replace("{ADMIN_PORT}", &stack.ports.admin.to_string())
        .replace("{ECHO_PORT}", &stack.ports.echo.to_string());
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

fn write_env(stack: &Stack, vars: &[(String, String)]) {
    let path = stack.path(".env");
    let mut lines: Vec<(String, String)> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for (k, v) in vars {
        lines.retain(|(name, _)| name != k);
        lines.push((k.clone(), v.clone()));
    }
    let body = lines
        .iter()
        .fold(String::new(), |acc, (k, v)| acc + k + "=" + v + "\n");
    std::fs::write(&path, body).unwrap();
}

/// One admin API request (plain HTTP/1.1), as another tool would make it; panics unless 2xx.
/// Returns the response body.
fn admin(stack: &Stack, method: &str, path: &str, body: &Value) -> String {
    use std::io::{Read as _, Write as _};
    let env = std::fs::read_to_string(stack.path(".env")).unwrap();
    let key = env
        .lines()
        .find_map(|l| l.strip_prefix("AUTHPLANE_ADMIN_API_KEY="))
        .unwrap();
    let body = body
        .to_string()
        .replace("{ECHO_PORT}", &stack.ports.echo.to_string());
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", stack.ports.admin)).unwrap();
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 20"),
        "{method} {path}: {answer}"
    );
    answer
        .split_once("\r\n\r\n")
        .map_or_else(String::new, |(_, body)| body.to_owned())
}

/// The id of the client `verify` stored in `.run/client.json`.
fn stored_client_id(stack: &Stack) -> String {
    let text = std::fs::read_to_string(stack.path(".run/client.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["client_id"].as_str().unwrap().to_owned()
}

/// Stops the AS `up` started (SIGTERM to its process group, as `clean` does) and waits until its
/// port is free, so the next `up` starts it again with the current `.env`.
fn stop_authserver(stack: &Stack) {
    let pid = stack.pid("authserver").expect("no authserver pid file");
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(
        support_stack::wait_until(Duration::from_secs(10), || {
            !support_stack::listening(stack.ports.public)
        }),
        "the AS did not stop"
    );
}

/// The libfaketime preload library, if the `faketime` package is installed.
fn libfaketime() -> Option<PathBuf> {
    let mut dirs = vec![PathBuf::from("/usr/lib")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        dirs.extend(entries.filter_map(Result::ok).map(|e| e.path()));
    }
    dirs.into_iter()
        .map(|d| d.join("faketime/libfaketime.so.1"))
        .find(|p| p.is_file())
}

/// Starts the embedded AS as `up` would (same command line, own process group, pid file) with the
/// current `.env`, so `up` and `verify` find it running and leave it (and a running echo server)
/// alone. With `clock` = (libfaketime, offset such as `+10m`) it runs under libfaketime: a real AS
/// whose clock differs from this host's, as in a Docker VM that drifted.
fn start_authserver(stack: &Stack, clock: Option<(PathBuf, &str)>) -> KillOnDrop {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    use std::os::unix::process::CommandExt as _;
    let run_dir = stack.path(".run");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&run_dir)
        .unwrap();
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(run_dir.join("authserver.log"))
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authplane-dev"));
    cmd.current_dir(stack.dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args([
            "--env-file",
            ".env",
            "--run-dir",
            ".run",
            "--color",
            "never",
        ])
        .args(["serve", "authserver"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0);
    if let Some((lib, offset)) = clock {
        cmd.env("LD_PRELOAD", lib).env("FAKETIME", offset);
    }
    let child = KillOnDrop(cmd.spawn().unwrap());
    let mut pid_file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(run_dir.join("authserver.pid"))
        .unwrap();
    std::io::Write::write_all(
        &mut pid_file,
        format!("{}\ncomponent=authserver\n", child.0.id()).as_bytes(),
    )
    .unwrap();
    assert!(
        support_stack::wait_until(Duration::from_secs(30), || {
            support_stack::listening(stack.ports.public)
        }),
        "the AS did not start: {}",
        std::fs::read_to_string(run_dir.join("authserver.log")).unwrap_or_default()
    );
    child
}

/// A loopback stand-in for an AS whose JWKS is broken — a fault our real servers cannot produce
/// (the embedded AS always serves a good ES256 key, and the real image is not available here).
/// It answers discovery (issuer = the stack's issuer, jwks_uri under it) and the JWKS with the
/// fixture's document; everything else is 404. The CLI reaches it through
/// `AUTHPLANE_DEV_PUBLIC_URL=http://localhost:{STUB_PORT}`, which also exercises doctor's
/// rewriting of a jwks_uri under the issuer to the public URL.
struct StubAs {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl StubAs {
    fn start(stack: &Stack, jwks: &Value) -> StubAs {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let issuer = format!("http://localhost:{}", stack.ports.public);
        let metadata = serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "token_endpoint": format!("{issuer}/oauth/token"),
            "grant_types_supported": ["client_credentials"],
        })
        .to_string();
        let jwks = jwks.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                answer(conn, &metadata, &jwks);
            }
        });
        StubAs { port, stop }
    }
}

fn answer(mut conn: std::net::TcpStream, metadata: &str, jwks: &str) {
    use std::io::{BufRead as _, Write as _};
    let mut line = String::new();
    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Drain the headers (GET requests carry no body).
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = match path {
        "/.well-known/oauth-authorization-server" => ("200 OK", metadata),
        "/.well-known/jwks.json" => ("200 OK", jwks),
        _ => ("404 Not Found", "{}"),
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

impl Drop for StubAs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so the thread ends.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn scenario(dir: &Path) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let expected: Expected = read_strict(dir, "expected.json", None);
    let setup: Setup = read_strict(dir, "setup.json", Some(Setup::default()));
    let mut stack = Stack::new();
    let stub = setup.stub_as.as_ref().map(|s| StubAs::start(&stack, s));
    let vars = overlay(dir, &stack, stub.as_ref().map(|s| s.port));
    if setup.apply == Apply::Server {
        write_env(&stack, &vars);
    }
    // The generated .env holds secrets: 0600, as `up` writes it.
    std::fs::set_permissions(
        stack.path(".env"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let _held = setup.hold_port.map(|which| {
        let port = match which {
            Held::As => stack.ports.public,
            Held::Admin => stack.ports.admin,
            Held::Echo => stack.ports.echo,
        };
        TcpListener::bind(("127.0.0.1", port)).unwrap()
    });
    let mut _started_as = match setup.authserver_clock.as_deref() {
        None => None,
        Some(offset) => {
            let Some(lib) = libfaketime() else {
                skip(
                    REQUIRE_FAKETIME,
                    &format!(
                        "fixture {name}: libfaketime is not installed \
                         (`apt-get install faketime`; .ci/run installs it)"
                    ),
                );
                return;
            };
            Some(start_authserver(&stack, Some((lib, offset))))
        }
    };
    if setup.up {
        let (code, doc) = stack.json(&["up", "--wait-timeout", "60"]);
        assert_eq!(code, 0, "{name}: up failed: {doc:#}");
    }
    if setup.apply == Apply::RestartAuthserver {
        // The AS is reconfigured and restarted by hand; the echo server keeps running as it was
        // started (`up` would restart it too, because it caches the AS's keys).
        write_env(&stack, &vars);
        stop_authserver(&stack);
        _started_as = Some(start_authserver(&stack, None));
    }
    if let Some(resource) = &setup.register {
        // `up` registered the echo server's resource; the scenario's one takes its place.
        let slug = resource["slug"].as_str().expect("register: a slug");
        let existing = admin(
            &stack,
            "GET",
            &format!("/admin/resources?slug={slug}"),
            &Value::Null,
        );
        let id = serde_json::from_str::<Value>(&existing).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        admin(
            &stack,
            "DELETE",
            &format!("/admin/resources/{id}"),
            &Value::Null,
        );
        admin(&stack, "POST", "/admin/resources", resource);
    }
    if setup.verify_first {
        let (code, doc) = stack.json(&["verify", "--wait-timeout", "60"]);
        assert_eq!(code, 0, "{name}: the first verify failed: {doc:#}");
    }
    if let Some(patch) = &setup.patch_client {
        let path = format!("/admin/clients/{}", stored_client_id(&stack));
        admin(&stack, "PATCH", &path, patch);
    }
    if setup.apply == Apply::Cli {
        stack.env.extend(vars);
    }
    let (code, doctor) = stack.json(&["doctor"]);
    expected
        .doctor
        .assert_matches(&name, "doctor", code, &doctor);
    if let Some(want) = &expected.verify {
        let (code, verify) = stack.json(&["verify", "--wait-timeout", "60"]);
        want.assert_matches(&name, "verify", code, &verify);
    }
}

#[test]
fn every_fixture_scenario_reports_exactly_its_expected_findings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5, "fixtures missing under {}", root.display());
    let only = std::env::var("FIXTURE").ok();
    let mut failures = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        if let Err(panic) = std::panic::catch_unwind(|| scenario(&dir)) {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "panic".to_owned());
            failures.push(msg);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
