//! Runs that overlap in one directory, on the real binary (embedded backend, free ports): the
//! run-directory lock makes them take turns, so they agree on one `.env`, one client and one
//! resource, and leave no server behind that `clean --all` cannot find.

mod support_stack;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support_stack::{KillOnDrop, Stack, alive, listening, step};

/// GET `<admin_url><path>` with the admin key; the JSON body (a bare array for the lists).
fn admin_get(stack: &Stack, key: &str, path: &str) -> Value {
    let url = format!("http://127.0.0.1:{}{path}", stack.ports.admin);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let response = reqwest::Client::new()
                .get(&url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "GET {url}: {response:?}");
            response.json::<Value>().await.unwrap()
        })
}

/// The value of `name` in the stack's `.env`.
fn env_value(stack: &Stack, name: &str) -> String {
    let text = std::fs::read_to_string(stack.path(".env")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} missing from .env:\n{text}"))
        .to_owned()
}

/// Pids of live processes whose command line names `needle` (our background servers carry their
/// absolute run directory in theirs).
fn processes_naming(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .filter(|pid| alive(*pid))
        .collect()
}

#[test]
fn three_verify_from_nothing_share_one_env_one_client_one_resource() {
    let stack = Stack::without_env_file();
    let children: Vec<KillOnDrop> = (0..3)
        .map(|_| {
            let mut cmd = stack.command(&["--json", "verify", "--wait-timeout", "60"]);
            KillOnDrop(
                cmd.stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    for mut child in children {
        let mut stdout = String::new();
        let mut stderr = String::new();
        child
            .0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        child
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.0.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "a concurrent verify failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }

    // One `.env`, complete, and no temporary file beside it.
    let mut names: Vec<String> = std::fs::read_dir(stack.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".env", ".run"]);
    let key = env_value(&stack, "AUTHPLANE_ADMIN_API_KEY");
    assert_eq!(key.len(), 40);

    let clients = admin_get(&stack, &key, "/admin/clients");
    assert_eq!(
        clients.as_array().unwrap().len(),
        1,
        "one client: {clients:#}"
    );
    // One resource, plus the one verify's wrong-audience probe registers: none twice.
    let resources = admin_get(&stack, &key, "/admin/resources");
    let slugs: Vec<&str> = resources
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["slug"].as_str().unwrap())
        .collect();
    assert_eq!(
        slugs,
        ["demo-mcp", "demo-mcp-probe-other"],
        "one resource: {resources:#}"
    );

    let run_dir = stack.path(".run").canonicalize().unwrap();
    let needle = run_dir.to_string_lossy().into_owned();
    assert_eq!(
        processes_naming(&needle).len(),
        2,
        "one AS, one echo server"
    );
    let (code, doc) = stack.json(&["clean", "--all"]);
    assert_eq!(code, 0, "{doc:#}");
    let p = stack.ports;
    for port in [p.public, p.admin, p.echo] {
        assert!(!listening(port), "port {port} still accepts connections");
    }
    assert_eq!(
        processes_naming(&needle),
        Vec::<u32>::new(),
        "orphaned servers"
    );
}

#[test]
fn a_held_lock_makes_up_wait_with_a_note_then_proceed() {
    let stack = Stack::new();
    let run_dir = stack.path(".run");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // The same OS lock the binary takes, held by this test process.
    let mut lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(run_dir.join(".lock"))
        .unwrap();
    lock.lock().unwrap();
    writeln!(lock, "{}", std::process::id()).unwrap();

    let mut guard = KillOnDrop(
        stack
            .command(&["up", "--wait-timeout", "60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut guard.0;
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let note = loop {
        let line = rx
            .recv_timeout(Duration::from_mins(1))
            .expect("up never said it waits");
        if line.contains("waiting") {
            break line;
        }
    };
    assert_eq!(
        note,
        format!(
            "waiting for another authplane-dev in this directory (pid {})",
            std::process::id()
        )
    );
    assert!(
        stack.pid("authserver").is_none(),
        "up started something while the lock was held"
    );

    drop(lock);
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "stdout:\n{stdout}\nstderr:\n{rest:#?}");
    assert!(
        stdout.contains("✓ authorization server") && stdout.contains("started (pid"),
        "{stdout}"
    );
    assert!(
        rest.iter().all(|l| !l.contains("waiting")),
        "one note: {rest:#?}"
    );
    assert!(stack.pid("authserver").is_some_and(alive));
}

#[test]
fn read_only_verbs_do_not_wait_for_the_lock() {
    let stack = Stack::new();
    let run_dir = stack.path(".run");
    std::fs::create_dir(&run_dir).unwrap();
    let lock = std::fs::File::create(run_dir.join(".lock")).unwrap();
    lock.lock().unwrap();
    // Each would block forever if it waited for the lock this test holds.
    for verb in [&["status"][..], &["doctor", "--offline"], &["logs"]] {
        let (_, doc) = stack.json(verb);
        assert_eq!(doc["command"], verb[0], "{doc:#}");
    }
    // A configuration error answers at once too: it never reaches the lock.
    let p = stack.ports.public;
    let mut env = std::fs::OpenOptions::new()
        .append(true)
        .open(stack.path(".env"))
        .unwrap();
    writeln!(env, "AUTHPLANE_ISSUER=http://127.0.0.1:{p}").unwrap();
    let (code, doc) = stack.json(&["verify", "--wait-timeout", "600"]);
    assert_eq!(code, 2, "{doc:#}");
    assert_eq!(step(&doc, "configuration")["status"], "fail", "{doc:#}");
}
