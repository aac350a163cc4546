//! The fixtures suite: every directory under `fixtures/` is one scenario. Its `env` is a `.env`
//! overlay (placeholders `{AS_PORT}`, `{ADMIN_PORT}`, `{ECHO_PORT}`) applied on top of a healthy
//! free-port base config; `expected.json` lists the finding codes `doctor` and (optionally)
//! `verify` must report, exactly, as sets; an optional `setup.json` says how to set it up:
//! `"apply": "cli"` (default: the overlay goes into the CLI's process environment, the stack runs
//! the base config) or `"server"` (the overlay is written into `.env` before `up`), `"up": false`
//! (no stack), `"hold_port": "ECHO_PORT"` (the test listens on that port during the run).

mod support_stack;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;

use serde_json::Value;
use support_stack::Stack;

fn codes(doc: &Value) -> BTreeSet<String> {
    doc["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings array in {doc:#}"))
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

fn expected(doc: &Value, key: &str) -> Option<BTreeSet<String>> {
    doc.get(key).map(|v| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    })
}

fn overlay(dir: &Path, stack: &Stack) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("env")).unwrap_or_default();
    let text = text
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

/// Registers a resource through the admin API (a plain HTTP/1.1 POST), as another tool would.
fn register(stack: &Stack, resource: &Value) {
    use std::io::{Read as _, Write as _};
    let env = std::fs::read_to_string(stack.path(".env")).unwrap();
    let key = env
        .lines()
        .find_map(|l| l.strip_prefix("AUTHPLANE_ADMIN_API_KEY="))
        .unwrap();
    let body = resource
        .to_string()
        .replace("{ECHO_PORT}", &stack.ports.echo.to_string());
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", stack.ports.admin)).unwrap();
    write!(
        conn,
        "POST /admin/resources HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 20"), "register: {answer}");
}

fn scenario(dir: &Path) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let expected_doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let setup: Value = std::fs::read_to_string(dir.join("setup.json"))
        .map_or(Value::Null, |t| serde_json::from_str(&t).unwrap());
    let mut stack = Stack::new();
    let vars = overlay(dir, &stack);
    if setup["apply"] == "server" {
        write_env(&stack, &vars);
    }
    // The generated .env holds secrets: 0600, as `up` writes it.
    std::fs::set_permissions(
        stack.path(".env"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let _held = setup["hold_port"].as_str().map(|which| {
        let port = match which {
            "AS_PORT" => stack.ports.public,
            "ADMIN_PORT" => stack.ports.admin,
            _ => stack.ports.echo,
        };
        TcpListener::bind(("127.0.0.1", port)).unwrap()
    });
    if setup["up"] != false {
        let (code, doc) = stack.json(&["up", "--wait-timeout", "60"]);
        assert_eq!(code, 0, "{name}: up failed: {doc:#}");
    }
    if let Some(resource) = setup.get("register") {
        register(&stack, resource);
    }
    if setup["apply"] != "server" {
        stack.env.extend(vars);
    }
    let (_, doctor) = stack.json(&["doctor"]);
    assert_eq!(
        codes(&doctor),
        expected(&expected_doc, "doctor").unwrap(),
        "{name}: doctor: {doctor:#}"
    );
    if let Some(want) = expected(&expected_doc, "verify") {
        let (_, verify) = stack.json(&["verify", "--wait-timeout", "60"]);
        assert_eq!(codes(&verify), want, "{name}: verify: {verify:#}");
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
