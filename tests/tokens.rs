//! The embedded authorization server's token lifecycle against the authserver 0.2.2 reference:
//! introspection (RFC 7662), revocation (RFC 7009 and the admin routes), signing-key rotation,
//! and discovery that advertises only what answers. Clients are authplane-sdk's own
//! (`AuthplaneClient::introspect` / `revoke`, the resource verifier) where it has the call, plain
//! reqwest for the error rows it does not expose. Every test name here is listed against its
//! reference row in docs/embedded-authserver-rows.md (kept true by tests/readme.rs).

mod support_as;

use std::time::Duration;

use authplane_sdk::{AuthplaneClient, FetchSettings};
use reqwest::Method;
use serde_json::{Value, json};
use support_as::{AuthServer, assert_admin_error, decode_jwt, header, json_of, tmp};

const RESOURCE: &str = "http://localhost:8080/mcp";
const SCOPE: &str = "mcp:echo";

/// Asserts an OAuth problem+json error exactly (§2.5).
fn assert_oauth_error(got: &(u16, reqwest::header::HeaderMap, Value), want: (u16, &str, &str)) {
    let (status, h, body) = got;
    let (code, error, description) = want;
    assert_eq!(*status, code, "{body}");
    assert_eq!(header(h, "content-type"), "application/problem+json");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_description"], description, "{body}");
    assert_eq!(body["detail"], description, "{body}");
    assert_eq!(body["status"], code, "{body}");
    if error == "invalid_client" {
        assert_eq!(header(h, "www-authenticate"), "Basic realm=\"authserver\"");
    }
}

/// authplane-sdk's client, discovered from the embedded AS.
async fn sdk(s: &AuthServer) -> AuthplaneClient {
    AuthplaneClient::builder(s.issuer.clone())
        .with_fetch_settings(FetchSettings::from_dev_mode(true))
        .build()
        .await
        .expect("SDK discovery against the embedded AS")
}

/// A server with the demo resource and one client; returns it with the client's credentials.
async fn server_with_client(
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> (AuthServer, String, String) {
    let s = AuthServer::start(dir, env);
    s.create_resource("demo-mcp", RESOURCE, &[SCOPE]).await;
    let (id, secret) = s.create_client(SCOPE).await;
    (s, id, secret)
}

/// `POST <path>` on the public listener with a raw body and optional Basic credentials.
async fn post_form(
    s: &AuthServer,
    path: &str,
    basic: Option<(&str, &str)>,
    content_type: &str,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = AuthServer::http()
        .post(format!("{}{path}", s.public_url))
        .header("content-type", content_type)
        .body(body.to_owned());
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    json_of(req.send().await.expect("POST")).await
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

const FORM: &str = "application/x-www-form-urlencoded";

// ---------------------------------------------------------------------------------------------
// Introspection

#[tokio::test]
async fn introspect_live_token_basic_and_post() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    let token = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let (_, claims) = decode_jwt(&token);

    // authplane-sdk's client authenticates with Basic.
    let answer = sdk(&s)
        .await
        .introspect(&id, &secret, &token, None)
        .await
        .expect("introspection");
    assert!(answer.active);
    assert_eq!(answer.client_id, id);
    assert_eq!(answer.scope, SCOPE);
    assert_eq!(answer.token_type, "Bearer");
    assert!(answer.cnf.is_none());

    // client_secret_post, and the exact member set upstream writes.
    let got = post_form(
        &s,
        "/oauth/introspect",
        None,
        FORM,
        &form(&[
            ("token", &token),
            ("client_id", &id),
            ("client_secret", &secret),
        ]),
    )
    .await;
    assert_eq!(got.0, 200, "{}", got.2);
    assert_eq!(header(&got.1, "content-type"), "application/json");
    assert_eq!(
        got.2,
        json!({
            "active": true, "scope": SCOPE, "client_id": id, "sub": id, "aud": RESOURCE,
            "iss": s.issuer, "exp": claims["exp"], "iat": claims["iat"], "jti": claims["jti"],
            "token_type": "Bearer",
        })
    );
}

#[tokio::test]
async fn introspect_requires_a_token() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    for body in ["", "token=", "token_type_hint=access_token"] {
        let got = post_form(&s, "/oauth/introspect", Some((&id, &secret)), FORM, body).await;
        assert_oauth_error(
            &got,
            (400, "invalid_request", "token parameter is required"),
        );
    }
    // The token check comes before client authentication, as upstream orders it.
    let got = post_form(&s, "/oauth/introspect", Some(("nobody", "x")), FORM, "").await;
    assert_oauth_error(
        &got,
        (400, "invalid_request", "token parameter is required"),
    );
}

#[tokio::test]
async fn introspect_refuses_an_unparseable_form() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    for (content_type, body) in [(FORM, "token=%zz"), (FORM, "a=1;b=2"), ("???", "token=x")] {
        let got = post_form(
            &s,
            "/oauth/introspect",
            Some((&id, &secret)),
            content_type,
            body,
        )
        .await;
        assert_oauth_error(&got, (400, "invalid_request", "invalid form body"));
    }
    let big = format!("token={}", "a".repeat(70 * 1024));
    let got = post_form(&s, "/oauth/introspect", Some((&id, &secret)), FORM, &big).await;
    assert_oauth_error(&got, (400, "invalid_request", "invalid form body"));
}

/// What a caller sends: a label, Basic credentials, the form body.
type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, String);

#[tokio::test]
async fn introspect_authenticates_the_caller() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    let token = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let public: Value = s
        .admin(Method::POST, "/admin/clients")
        .json(&json!({"client_name": "public", "grant_types": ["client_credentials"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public_id = public["client_id"].as_str().unwrap().to_owned();
    let t = form(&[("token", &token)]);
    let cases: Vec<Case> = vec![
        ("no credentials", None, t.clone()),
        ("unknown client", Some(("nobody", "x")), t.clone()),
        ("wrong secret", Some((&id, "wrong")), t.clone()),
        (
            "public client",
            None,
            form(&[("token", &token), ("client_id", &public_id)]),
        ),
        (
            "missing secret",
            None,
            form(&[("token", &token), ("client_id", &id)]),
        ),
    ];
    for (what, basic, body) in cases {
        let got = post_form(&s, "/oauth/introspect", basic, FORM, &body).await;
        assert_eq!(got.0, 401, "{what}: {}", got.2);
        assert_oauth_error(
            &got,
            (401, "invalid_client", "client authentication failed"),
        );
    }
    // A suspended caller is refused too, even for its own token.
    let r = s
        .admin(Method::PATCH, &format!("/admin/clients/{id}/suspend"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = post_form(&s, "/oauth/introspect", Some((&id, &secret)), FORM, &t).await;
    assert_oauth_error(
        &got,
        (401, "invalid_client", "client authentication failed"),
    );
    // authplane-sdk reports the refusal as an error, not as an inactive token.
    assert!(
        sdk(&s)
            .await
            .introspect(&id, "wrong", &token, None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn introspect_foreign_token_is_inactive_unless_runtime_client() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    let (other_id, other_secret) = s.create_client(SCOPE).await;
    let token = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let client = sdk(&s).await;
    let answer = client
        .introspect(&other_id, &other_secret, &token, None)
        .await
        .expect("introspection");
    assert!(
        !answer.active,
        "another client's token is none of its business"
    );
    let got = post_form(
        &s,
        "/oauth/introspect",
        Some((&other_id, &other_secret)),
        FORM,
        &form(&[("token", &token)]),
    )
    .await;
    assert_eq!(got.2, json!({"active": false}), "a bare inactive answer");

    // A runtime client of the resource the token is for may ask (the resource server's case).
    let resource: Value = s
        .admin(Method::GET, "/admin/resources?slug=demo-mcp")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = s
        .admin(
            Method::PATCH,
            &format!("/admin/resources/{}", resource["id"].as_str().unwrap()),
        )
        .json(&json!({"policy": {"runtime": {"client_ids": [other_id]}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let answer = client
        .introspect(&other_id, &other_secret, &token, None)
        .await
        .expect("introspection");
    assert!(answer.active);
    assert_eq!(answer.client_id, id);

    // A token whose issuing client is suspended is inactive for everyone.
    let r = s
        .admin(Method::PATCH, &format!("/admin/clients/{id}/suspend"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer = client
        .introspect(&other_id, &other_secret, &token, None)
        .await
        .expect("introspection");
    assert!(!answer.active);
}

#[tokio::test]
async fn introspect_garbage_and_other_servers_tokens_are_inactive() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    let other_dir = tmp();
    let (other, other_id, other_secret) = server_with_client(other_dir.path(), &[]).await;
    let foreign = other.mint(&other_id, &other_secret, SCOPE, RESOURCE).await;
    let mine = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let (_, claims) = decode_jwt(&mine);
    let mut parts: Vec<String> = mine.split('.').map(str::to_owned).collect();
    // Change the signature's first character (the last one may only carry padding bits, and
    // replacing it with itself would change nothing).
    let flipped = if parts[2].starts_with('A') { "B" } else { "A" };
    parts[2] = format!("{flipped}{}", &parts[2][1..]);
    let tampered = parts.join(".");
    let client = sdk(&s).await;
    for token in [
        "garbage",
        "a.b.c",
        foreign.as_str(),
        tampered.as_str(),
        claims["jti"].as_str().unwrap(),
    ] {
        let answer = client
            .introspect(&id, &secret, token, None)
            .await
            .expect("introspection answers");
        assert!(!answer.active, "{token}");
    }
}

#[tokio::test]
async fn introspect_expired_token_is_inactive() {
    let dir = tmp();
    // One-second tokens; the verifier allows 30 s of clock skew, as upstream's does.
    let (s, id, secret) = server_with_client(
        dir.path(),
        &[("AUTHPLANE_CLIENT_CREDENTIALS_TOKEN_EXPIRY", "1s")],
    )
    .await;
    let token = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let client = sdk(&s).await;
    assert!(
        client
            .introspect(&id, &secret, &token, None)
            .await
            .unwrap()
            .active
    );
    tokio::time::sleep(Duration::from_secs(33)).await;
    let answer = client.introspect(&id, &secret, &token, None).await.unwrap();
    assert!(!answer.active, "expired");
    let list: Value = s
        .admin(Method::GET, "/admin/tokens")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list,
        json!({"tokens": [], "total": 0}),
        "expired tokens are not listed"
    );
}

// ---------------------------------------------------------------------------------------------
// Revocation

#[tokio::test]
async fn revoke_endpoint_revokes_own_tokens_only() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    let (other_id, other_secret) = s.create_client(SCOPE).await;
    let token = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let client = sdk(&s).await;

    // Someone else's revocation is a 200 that changes nothing (RFC 7009 §2.1).
    client
        .revoke(&other_id, &other_secret, &token, None)
        .await
        .expect("200");
    assert!(
        client
            .introspect(&id, &secret, &token, None)
            .await
            .unwrap()
            .active
    );

    // The owner's revocation, through authplane-sdk: inactive from the next introspection on.
    client
        .revoke(&id, &secret, &token, None)
        .await
        .expect("200");
    assert!(
        !client
            .introspect(&id, &secret, &token, None)
            .await
            .unwrap()
            .active
    );

    // The raw answer: 200 with an empty body; client_secret_post works too; repeating is fine.
    let second = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let r = AuthServer::http()
        .post(format!("{}/oauth/revoke", s.public_url))
        .form(&[
            ("token", second.as_str()),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    assert!(
        !client
            .introspect(&id, &secret, &second, None)
            .await
            .unwrap()
            .active
    );
    client
        .revoke(&id, &secret, &second, None)
        .await
        .expect("again 200");
}

#[tokio::test]
async fn revoke_answers_200_for_unknown_tokens() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    for token in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        let got = post_form(
            &s,
            "/oauth/revoke",
            Some((&id, &secret)),
            FORM,
            &form(&[("token", token), ("token_type_hint", "access_token")]),
        )
        .await;
        assert_eq!(got.0, 200, "{token}: {}", got.2);
        assert_eq!(got.2, json!(""), "empty body");
    }
}

#[tokio::test]
async fn revoke_requires_a_token_and_a_form() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    let got = post_form(&s, "/oauth/revoke", Some((&id, &secret)), FORM, "token=").await;
    assert_oauth_error(
        &got,
        (400, "invalid_request", "token parameter is required"),
    );
    let got = post_form(&s, "/oauth/revoke", Some((&id, &secret)), FORM, "token=%").await;
    assert_oauth_error(&got, (400, "invalid_request", "invalid form body"));
}

#[tokio::test]
async fn revoke_authenticates_the_caller() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    let token = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let t = form(&[("token", &token)]);
    for (what, basic, body) in [
        ("unknown client", Some(("nobody", "x")), t.clone()),
        ("wrong secret", Some((id.as_str(), "wrong")), t.clone()),
        ("no credentials", None, t.clone()),
        (
            "missing secret",
            None,
            form(&[("token", &token), ("client_id", &id)]),
        ),
    ] {
        let got = post_form(&s, "/oauth/revoke", basic, FORM, &body).await;
        assert_eq!(got.0, 401, "{what}");
        assert_oauth_error(
            &got,
            (401, "invalid_client", "client authentication failed"),
        );
    }
    // A public client may call the endpoint by id alone (metadata lists `none`); it owns no
    // token here, so nothing changes.
    let public: Value = s
        .admin(Method::POST, "/admin/clients")
        .json(&json!({"client_name": "public", "grant_types": ["client_credentials"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let got = post_form(
        &s,
        "/oauth/revoke",
        None,
        FORM,
        &form(&[
            ("token", &token),
            ("client_id", public["client_id"].as_str().unwrap()),
        ]),
    )
    .await;
    assert_eq!(got.0, 200, "{}", got.2);
    assert!(
        sdk(&s)
            .await
            .introspect(&id, &secret, &token, None)
            .await
            .unwrap()
            .active
    );
}

#[tokio::test]
async fn admin_revokes_a_token_by_jti() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    let token = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let (_, claims) = decode_jwt(&token);
    let jti = claims["jti"].as_str().unwrap();
    let r = s
        .admin(Method::DELETE, &format!("/admin/tokens/{jti}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.text().await.unwrap(), "");
    let client = sdk(&s).await;
    assert!(
        !client
            .introspect(&id, &secret, &token, None)
            .await
            .unwrap()
            .active
    );
    // Revoking again is still 204 (upstream updates the row again).
    let r = s
        .admin(Method::DELETE, &format!("/admin/tokens/{jti}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    let (st, _, b) = json_of(
        s.admin(Method::DELETE, "/admin/tokens/no-such-jti")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_admin_error(
        st,
        &b,
        400,
        "the authorization grant is invalid, expired, or revoked: token not found",
    );
    let long = "j".repeat(257);
    let (st, _, b) = json_of(
        s.admin(Method::DELETE, &format!("/admin/tokens/{long}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_admin_error(st, &b, 400, "jti too long");
    // Behind the admin key like every admin route.
    let r = AuthServer::http()
        .delete(format!("{}/admin/tokens/{jti}", s.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn admin_lists_live_tokens() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    let (other_id, other_secret) = s.create_client(SCOPE).await;
    let first = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let second = s.mint(&other_id, &other_secret, SCOPE, "").await;
    let revoked = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let jti = |t: &str| decode_jwt(t).1["jti"].as_str().unwrap().to_owned();
    let r = s
        .admin(Method::DELETE, &format!("/admin/tokens/{}", jti(&revoked)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    let list = |query: &str| {
        let request = s.admin(Method::GET, &format!("/admin/tokens{query}"));
        async move {
            let (st, h, body) = json_of(request.send().await.unwrap()).await;
            assert_eq!(st, 200, "{body}");
            assert_eq!(header(&h, "content-type"), "application/json");
            body
        }
    };
    let all = list("").await;
    assert_eq!(all["total"], 2, "{all}");
    let tokens = all["tokens"].as_array().unwrap();
    let mut jtis: Vec<&str> = tokens.iter().map(|t| t["jti"].as_str().unwrap()).collect();
    jtis.sort_unstable();
    let mut want = vec![jti(&first), jti(&second)];
    want.sort();
    assert_eq!(jtis, want, "the revoked token is not listed");
    let (_, first_claims) = decode_jwt(&first);
    let mine = tokens
        .iter()
        .find(|t| t["jti"] == first_claims["jti"])
        .unwrap();
    let keys: Vec<&str> = mine
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(
        keys_sorted,
        [
            "client_id",
            "created_at",
            "expires_at",
            "jti",
            "resource",
            "scope",
            "status",
            "type"
        ]
    );
    assert_eq!(mine["type"], "client_credentials");
    assert_eq!(mine["client_id"], id);
    assert_eq!(mine["scope"], SCOPE);
    assert_eq!(mine["resource"], RESOURCE);
    assert_eq!(mine["status"], "active");
    assert!(mine["created_at"].as_str().unwrap().ends_with('Z'));

    let by_client = list(&format!("?client_id={other_id}")).await;
    assert_eq!(by_client["total"], 1);
    assert_eq!(by_client["tokens"][0]["jti"], jti(&second));
    assert_eq!(by_client["tokens"][0]["resource"], "");
    let page = list("?limit=1&offset=1").await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["tokens"].as_array().unwrap().len(), 1);
    // Upstream reads limit/offset with Atoi and falls back to 50 / 0.
    assert_eq!(
        list("?limit=abc&offset=-3").await["tokens"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // A user filter selects user tokens, which this server never issues.
    assert_eq!(list("?user_id=u").await, json!({"tokens": [], "total": 0}));
}

#[tokio::test]
async fn revocations_survive_a_restart() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    let token = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    sdk(&s)
        .await
        .revoke(&id, &secret, &token, None)
        .await
        .expect("revoke");
    let status = s.stop();
    assert!(status.success() || status.code().is_none(), "{status:?}");
    let s = AuthServer::start(dir.path(), &[]);
    let answer = sdk(&s)
        .await
        .introspect(&id, &secret, &token, None)
        .await
        .unwrap();
    assert!(!answer.active, "the revocation was persisted");
    let state = std::fs::read_to_string(s.state_dir.join("state.json")).unwrap();
    assert!(state.contains(decode_jwt(&token).1["jti"].as_str().unwrap()));
}

// ---------------------------------------------------------------------------------------------
// Signing keys

async fn jwks_kids(s: &AuthServer) -> Vec<String> {
    let jwks: Value = AuthServer::http()
        .get(format!("{}/.well-known/jwks.json", s.public_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn rotation_publishes_both_keys_and_persists() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    let old_token = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let old_kid = decode_jwt(&old_token).0["kid"].as_str().unwrap().to_owned();
    assert_eq!(jwks_kids(&s).await, std::slice::from_ref(&old_kid));

    let (st, h, rotated) = json_of(
        s.admin(Method::POST, "/admin/keys/rotate")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{rotated}");
    assert_eq!(header(&h, "content-type"), "application/json");
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_eq!(rotated, json!({"kid": new_kid, "alg": "ES256"}));
    assert_ne!(new_kid, old_kid);
    assert_eq!(new_kid.len(), 22);

    let (st, _, keys) = json_of(s.admin(Method::GET, "/admin/keys").send().await.unwrap()).await;
    assert_eq!(st, 200);
    assert_eq!(
        keys,
        json!({"keys": [
            {"kid": new_kid, "alg": "ES256", "use": "sig", "status": "current"},
            {"kid": old_kid, "alg": "ES256", "use": "sig", "status": "previous"},
        ]})
    );
    assert_eq!(jwks_kids(&s).await, [new_kid.clone(), old_kid.clone()]);

    // New tokens carry the new kid; the old token stays valid (introspection and the SDK).
    let new_token = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    assert_eq!(decode_jwt(&new_token).0["kid"], new_kid);
    let client = sdk(&s).await;
    for token in [&old_token, &new_token] {
        assert!(
            client
                .introspect(&id, &secret, token, None)
                .await
                .unwrap()
                .active
        );
    }
    let verifier = client
        .resource(RESOURCE, &[SCOPE.to_owned()])
        .await
        .expect("verifier");
    verifier.verify(&old_token).await.expect("old kid verifies");
    verifier.verify(&new_token).await.expect("new kid verifies");

    // Keys persist in the keyfile layout: a restart publishes the same two keys.
    let keys_dir = s.state_dir.join("keys");
    assert_eq!(
        std::fs::read_to_string(keys_dir.join("previous.kid"))
            .unwrap()
            .trim(),
        old_kid
    );
    // (A restart gets new ports, hence another issuer: only the keys are compared.)
    drop(s);
    let s = AuthServer::start(dir.path(), &[]);
    assert_eq!(jwks_kids(&s).await, [new_kid.clone(), old_kid]);

    // A second rotation retires the first key (upstream keeps one previous key).
    let (_, _, again) = json_of(
        s.admin(Method::POST, "/admin/keys/rotate")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        jwks_kids(&s).await,
        [again["kid"].as_str().unwrap().to_owned(), new_kid]
    );
}

async fn introspects_active(s: &AuthServer, id: &str, secret: &str, token: &str) -> bool {
    sdk(s)
        .await
        .introspect(id, secret, token, None)
        .await
        .unwrap()
        .active
}

#[tokio::test]
async fn previous_key_is_dropped_once_its_tokens_expired() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(
        dir.path(),
        &[("AUTHPLANE_CLIENT_CREDENTIALS_TOKEN_EXPIRY", "1s")],
    )
    .await;
    let old_token = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let r = s
        .admin(Method::POST, "/admin/keys/rotate")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(jwks_kids(&s).await.len(), 2);
    // One token lifetime plus the verifier's 30 s of clock skew.
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert_eq!(jwks_kids(&s).await.len(), 1);
    let (_, _, keys) = json_of(s.admin(Method::GET, "/admin/keys").send().await.unwrap()).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "{keys}");
    assert!(!introspects_active(&s, &id, &secret, &old_token).await);
}

// ---------------------------------------------------------------------------------------------
// Discovery advertises only what answers

#[tokio::test]
async fn every_advertised_url_answers() {
    let dir = tmp();
    let (s, id, secret) = server_with_client(dir.path(), &[]).await;
    let doc: Value = AuthServer::http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            s.public_url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let urls: Vec<(&str, &str)> = doc
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .filter(|(_, v)| v.starts_with("http"))
        .collect();
    assert_eq!(urls.len(), 7, "issuer and six URLs: {urls:?}");
    let token = s.mint(&id, &secret, SCOPE, RESOURCE).await;
    let redirect = "http://127.0.0.1:8765/callback";
    let public_client = support_as::authcode::register_public_client(&s.public_url, redirect).await;
    for (name, url) in urls {
        let http = AuthServer::http();
        let (request, expected) = match name {
            "jwks_uri" | "issuer" => (http.get(url), 200),
            "token_endpoint" => (
                http.post(url)
                    .basic_auth(&id, Some(&secret))
                    .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)]),
                200,
            ),
            "registration_endpoint" => (
                http.post(url)
                    .json(&json!({"client_name": "probe", "redirect_uris": [redirect]})),
                201,
            ),
            // A valid request from a browser without a session: off to the login page.
            "authorization_endpoint" => (
                http.get(url).query(&[
                    ("response_type", "code"),
                    ("client_id", public_client.as_str()),
                    ("redirect_uri", redirect),
                    (
                        "code_challenge",
                        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                    ),
                    ("code_challenge_method", "S256"),
                    ("resource", RESOURCE),
                    ("scope", SCOPE),
                ]),
                303,
            ),
            _ => (
                http.post(url)
                    .basic_auth(&id, Some(&secret))
                    .form(&[("token", token.as_str())]),
                200,
            ),
        };
        let mut request = request.build().unwrap();
        if name == "issuer" {
            let discovery = format!("{url}/.well-known/oauth-authorization-server");
            *request.url_mut() = discovery.parse().unwrap();
        }
        let response = http.execute(request).await.unwrap();
        let status = response.status().as_u16();
        assert_eq!(status, expected, "{name} {url}");
        if name == "authorization_endpoint" {
            let to = response.headers()["location"].to_str().unwrap().to_owned();
            assert!(to.starts_with("/login?redirect="), "{to}");
        }
    }
}
