//! Faults produced for real against the real binary and its real servers (embedded backend, free
//! ports, temp directory): an authorization server that stops answering or dies in the middle of
//! `verify`, an AS that answers 500, an admin key changed under a running stack, Ctrl-C / SIGTERM
//! during `up`, and a corrupt `.run/`. Nothing here asserts how long anything took: a generous
//! bound only turns a hang into a failure instead of a stuck test run.
//!
//! Synchronisation is by what the binary does, never by sleeping: a FIFO in place of a file the
//! binary is about to read makes it wait for the test at a known point (opening the FIFO's write
//! end succeeds only once the binary opened it for reading).

mod support_stack;

use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::process::{Output, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;
use support_stack::{
    KillOnDrop, Stack, alive, component, finding, listening, step, str_of, wait_until,
};

/// Long enough for any step on a loaded machine; reaching it means the command hung.
const HANG: Duration = Duration::from_mins(2);
/// Linux `O_NONBLOCK` (the crate's nix has no `fs` feature): opening a FIFO's write end with it
/// fails with ENXIO until a reader has it open, instead of blocking.
const O_NONBLOCK: i32 = 0o4000;

fn pid(p: u32) -> Pid {
    Pid::from_raw(i32::try_from(p).unwrap())
}

/// Resumes a SIGSTOPped process on drop, so a failing test never leaves a server stopped (the
/// stack's own drop then stops it for good).
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = kill(pid(self.0), Signal::SIGCONT);
    }
}

/// Kills the process group of one of our servers on drop if it still runs, for a server whose pid
/// file may already be gone (never a recycled pid: only a live `… serve …` process is signalled).
struct KillGroup(u32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        let ours = fs::read(format!("/proc/{}/cmdline", self.0))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("serve"));
        if alive(self.0) && ours {
            let _ = kill(pid(self.0), Signal::SIGCONT);
            let _ = killpg(pid(self.0), Signal::SIGKILL);
        }
    }
}

/// The binary running in the background, its output collected by threads (so a full pipe never
/// blocks it), killed on drop.
struct Running {
    child: KillOnDrop,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

fn spawn(stack: &Stack, args: &[&str]) -> Running {
    let mut child = stack
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let collect = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = collect(Box::new(child.stdout.take().unwrap()));
    let stderr = collect(Box::new(child.stderr.take().unwrap()));
    Running {
        child: KillOnDrop(child),
        stdout: Some(stdout),
        stderr: Some(stderr),
    }
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    fn exited(&mut self) -> bool {
        self.child.0.try_wait().unwrap().is_some()
    }

    /// Waits for the exit (failing the test if it never comes): exit code, stdout, stderr.
    fn finish(&mut self) -> (Option<i32>, String, String) {
        let mut status = None;
        let ended = wait_until(HANG, || {
            status = self.child.0.try_wait().unwrap();
            status.is_some()
        });
        assert!(ended, "the command still runs after {HANG:?}: it hangs");
        let stdout = self.stdout.take().unwrap().join().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status.unwrap().code(), stdout, stderr)
    }

    /// [`Running::finish`] for a `--json` run: the exit code and the one JSON object.
    fn finish_json(&mut self) -> (i32, Value, String) {
        let (code, stdout, stderr) = self.finish();
        assert_no_panic(&stdout, &stderr);
        let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("stdout is not one JSON object ({e})\nstdout:\n{stdout}\nstderr:\n{stderr}")
        });
        (code.unwrap_or(-1), doc, stderr)
    }
}

fn assert_no_panic(stdout: &str, stderr: &str) {
    assert!(
        !stdout.contains("panicked") && !stderr.contains("panicked"),
        "a panic:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

fn text(out: &Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_no_panic(&stdout, &stderr);
    (stdout, stderr)
}

/// Every live process whose command line names this stack's directory: our servers, found
/// without trusting any pid file.
fn servers_of(stack: &Stack) -> Vec<u32> {
    let dir = stack.dir.path().to_string_lossy().into_owned();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| {
            fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&dir))
                && alive(p)
        })
        .collect()
}

/// Kills every server of the stack on drop, including one no pid file names (a test that fails
/// because something was orphaned must not leave it running).
struct KillStrays<'a>(&'a Stack);

impl Drop for KillStrays<'_> {
    fn drop(&mut self) {
        for p in servers_of(self.0) {
            let _ = kill(pid(p), Signal::SIGCONT);
            let _ = killpg(pid(p), Signal::SIGKILL);
        }
    }
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg("-m")
        .arg("600")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

fn up(stack: &Stack) -> Value {
    let (code, doc) = stack.json(&["up", "--wait-timeout", "60"]);
    assert_eq!(
        code,
        0,
        "up failed: {doc:#}\nlogs: {:#}",
        stack.json(&["logs"]).1
    );
    doc
}

// ---------------------------------------------------------------------------------------------
// The authorization server stops answering or dies.

/// What happens to the AS while `verify` waits at its client step.
#[derive(Clone, Copy)]
enum Fault {
    /// SIGSTOP: the kernel still accepts connections into the backlog but nothing ever answers,
    /// so only a read timeout can end the request.
    Stop,
    /// SIGKILL: connections are refused.
    Kill,
}

/// Brings the stack up, starts `verify`, and applies `fault` to the AS once `verify` has passed
/// discovery and the resource step and is reading its stored client (`.run/client.json` is a
/// FIFO, so it waits for the test right there). The test then hands it garbage — which `verify`
/// treats as "no stored client", so its next request is to create one on the faulted AS.
fn fault_in_the_middle_of_verify(fault: Fault) -> (Stack, i32, Value) {
    let stack = Stack::new();
    up(&stack);
    let as_pid = stack.pid("authserver").unwrap();
    let fifo = stack.path(".run/client.json");
    let _ = fs::remove_file(&fifo);
    mkfifo(&fifo);

    let mut verify = spawn(&stack, &["--json", "verify"]);
    let mut writer = None;
    let reached = wait_until(HANG, || {
        match fs::OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(&fifo)
        {
            Ok(f) => {
                writer = Some(f);
                true
            }
            Err(_) => verify.exited(),
        }
    });
    assert!(reached, "verify never reached its client step");
    let Some(mut writer) = writer else {
        let (code, out, err) = verify.finish();
        panic!("verify ended before its client step ({code:?}):\n{out}\n{err}");
    };

    let _resume = Resume(as_pid);
    match fault {
        Fault::Stop => kill(pid(as_pid), Signal::SIGSTOP).unwrap(),
        Fault::Kill => {
            kill(pid(as_pid), Signal::SIGKILL).unwrap();
            assert!(wait_until(HANG, || !alive(as_pid)));
        }
    }
    writer.write_all(b"not a stored client").unwrap();
    drop(writer);

    let (code, doc, _) = verify.finish_json();
    (stack, code, doc)
}

fn assert_failed_at_the_client_step(doc: &Value) {
    for passed in ["AS discovery", "resource URI"] {
        assert_eq!(step(doc, passed)["status"], "pass", "{doc:#}");
    }
    assert_eq!(step(doc, "client")["status"], "fail", "{doc:#}");
    assert!(
        doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["name"] != "mint token" || s["status"] != "pass"),
        "nothing after the client step can pass: {doc:#}"
    );
}

#[test]
fn an_authorization_server_that_stops_answering_mid_verify_is_as_unreachable_after_the_timeout() {
    let (stack, code, doc) = fault_in_the_middle_of_verify(Fault::Stop);
    assert_eq!(code, 3, "{doc:#}");
    assert_failed_at_the_client_step(&doc);
    let f = finding(&doc, "as_unreachable");
    let message = str_of(f, "message");
    let admin_url = format!("http://localhost:{}", stack.ports.admin);
    assert!(message.contains(&admin_url), "names the URL: {message}");
    assert!(
        message.contains("timed out (connect 5 s, total 10 s)"),
        "names the timeout: {message}"
    );
    assert!(str_of(f, "fix").contains("authplane-dev status"), "{f:#}");
}

#[test]
fn an_authorization_server_killed_mid_verify_is_as_unreachable_and_status_says_so() {
    let (stack, code, doc) = fault_in_the_middle_of_verify(Fault::Kill);
    assert_eq!(code, 3, "{doc:#}");
    assert_failed_at_the_client_step(&doc);
    let message = str_of(finding(&doc, "as_unreachable"), "message").to_owned();
    assert!(
        message.contains(&format!("http://localhost:{}", stack.ports.admin)),
        "{message}"
    );
    // A new connection is refused; a kept-alive one from the steps before is reset instead.
    assert!(
        ["connection failed", "reset", "closed"]
            .iter()
            .any(|why| message.contains(why)),
        "{message}"
    );

    let (code, status) = stack.json(&["status"]);
    assert_eq!(code, 1, "the AS is down: {status:#}");
    finding(&status, "as_unreachable");
    let c = component(&status, "authserver");
    assert_eq!(c["state"], "stale", "{status:#}");
    // "gone", or "has exited" while a zombie nobody reaped yet.
    let reason = str_of(c, "reason");
    assert!(
        reason.contains("gone") || reason.contains("exited"),
        "{status:#}"
    );
}

#[test]
fn a_stopped_authorization_server_is_as_unreachable_for_verify_and_unhealthy_for_status() {
    let stack = Stack::new();
    up(&stack);
    let as_pid = stack.pid("authserver").unwrap();
    let _resume = Resume(as_pid);
    kill(pid(as_pid), Signal::SIGSTOP).unwrap();

    let mut verify = spawn(&stack, &["--json", "verify", "--wait-timeout", "3"]);
    let (code, doc, _) = verify.finish_json();
    assert_eq!(code, 3, "{doc:#}");
    let message = str_of(finding(&doc, "as_unreachable"), "message").to_owned();
    let probe = format!(
        "http://localhost:{}/.well-known/oauth-authorization-server",
        stack.ports.public
    );
    assert!(message.contains(&format!("pid {as_pid}")), "{message}");
    assert!(message.contains(&probe), "names the URL: {message}");
    assert!(
        message.contains("no answer within 2 s"),
        "names the timeout: {message}"
    );

    let (code, status) = stack.json(&["status"]);
    assert_eq!(code, 1, "the AS does not answer: {status:#}");
    assert!(
        str_of(finding(&status, "as_unreachable"), "fix").contains("authplane-dev clean"),
        "{status:#}"
    );
    let c = component(&status, "authserver");
    assert_eq!(c["state"], "running", "{status:#}");
    assert_eq!(c["healthy"], false, "{status:#}");
    assert!(
        str_of(c, "reason").contains("no answer within 2 s"),
        "{status:#}"
    );

    // doctor: a live but silent AS is a broken stack (an error), not a skipped check.
    let (code, doc) = stack.json(&["doctor"]);
    assert_eq!(code, 3, "{doc:#}");
    let message = str_of(finding(&doc, "as_unreachable"), "message");
    assert!(message.contains(&format!("pid {as_pid}")), "{message}");

    // The fix the finding gives: clean continues the stopped server so it can act on SIGTERM.
    let (code, doc) = stack.json(&["clean"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        str_of(step(&doc, "stop authorization server"), "summary").contains("SIGTERM)"),
        "stopped by SIGTERM, not SIGKILL after the grace period: {doc:#}"
    );
    assert!(!alive(as_pid));
    up(&stack);
    let (code, doc) = stack.json(&["verify", "--no-probes"]);
    assert_eq!(code, 0, "{doc:#}");
}

// ---------------------------------------------------------------------------------------------
// The authorization server answers 500.

#[test]
fn an_authorization_server_that_cannot_persist_answers_500_and_verify_says_so() {
    let stack = Stack::new();
    up(&stack);
    // A real failure the AS cannot get around, even as root: its state file's path is taken by a
    // directory, so persisting verify's first registration (rename onto it) fails. `up` already
    // registered the resource, so that first write is the client.
    let state = stack.path(".run/authserver/state.json");
    let _ = fs::remove_file(&state);
    fs::create_dir(&state).unwrap();

    let (code, doc) = stack.json(&["verify"]);
    assert_eq!(code, 3, "{doc:#}");
    let f = finding(&doc, "as_server_error");
    let message = str_of(f, "message");
    assert!(
        message.contains(&format!(
            "POST http://localhost:{}/admin/clients",
            stack.ports.admin
        )),
        "names the request: {message}"
    );
    assert!(
        message.contains("HTTP 500: internal error"),
        "shows the AS's problem+json detail: {message}"
    );
    assert!(str_of(f, "why").contains("log"), "{f:#}");
    assert!(
        str_of(f, "fix").contains("authplane-dev logs authserver"),
        "{f:#}"
    );

    // The AS's log holds the cause the client is not told.
    let out = stack.run(&["logs", "authserver", "-n", "200"]);
    let (log, _) = text(&out);
    assert!(
        log.lines()
            .any(|l| l.contains("/admin/clients → 500") && l.contains("state.json")),
        "{log}"
    );
}

#[test]
fn a_token_endpoint_that_cannot_persist_answers_500_and_verify_says_so() {
    let stack = Stack::new();
    up(&stack);
    // Resource and client exist, so the next run writes nothing until it mints: the issuance
    // record is what fails to persist.
    let (code, doc) = stack.json(&["verify", "--no-probes"]);
    assert_eq!(code, 0, "{doc:#}");
    let state = stack.path(".run/authserver/state.json");
    fs::remove_file(&state).unwrap();
    fs::create_dir(&state).unwrap();

    let (code, doc) = stack.json(&["verify", "--no-probes"]);
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(step(&doc, "client")["status"], "pass", "{doc:#}");
    let message = str_of(finding(&doc, "as_server_error"), "message").to_owned();
    assert!(message.contains("/token answered HTTP 500"), "{message}");
    assert!(message.contains("internal error"), "{message}");
    let out = stack.run(&["logs", "authserver", "-n", "200"]);
    let (log, _) = text(&out);
    assert!(
        log.lines()
            .any(|l| l.contains("/token → 500") && l.contains("state.json")),
        "{log}"
    );
}

#[test]
fn an_admin_api_answering_500_is_as_server_error_for_doctor() {
    // A stub, because the embedded AS answers every read from memory: no real fault makes a
    // read-only admin call (all doctor makes) fail with a 5xx. The stub answers like the
    // real server's problem+json.
    let stub = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stub_port = stub.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in stub.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let body = r#"{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"database is locked"}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/problem+json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let mut stack = Stack::new();
    up(&stack);
    stack.env.push((
        "AUTHPLANE_DEV_ADMIN_URL".into(),
        format!("http://127.0.0.1:{stub_port}"),
    ));
    let (code, doc) = stack.json(&["doctor"]);
    assert_eq!(code, 3, "{doc:#}");
    let f = finding(&doc, "as_server_error");
    assert!(
        str_of(f, "message").contains("HTTP 500: database is locked"),
        "{f:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// The admin key changes under a running stack.

#[test]
fn an_admin_key_changed_under_a_running_stack_is_named_by_doctor_and_restarted_by_verify() {
    let stack = Stack::new();
    up(&stack);
    let as_pid = stack.pid("authserver").unwrap();
    let env = fs::read_to_string(stack.path(".env")).unwrap();
    let new_key = authplane_dev::config::generate_secret(40);
    let env: String = env
        .lines()
        .map(|l| {
            if l.starts_with("AUTHPLANE_ADMIN_API_KEY=") {
                format!("AUTHPLANE_ADMIN_API_KEY={new_key}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(stack.path(".env"), env).unwrap();

    // doctor only reads: the running AS refuses the new key, and it is named as stale.
    let (code, doc) = stack.json(&["doctor"]);
    assert_eq!(code, 1, "{doc:#}");
    let f = finding(&doc, "admin_key_rejected");
    assert!(
        str_of(f, "fix").contains("AUTHPLANE_ADMIN_API_KEY"),
        "{f:#}"
    );
    let stale = finding(&doc, "stale_component");
    assert!(
        str_of(stale, "message").contains("AUTHPLANE_ADMIN_API_KEY (changed)"),
        "{stale:#}"
    );
    assert!(!doc.to_string().contains(&new_key), "the key leaked");

    // verify restarts the AS with the new key (and the echo server that cached it) and passes.
    let (code, doc) = stack.json(&["verify"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_ne!(
        stack.pid("authserver"),
        Some(as_pid),
        "the AS kept the old key"
    );
    assert!(!doc.to_string().contains(&new_key), "the key leaked");
}

// ---------------------------------------------------------------------------------------------
// Ctrl-C / SIGTERM during `up`.

/// Starts `up` with the AS's state file replaced by a FIFO, so the AS blocks at startup (a real
/// process that never becomes ready) and `up` waits for its readiness; then sends `sig` to `up`.
fn interrupt_up(sig: Signal, json: bool) -> (Stack, u32, Option<i32>, String, String) {
    let stack = Stack::new();
    let state_dir = stack.path(".run/authserver");
    fs::create_dir_all(&state_dir).unwrap();
    mkfifo(&state_dir.join("state.json"));

    let mut args = vec!["up", "--wait-timeout", "300"];
    if json {
        args.insert(0, "--json");
    }
    let mut up = spawn(&stack, &args);
    // The pid file is written right after the AS is spawned, and the signal handlers are
    // installed before anything is spawned.
    let started = wait_until(HANG, || stack.pid("authserver").is_some() || up.exited());
    assert!(started, "the AS pid file never appeared");
    let Some(as_pid) = stack.pid("authserver") else {
        let (code, out, err) = up.finish();
        panic!("up ended before starting the AS ({code:?}):\n{out}\n{err}");
    };
    let _kill = KillGroup(as_pid);
    assert!(alive(as_pid));

    kill(pid(up.pid()), sig).unwrap();
    let (code, stdout, stderr) = up.finish();
    assert_no_panic(&stdout, &stderr);

    assert!(!alive(as_pid), "the AS (pid {as_pid}) survived");
    assert_eq!(
        servers_of(&stack),
        Vec::<u32>::new(),
        "servers left running"
    );
    for file in ["authserver.pid", "echo.pid"] {
        assert!(
            !stack.path(&format!(".run/{file}")).exists(),
            "{file} was left behind"
        );
    }
    let p = stack.ports;
    for port in [p.public, p.admin, p.echo] {
        assert!(!listening(port), "port {port} still accepts connections");
    }
    (stack, as_pid, code, stdout, stderr)
}

#[test]
fn ctrl_c_during_up_stops_what_it_started_and_exits_130() {
    let (_stack, as_pid, code, stdout, stderr) = interrupt_up(Signal::SIGINT, false);
    assert_eq!(code, Some(130), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one line says what happened: {stderr}");
    assert!(errors[0].contains("interrupted (SIGINT)"), "{stderr}");
    assert!(
        errors[0].contains(&format!("stopped the authorization server (pid {as_pid})")),
        "{stderr}"
    );
}

#[test]
fn sigterm_during_up_with_json_is_one_object_with_exit_code_130() {
    let (_stack, _, code, stdout, stderr) = interrupt_up(Signal::SIGTERM, true);
    assert_eq!(code, Some(130), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not one JSON object ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["exit_code"], 130, "{doc:#}");
    assert!(
        str_of(&doc["error"], "message").contains("interrupted (SIGTERM)"),
        "{doc:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// A corrupt `.run/`.

#[test]
fn every_kind_of_broken_pid_file_is_stale_and_clean_removes_it_without_signalling() {
    let stack = Stack::new();
    fs::create_dir_all(stack.path(".run")).unwrap();
    // A live program in its own process group that a pid file can name: signalling the group
    // would end it.
    let mut other = support_stack::bystander();
    let contents: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\n\n".to_vec(),
        b"-1\n".to_vec(),
        b"4294967296\n".to_vec(),
        b"99999999\nstart_time=1\ncomponent=echo\n".to_vec(),
        // A live pid whose start time differs, and one that is another program.
        format!("{}\nstart_time=1\ncomponent=echo\n", other.pid()).into_bytes(),
        format!("{}\n", other.pid()).into_bytes(),
        b"12 34\n".to_vec(),
        b"\x00\x00\x00\x00".to_vec(),
        b"\xff\xfe garbage \x00".to_vec(),
    ];
    for content in &contents {
        let content = content.as_slice();
        for name in ["authserver", "echo"] {
            fs::write(stack.path(&format!(".run/{name}.pid")), content).unwrap();
        }
        let (code, status) = stack.json(&["status"]);
        assert_eq!(code, 1, "{content:?}: nothing runs: {status:#}");
        for name in ["authserver", "echo"] {
            assert_eq!(
                component(&status, name)["state"],
                "stale",
                "{content:?}: {status:#}"
            );
        }
        let (code, doc) = stack.json(&["clean"]);
        assert_eq!(code, 0, "{content:?}: {doc:#}");
        for name in ["authserver", "echo"] {
            assert!(
                !stack.path(&format!(".run/{name}.pid")).exists(),
                "{content:?}: {name}.pid kept"
            );
        }
        assert!(
            other.still_running(),
            "{:?}: clean signalled the program the pid file named",
            String::from_utf8_lossy(content)
        );
    }
}

#[test]
fn a_directory_in_place_of_a_pid_file_is_a_clear_error_and_orphans_nothing() {
    let stack = Stack::new();
    let _strays = KillStrays(&stack);
    fs::create_dir_all(stack.path(".run/echo.pid")).unwrap();
    let out = stack.run(&["up", "--wait-timeout", "60"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("echo.pid") && stderr.contains("a directory is in its place"),
        "{stderr}"
    );
    // The echo server it spawned was stopped again: without a pid file nothing could find it.
    let as_pid = stack.pid("authserver").unwrap();
    assert_eq!(
        servers_of(&stack),
        vec![as_pid],
        "only the recorded AS runs"
    );

    let out = stack.run(&["clean"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stderr.contains("rm -r"), "{stderr}");
    assert!(!alive(as_pid), "clean still stopped the AS");
    assert!(stack.path(".run/echo.pid").is_dir(), "not ours to remove");
}

#[test]
fn a_garbage_client_file_is_replaced_by_a_fresh_client() {
    let stack = Stack::new();
    up(&stack);
    let (code, doc) = stack.json(&["verify", "--no-probes"]);
    assert_eq!(code, 0, "{doc:#}");
    fs::write(stack.path(".run/client.json"), b"\x00{ not json").unwrap();
    let (code, doc) = stack.json(&["verify", "--no-probes"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        str_of(step(&doc, "client"), "summary").contains("created"),
        "{doc:#}"
    );
    let stored: Value =
        serde_json::from_str(&fs::read_to_string(stack.path(".run/client.json")).unwrap()).unwrap();
    assert_eq!(stored["client_id"], doc["client_id"]);
}

/// Brings a stack up once (so the AS writes its state), stops it, applies `corrupt` to its state
/// directory, and returns what the next `up` says.
fn up_after_corrupting(corrupt: impl FnOnce(&Path)) -> (Stack, i32, Value) {
    let stack = Stack::new();
    up(&stack);
    let (code, _) = stack.json(&["verify", "--no-probes"]);
    assert_eq!(
        code, 0,
        "a state file is written by the first registrations"
    );
    let out = stack.run(&["clean"]);
    assert!(out.status.success(), "{:?}", text(&out));
    corrupt(&stack.path(".run/authserver"));
    let (code, doc) = stack.json(&["up", "--wait-timeout", "60"]);
    (stack, code, doc)
}

fn assert_as_refused_to_start(code: i32, doc: &Value, names: &str, remedy: &str) {
    assert_eq!(code, 3, "{doc:#}");
    let f = finding(doc, "as_unreachable");
    assert!(str_of(f, "message").contains("exited"), "{f:#}");
    let why = str_of(f, "why");
    assert!(why.contains(names), "the log tail names {names}: {why}");
    assert!(why.contains(remedy), "the log tail says {remedy:?}: {why}");
    assert!(!doc.to_string().contains("panicked"), "{doc:#}");
}

#[test]
fn a_garbage_state_file_stops_the_as_with_a_clear_error() {
    let (stack, code, doc) = up_after_corrupting(|dir| {
        fs::write(dir.join("state.json"), b"{\"resources\": [garbage").unwrap();
    });
    assert_as_refused_to_start(code, &doc, "state.json", "delete it");
    assert!(stack.pid("authserver").is_none());
}

#[test]
fn a_state_file_that_is_a_directory_stops_the_as_with_a_clear_error() {
    let (_stack, code, doc) = up_after_corrupting(|dir| {
        fs::remove_file(dir.join("state.json")).unwrap();
        fs::create_dir(dir.join("state.json")).unwrap();
    });
    assert_as_refused_to_start(code, &doc, "state.json", "state directory");
}

#[test]
fn a_garbage_signing_key_stops_the_as_with_a_clear_error() {
    let (_stack, code, doc) = up_after_corrupting(|dir| {
        fs::write(dir.join("keys/current.pem"), b"-----BEGIN NOTHING-----\n").unwrap();
    });
    assert_as_refused_to_start(code, &doc, "current.pem", "fresh key");
}

#[test]
fn a_missing_key_id_stops_the_as_with_a_clear_error() {
    let (_stack, code, doc) = up_after_corrupting(|dir| {
        fs::remove_file(dir.join("keys/current.kid")).unwrap();
    });
    assert_as_refused_to_start(code, &doc, "current.kid", "reading");
}

#[test]
fn a_garbage_key_algorithm_file_heals_with_a_fresh_key() {
    // current.alg names another algorithm than configured: the AS moves the key aside as
    // previous.* and makes a new one, the same path as a deliberate algorithm change.
    let (stack, code, doc) = up_after_corrupting(|dir| {
        fs::write(dir.join("keys/current.alg"), b"\x00garbage").unwrap();
    });
    assert_eq!(code, 0, "{doc:#}");
    assert!(stack.path(".run/authserver/keys/previous.pem").exists());
    let (code, doc) = stack.json(&["verify", "--no-probes"]);
    assert_eq!(code, 0, "tokens verify with the new key: {doc:#}");
}

#[test]
fn a_run_path_that_is_a_file_is_one_clear_error() {
    let stack = Stack::new();
    fs::write(stack.path(".run"), b"not a directory").unwrap();
    for args in [&["up"][..], &["verify"], &["status"], &["clean"]] {
        let out = stack.run(args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stdout}\n{stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        assert!(
            errors[0].contains(".run is not a directory") && errors[0].contains("--run-dir"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(
        fs::read(stack.path(".run")).unwrap(),
        b"not a directory",
        "a file the tool did not write is never removed"
    );
}

#[test]
fn a_malformed_env_file_is_a_usage_error_for_every_command() {
    let stack = Stack::new();
    let env = fs::read_to_string(stack.path(".env")).unwrap();
    fs::write(
        stack.path(".env"),
        format!("{env}this line is not a pair\nAUTHPLANE_SCOPES=\"unterminated\n"),
    )
    .unwrap();
    for args in [
        &["up"][..],
        &["verify"],
        &["doctor"],
        &["status"],
        &["clean"],
        &["token"],
    ] {
        let out = stack.run(args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}\n{stderr}");
        assert!(stderr.contains(".env"), "{args:?}: {stderr}");
    }
    assert!(stack.pid("authserver").is_none(), "nothing was started");

    // A `.env` that cannot be read at all.
    fs::remove_file(stack.path(".env")).unwrap();
    fs::create_dir(stack.path(".env")).unwrap();
    let out = stack.run(&["status"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains(".env"), "{stderr}");
}
