//! The background lifecycle against the real binary: `up`, `status`, `logs`, `clean` on free ports
//! in a temp directory (embedded backend).

mod support_stack;

use std::net::TcpListener;
use std::time::Duration;

use serde_json::Value;
use support_stack::{
    KillOnDrop, Stack, alive, codes, component, finding, listening, mode, step, wait_until,
};

fn up(stack: &Stack) -> Value {
    let (code, doc) = stack.json(&["up", "--wait-timeout", "30"]);
    assert_eq!(
        code,
        0,
        "up failed: {doc:#}\nlogs: {:#}",
        stack.json(&["logs"]).1
    );
    assert_eq!(doc["ok"], true);
    doc
}

#[test]
fn up_from_nothing_starts_both_and_a_second_up_changes_nothing() {
    let stack = Stack::new();
    let first = up(&stack);
    assert!(
        step(&first, "backend")["summary"]
            .as_str()
            .unwrap()
            .contains("embedded")
    );
    let mcp = format!("http://localhost:{}/mcp", stack.ports.echo);
    assert_eq!(first["endpoints"]["mcp_url"], mcp.as_str());
    // The echo server's resource is on the AS, so an MCP client can ask for it right away.
    let registered = step(&first, "resource demo-mcp")["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        registered.contains(&format!("registered demo-mcp → {mcp}")),
        "{registered}"
    );
    assert_eq!(stack.registered_slugs(), ["demo-mcp"]);

    let (code, status) = stack.json(&["status"]);
    assert_eq!(code, 0);
    for name in ["authserver", "echo"] {
        let c = component(&status, name);
        assert_eq!(c["state"], "running", "{status:#}");
        assert_eq!(c["healthy"], true, "{status:#}");
    }
    let as_pid = stack.pid("authserver").unwrap();
    let echo_pid = stack.pid("echo").unwrap();

    let second = up(&stack);
    for name in ["authorization server", "echo MCP server"] {
        let summary = step(&second, name)["summary"].as_str().unwrap().to_owned();
        assert!(summary.contains("already running"), "{summary}");
    }
    assert_eq!(stack.pid("authserver"), Some(as_pid));
    assert_eq!(stack.pid("echo"), Some(echo_pid));
    let reused = step(&second, "resource demo-mcp")["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reused.contains("already registered"), "{reused}");
    assert_eq!(mode(&stack.path(".run/authserver.pid")), 0o600);
    assert_eq!(mode(&stack.path(".run")), 0o700);
}

#[test]
fn a_killed_echo_server_shows_as_down_and_up_recovers_it() {
    let stack = Stack::new();
    up(&stack);
    let echo_pid = stack.pid("echo").unwrap();
    let as_pid = stack.pid("authserver").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(echo_pid).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(10), || !alive(echo_pid)));

    // A managed component down: exit 1 and a finding that says how to bring it back, so
    // `authplane-dev status || authplane-dev up` works.
    let (code, status) = stack.json(&["status"]);
    assert_eq!(code, 1, "{status:#}");
    assert_eq!(status["ok"], false, "{status:#}");
    let echo = component(&status, "echo");
    assert_ne!(echo["state"], "running", "{status:#}");
    assert_eq!(echo["healthy"], false);
    assert_eq!(component(&status, "authserver")["healthy"], true);
    assert_eq!(codes(&status), ["mcp_unreachable"], "{status:#}");
    assert_eq!(
        finding(&status, "mcp_unreachable")["fix"],
        "authplane-dev up"
    );
    let out = stack.run(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 error(s)") && !text.contains("OK"),
        "{text}"
    );

    up(&stack);
    let (code, status) = stack.json(&["status"]);
    assert_eq!(code, 0, "{status:#}");
    assert_eq!(component(&status, "echo")["healthy"], true, "{status:#}");
    assert_ne!(stack.pid("echo"), Some(echo_pid));
    assert_eq!(
        stack.pid("authserver"),
        Some(as_pid),
        "the AS was left alone"
    );
}

#[test]
fn a_garbage_pid_file_is_reported_stale_and_replaced() {
    let stack = Stack::new();
    std::fs::create_dir_all(stack.path(".run")).unwrap();
    std::fs::write(stack.path(".run/echo.pid"), b"\xff\xfe not a pid \x00").unwrap();

    let (code, status) = stack.json(&["status"]);
    assert_eq!(code, 1, "nothing runs: {status:#}");
    assert_eq!(component(&status, "echo")["state"], "stale", "{status:#}");

    let doc = up(&stack);
    let summary = step(&doc, "echo MCP server")["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(summary.contains("stale pid file"), "{summary}");
    assert!(stack.pid("echo").is_some_and(alive));
}

#[test]
fn clean_stops_everything_and_keeps_env_and_state_and_all_removes_them() {
    let stack = Stack::new();
    up(&stack);
    let pids = [stack.pid("authserver").unwrap(), stack.pid("echo").unwrap()];
    std::fs::write(stack.path(".run/credentials.json"), "{}").unwrap();
    assert!(
        stack.path(".run/authserver").is_dir(),
        "the AS keeps its state there"
    );
    let env_before = std::fs::read_to_string(stack.path(".env")).unwrap();

    let (code, doc) = stack.json(&["clean"]);
    assert_eq!(code, 0, "{doc:#}");
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived clean");
    }
    let p = stack.ports;
    for port in [p.public, p.admin, p.echo] {
        assert!(!listening(port), "port {port} still accepts connections");
    }
    assert_eq!(
        std::fs::read_to_string(stack.path(".env")).unwrap(),
        env_before
    );
    assert!(stack.path(".run/credentials.json").exists());
    assert!(
        stack.path(".run/authserver").is_dir(),
        "AS state was removed"
    );
    for gone in [
        ".run/authserver.pid",
        ".run/echo.pid",
        ".run/authserver.log",
        ".run/echo.log",
    ] {
        assert!(!stack.path(gone).exists(), "{gone} was kept");
    }
    let (_, status) = stack.json(&["status"]);
    assert_eq!(component(&status, "authserver")["state"], "not_running");

    // This `.env` was written by the test, not by authplane-dev: `--all` keeps it.
    let out = stack.run(&["clean", "--all"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("kept .env (not written by authplane-dev)"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(stack.path(".env")).unwrap(),
        env_before
    );
    assert!(!stack.path(".run").exists());
}

#[test]
fn clean_all_removes_the_env_file_authplane_dev_wrote() {
    let stack = Stack::without_env_file();
    up(&stack);
    let first = std::fs::read_to_string(stack.path(".env")).unwrap();
    assert!(
        first.starts_with(authplane_dev::config::ENV_FILE_HEADER),
        "{first}"
    );
    let (code, doc) = stack.json(&["clean", "--all"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(!stack.path(".env").exists(), "{doc:#}");
    assert!(!stack.path(".run").exists(), "{doc:#}");
    assert_eq!(doc["kept"], serde_json::json!([]), "{doc:#}");
}

#[test]
fn status_in_a_directory_where_nothing_runs_exits_1_and_says_to_run_up() {
    let stack = Stack::new();
    let (code, status) = stack.json(&["status"]);
    assert_eq!(code, 1, "{status:#}");
    assert_eq!(status["ok"], false);
    assert_eq!(codes(&status), ["as_unreachable", "mcp_unreachable"]);
    for f in status["findings"].as_array().unwrap() {
        assert_eq!(f["fix"], "authplane-dev up", "{status:#}");
    }
    // Read-only: it created nothing.
    assert!(!stack.path(".run").exists());
}

#[test]
fn a_warm_verify_with_auto_asks_docker_nothing() {
    use std::os::unix::net::UnixListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // A Docker socket this test controls: it counts connections and hangs up on each, so the
    // engine "does not answer" and auto falls back to the embedded backend.
    let socket_dir = tempfile::tempdir().unwrap();
    let socket = socket_dir.path().join("docker.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    let mut stack = Stack::new();
    stack
        .env
        .push(("DOCKER_HOST".into(), format!("unix://{}", socket.display())));

    // Cold: auto asks the engine once and explains its choice in one short line.
    let (code, doc) = stack.json(&["--as", "auto", "up", "--wait-timeout", "60"]);
    assert_eq!(code, 0, "{doc:#}");
    let backend = step(&doc, "backend");
    assert_eq!(backend["detail"]["backend"], "embedded", "{doc:#}");
    assert_eq!(backend["detail"]["kept"], false, "{doc:#}");
    assert!(
        backend["detail"]["engine_error"]
            .as_str()
            .is_some_and(|e| e.contains("docker.sock")),
        "the engine's words go in the detail: {doc:#}"
    );
    let line = format!(
        "✓ backend ({} ms) — {}",
        backend["duration_ms"],
        backend["summary"].as_str().unwrap()
    );
    assert!(line.chars().count() <= 100, "{line}");
    let cold = connections.load(Ordering::SeqCst);
    assert!(
        cold > 0,
        "the cold run never used the test's socket: {doc:#}"
    );

    // Warm: the running stack keeps its backend; Docker is not asked again.
    let (code, doc) = stack.json(&["--as", "auto", "verify", "--wait-timeout", "60"]);
    assert_eq!(code, 0, "{doc:#}");
    let backend = step(&doc, "backend");
    assert_eq!(backend["detail"]["kept"], true, "{doc:#}");
    assert!(
        backend["summary"]
            .as_str()
            .unwrap()
            .starts_with("embedded (kept"),
        "{doc:#}"
    );
    let out = stack.run(&["--as", "auto", "token"]);
    assert!(out.status.success(), "{out:?}");
    let (code, status) = stack.json(&["--as", "auto", "status"]);
    assert_eq!(code, 0, "{status:#}");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        cold,
        "a warm run connected to Docker"
    );
    assert_eq!(mode(&stack.path(".run/backend")), 0o600);
}

#[test]
fn a_held_port_is_port_in_use_naming_the_port_and_its_holder() {
    let stack = Stack::new();
    let _held = TcpListener::bind(("127.0.0.1", stack.ports.public)).unwrap();
    let (code, doc) = stack.json(&["up", "--wait-timeout", "10"]);
    assert_eq!(code, 3, "{doc:#}");
    let finding = &doc["findings"][0];
    assert_eq!(finding["code"], "port_in_use", "{doc:#}");
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains(&stack.ports.public.to_string()),
        "{message}"
    );
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    assert!(
        finding["fix"]
            .as_str()
            .unwrap()
            .contains("AUTHPLANE_SERVER_ADDRESS")
    );
    assert!(stack.pid("authserver").is_none(), "nothing was started");
}

#[test]
fn up_writes_a_private_env_file_when_there_is_none() {
    let stack = Stack::without_env_file();
    let doc = up(&stack);
    let env = stack.path(".env");
    assert_eq!(mode(&env), 0o600);
    let text = std::fs::read_to_string(&env).unwrap();
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("AUTHPLANE_ADMIN_API_KEY="))
        .expect("admin key in .env");
    assert_eq!(key.len(), 40);
    assert!(!doc.to_string().contains(key), "the generated key leaked");
    // The pre-flight's `.env` step says what it did.
    assert!(
        step(&doc, ".env")["summary"]
            .as_str()
            .unwrap()
            .contains("written (0600)"),
        "{doc:#}"
    );
    // The second run uses the file and never rewrites it.
    let again = up(&stack);
    assert!(
        step(&again, ".env")["summary"]
            .as_str()
            .unwrap()
            .contains("using"),
        "{again:#}"
    );
    assert_eq!(std::fs::read_to_string(&env).unwrap(), text);
}

#[test]
fn the_docker_backend_without_a_daemon_is_docker_unreachable() {
    let mut stack = Stack::new();
    stack
        .env
        .push(("DOCKER_HOST".into(), "unix:///nonexistent.sock".into()));
    let (code, doc) = stack.json(&["--as", "docker", "up"]);
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(doc["findings"][0]["code"], "docker_unreachable", "{doc:#}");
    assert!(stack.pid("authserver").is_none());
}

#[test]
fn logs_show_each_component_and_follow_refuses_json() {
    let stack = Stack::new();
    up(&stack);
    // What each running server wrote to its own log.
    let written = |name: &str| -> Vec<String> {
        let text = std::fs::read_to_string(stack.path(&format!(".run/{name}.log"))).unwrap();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        assert!(!lines.is_empty(), "{name}.log is empty after up");
        lines
    };
    let (code, doc) = stack.json(&["logs"]);
    assert_eq!(code, 0, "{doc:#}");
    for name in ["authserver", "echo"] {
        let shown: Vec<String> = doc["logs"][name]
            .as_array()
            .unwrap_or_else(|| panic!("no {name} lines: {doc:#}"))
            .iter()
            .map(|l| l.as_str().unwrap().to_owned())
            .collect();
        let lines = written(name);
        // The last 40 lines (the default), each from this component's own log.
        assert_eq!(shown, lines[lines.len().saturating_sub(40)..], "{name}");
    }
    assert_ne!(doc["logs"]["authserver"], doc["logs"]["echo"], "{doc:#}");

    let out = stack.run(&["logs", "echo", "-n", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let last = written("echo").pop().unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        vec!["=== echo ===", last.as_str()],
        "only the echo log, only its last line"
    );
    let (code, _) = stack.json(&["logs", "-f"]);
    assert_eq!(code, 2);
}

#[test]
fn restarting_the_authorization_server_restarts_the_echo_server() {
    let stack = Stack::new();
    up(&stack);
    let as_pid = stack.pid("authserver").unwrap();
    let echo_pid = stack.pid("echo").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(as_pid).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(10), || !alive(as_pid)));

    let doc = up(&stack);
    let restart = step(&doc, "restart echo MCP server");
    assert_eq!(restart["status"], "pass", "{doc:#}");
    assert!(!alive(echo_pid), "the old echo server still runs");
    let new_echo = stack.pid("echo").unwrap();
    assert_ne!(new_echo, echo_pid);
    let (_, status) = stack.json(&["status"]);
    assert_eq!(component(&status, "echo")["healthy"], true, "{status:#}");
}

#[test]
fn a_pid_file_naming_another_program_is_never_signalled() {
    let stack = Stack::new();
    std::fs::create_dir_all(stack.path(".run")).unwrap();
    // A live process that is not `serve authserver` and leads its own group: a reused pid.
    let mut other = support_stack::bystander();
    std::fs::write(
        stack.path(".run/authserver.pid"),
        format!("{}\nstart_time=\ncomponent=authserver\n", other.pid()),
    )
    .unwrap();
    let (code, status) = stack.json(&["status"]);
    assert_eq!(code, 1, "nothing runs: {status:#}");
    let c = component(&status, "authserver");
    assert_eq!(c["state"], "stale", "{status:#}");
    assert!(
        c["reason"].as_str().unwrap().contains("another program"),
        "{status:#}"
    );

    let (code, doc) = stack.json(&["clean"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(!stack.path(".run/authserver.pid").exists());
    assert!(other.still_running(), "clean signalled another program");
}

#[test]
fn a_server_recorded_in_the_older_pid_file_format_is_still_found_and_stopped() {
    let stack = Stack::new();
    up(&stack);
    let echo = stack.pid("echo").unwrap();
    let pid_file = stack.path(".run/echo.pid");
    let written = std::fs::read_to_string(&pid_file).unwrap();
    assert!(written.contains("\nstarted_at="), "{written}");
    // Older builds recorded `start_time=<clock ticks since boot>`: read as an unknown start time,
    // so the command line alone decides.
    std::fs::write(
        &pid_file,
        format!("{echo}\nstart_time=123456\ncomponent=echo\n"),
    )
    .unwrap();
    let (code, status) = stack.json(&["status"]);
    assert_eq!(code, 0, "{status:#}");
    assert_eq!(component(&status, "echo")["state"], "running", "{status:#}");

    let (code, doc) = stack.json(&["clean"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        wait_until(Duration::from_secs(10), || !alive(echo)),
        "clean left the echo server running"
    );
}

#[test]
fn a_pid_file_whose_start_time_differs_is_stale_and_never_signalled() {
    let stack = Stack::new();
    std::fs::create_dir_all(stack.path(".run")).unwrap();
    // A live process with the recorded pid, started at another second: a reused pid.
    let mut other = support_stack::bystander();
    std::fs::write(
        stack.path(".run/echo.pid"),
        format!("{}\nstarted_at=1\ncomponent=echo\n", other.pid()),
    )
    .unwrap();
    let (code, status) = stack.json(&["status"]);
    assert_eq!(code, 1, "nothing runs: {status:#}");
    let c = component(&status, "echo");
    assert_eq!(c["state"], "stale", "{status:#}");
    assert!(
        c["reason"].as_str().unwrap().contains("start time differs"),
        "{status:#}"
    );
    let (code, doc) = stack.json(&["clean"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(!stack.path(".run/echo.pid").exists());
    assert!(other.still_running(), "clean signalled a reused pid");
}

#[test]
fn logs_follow_prints_appended_lines_until_interrupted() {
    use std::io::{BufRead as _, BufReader, Write as _};
    let stack = Stack::new();
    std::fs::create_dir_all(stack.path(".run")).unwrap();
    let log = stack.path(".run/echo.log");
    std::fs::write(&log, "before\n").unwrap();
    let mut guard = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_authplane-dev"))
            .current_dir(stack.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .args(["logs", "echo", "-f"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The guard kills the follower even if an assertion below fails.
    let child = &mut guard.0;
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |want: &str| loop {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no line {want:?}"));
        if line == want {
            break;
        }
    };
    next("before");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(b"after\n")
        .unwrap();
    next("after");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut exited = None;
    assert!(wait_until(Duration::from_secs(10), || {
        exited = child.try_wait().unwrap();
        exited.is_some()
    }));
    assert_eq!(exited.unwrap().code(), Some(0));
}

#[test]
fn a_server_that_exits_at_startup_is_as_unreachable_with_its_log() {
    let stack = Stack::new();
    // A signing algorithm the AS does not support: it refuses to start. (No configuration
    // rule of ours knows this one, so the pre-flight lets `up` go ahead.)
    let env = std::fs::read_to_string(stack.path(".env")).unwrap();
    let env: String = env
        .lines()
        .map(|l| {
            if l.starts_with("AUTHPLANE_SERVER_ISSUER=") {
                format!("{l}\nAUTHPLANE_SIGNING_ALGORITHM=HS256")
            } else {
                l.to_owned()
            }
        })
        .map(|l| l + "\n")
        .collect();
    std::fs::write(stack.path(".env"), env).unwrap();

    let (code, doc) = stack.json(&["up", "--wait-timeout", "30"]);
    assert_eq!(code, 3, "{doc:#}");
    let finding = &doc["findings"][0];
    assert_eq!(finding["code"], "as_unreachable", "{doc:#}");
    assert!(
        finding["message"].as_str().unwrap().contains("exited"),
        "{doc:#}"
    );
    let why = finding["why"].as_str().unwrap();
    assert!(
        why.contains("authserver.log") && why.contains("| "),
        "{why}"
    );
    assert_eq!(step(&doc, "echo MCP server")["status"], "skip");
    assert!(
        stack.pid("authserver").is_none(),
        "a failed start leaves no pid file"
    );
}

#[test]
fn up_patches_the_echo_servers_resource_back_to_the_url_it_serves() {
    let stack = Stack::new();
    up(&stack);
    // Someone (another tool, an old configuration) points the resource elsewhere.
    let key = stack.admin_key();
    let admin = format!("http://localhost:{}/admin/resources", stack.ports.admin);
    let resource = stack.admin_get("/admin/resources?slug=demo-mcp");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let http = reqwest::Client::new();
        let patched = http
            .patch(format!("{admin}/{}", resource["id"].as_str().unwrap()))
            .bearer_auth(&key)
            .json(&serde_json::json!({"uri": "http://localhost:1/elsewhere"}))
            .send()
            .await
            .unwrap();
        assert!(patched.status().is_success(), "{patched:?}");
    });

    let again = up(&stack);
    let mcp = format!("http://localhost:{}/mcp", stack.ports.echo);
    let summary = step(&again, "resource demo-mcp")["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        summary.contains(&format!("patched demo-mcp → {mcp}")),
        "{summary}"
    );
    let (code, doc) = stack.json(&["doctor"]);
    assert_eq!(code, 0, "no drift left: {doc:#}");
}
