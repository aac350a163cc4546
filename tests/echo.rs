//! `serve echo` against the real embedded AS: both MCP eras with real tokens, the RFC 6750 /
//! RFC 9728 answers, a forgery matrix, startup failures, and an AS restart with a new key.

mod support_echo;

use serde_json::{Value, json};

use support_echo::{
    ACCEPT_BOTH, AuthProcess, Echo, Forger, SCOPE, free_port, mcp_post, mint_token, rpc_message,
    run_echo_expecting_failure, stateless_meta, tool_text,
};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn token_for(auth: &AuthProcess, echo: &Echo) -> String {
    mint_token(
        &auth.admin_url,
        &auth.admin_key,
        &auth.public_url,
        &echo.mcp_url,
    )
    .await
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_verify_sequence_and_both_protocol_eras_work_with_a_real_token() {
    let work = tempfile::tempdir().unwrap();
    let auth = AuthProcess::start(work.path());
    let echo = Echo::start(&auth.public_url);
    let token = token_for(&auth, &echo).await;
    let http = http();

    // 1. Exactly what the seed's scripts/verify.sh sends.
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2024-11-05","capabilities":{},
        "clientInfo":{"name":"verify.sh","version":"1.0"}}});
    let resp = mcp_post(&http, &echo.mcp_url, Some(&token), &init)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let session = header(&resp, "mcp-session-id");
    assert!(!session.is_empty(), "initialize must return Mcp-Session-Id");
    let body = resp.text().await.unwrap();
    assert!(body.contains("demo-server"), "{body}");
    assert_eq!(
        rpc_message(&body)["result"]["protocolVersion"],
        "2024-11-05"
    );

    let resp = mcp_post(
        &http,
        &echo.mcp_url,
        Some(&token),
        &json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    )
    .header("mcp-session-id", &session)
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 202);

    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"round-trip"}}});
    let resp = mcp_post(&http, &echo.mcp_url, Some(&token), &call)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.text().await.unwrap();
    assert!(body.contains("round-trip"), "{body}");
    assert_eq!(tool_text(&rpc_message(&body)), "round-trip");

    // 2. The 2025-11-25 handshake with the protocol header, lower-case "bearer", tools/list.
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},
        "clientInfo":{"name":"echo-test","version":"1.0"}}});
    let resp = http
        .post(&echo.mcp_url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .header("authorization", format!("bearer {token}"))
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "lower-case bearer must be accepted"
    );
    let session = header(&resp, "mcp-session-id");
    assert_eq!(
        rpc_message(&resp.text().await.unwrap())["result"]["protocolVersion"],
        "2025-11-25"
    );
    let list = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"});
    let resp = mcp_post(&http, &echo.mcp_url, Some(&token), &list)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    let tools = rpc_message(&resp.text().await.unwrap());
    assert_eq!(tools["result"]["tools"][0]["name"], "echo");
    assert_eq!(
        tools["result"]["tools"][0]["inputSchema"]["required"],
        json!(["text"])
    );

    // Session errors are rmcp's: no session → 400, unknown session → 404.
    let resp = mcp_post(&http, &echo.mcp_url, Some(&token), &call)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = mcp_post(&http, &echo.mcp_url, Some(&token), &call)
        .header("mcp-session-id", "no-such-session")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);

    // 3. A 2026-07-28 stateless request on the same endpoint: no initialize, no session.
    let stateless = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{
        "name":"echo","arguments":{"text":"stateless hello"},"_meta": stateless_meta()}});
    let resp = mcp_post(&http, &echo.mcp_url, Some(&token), &stateless)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        header(&resp, "mcp-session-id").is_empty(),
        "stateless answers carry no session"
    );
    let message = rpc_message(&resp.text().await.unwrap());
    assert_eq!(tool_text(&message), "stateless hello", "{message}");

    // server/discover replaces initialize in that era and names the server too.
    let discover = json!({"jsonrpc":"2.0","id":8,"method":"server/discover","params":{"_meta": stateless_meta()}});
    let resp = mcp_post(&http, &echo.mcp_url, Some(&token), &discover)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.text().await.unwrap();
    assert!(body.contains("demo-server"), "{body}");

    // 4. Accept must list both types (rmcp's rule, after authentication).
    let resp = http
        .post(&echo.mcp_url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .bearer_auth(&token)
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 406);

    // The ready line names what the server checks.
    let stdout = echo.stdout();
    assert!(
        stdout.contains(&format!(
            "echo: listening on http://127.0.0.1:{}/mcp",
            echo.port
        )) && stdout.contains(&echo.mcp_url)
            && stdout.contains(SCOPE),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn challenges_metadata_and_every_forged_token_are_answered_per_rfc_6750_and_9728() {
    let work = tempfile::tempdir().unwrap();
    let auth = AuthProcess::start(work.path());
    let echo = Echo::start(&auth.public_url);
    let http = http();
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let rm = format!("resource_metadata=\"{}\"", echo.prm_url);

    // No token: 401, a bare challenge pointing at the PRM, for POST and GET alike.
    let resp = mcp_post(&http, &echo.mcp_url, None, &init)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(header(&resp, "www-authenticate"), format!("Bearer {rm}"));
    let resp = http.get(&echo.mcp_url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(header(&resp, "www-authenticate").contains(&rm));

    // Protected Resource Metadata, at the resource path and at the root, outside the guard.
    for url in [
        echo.prm_url.clone(),
        format!("{}/.well-known/oauth-protected-resource", echo.base_url),
    ] {
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{url}");
        let prm: Value = resp.json().await.unwrap();
        assert_eq!(prm["resource"], echo.mcp_url.as_str());
        assert_eq!(prm["authorization_servers"], json!([auth.public_url]));
        assert_eq!(prm["scopes_supported"], json!([SCOPE]));
        assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
    }

    // Forgeries signed (or not) every way that must fail: each is 401 invalid_token.
    let forger = Forger::from_state_dir(&auth.state_dir, &auth.public_url);
    let good = forger.claims(&echo.mcp_url, SCOPE);
    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let now = support_echo::now();
    let mut cases: Vec<(&str, String)> = vec![
        ("alg none", forger.unsigned(&good)),
        ("bad signature, same kid", forger.sign_with_other_key(&good)),
        (
            "expired",
            forger.sign(
                &forger.header(),
                &with(json!({"exp": now - 600, "iat": now - 1200, "nbf": now - 1200})),
            ),
        ),
        (
            "nbf in the future",
            forger.sign(&forger.header(), &with(json!({"nbf": now + 600}))),
        ),
        (
            "wrong iss",
            forger.sign(
                &forger.header(),
                &with(json!({"iss": "http://evil.example"})),
            ),
        ),
        (
            "iss with trailing slash",
            forger.sign(
                &forger.header(),
                &with(json!({"iss": format!("{}/", auth.public_url)})),
            ),
        ),
        (
            "wrong aud",
            forger.sign(
                &forger.header(),
                &with(json!({"aud": ["http://localhost:1/mcp"]})),
            ),
        ),
        (
            "aud with trailing slash",
            forger.sign(
                &forger.header(),
                &with(json!({"aud": [format!("{}/", echo.mcp_url)]})),
            ),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    let mut h = forger.header();
    h.kid = Some("no-such-kid".to_owned());
    cases.push(("unknown kid", forger.sign(&h, &good)));
    let mut h = forger.header();
    h.typ = Some("JWT".to_owned());
    cases.push(("typ JWT", forger.sign(&h, &good)));
    let mut h = forger.header();
    h.typ = None;
    cases.push(("typ absent", forger.sign(&h, &good)));
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some(forger.kid.clone());
    h.typ = Some("at+jwt".to_owned());
    let hs = jsonwebtoken::encode(
        &h,
        &good,
        &jsonwebtoken::EncodingKey::from_secret(&forger.public_pem()),
    )
    .unwrap();
    cases.push(("HS256 keyed with the public key", hs));

    for (case, token) in &cases {
        let resp = mcp_post(&http, &echo.mcp_url, Some(token), &init)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{case}");
        let challenge = header(&resp, "www-authenticate");
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
            "{case}: {challenge}"
        );
        assert!(challenge.ends_with(&rm), "{case}: {challenge}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token", "{case}");
    }

    // The same key and claims with a correct header pass — so the rejections above are about
    // the one thing each case changed.
    let control = forger.sign(&forger.header(), &good);
    let resp = mcp_post(&http, &echo.mcp_url, Some(&control), &init)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "control token must be accepted"
    );

    // Valid token without the required scope: 403 insufficient_scope with scope=.
    let other_scope = forger.sign(&forger.header(), &with(json!({"scope": "openid other"})));
    let resp = mcp_post(&http, &echo.mcp_url, Some(&other_scope), &init)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let challenge = header(&resp, "www-authenticate");
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains(&rm), "{challenge}");
    assert!(
        challenge.ends_with(&format!("scope=\"{SCOPE}\"")),
        "{challenge}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");

    // Rejections are logged with their reason.
    let stderr = echo.wait_for_stderr("echo: 403 POST /mcp");
    assert!(stderr.contains("echo: 403 POST /mcp"), "{stderr}");
    assert!(stderr.contains("InvalidAudience"), "{stderr}");
}

#[test]
fn startup_fails_with_both_values_when_the_issuer_differs() {
    let work = tempfile::tempdir().unwrap();
    let auth = AuthProcess::start(work.path());
    // Same server, other spelling: the AS announces localhost, we configure 127.0.0.1.
    let configured = auth.public_url.replace("localhost", "127.0.0.1");
    assert_ne!(
        configured, auth.public_url,
        "the AS URL must use localhost for this test"
    );
    let out = run_echo_expecting_failure(&configured, &[("AUTHPLANE_DEV_MODE", "true")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{configured:?}")), "{stderr}");
    assert!(
        stderr.contains(&format!("{:?}", auth.public_url)),
        "{stderr}"
    );
    assert!(stderr.contains("AUTHPLANE_ISSUER"), "{stderr}");
}

#[test]
fn startup_fails_as_an_environment_problem_when_the_as_is_down() {
    let port = free_port();
    let out = run_echo_expecting_failure(&format!("http://localhost:{port}"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot reach the authorization server"),
        "{stderr}"
    );
    assert!(stderr.contains("Fix:"), "{stderr}");
}

#[test]
fn dev_mode_can_be_switched_off_explicitly() {
    let port = free_port();
    let out = run_echo_expecting_failure(
        &format!("http://localhost:{port}"),
        &[("AUTHPLANE_DEV_MODE", "false")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("must use HTTPS"), "{stderr}");
    let out =
        run_echo_expecting_failure("http://localhost:1", &[("AUTHPLANE_DEV_MODE", "perhaps")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("AUTHPLANE_DEV_MODE"), "{stderr}");
}

#[test]
fn a_taken_port_is_an_environment_problem_naming_the_port() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = support_echo::command(dir.path())
        .args(["serve", "echo"])
        .env("AUTHPLANE_ISSUER", "http://localhost:1")
        .env("PORT", port.to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("port {port} is already in use")),
        "{stderr}"
    );
}

#[test]
fn an_issuer_off_loopback_without_dev_mode_is_a_configuration_error() {
    let out = run_echo_expecting_failure("http://authserver.invalid:9000", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("AUTHPLANE_DEV_MODE"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_server_cleanly() {
    let work = tempfile::tempdir().unwrap();
    let auth = AuthProcess::start(work.path());
    let mut echo = Echo::start(&auth.public_url);
    let status = echo.terminate();
    assert!(status.success(), "{status}\n{}", echo.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_as_restart_with_a_new_key_is_followed_on_the_first_unknown_kid() {
    let work = tempfile::tempdir().unwrap();
    let (public_port, admin_port) = (free_port(), free_port());
    let first_state = work.path().join("state-1");
    let auth = AuthProcess::spawn(public_port, admin_port, &first_state, work.path());
    let echo = Echo::start(&auth.public_url);
    let http = http();
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});

    let old_token = mint_token(
        &auth.admin_url,
        &auth.admin_key,
        &auth.public_url,
        &echo.mcp_url,
    )
    .await;
    let resp = mcp_post(&http, &echo.mcp_url, Some(&old_token), &init)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let old_kid = Forger::from_state_dir(&first_state, &auth.public_url).kid;
    auth.stop();

    // Same ports, fresh state: a new signing key (new kid); the echo server keeps running.
    let second_state = work.path().join("state-2");
    let auth = AuthProcess::spawn(public_port, admin_port, &second_state, work.path());
    let new_kid = Forger::from_state_dir(&second_state, &auth.public_url).kid;
    assert_ne!(old_kid, new_kid, "a fresh state dir must mean a new key");
    let new_token = mint_token(
        &auth.admin_url,
        &auth.admin_key,
        &auth.public_url,
        &echo.mcp_url,
    )
    .await;
    // The refetch happens somewhere between these two instants.
    let refetch_earliest = std::time::Instant::now();
    let resp = mcp_post(&http, &echo.mcp_url, Some(&new_token), &init)
        .send()
        .await
        .unwrap();
    let refetch_latest = std::time::Instant::now();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "the first unknown kid must trigger a JWKS refetch: {}",
        header(&resp, "www-authenticate")
    );
    auth.stop();

    // Gotcha G9: a second key change right away is not followed, because the SDK forces at most
    // one JWKS refetch per 30 s. (`up` avoids this by restarting the echo server with the AS.)
    let third_state = work.path().join("state-3");
    let auth = AuthProcess::spawn(public_port, admin_port, &third_state, work.path());
    let newest = mint_token(
        &auth.admin_url,
        &auth.admin_key,
        &auth.public_url,
        &echo.mcp_url,
    )
    .await;
    let checked_earliest = std::time::Instant::now();
    let resp = mcp_post(&http, &echo.mcp_url, Some(&newest), &init)
        .send()
        .await
        .unwrap();
    let checked_latest = std::time::Instant::now();
    let status = resp.status().as_u16();
    let challenge = header(&resp, "www-authenticate");
    // The rate limit lapses 30 s after the refetch. Each instant is only known to lie between two
    // readings, so the answer is certain only at the ends: certainly within 30 s, refused;
    // certainly after, refetched (a machine slow enough for that). In between, either answer.
    let rate_limit = std::time::Duration::from_secs(30);
    let refused = status == 401 && challenge.contains("not found in JWKS");
    if checked_latest.duration_since(refetch_earliest) < rate_limit {
        assert!(
            refused,
            "a second unknown kid within 30 s is refused: {status} {challenge}"
        );
    } else if checked_earliest.duration_since(refetch_latest) > rate_limit {
        assert_eq!(status, 200, "the rate limit has lapsed: {challenge}");
    } else {
        assert!(
            refused || status == 200,
            "either refused or refetched: {status} {challenge}"
        );
    }
}
