//! Client ID Metadata Documents against the real embedded AS: a `client_id` that is a URL is
//! fetched (from a real HTTP server on loopback, allowed only with the localhost-issuer
//! relaxations), registered under that URL, and runs the whole flow; the fetch rules refuse
//! everything else with the "Invalid Client" page.

mod support_as;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use serde_json::json;

use support_as::authcode::{self, Browser, REDIRECT, authorize_url, pkce, query_param, walk};
use support_as::{AuthServer, decode_jwt, tmp};

const RESOURCE: &str = "http://localhost:8080/mcp";
const SCOPE: &str = "mcp:echo";

/// Serves documents on loopback: `/good.json` names itself, `/other.json` names another URL,
/// `/text.json` is served as text; returns the base URL.
async fn document_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let doc = |id: String| {
        json!({"client_id": id, "client_name": "Metadata App", "redirect_uris": [REDIRECT]})
            .to_string()
    };
    let good = doc(format!("{base}/good.json"));
    let other = doc("https://elsewhere.example/client.json".to_owned());
    let text = doc(format!("{base}/text.json"));
    let app = Router::new()
        .route(
            "/good.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], good) }),
        )
        .route(
            "/other.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], other) }),
        )
        .route(
            "/text.json",
            get(move || async move { ([(header::CONTENT_TYPE, "text/plain")], text) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// The authorize page `client_id` gets for the demo resource and scope: status and HTML.
async fn authorize_page(s: &AuthServer, client_id: &str, challenge: &str) -> (u16, String) {
    let url = authorize_url(&s.public_url, client_id, challenge, RESOURCE, SCOPE);
    let r = AuthServer::http().get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metadata_document_client_runs_the_whole_flow_under_the_localhost_relaxations() {
    let base = document_server().await;
    let dir = tmp();
    let mut env = authcode::dev_user_env().to_vec();
    env.push(("AUTHPLANE_CIMD_REQUIRE_HTTPS", "false"));
    env.push(("AUTHPLANE_CIMD_ALLOW_PRIVATE_ADDRESSES", "true"));
    let s = AuthServer::start(dir.path(), &env);
    s.create_resource("demo", RESOURCE, &[SCOPE]).await;
    let client_id = format!("{base}/good.json");
    let (verifier, challenge) = pkce();
    let url = authorize_url(&s.public_url, &client_id, &challenge, RESOURCE, SCOPE);
    let back = walk(&Browser::new(), &s.public_url, &url, "allow").await;
    let code = query_param(&back, "code").expect("code");
    let (status, body) = authcode::exchange_code(&s.public_url, &code, &client_id, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], client_id.as_str());
    // Registered under its URL, as a CIMD client.
    let clients = s.admin_get("/admin/clients?source=cimd").await;
    assert_eq!(clients[0]["id"], client_id.as_str(), "{clients}");
    assert_eq!(clients[0]["cimd_url"], client_id.as_str());
    assert_eq!(clients[0]["name"], "Metadata App");

    // Documents that break the rules: the generic page, the reason in the request log.
    for (path, why) in [
        ("/other.json", "does not match fetch URL"),
        ("/text.json", "expected JSON content-type"),
        ("/missing.json", "HTTP 404"),
    ] {
        let id = format!("{base}{path}");
        let (status, html) = authorize_page(&s, &id, &challenge).await;
        assert_eq!(status, 400, "{path}");
        assert!(html.contains("Invalid Client"), "{html}");
        s.wait_for_log(why);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_relaxations_an_http_or_loopback_document_is_refused() {
    let base = document_server().await;
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &authcode::dev_user_env());
    s.create_resource("demo", RESOURCE, &[SCOPE]).await;
    let (_, challenge) = pkce();
    let id = format!("{base}/good.json");
    let (status, html) = authorize_page(&s, &id, &challenge).await;
    assert_eq!(status, 400);
    assert!(html.contains("Invalid Client"));
    s.wait_for_log("HTTPS required, got http");

    // https is not enough: a loopback address is still refused without the private switch.
    drop(s);
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[("AUTHPLANE_CIMD_REQUIRE_HTTPS", "false")]);
    s.create_resource("demo", RESOURCE, &[SCOPE]).await;
    let (status, _) = authorize_page(&s, &id, &challenge).await;
    assert_eq!(status, 400);
    s.wait_for_log("loopback address rejected");
}

#[test]
fn the_relaxations_need_a_localhost_issuer() {
    let dir = tmp();
    let out = support_as::command(
        dir.path(),
        &[
            ("AUTHPLANE_SERVER_ISSUER", "https://auth.example.com"),
            ("AUTHPLANE_SESSION_SECURE", "true"),
            (
                "AUTHPLANE_SESSION_SECRET",
                "a-long-enough-session-secret-0123",
            ),
            ("AUTHPLANE_ADMIN_API_KEY", "a-long-enough-admin-key-0123456"),
            ("AUTHPLANE_CIMD_REQUIRE_HTTPS", "false"),
            ("AUTHPLANE_CIMD_ALLOW_PRIVATE_ADDRESSES", "true"),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cimd.require_https=false is only allowed with a localhost issuer")
            && stderr.contains("cimd.allow_private_addresses=true is only allowed"),
        "{stderr}"
    );
}
