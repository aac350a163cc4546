//! `verify`, `token` and `inspect` against the real binary and a real embedded stack (AS + echo)
//! on free ports in a temp directory. Every stack is cleaned up by the `Stack` drop guard.

mod support_stack;

use base64::Engine as _;
use serde_json::Value;
use support_stack::{KillOnDrop, Stack, codes, finding, listening, step, str_of, wait_until};

/// Another MCP server for the stack's AS: `serve echo` on its own free port (its own base URL,
/// so its own resource), as a user would run a second server; killed on drop.
fn second_server(stack: &Stack) -> (KillOnDrop, String) {
    let port = support_stack::free_port();
    let child = stack
        .command(&["serve", "echo"])
        .env("PORT", port.to_string())
        .env("AUTHPLANE_BASE_URL", format!("http://localhost:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = KillOnDrop(child);
    assert!(
        wait_until(std::time::Duration::from_secs(30), || listening(port)),
        "serve echo did not listen on {port}"
    );
    (server, format!("http://localhost:{port}/mcp"))
}

fn verify(stack: &Stack, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["verify", "--wait-timeout", "60"];
    args.extend_from_slice(extra);
    stack.json(&args)
}

fn with_env(stack: &mut Stack, vars: &[(&str, &str)]) {
    for (k, v) in vars {
        stack.env.retain(|(name, _)| name != k);
        stack.env.push(((*k).to_owned(), (*v).to_owned()));
    }
}

fn without_env(stack: &mut Stack, names: &[&str]) {
    stack
        .env
        .retain(|(name, _)| !names.contains(&name.as_str()));
}

#[test]
fn verify_from_nothing_then_reuse_token_inspect_and_a_wrong_admin_key() {
    let mut stack = Stack::new();

    let (code, doc) = verify(&stack, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["ok"], true, "{doc:#}");
    for name in [
        "AS discovery",
        "resource URI",
        "resource demo-mcp",
        "client",
        "mint token",
        "check token",
        "MCP initialize",
        "notifications/initialized",
        "tools/call echo",
        "probe: no token",
        "probe: token for another resource",
        "probe: token without the required scope",
    ] {
        let s = step(&doc, name);
        assert_eq!(s["ok"], true, "{name}: {doc:#}");
        assert!(s["duration_ms"].is_u64(), "{name}");
    }
    assert_eq!(step(&doc, "probe: no token")["status"], "pass", "{doc:#}");
    assert_eq!(doc["protocol_era"], "session");
    let first_client = doc["client_id"].as_str().unwrap().to_owned();
    assert_eq!(step(&doc, "client")["detail"]["reused"], false);
    let client_file = stack.path(".run/client.json");
    assert_eq!(support_stack::mode(&client_file), 0o600);
    // The client secret and the admin key never reach the output.
    let text = doc.to_string();
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(&client_file).unwrap()).unwrap();
    assert!(!text.contains(stored["client_secret"].as_str().unwrap()));

    // Second run: the same client, no pile-up.
    let (code, doc) = verify(&stack, &["--no-probes"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["client_id"], first_client.as_str(), "{doc:#}");
    assert_eq!(step(&doc, "client")["detail"]["reused"], true);
    assert_eq!(step(&doc, "probe: no token")["status"], "skip", "{doc:#}");

    // The echo server (rmcp) speaks both eras: auto finds the stateless one.
    let (code, doc) = verify(&stack, &["--protocol", "auto"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["protocol_era"], "stateless", "{doc:#}");
    assert_eq!(step(&doc, "protocol era")["detail"]["era"], "stateless");
    assert_eq!(step(&doc, "probe: no token")["status"], "pass", "{doc:#}");
    let (code, doc) = verify(&stack, &["--protocol", "stateless", "--no-probes"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(step(&doc, "tools/call echo (stateless)")["ok"], true);

    // Dialling the echo server as 127.0.0.1 while it announces localhost: an MCP client would
    // refuse its metadata (RFC 9728 §3.3), so verify does too — exit 1, both URLs shown, and
    // nothing registered or minted.
    let loopback = format!("http://127.0.0.1:{}/mcp", stack.ports.echo);
    let localhost = format!("http://localhost:{}/mcp", stack.ports.echo);
    let (code, doc) = verify(&stack, &["--mcp-url", &loopback, "--no-probes"]);
    assert_eq!(code, 1, "{doc:#}");
    let f = finding(&doc, "audience_mismatch");
    assert_eq!(f["expected"], loopback.as_str(), "{doc:#}");
    assert_eq!(f["actual"], localhost.as_str(), "{doc:#}");
    assert_eq!(f["differs"], "host: 127.0.0.1 vs localhost", "{doc:#}");
    assert!(f["fix"].as_str().unwrap().contains(&localhost), "{doc:#}");
    assert_eq!(step(&doc, "MCP metadata")["ok"], false, "{doc:#}");
    for skipped in ["resource demo-mcp", "client", "mint token"] {
        assert_eq!(step(&doc, skipped)["status"], "skip", "{skipped}: {doc:#}");
    }

    // token: stdout is the JWT and nothing else.
    let out = stack.run(&["token"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim_end_matches('\n');
    assert_eq!(token.lines().count(), 1, "{stdout:?}");
    assert_eq!(token.split('.').count(), 3, "{stdout:?}");
    assert!(token.starts_with("eyJ"), "{stdout:?}");

    // token --json carries the token (the user asked for it) and its audience.
    let (code, doc) = stack.json(&["token"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["access_token"].as_str().unwrap().split('.').count(), 3);
    let mcp = format!("http://localhost:{}/mcp", stack.ports.echo);
    assert_eq!(doc["aud"][0], mcp.as_str());

    // inspect: that token passes every rule; garbage is a usage error.
    let (code, doc) = stack.json(&["inspect", token]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["claims"]["aud"][0], mcp.as_str());
    assert_eq!(doc["header"]["typ"], "at+jwt");
    let out = stack.run(&["inspect", "not-a-jwt"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a JWT"));

    // A wrong admin key (process environment over .env): the running AS refuses it, which
    // doctor (read-only) names as admin_key_rejected, exit 1. (verify would restart the AS with
    // the key it is given: tests/stale.rs, tests/faults.rs.)
    with_env(
        &mut stack,
        &[("AUTHPLANE_ADMIN_API_KEY", "wrong-admin-key-0123456789")],
    );
    let (code, doc) = stack.json(&["doctor"]);
    assert_eq!(code, 1, "{doc:#}");
    let found = codes(&doc);
    for code in ["stale_component", "admin_key_rejected"] {
        assert!(found.iter().any(|c| c == code), "{code}: {doc:#}");
    }
    let f = finding(&doc, "admin_key_rejected");
    assert!(f["actual"].as_str().unwrap().contains("401"), "{doc:#}");
    assert!(!doc.to_string().contains("wrong-admin-key-0123456789"));
    without_env(&mut stack, &["AUTHPLANE_ADMIN_API_KEY"]);
}

#[test]
fn your_own_server_prm_first_with_its_own_resource_and_no_fix_when_alternating() {
    let stack = Stack::new();
    let (code, doc) = verify(&stack, &["--no-probes"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(stack.registered_slugs(), ["demo-mcp"]);

    // Nothing listens there: mcp_unreachable from the metadata step, before any admin call.
    let port = support_stack::free_port();
    let nowhere = format!("http://localhost:{port}/mcp");
    let (code, doc) = verify(&stack, &["--mcp-url", &nowhere]);
    assert_eq!(code, 3, "{doc:#}");
    assert!(str_of(finding(&doc, "mcp_unreachable"), "message").contains(&nowhere));
    assert_eq!(step(&doc, "MCP metadata")["ok"], false, "{doc:#}");
    let slug = format!("localhost-{port}-mcp");
    assert_eq!(
        step(&doc, &format!("resource {slug}"))["status"],
        "skip",
        "{doc:#}"
    );
    assert_eq!(
        stack.registered_slugs(),
        ["demo-mcp"],
        "registered for an unreachable URL"
    );

    // Another real server (a second `serve echo`, on its own port): its own resource, derived
    // from its URL, and scope from its scopes_supported; then plain verify and the other server
    // again, neither needing --fix.
    let (_other, other_url) = second_server(&stack);
    let other_slug = format!(
        "localhost-{}-mcp",
        other_url
            .trim_start_matches("http://localhost:")
            .trim_end_matches("/mcp")
    );
    for round in 0..2 {
        let (code, doc) = verify(&stack, &["--mcp-url", other_url.as_str(), "--no-probes"]);
        assert_eq!(code, 0, "round {round}: {doc:#}");
        let metadata = str_of(step(&doc, "MCP metadata"), "summary");
        assert!(metadata.contains("from scopes_supported"), "{doc:#}");
        assert!(
            str_of(step(&doc, "tools/list"), "summary").contains("echo"),
            "{doc:#}"
        );
        assert_eq!(
            step(&doc, &format!("resource {other_slug}"))["ok"],
            true,
            "{doc:#}"
        );
        let (code, doc) = verify(&stack, &["--no-probes"]);
        assert_eq!(code, 0, "round {round}, echo again: {doc:#}");
        assert!(
            !codes(&doc).iter().any(|c| c == "resource_drift"),
            "{doc:#}"
        );
    }
    assert_eq!(stack.registered_slugs(), ["demo-mcp", other_slug.as_str()]);

    // --slug names the resource; --tool picks the tool, and its arguments are checked first.
    let (code, doc) = verify(
        &stack,
        &[
            "--mcp-url",
            other_url.as_str(),
            "--slug",
            "my-echo",
            "--tool",
            "echo",
            "--args",
            "{}",
        ],
    );
    assert_eq!(code, 1, "{doc:#}");
    let f = finding(&doc, "mcp_handshake_failed");
    assert!(str_of(f, "message").contains("text"), "{doc:#}");
    assert!(str_of(step(&doc, "tools/call echo"), "summary").starts_with("not called"));
    assert_eq!(step(&doc, "resource my-echo")["ok"], true, "{doc:#}");
    let (code, doc) = verify(
        &stack,
        &[
            "--mcp-url",
            other_url.as_str(),
            "--tool",
            "echo",
            "--args",
            r#"{"text":"hello"}"#,
        ],
    );
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        str_of(step(&doc, "tools/call echo"), "summary").contains("hello"),
        "{doc:#}"
    );
    assert_eq!(
        step(&doc, "probe: token without the required scope")["ok"],
        true,
        "{doc:#}"
    );
    let (code, doc) = verify(
        &stack,
        &[
            "--mcp-url",
            other_url.as_str(),
            "--tool",
            "nope",
            "--no-probes",
        ],
    );
    assert_eq!(code, 1, "{doc:#}");
    assert!(
        str_of(finding(&doc, "mcp_handshake_failed"), "fix").contains("echo"),
        "{doc:#}"
    );
}

#[test]
fn drift_is_found_and_fixed_and_a_trailing_slash_is_named() {
    let mut stack = Stack::new();
    let echo = stack.ports.echo;
    let audience = format!("http://localhost:{echo}/mcp");

    // Register resource drift-mcp with another URI (through `token`, which registers it): the
    // URL of another server, dialled as such, so the configuration is consistent and token acts.
    // That server does not run, so the scope is named (token would read it from its metadata).
    let other = format!("http://localhost:{}/other", support_stack::free_port());
    with_env(
        &mut stack,
        &[
            ("AUTHPLANE_DEV_RESOURCE_SLUG", "drift-mcp"),
            ("AUTHPLANE_DEV_RESOURCE_URI", &other),
            ("AUTHPLANE_DEV_MCP_URL", &other),
            ("AUTHPLANE_DEV_SCOPE", "mcp:echo"),
        ],
    );
    let (code, doc) = stack.json(&["token"]);
    assert_eq!(code, 0, "{doc:#}");
    without_env(
        &mut stack,
        &[
            "AUTHPLANE_DEV_RESOURCE_URI",
            "AUTHPLANE_DEV_MCP_URL",
            "AUTHPLANE_DEV_SCOPE",
        ],
    );

    let (code, doc) = verify(&stack, &["--no-probes"]);
    assert_eq!(code, 1, "{doc:#}");
    let f = finding(&doc, "resource_drift");
    assert_eq!(f["expected"], audience.as_str(), "{doc:#}");
    assert_eq!(f["actual"], other.as_str());
    assert_eq!(step(&doc, "resource drift-mcp")["ok"], false);

    let (code, doc) = verify(&stack, &["--fix"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        step(&doc, "resource drift-mcp")["summary"]
            .as_str()
            .unwrap()
            .contains("patched"),
        "{doc:#}"
    );
    let (code, doc) = verify(&stack, &["--no-probes"]);
    assert_eq!(code, 0, "after --fix: {doc:#}");

    // A resource URI with a trailing slash: audience_mismatch naming it, found by the
    // configuration pre-flight (exit 2) before anything is registered or minted.
    with_env(
        &mut stack,
        &[
            ("AUTHPLANE_DEV_RESOURCE_SLUG", "slash-mcp"),
            ("AUTHPLANE_DEV_RESOURCE_URI", &format!("{audience}/")),
        ],
    );
    let (code, doc) = verify(&stack, &[]);
    assert_eq!(code, 2, "{doc:#}");
    let f = finding(&doc, "audience_mismatch");
    assert!(
        f["differs"].as_str().unwrap().contains("trailing slash"),
        "{doc:#}"
    );
    assert_eq!(f["expected"], audience.as_str());
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("AUTHPLANE_DEV_RESOURCE_URI")
    );
    assert_eq!(step(&doc, "configuration")["ok"], false);
    assert_eq!(doc["steps"].as_array().unwrap().len(), 1, "{doc:#}");
}

#[test]
fn inspect_decodes_and_checks_without_a_stack() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_authplane-dev"));
        cmd.current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };
    let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let header = serde_json::json!({"alg":"ES256","kid":"k1","typ":"at+jwt"});
    let claims = |aud: &str| {
        serde_json::json!({"iss":"http://localhost:9000","sub":"c","client_id":"c","jti":"j",
            "aud":[aud],"scope":"mcp:echo","iat":now,"nbf":now,"exp":now + 3600})
    };
    let good = format!(
        "{}.{}.{}",
        enc(&header),
        enc(&claims("http://localhost:8080/mcp")),
        "c2ln"
    );
    let out = run(&["--json", "inspect", "-"], Some(&format!("{good}\n")));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], true);

    let slash = format!(
        "{}.{}.{}",
        enc(&header),
        enc(&claims("http://localhost:8080/mcp/")),
        "c2ln"
    );
    let out = run(&["--json", "inspect", &slash], None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        finding(&doc, "audience_mismatch")["differs"]
            .as_str()
            .unwrap()
            .contains("trailing slash")
    );

    // Human output shows the claims; garbage is exit 2 with a clear message.
    let out = run(&["inspect", &good], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"client_id\": \"c\""));
    for garbage in ["", "abc", "a.b.c", "e30.bm90IGpzb24.x"] {
        let out = run(&["inspect", garbage], None);
        assert_eq!(out.status.code(), Some(2), "{garbage:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("not a JWT"), "{garbage:?}: {stderr}");
    }
}

#[test]
fn inspect_verifies_the_signature_and_refuses_a_token_from_a_reset_as() {
    let stack = Stack::new();
    let mint = |stack: &Stack| {
        let out = stack.run(&["token"]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let old = mint(&stack);
    let (code, doc) = stack.json(&["inspect", &old]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(step(&doc, "signature")["status"], "pass", "{doc:#}");
    assert!(str_of(step(&doc, "signature"), "summary").starts_with("verified with kid"));

    // A signature changed by one character does not verify. (Not the last character: its low
    // bits are padding, and a change there may not be base64url any more.)
    let mut forged: Vec<char> = old.chars().collect();
    let i = forged.len() - 10;
    forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let (code, doc) = stack.json(&["inspect", &forged]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(step(&doc, "signature")["ok"], false, "{doc:#}");
    finding(&doc, "token_rejected");

    // The AS's data reset (its state directory removed while stopped): a new signing key. The
    // old token still decodes, but its kid is not published any more: token_rejected with why.
    let (code, doc) = stack.json(&["clean"]);
    assert_eq!(code, 0, "{doc:#}");
    std::fs::remove_dir_all(stack.path(".run/authserver")).unwrap();
    let new = mint(&stack);
    let (code, doc) = stack.json(&["inspect", &old]);
    assert_eq!(code, 1, "{doc:#}");
    let f = finding(&doc, "token_rejected");
    assert!(str_of(f, "message").contains("is not published"), "{doc:#}");
    assert!(str_of(f, "why").contains("reset"), "{doc:#}");
    let (code, doc) = stack.json(&["inspect", &new]);
    assert_eq!(code, 0, "{doc:#}");

    // Offline: decoded and checked, the signature said to be not verified.
    let (code, doc) = stack.json(&["clean"]);
    assert_eq!(code, 0, "{doc:#}");
    let (code, doc) = stack.json(&["inspect", &new]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(step(&doc, "signature")["status"], "skip", "{doc:#}");
    assert!(
        str_of(step(&doc, "signature"), "summary").contains("not verified"),
        "{doc:#}"
    );
}
