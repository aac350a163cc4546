//! The echo server against the embedded AS's token lifecycle: a signing-key rotation (old and new
//! tokens both verify through authplane-sdk's JWKS refresh) and opt-in revocation checking
//! (`AUTHPLANE_DEV_ECHO_REVOCATION`: authplane-sdk's `RevocationConfig`, introspection on every
//! request, so a revocation takes effect on the next request despite the accepted-token cache).

mod support_echo;

use base64::Engine as _;
use serde_json::{Value, json};
use support_echo::{AuthProcess, Echo, SCOPE, mcp_post};

/// The embedded AS with the few admin and token calls these tests need.
struct As {
    process: AuthProcess,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl As {
    fn start() -> As {
        let dir = tempfile::tempdir().unwrap();
        As {
            process: AuthProcess::start(dir.path()),
            _dir: dir,
            http: reqwest::Client::new(),
        }
    }

    fn issuer(&self) -> &str {
        &self.process.public_url
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.process.admin_url))
            .bearer_auth(&self.process.admin_key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("admin call");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap_or(Value::Null)
    }

    async fn create_resource(&self, audience: &str) -> Value {
        self.admin(
            reqwest::Method::POST,
            "/admin/resources",
            Some(
                json!({"slug": "echo", "uri": audience, "backend_kind": "mint",
                        "display_name": "echo", "scopes": [{"name": SCOPE}]}),
            ),
        )
        .await
    }

    async fn create_client(&self, scope: &str) -> (String, String) {
        let c = self
            .admin(
                reqwest::Method::POST,
                "/admin/clients",
                Some(
                    json!({"client_name": "t", "grant_types": ["client_credentials"],
                            "token_endpoint_auth_method": "client_secret_basic", "scope": scope}),
                ),
            )
            .await;
        (
            c["client_id"].as_str().unwrap().to_owned(),
            c["client_secret"].as_str().unwrap().to_owned(),
        )
    }

    async fn mint(&self, id: &str, secret: &str, audience: &str) -> String {
        let body: Value = self
            .http
            .post(format!("{}/oauth/token", self.issuer()))
            .basic_auth(id, Some(secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", SCOPE),
                ("resource", audience),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"].as_str().expect("a token").to_owned()
    }

    async fn revoke(&self, id: &str, secret: &str, token: &str) {
        let r = self
            .http
            .post(format!("{}/oauth/revoke", self.issuer()))
            .basic_auth(id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

/// A JWT's `kid`.
fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: Value = serde_json::from_slice(&bytes).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

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
async fn register(s: &As, audience: &str) -> (Value, String, String) {
    let resource = s.create_resource(audience).await;
    let (id, secret) = s.create_client(SCOPE).await;
    (resource, id, secret)
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_accepts_tokens_of_both_keys_after_a_rotation() {
    let s = As::start();
    let echo = Echo::start(s.issuer());
    let (_, id, secret) = register(&s, &echo.mcp_url).await;
    let old = s.mint(&id, &secret, &echo.mcp_url).await;
    assert_eq!(status_with(&echo, &old).await, 200);

    let rotated = s
        .admin(reqwest::Method::POST, "/admin/keys/rotate", None)
        .await;
    let new = s.mint(&id, &secret, &echo.mcp_url).await;
    assert_eq!(kid(&new), rotated["kid"].as_str().unwrap());
    assert_ne!(kid(&new), kid(&old));
    // The echo server has only the old key cached: the new kid makes authplane-sdk refetch the
    // JWKS, which still publishes the old key too.
    assert_eq!(status_with(&echo, &new).await, 200, "new kid");
    assert_eq!(status_with(&echo, &old).await, 200, "old kid still valid");
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_refuses_a_revoked_token_on_the_next_request() {
    let s = As::start();
    let port = support_echo::free_port();
    let audience = format!("http://localhost:{port}/mcp");
    let (resource, id, secret) = register(&s, &audience).await;

    // What `up` does: a client of its own, made a runtime client of the resource, its
    // credentials in <run-dir>/echo-introspection.json.
    let (echo_id, echo_secret) = s.create_client("").await;
    s.admin(
        reqwest::Method::PATCH,
        &format!("/admin/resources/{}", resource["id"].as_str().unwrap()),
        Some(json!({"policy": {"runtime": {"client_ids": [echo_id]}}})),
    )
    .await;
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
        s.issuer(),
        &[("AUTHPLANE_DEV_ECHO_REVOCATION", "true")],
    );
    assert!(
        echo.stdout()
            .contains("revocation checked by introspection"),
        "{}",
        echo.stdout()
    );

    let token = s.mint(&id, &secret, &audience).await;
    // Accepted twice (the second time is when an accepted-token cache would answer).
    assert_eq!(status_with(&echo, &token).await, 200);
    assert_eq!(status_with(&echo, &token).await, 200);
    s.revoke(&id, &secret, &token).await;
    assert_eq!(
        status_with(&echo, &token).await,
        401,
        "revoked: next request"
    );
    let log = echo.wait_for_stderr("401");
    assert!(log.contains("token is not active"), "{log}");
    // Another token of the same client is unaffected.
    let fresh = s.mint(&id, &secret, &audience).await;
    assert_eq!(status_with(&echo, &fresh).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_revocation_checking_the_echo_server_trusts_the_signature() {
    // The control: the same revocation is not seen when the setting is off, so the test above
    // can fail.
    let s = As::start();
    let echo = Echo::start(s.issuer());
    let (_, id, secret) = register(&s, &echo.mcp_url).await;
    let token = s.mint(&id, &secret, &echo.mcp_url).await;
    assert_eq!(status_with(&echo, &token).await, 200);
    s.revoke(&id, &secret, &token).await;
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
