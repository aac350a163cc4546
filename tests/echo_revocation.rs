//! The echo server against the embedded AS's token lifecycle: a signing-key rotation (old and new
//! tokens both verify through authplane-sdk's JWKS refresh) and opt-in revocation checking
//! (`AUTHPLANE_DEV_ECHO_REVOCATION`: authplane-sdk's `RevocationConfig`, introspection on every
//! request, so a revocation takes effect on the next request despite the accepted-token cache).

mod support_as;
mod support_echo;
mod support_stack;

use reqwest::Method;
use serde_json::{Value, json};
use support_as::{AuthServer, decode_jwt};
use support_echo::{Echo, SCOPE, mcp_post};

fn initialize() -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},
        "clientInfo":{"name":"echo-revocation-test","version":"1.0"}}})
}

/// The status of an `initialize` with `token`.
async fn status_with(echo: &Echo, token: &str) -> u16 {
    let http = reqwest::Client::new();
    mcp_post(&http, &echo.mcp_url, Some(token), &initialize())
        .send()
        .await
        .expect("POST /mcp")
        .status()
        .as_u16()
}

/// Registers the echo server's resource (its audience, `mcp:echo`) and a minting client.
async fn register(s: &AuthServer, audience: &str) -> (Value, String, String) {
    let resource = s.create_resource("echo", audience, &[SCOPE]).await;
    let (id, secret) = s.create_client(SCOPE).await;
    (resource, id, secret)
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_accepts_tokens_of_both_keys_after_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let s = AuthServer::start(dir.path(), &[]);
    let echo = Echo::start(&s.issuer);
    let (_, id, secret) = register(&s, &echo.mcp_url).await;
    let old = s.mint(&id, &secret, SCOPE, &echo.mcp_url).await;
    assert_eq!(status_with(&echo, &old).await, 200);

    let r = s
        .admin(Method::POST, "/admin/keys/rotate")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let new = s.mint(&id, &secret, SCOPE, &echo.mcp_url).await;
    assert_ne!(decode_jwt(&new).0["kid"], decode_jwt(&old).0["kid"]);
    // The echo server has only the old key cached: the new kid makes authplane-sdk refetch the
    // JWKS, which still publishes the old key too.
    assert_eq!(status_with(&echo, &new).await, 200, "new kid");
    assert_eq!(status_with(&echo, &old).await, 200, "old kid still valid");
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_refuses_a_revoked_token_on_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let s = AuthServer::start(dir.path(), &[]);
    let port = support_echo::free_port();
    let audience = format!("http://localhost:{port}/mcp");
    let (resource, id, secret) = register(&s, &audience).await;

    // What `up` does: a client of its own, made a runtime client of the resource, its
    // credentials in <run-dir>/echo-introspection.json.
    let (echo_id, echo_secret) = s.create_client("").await;
    let r = s
        .admin(
            Method::PATCH,
            &format!("/admin/resources/{}", resource["id"].as_str().unwrap()),
        )
        .json(&json!({"policy": {"runtime": {"client_ids": [echo_id]}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echo_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(echo_dir.path().join(".run")).unwrap();
    std::fs::write(
        echo_dir.path().join(".run/echo-introspection.json"),
        json!({"client_id": echo_id, "client_secret": echo_secret}).to_string(),
    )
    .unwrap();
    let echo = Echo::start_in(
        echo_dir,
        port,
        &s.issuer,
        &[("AUTHPLANE_DEV_ECHO_REVOCATION", "true")],
    );
    assert!(
        echo.stdout()
            .contains("revocation checked by introspection"),
        "{}",
        echo.stdout()
    );

    let token = s.mint(&id, &secret, SCOPE, &audience).await;
    // Accepted twice (the second time is when an accepted-token cache would answer).
    assert_eq!(status_with(&echo, &token).await, 200);
    assert_eq!(status_with(&echo, &token).await, 200);
    let r = AuthServer::http()
        .post(format!("{}/oauth/revoke", s.public_url))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        status_with(&echo, &token).await,
        401,
        "revoked: next request"
    );
    let log = echo.wait_for_stderr("401");
    assert!(log.contains("token is not active"), "{log}");
    // Another token of the same client is unaffected.
    let fresh = s.mint(&id, &secret, SCOPE, &audience).await;
    assert_eq!(status_with(&echo, &fresh).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_revocation_checking_the_echo_server_trusts_the_signature() {
    // The control: the same revocation is not seen when the setting is off, so the test above
    // can fail.
    let dir = tempfile::tempdir().unwrap();
    let s = AuthServer::start(dir.path(), &[]);
    let echo = Echo::start(&s.issuer);
    let (_, id, secret) = register(&s, &echo.mcp_url).await;
    let token = s.mint(&id, &secret, SCOPE, &echo.mcp_url).await;
    assert_eq!(status_with(&echo, &token).await, 200);
    let r = AuthServer::http()
        .post(format!("{}/oauth/revoke", s.public_url))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(status_with(&echo, &token).await, 200);
}

#[test]
fn revocation_checking_without_a_client_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = support_echo::command(dir.path())
        .args(["serve", "echo"])
        .env("AUTHPLANE_ISSUER", "http://127.0.0.1:1")
        .env("AUTHPLANE_SCOPES", SCOPE)
        .env("AUTHPLANE_DEV_ECHO_REVOCATION", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("echo-introspection.json"), "{stderr}");
    assert!(stderr.contains("authplane-dev up"), "{stderr}");
    let out = support_echo::command(dir.path())
        .args(["serve", "echo"])
        .env("AUTHPLANE_DEV_ECHO_REVOCATION", "maybe")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUTHPLANE_DEV_ECHO_REVOCATION"));
}

// ---------------------------------------------------------------------------------------------
// `up` registers the echo server's client; `verify` probes revocation

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
