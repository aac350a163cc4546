//! Every refusal of the interactive half of the embedded AS, produced for real against the running
//! server: registration, the authorization request (page vs. redirect), the login and consent
//! forms (CSRF), and the code and refresh grants. docs/embedded-authserver-rows.md names these.

mod support_as;

use reqwest::Method;
use serde_json::{Value, json};

use support_as::authcode::{
    self, Browser, EMAIL, PASSWORD, REDIRECT, authorize_url, form_fields, location, pkce,
    query_param, register_public_client, token, walk,
};
use support_as::{AuthServer, json_of, tmp};

const RESOURCE: &str = "http://localhost:8080/mcp";
const SCOPE: &str = "mcp:echo";

/// A server with the dev user, one resource and one public DCR client.
async fn server(dir: &std::path::Path) -> (AuthServer, String) {
    let s = AuthServer::start(dir, &authcode::dev_user_env());
    s.create_resource("demo", RESOURCE, &[SCOPE, "mcp:admin"])
        .await;
    let client = register_public_client(&s.public_url, REDIRECT).await;
    (s, client)
}

async fn register(s: &AuthServer, body: &str) -> (u16, Value) {
    let r = AuthServer::http()
        .post(format!("{}/oauth/register", s.public_url))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let (status, _, body) = json_of(r).await;
    (status, body)
}

#[tokio::test]
async fn register_refuses_bad_json_and_invalid_metadata() {
    let dir = tmp();
    let (s, _) = server(dir.path()).await;
    let (status, body) = register(&s, "not json").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert_eq!(body["error_description"], "invalid JSON body");
    let (status, body) = register(&s, r#"{"redirect_uris":["https://app.example/cb"]}"#).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_client_metadata");
    let text = body["error_description"].as_str().unwrap();
    assert!(
        text.starts_with("client authentication failed: client validation failed: ")
            && text.contains("client_name is required"),
        "{text}"
    );
    for bad in [
        "http://app.example/cb",
        "https://app.example/cb#frag",
        "not a url",
    ] {
        let (status, body) = register(
            &s,
            &json!({"client_name": "x", "redirect_uris": [bad]}).to_string(),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata");
        assert!(body["error_description"].as_str().unwrap().contains(bad));
    }
    // Authorization code without any redirect URI.
    let (status, body) = register(&s, r#"{"client_name":"x"}"#).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
}

#[tokio::test]
async fn register_accepts_loopback_and_gives_a_confidential_client_its_secret_once() {
    let dir = tmp();
    let (s, _) = server(dir.path()).await;
    for ok in [
        "http://localhost:3000/cb",
        "http://127.0.0.1/cb",
        "http://[::1]:8/cb",
    ] {
        let (status, body) = register(
            &s,
            &json!({"client_name": "x", "redirect_uris": [ok]}).to_string(),
        )
        .await;
        assert_eq!(status, 201, "{ok}: {body}");
    }
    let (status, body) = register(
        &s,
        &json!({"client_name": "conf", "redirect_uris": ["https://app.example/cb"],
                "token_endpoint_auth_method": "client_secret_basic"})
        .to_string(),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["client_secret"].as_str().unwrap().len(), 43);
    assert_eq!(body["client_secret_expires_at"], 0);
    // The admin API sees it as a DCR registration without a scope ceiling.
    let id = body["client_id"].as_str().unwrap();
    let view = s.admin_get(&format!("/admin/clients/{id}")).await;
    assert_eq!(view["registration_source"], "dcr");
    assert_eq!(view["scope"], "");
}

/// A GET on an authorize URL, not following redirects.
async fn authorize(url: &str) -> reqwest::Response {
    AuthServer::http().get(url).send().await.unwrap()
}

#[tokio::test]
async fn authorize_shows_a_page_for_client_and_redirect_errors_and_never_redirects() {
    let dir = tmp();
    let (s, client) = server(dir.path()).await;
    let (_, challenge) = pkce();
    let good = authorize_url(&s.public_url, &client, &challenge, RESOURCE, SCOPE);
    let cases = [
        (
            good.replace("response_type=code", "response_type=token"),
            400,
            "Authorization Error",
        ),
        (
            good.replace(&client, "unknown-client"),
            400,
            "Invalid Client",
        ),
        (
            good.replace("127.0.0.1%3A53682%2Fcallback", "evil.example%2Fcallback"),
            400,
            "Invalid Redirect URI",
        ),
        (
            good.replace("%2Fcallback", "%2Fother"),
            400,
            "Invalid Redirect URI",
        ),
    ];
    for (url, status, title) in cases {
        let r = authorize(&url).await;
        assert_eq!(r.status(), status, "{url}");
        assert!(
            r.headers().get("location").is_none(),
            "never redirected: {url}"
        );
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{url}"
        );
        let html = r.text().await.unwrap();
        assert!(html.contains(title), "{url}: {html}");
    }
    // A suspended client: 403.
    let r = s
        .admin(Method::PATCH, &format!("/admin/clients/{client}/suspend"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = authorize(&good).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Client Suspended"));
}

/// The error a redirected authorize response carries: `(error, description)`, after checking
/// `state` and `iss` came along.
fn redirected_error(r: &reqwest::Response, s: &AuthServer) -> (String, String) {
    assert_eq!(r.status(), 303);
    let to = location(r, &s.public_url);
    assert!(to.starts_with(REDIRECT), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("st-123"), "{to}");
    assert_eq!(
        query_param(&to, "iss").as_deref(),
        Some(s.issuer.as_str()),
        "{to}"
    );
    (
        query_param(&to, "error").unwrap_or_default(),
        query_param(&to, "error_description").unwrap_or_default(),
    )
}

#[tokio::test]
async fn authorize_redirects_pkce_resource_and_scope_errors_with_state_and_iss() {
    let dir = tmp();
    let (s, client) = server(dir.path()).await;
    let (_, challenge) = pkce();
    let good = authorize_url(&s.public_url, &client, &challenge, RESOURCE, SCOPE);
    let strip = |url: &str, param: &str| {
        let mut u = url::Url::parse(url).unwrap();
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != param)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.query_pairs_mut().clear().extend_pairs(kept);
        u.to_string()
    };
    let cases = [
        (
            strip(&good, "code_challenge"),
            "invalid_grant",
            "PKCE verification failed: code_challenge is required",
        ),
        (
            good.replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_grant",
            "only S256 is allowed",
        ),
        (
            strip(&good, "code_challenge_method"),
            "invalid_grant",
            "\"\"",
        ),
        (
            strip(&good, "resource"),
            "invalid_target",
            "the resource parameter is required",
        ),
        (
            good.replace("%2Fmcp", "%2Fmcp%2F"),
            "invalid_target",
            "is not a registered resource",
        ),
        (
            strip(&good, "scope"),
            "invalid_scope",
            "scope parameter is required (oauth.require_scope=true)",
        ),
        (
            good.replace("scope=mcp%3Aecho", "scope=mcp%3Awrite"),
            "invalid_scope",
            "scope \"mcp:write\" not allowed for resource",
        ),
    ];
    for (url, code, description) in cases {
        let (error, text) = redirected_error(&authorize(&url).await, &s);
        assert_eq!(error, code, "{url}");
        assert!(text.contains(description), "{url}: {text}");
    }
    // The resource may be named by its slug; the token's audience is still the URI.
    let r = authorize(&good.replace(
        "resource=http%3A%2F%2Flocalhost%3A8080%2Fmcp",
        "resource=demo",
    ))
    .await;
    assert_eq!(r.status(), 303);
    assert!(location(&r, &s.public_url).contains("/login?redirect="));
}

#[tokio::test]
async fn authorize_holds_a_client_to_its_scope_ceiling() {
    let dir = tmp();
    let (s, _) = server(dir.path()).await;
    let r = s
        .admin(Method::POST, "/admin/clients")
        .json(&json!({"client_name": "ceiling", "redirect_uris": [REDIRECT], "scope": SCOPE}))
        .send()
        .await
        .unwrap();
    let client: Value = r.json().await.unwrap();
    let id = client["client_id"].as_str().unwrap();
    let (_, challenge) = pkce();
    let url = authorize_url(
        &s.public_url,
        id,
        &challenge,
        RESOURCE,
        "mcp:echo mcp:admin",
    );
    let (error, text) = redirected_error(&authorize(&url).await, &s);
    assert_eq!(error, "invalid_scope");
    assert!(
        text.ends_with("the requested scope exceeds the client's registered scopes"),
        "{text}"
    );
}

/// The login form's fields for `browser` (which then holds the nonce cookie).
async fn login_fields(browser: &Browser, s: &AuthServer, redirect: &str) -> Vec<(String, String)> {
    let r = browser
        .get(&format!("{}/login?redirect={redirect}", s.public_url))
        .await;
    assert_eq!(r.status(), 200);
    form_fields(&r.text().await.unwrap(), None)
}

#[tokio::test]
async fn login_refuses_missing_csrf_foreign_nonce_and_bad_credentials_with_422() {
    let dir = tmp();
    let (s, _) = server(dir.path()).await;
    let url = format!("{}/login", s.public_url);
    let with = |mut fields: Vec<(String, String)>, password: &str| {
        fields.push(("email".into(), EMAIL.into()));
        fields.push(("password".into(), password.into()));
        fields
    };
    // No CSRF token.
    let browser = Browser::new();
    let fields: Vec<_> = login_fields(&browser, &s, "/x")
        .await
        .into_iter()
        .filter(|(k, _)| k != "csrf_token")
        .collect();
    let r = browser.post_form(&url, &with(fields, PASSWORD)).await;
    assert_eq!(r.status(), 422);
    assert!(
        r.headers()
            .get("set-cookie")
            .is_none_or(|c| !c.to_str().unwrap().starts_with("authserver_session"))
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Invalid request. Please try again.")
    );
    // A valid token, but from another browser (this one holds no nonce cookie).
    let other = Browser::new();
    let fields = login_fields(&other, &s, "/x").await;
    let stranger = Browser::new();
    let r = stranger
        .post_form(&url, &with(fields.clone(), PASSWORD))
        .await;
    assert_eq!(r.status(), 422);
    // A nonce cookie this server never minted.
    other.drop_cookie("authserver_login_nonce");
    let r = other.post_form(&url, &with(fields, PASSWORD)).await;
    assert_eq!(r.status(), 422);
    // Wrong password, then right: the form re-rendered keeps the redirect.
    let browser = Browser::new();
    let fields = login_fields(&browser, &s, "%2Foauth%2Fauthorize%3Fa%3D1").await;
    let r = browser
        .post_form(&url, &with(fields.clone(), "wrong"))
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("Invalid email or password"), "{html}");
    assert!(html.contains("value=\"/oauth/authorize?a=1\""), "{html}");
    let r = browser.post_form(&url, &with(fields, PASSWORD)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/oauth/authorize?a=1");
    assert!(browser.cookie("authserver_session").is_some());
    // Logout ends the session.
    let r = browser
        .post_form(&format!("{}/logout", s.public_url), &[])
        .await;
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["location"].to_str().unwrap()
        ),
        (303, "/login")
    );
    assert!(browser.cookie("authserver_session").is_none());
}

#[tokio::test]
async fn login_never_redirects_off_the_server() {
    let dir = tmp();
    let (s, _) = server(dir.path()).await;
    for target in [
        "https%3A%2F%2Fevil.example%2F",
        "%2F%2Fevil.example%2Fx",
        "%2F%5Cevil",
    ] {
        let browser = Browser::new();
        let mut fields = login_fields(&browser, &s, target).await;
        fields.push(("email".into(), EMAIL.into()));
        fields.push(("password".into(), PASSWORD.into()));
        let r = browser
            .post_form(&format!("{}/login", s.public_url), &fields)
            .await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/", "{target}");
    }
}

/// Signs the dev user in and opens the consent page of a fresh authorization; returns the page.
async fn consent_page(browser: &Browser, s: &AuthServer, client: &str) -> String {
    let (_, challenge) = pkce();
    let url = authorize_url(&s.public_url, client, &challenge, RESOURCE, SCOPE);
    let r = browser.get(&url).await;
    let login = location(&r, &s.public_url);
    let mut fields = form_fields(&browser.get(&login).await.text().await.unwrap(), None);
    fields.push(("email".into(), EMAIL.into()));
    fields.push(("password".into(), PASSWORD.into()));
    let r = browser
        .post_form(&format!("{}/login", s.public_url), &fields)
        .await;
    let back = location(&r, &s.public_url);
    let r = browser.get(&back).await;
    assert_eq!(r.status(), 303);
    let consent = location(&r, &s.public_url);
    assert!(consent.contains("/consent?session_id="), "{consent}");
    let r = browser.get(&consent).await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

#[tokio::test]
async fn consent_refuses_bad_csrf_and_no_scopes_and_deny_redirects_access_denied() {
    let dir = tmp();
    let (s, client) = server(dir.path()).await;
    let url = format!("{}/consent", s.public_url);
    let browser = Browser::new();
    let html = consent_page(&browser, &s, &client).await;
    assert!(
        html.contains("name=\"scopes\" value=\"mcp:echo\""),
        "{html}"
    );
    // A wrong CSRF token: 403, the request stays pending.
    let mut forged = form_fields(&html, Some(("action", "allow")));
    for f in &mut forged {
        if f.0 == "csrf_token" {
            f.1 = "forged".into();
        }
    }
    let r = browser.post_form(&url, &forged).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("CSRF validation failed"));
    // The same form from a browser without the session: 401.
    let r = Browser::new()
        .post_form(&url, &form_fields(&html, Some(("action", "allow"))))
        .await;
    assert_eq!(r.status(), 401);
    // Every box unchecked.
    let unchecked: Vec<_> = form_fields(&html, Some(("action", "allow")))
        .into_iter()
        .filter(|(k, _)| k != "scopes")
        .collect();
    let r = browser.post_form(&url, &unchecked).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("No Permissions Selected"));
    // Deny: back to the client with access_denied, state and iss; the request is gone.
    let r = browser
        .post_form(&url, &form_fields(&html, Some(("action", "deny"))))
        .await;
    let to = location(&r, &s.public_url);
    assert!(to.starts_with(REDIRECT), "{to}");
    assert_eq!(query_param(&to, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&to, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(&to, "iss").as_deref(), Some(s.issuer.as_str()));
    assert!(query_param(&to, "code").is_none());
    let r = browser
        .post_form(&url, &form_fields(&html, Some(("action", "allow"))))
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Invalid Session"));
    // An unknown session id on GET.
    let r = browser.get(&format!("{url}?session_id=nope")).await;
    assert_eq!(r.status(), 400);
}

/// A fresh code for the dev user and `client` (consent approved), with its verifier.
async fn code_for(s: &AuthServer, client: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let url = authorize_url(&s.public_url, client, &challenge, RESOURCE, SCOPE);
    let back = walk(&Browser::new(), &s.public_url, &url, "allow").await;
    (query_param(&back, "code").expect("code"), verifier)
}

#[tokio::test]
async fn the_code_exchange_refuses_every_mismatch() {
    let dir = tmp();
    let (s, client) = server(dir.path()).await;
    let other = register_public_client(&s.public_url, REDIRECT).await;
    let exchange = |code: &str, verifier: &str, redirect: &str, client: &str| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.to_owned()),
            ("redirect_uri".to_owned(), redirect.to_owned()),
            ("client_id".to_owned(), client.to_owned()),
            ("code_verifier".to_owned(), verifier.to_owned()),
        ]
    };
    let post = |form: Vec<(String, String)>| {
        let form: Vec<(String, String)> = form;
        let url = s.public_url.clone();
        async move {
            let pairs: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            token(&url, &pairs).await
        }
    };
    let (status, body) = post(exchange("no-such-code", "v", REDIRECT, &client)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        body["error_description"],
        "the authorization grant is invalid, expired, or revoked"
    );

    let (code, verifier) = code_for(&s, &client).await;
    let (status, body) = post(exchange(&code, &verifier, REDIRECT, &other)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    let (code, verifier) = code_for(&s, &client).await;
    let (status, body) = post(exchange(
        &code,
        &verifier,
        "http://127.0.0.1:1/other",
        &client,
    ))
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (code, _) = code_for(&s, &client).await;
    let wrong = "x".repeat(43);
    let (status, body) = post(exchange(&code, &wrong, REDIRECT, &client)).await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("PKCE verification failed"))
    );
    // A public client presenting a secret.
    let (code, verifier) = code_for(&s, &client).await;
    let mut form = exchange(&code, &verifier, REDIRECT, &client);
    form.push(("client_secret".into(), "anything".into()));
    let (status, body) = post(form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // A resource other than the authorized one.
    let (code, verifier) = code_for(&s, &client).await;
    let mut form = exchange(&code, &verifier, REDIRECT, &client);
    form.push(("resource".into(), "http://localhost:8080/other".into()));
    let (status, body) = post(form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "{body}"
    );
}

#[tokio::test]
async fn refresh_refuses_unknown_tokens_wider_scopes_and_disabled_users() {
    let dir = tmp();
    let (s, client) = server(dir.path()).await;
    let (code, verifier) = code_for(&s, &client).await;
    let (status, body) = authcode::exchange_code(&s.public_url, &code, &client, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = authcode::refresh(&s.public_url, "nope", &client).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = token(
        &s.public_url,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client),
            ("scope", "mcp:echo mcp:admin"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope")),
        "{body}"
    );
    // The refused attempt spent the token: scope narrowing is checked after consumption, as
    // upstream does. A fresh code for the disabled-user case.
    let (code, verifier) = code_for(&s, &client).await;
    let (_, body) = authcode::exchange_code(&s.public_url, &code, &client, &verifier).await;
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let users = s.admin_get("/admin/users").await;
    let id = users[0]["id"].as_str().unwrap();
    let r = s
        .admin(Method::PATCH, &format!("/admin/users/{id}/disable"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, body) = authcode::refresh(&s.public_url, &refresh, &client).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}

#[tokio::test]
async fn a_client_without_the_refresh_grant_gets_no_refresh_token() {
    let dir = tmp();
    let (s, _) = server(dir.path()).await;
    let r = s
        .admin(Method::POST, "/admin/clients")
        .json(
            &json!({"client_name": "no-refresh", "redirect_uris": [REDIRECT],
                      "grant_types": ["authorization_code"]}),
        )
        .send()
        .await
        .unwrap();
    let client: Value = r.json().await.unwrap();
    let id = client["client_id"].as_str().unwrap();
    let (code, verifier) = code_for(&s, id).await;
    let (status, body) = authcode::exchange_code(&s.public_url, &code, id, &verifier).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
}

#[tokio::test]
async fn admin_users_create_list_conflict_and_delete() {
    let dir = tmp();
    let (s, _) = server(dir.path()).await;
    let r = s
        .admin(Method::POST, "/admin/users")
        .json(&json!({"email": "second@localhost.test", "password": "pw-0123456789", "name": "Second"}))
        .send()
        .await
        .unwrap();
    let (status, _, user) = json_of(r).await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["provider"], "local");
    assert_eq!(user["role"], "user");
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());
    let r = s
        .admin(Method::POST, "/admin/users")
        .json(&json!({"email": "SECOND@localhost.test", "password": "x"}))
        .send()
        .await
        .unwrap();
    let (status, _, body) = json_of(r).await;
    support_as::assert_admin_error(status, &body, 409, "user with this email already exists");
    let r = s
        .admin(Method::POST, "/admin/users")
        .json(&json!({"email": "third@localhost.test"}))
        .send()
        .await
        .unwrap();
    let (status, _, body) = json_of(r).await;
    support_as::assert_admin_error(status, &body, 400, "password is required");
    let list = s.admin_get("/admin/users").await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let id = user["id"].as_str().unwrap();
    let r = s
        .admin(Method::DELETE, &format!("/admin/users/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = s
        .admin(Method::GET, &format!("/admin/users/{id}"))
        .send()
        .await
        .unwrap();
    let (status, _, body) = json_of(r).await;
    support_as::assert_admin_error(status, &body, 404, "user not found");
}

#[tokio::test]
async fn the_dcr_mode_closes_or_narrows_registration() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[("AUTHPLANE_DCR_MODE", "admin_only")]);
    let (status, body) = register(&s, r#"{"client_name":"x","redirect_uris":[]}"#).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("access_denied"))
    );
    assert_eq!(body["error_description"], "registration is disabled");
    drop(s);
    let dir = tmp();
    let s = AuthServer::start(
        dir.path(),
        &[
            ("AUTHPLANE_DCR_MODE", "approved_redirects"),
            ("AUTHPLANE_DCR_APPROVED_REDIRECTS", "https://app.example/cb"),
        ],
    );
    let ok = json!({"client_name": "x", "redirect_uris": ["https://app.example/cb"]});
    assert_eq!(register(&s, &ok.to_string()).await.0, 201);
    let other = json!({"client_name": "x", "redirect_uris": ["https://app.example/other"]});
    let (status, body) = register(&s, &other.to_string()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_redirect_uri"))
    );
    assert_eq!(body["error_description"], "redirect_uri not allowed");
    let out = support_as::command(dir.path(), &[("AUTHPLANE_DCR_MODE", "closed")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dcr.mode must be open"));
}
