//! The embedded AS's interactive half, end to end through the real binary: dynamic registration,
//! the authorization code flow with its login and consent pages (CSRF included), the code and
//! refresh grants (rotation, replay), and the resulting user token accepted by the real echo
//! server's SDK verifier.

// Both helpers bring their own copy of the free-port helper.
#![allow(clippy::duplicate_mod)]

mod support_as;
mod support_echo;

use serde_json::{Value, json};

use support_as::authcode::{
    self, Browser, EMAIL, REDIRECT, authorize_url, location, pkce, query_param, token, walk,
};
use support_as::{AuthServer, decode_jwt, tmp};
use support_echo::{Echo, SCOPE, mcp_post, rpc_message, tool_text};

/// Calls the echo tool with `token` (the 2024-11-05 handshake, then `tools/call`); returns the
/// HTTP status of the first request that was not 200, or the tool's text.
async fn echo_call(echo: &Echo, token: &str) -> Result<String, u16> {
    let http = reqwest::Client::new();
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2024-11-05","capabilities":{},
        "clientInfo":{"name":"authcode-test","version":"1.0"}}});
    let r = mcp_post(&http, &echo.mcp_url, Some(token), &init)
        .send()
        .await
        .unwrap();
    if r.status() != 200 {
        return Err(r.status().as_u16());
    }
    let session = r
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    mcp_post(&http, &echo.mcp_url, Some(token), &note)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call",
        "params":{"name":"echo","arguments":{"text":"hello user"}}});
    let r = mcp_post(&http, &echo.mcp_url, Some(token), &call)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    if r.status() != 200 {
        return Err(r.status().as_u16());
    }
    Ok(tool_text(&rpc_message(&r.text().await.unwrap())).to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_client_gets_a_user_token_the_echo_server_accepts_and_refresh_rotates() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &authcode::dev_user_env());
    let echo = Echo::start(&s.issuer);
    s.create_resource("echo", &echo.mcp_url, &[SCOPE]).await;

    // Registration: a public client with a loopback redirect URI.
    let r = reqwest::Client::new()
        .post(format!("{}/oauth/register", s.public_url))
        .json(&json!({"client_name": "Test App", "redirect_uris": [REDIRECT], "scope": "ignored"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let reg: Value = r.json().await.unwrap();
    assert_eq!(reg["token_endpoint_auth_method"], "none", "{reg}");
    assert_eq!(
        reg["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(reg["response_types"], json!(["code"]));
    assert!(reg.get("client_secret").is_none(), "{reg}");
    assert!(reg["client_id_issued_at"].as_i64().unwrap() > 0);
    let client_id = reg["client_id"].as_str().unwrap().to_owned();

    // Authorize → login → consent → back to the client with a code, state and iss. The
    // redirect uses another loopback port than the registered one (RFC 8252).
    let (verifier, challenge) = pkce();
    let browser = Browser::new();
    let url = authorize_url(&s.public_url, &client_id, &challenge, &echo.mcp_url, SCOPE)
        .replace("53682", "61000");
    let back = walk(&browser, &s.public_url, &url, "allow").await;
    assert!(
        back.starts_with("http://127.0.0.1:61000/callback?"),
        "{back}"
    );
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    assert_eq!(
        query_param(&back, "iss").as_deref(),
        Some(s.issuer.as_str())
    );
    let code = query_param(&back, "code").expect("code");

    // The exchange: PKCE, the same redirect URI, no client secret.
    let redirect = REDIRECT.replace("53682", "61000");
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("client_id", client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body) = token(&s.public_url, &exchange).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900, "user tokens live 15m: {body}");
    assert_eq!(body["scope"], SCOPE);
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let (header, claims) = decode_jwt(&access);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], s.user_id(EMAIL).await, "{claims}");
    assert_eq!(claims["aud"], json!([echo.mcp_url]));
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["scope"], SCOPE);
    assert_eq!(claims["iss"], s.issuer.as_str());

    // The real SDK verifier accepts it.
    assert_eq!(echo_call(&echo, &access).await, Ok("hello user".to_owned()));
    // The admin API lists it as the user's token.
    let user = s.user_id(EMAIL).await;
    let listed = s.admin_get(&format!("/admin/tokens?user_id={user}")).await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["tokens"][0]["type"], "authorization_code");
    assert_eq!(listed["tokens"][0]["jti"], claims["jti"]);

    // The code works once: a replay is refused and revokes what the code produced.
    let (status, body) = token(&s.public_url, &exchange).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        body["error_description"],
        "authorization code has already been used"
    );
    let (status, body) = authcode::refresh(&s.public_url, &refresh, &client_id).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error_description"],
        "token family revoked due to reuse detection"
    );

    // A second authorization skips the consent page (the approval is remembered): rotation.
    let (verifier, challenge) = pkce();
    let url = authorize_url(&s.public_url, &client_id, &challenge, &echo.mcp_url, SCOPE);
    let r = browser.get(&url).await;
    assert_eq!(r.status(), 303);
    let back = location(&r, &s.public_url);
    assert!(
        back.starts_with(REDIRECT),
        "no consent page the second time: {back}"
    );
    let code = query_param(&back, "code").unwrap();
    let (status, body) = token(
        &s.public_url,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id.as_str()),
            ("code_verifier", verifier.as_str()),
            ("resource", echo.mcp_url.as_str()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let first_refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let refresh_form = |rt: &str| {
        vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".to_owned(), rt.to_owned()),
            ("client_id".to_owned(), client_id.clone()),
        ]
    };
    let as_refs = |v: &Vec<(String, String)>| -> Vec<(String, String)> { v.clone() };
    let post = |form: Vec<(String, String)>| {
        let url = format!("{}/oauth/token", s.public_url);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = post(as_refs(&refresh_form(&first_refresh))).await;
    assert_eq!(status, 200, "{body}");
    let second_refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(
        second_refresh, first_refresh,
        "a new refresh token each time"
    );
    let refreshed_access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(decode_jwt(&refreshed_access).1["sub"], claims["sub"]);
    assert_eq!(
        echo_call(&echo, &refreshed_access).await,
        Ok("hello user".to_owned())
    );

    // Presenting the spent one again revokes the family: the new one stops working too.
    let (status, body) = post(refresh_form(&first_refresh)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = post(refresh_form(&second_refresh)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error_description"],
        "token family revoked due to reuse detection"
    );
}
