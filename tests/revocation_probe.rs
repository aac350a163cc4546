//! `up` with `AUTHPLANE_DEV_ECHO_REVOCATION=true` registers the echo server's introspection
//! client, and `verify`'s probe "revoked token" passes against it and fails, with the finding
//! `revocation_ignored`, against an MCP server that does not check revocation.

mod support_stack;

use serde_json::Value;

fn verify(stack: &support_stack::Stack) -> (i32, Value) {
    stack.json(&["verify", "--wait-timeout", "60"])
}

#[test]
fn up_registers_the_echo_client_and_verify_probes_revocation() {
    let stack = support_stack::Stack::new();
    stack.set_in_env_file("AUTHPLANE_DEV_ECHO_REVOCATION", "true");
    let (code, doc) = stack.json(&["up", "--wait-timeout", "60"]);
    assert_eq!(code, 0, "{doc:#}");
    let registered = support_stack::step(&doc, "echo introspection client");
    assert_eq!(registered["status"], "pass", "{doc:#}");
    let file = stack.path(".run/echo-introspection.json");
    assert_eq!(support_stack::mode(&file), 0o600);
    let stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let secret = stored["client_secret"].as_str().unwrap();
    assert!(
        !doc.to_string().contains(secret),
        "the secret is never printed"
    );
    let log = std::fs::read_to_string(stack.path(".run/echo.log")).unwrap();
    assert!(log.contains("revocation checked by introspection"), "{log}");

    let (code, doc) = verify(&stack);
    assert_eq!(code, 0, "{doc:#}");
    let probe = support_stack::step(&doc, "probe: revoked token");
    assert_eq!(probe["status"], "pass", "{doc:#}");
    assert!(
        probe["summary"].as_str().unwrap().contains("401"),
        "{probe}"
    );
    // The client is reused while the AS knows it.
    assert!(
        support_stack::step(&doc, "echo introspection client")["summary"]
            .as_str()
            .unwrap()
            .starts_with("reused"),
        "{doc:#}"
    );
}

#[test]
fn verify_finds_a_server_that_ignores_revocation() {
    let mut stack = support_stack::Stack::new();
    stack.set_in_env_file("AUTHPLANE_DEV_ECHO_REVOCATION", "true");
    let (code, doc) = stack.json(&["up", "--wait-timeout", "60"]);
    assert_eq!(code, 0, "{doc:#}");
    // "Your" MCP server: an echo server on another port that does not check revocation.
    let port = support_stack::free_port();
    let base = format!("http://localhost:{port}");
    let _server = support_stack::KillOnDrop(
        stack
            .command(&["--run-dir", ".run-mine", "serve", "echo"])
            .env("PORT", port.to_string())
            .env("AUTHPLANE_BASE_URL", &base)
            .env("AUTHPLANE_DEV_ECHO_REVOCATION", "false")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(support_stack::wait_until(
        std::time::Duration::from_secs(30),
        || support_stack::listening(port)
    ));
    stack
        .env
        .push(("AUTHPLANE_DEV_MCP_URL".to_owned(), format!("{base}/mcp")));
    stack
        .env
        .push(("AUTHPLANE_DEV_RESOURCE_SLUG".to_owned(), "mine".to_owned()));
    let (code, doc) = verify(&stack);
    assert_eq!(code, 1, "{doc:#}");
    let probe = support_stack::step(&doc, "probe: revoked token");
    assert_eq!(probe["status"], "fail", "{doc:#}");
    let finding = support_stack::finding(&doc, "revocation_ignored");
    assert_eq!(finding["severity"], "error");
    assert!(
        finding["fix"]
            .as_str()
            .unwrap()
            .contains("RevocationConfig"),
        "{finding}"
    );
}
