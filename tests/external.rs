//! An authorization server authplane-dev did not start: found at the configured public URL and
//! used as it is — `verify` and `token` work against it, `up` starts only the echo server,
//! `clean` and `clean --all` never stop it, `--as external` demands it. Real binary; the external
//! AS is `authplane-dev serve authserver` started by the test itself in another directory, as a
//! user would in another terminal.

mod support_stack;

use std::process::{Command, Stdio};

use support_stack::{KillOnDrop, Stack, codes, finding, listening, step, str_of, wait_until};

/// A stack whose backend is `auto` (the default), as a user's `.env` would have it.
fn auto_stack() -> Stack {
    let stack = Stack::new();
    let path = stack.path(".env");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with("AUTHPLANE_DEV_AS="))
        .flat_map(|l| [l, "\n"])
        .collect();
    std::fs::write(&path, kept).unwrap();
    stack
}

/// Starts `serve authserver` with the stack's `.env` but its own run and state directories (not
/// the stack's `.run/`), like a user in another terminal.
fn start_external_as(stack: &Stack, elsewhere: &std::path::Path) -> KillOnDrop {
    let child = Command::new(env!("CARGO_BIN_EXE_authplane-dev"))
        .current_dir(elsewhere)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .arg("--env-file")
        .arg(stack.path(".env"))
        .args(["serve", "authserver"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let port = stack.ports.public;
    assert!(
        wait_until(std::time::Duration::from_secs(30), || listening(port)),
        "the external AS did not listen on {port}"
    );
    KillOnDrop(child)
}

#[test]
fn an_as_started_elsewhere_is_used_as_it_is_and_never_stopped() {
    let stack = auto_stack();
    let elsewhere = tempfile::tempdir().unwrap();
    let _external = start_external_as(&stack, elsewhere.path());

    let (code, doc) = stack.json(&["verify"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        str_of(step(&doc, "authorization server"), "summary")
            .starts_with("external (not managed by authplane-dev)"),
        "{doc:#}"
    );
    assert_eq!(step(&doc, "backend")["detail"]["backend"], "external");
    assert!(
        stack.pid("authserver").is_none(),
        "an AS pid file was written"
    );
    assert!(
        stack.pid("echo").is_some(),
        "the echo server was not started"
    );

    // token works against it too; doctor finds no port conflict.
    let out = stack.run(&["token"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .starts_with("ey")
    );
    let (_, doctor) = stack.json(&["doctor"]);
    assert!(
        !codes(&doctor).iter().any(|c| c == "port_in_use"),
        "{doctor:#}"
    );

    // clean and clean --all stop our echo server and leave the external AS running.
    for args in [&["clean"][..], &["clean", "--all"][..]] {
        let (code, doc) = stack.json(args);
        assert_eq!(code, 0, "{doc:#}");
        assert!(
            listening(stack.ports.public),
            "{args:?} stopped the external AS"
        );
    }
    assert!(!listening(stack.ports.echo), "the echo server still runs");
}

#[test]
fn as_external_with_nothing_answering_is_as_unreachable() {
    let stack = Stack::new();
    let (code, doc) = stack.json(&["--as", "external", "verify"]);
    assert_eq!(code, 3, "{doc:#}");
    let f = finding(&doc, "as_unreachable");
    assert!(str_of(f, "message").contains("external"), "{f:#}");
    assert!(!listening(stack.ports.public), "an AS was started");
}

#[test]
fn a_wrong_admin_key_for_an_external_as_says_where_its_key_lives() {
    let stack = auto_stack();
    let elsewhere = tempfile::tempdir().unwrap();
    let _external = start_external_as(&stack, elsewhere.path());
    let mut stack = stack;
    stack.env.push((
        "AUTHPLANE_ADMIN_API_KEY".to_owned(),
        "a-key-that-is-not-the-as-key-0123456789".to_owned(),
    ));
    let (code, doc) = stack.json(&["verify"]);
    assert_eq!(code, 1, "{doc:#}");
    let fix = str_of(finding(&doc, "admin_key_rejected"), "fix").to_owned();
    assert!(fix.contains("docker inspect"), "{fix}");
    assert!(fix.contains("serve authserver"), "{fix}");
    // `$(authplane-dev token)` captures nothing: the finding goes to stderr.
    let out = stack.run(&["token"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin_key_rejected"));
    assert!(listening(stack.ports.public), "the external AS was stopped");
}

#[test]
fn status_shows_an_external_as_as_answering() {
    let stack = auto_stack();
    let elsewhere = tempfile::tempdir().unwrap();
    let _external = start_external_as(&stack, elsewhere.path());
    let (code, doc) = stack.json(&["up"]);
    assert_eq!(code, 0, "{doc:#}");
    let (code, status) = stack.json(&["status"]);
    assert_eq!(code, 0, "{status:#}");
    let authserver = support_stack::component(&status, "authserver");
    assert_eq!(authserver["state"], "external", "{status:#}");
    assert!(
        str_of(step(&status, "authorization server"), "summary").starts_with("external"),
        "{status:#}"
    );
}
