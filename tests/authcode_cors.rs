//! CORS on the embedded AS's public listener, for browser-based MCP clients (MCP Inspector):
//! only with `AUTHPLANE_SERVER_ALLOWED_ORIGINS`, only for a listed origin, preflights answered.

mod support_as;

use reqwest::Method;

use support_as::{AuthServer, tmp};

const INSPECTOR: &str = "http://localhost:6274";

async fn call(s: &AuthServer, method: Method, path: &str, origin: &str) -> reqwest::Response {
    AuthServer::http()
        .request(method.clone(), format!("{}{path}", s.public_url))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap()
}

fn allow_origin(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_listed_origin_gets_cors_headers_and_preflights_and_nobody_else_does() {
    let dir = tmp();
    let s = AuthServer::start(
        dir.path(),
        &[("AUTHPLANE_SERVER_ALLOWED_ORIGINS", INSPECTOR)],
    );
    let r = call(&s, Method::OPTIONS, "/oauth/register", INSPECTOR).await;
    assert_eq!(r.status(), 204);
    assert_eq!(allow_origin(&r).as_deref(), Some(INSPECTOR));
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(
        allowed.contains("Content-Type") && allowed.contains("Authorization"),
        "{allowed}"
    );
    let r = call(
        &s,
        Method::GET,
        "/.well-known/oauth-authorization-server",
        INSPECTOR,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(allow_origin(&r).as_deref(), Some(INSPECTOR));
    // Another origin: no CORS headers, and the preflight is just an unknown method.
    let r = call(
        &s,
        Method::OPTIONS,
        "/oauth/register",
        "http://evil.example",
    )
    .await;
    assert_eq!(r.status(), 405);
    assert!(allow_origin(&r).is_none());
    let r = call(
        &s,
        Method::GET,
        "/.well-known/jwks.json",
        "http://evil.example",
    )
    .await;
    assert!(allow_origin(&r).is_none());

    // Unset, as upstream's default: none at all.
    drop(s);
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    let r = call(&s, Method::GET, "/.well-known/jwks.json", INSPECTOR).await;
    assert_eq!(r.status(), 200);
    assert!(allow_origin(&r).is_none());
}
