//! The embedded authorization server against the authserver 0.2.2 wire reference: metadata,
//! JWKS, health, every row of the `client_credentials` decision table, the admin API's shapes
//! and errors, persistence, startup validation, the `authserver` personality, and acceptance of
//! its tokens by the official verifier (authplane-sdk).

mod support_as;

use std::fmt::Write as _;
use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};
use support_as::skip::{REQUIRE_DOCKER, skip};
use support_as::{
    AuthServer, assert_admin_error, binary, decode_jwt, free_port, header, json_of, tmp,
};

const RESOURCE: &str = "http://localhost:8080/mcp";

/// Asserts an OAuth problem+json error exactly (§2.5).
fn assert_oauth_error(
    status: u16,
    h: &reqwest::header::HeaderMap,
    body: &Value,
    want: (u16, &str, &str),
) {
    let (code, error, description) = want;
    assert_eq!(status, code, "{body}");
    assert_eq!(header(h, "content-type"), "application/problem+json");
    let title = reqwest::StatusCode::from_u16(code)
        .unwrap()
        .canonical_reason()
        .unwrap();
    assert_eq!(
        body,
        &json!({
            "error": error,
            "error_description": description,
            "type": format!("https://docs.authplane.ai/errors/{error}"),
            "title": title,
            "detail": description,
            "status": code,
        })
    );
}

async fn post_token(
    server: &AuthServer,
    build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let rb = AuthServer::http().post(format!("{}/oauth/token", server.public_url));
    json_of(build(rb).send().await.expect("token request")).await
}

// ---------------------------------------------------------------------------------------------
// Discovery, JWKS, health, routing

#[tokio::test]
async fn metadata_is_served_at_both_paths_with_the_reference_fields() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    let iss = &s.issuer;
    let get = |path: &str| {
        AuthServer::http()
            .get(format!("{}{path}", s.public_url))
            .send()
    };
    let (status, h, doc) = json_of(
        get("/.well-known/oauth-authorization-server")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), "application/json");
    assert_eq!(header(&h, "cache-control"), "public, max-age=3600");
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert_eq!(header(&h, "x-frame-options"), "DENY");
    assert_eq!(header(&h, "referrer-policy"), "no-referrer");
    assert!(!header(&h, "content-security-policy").is_empty());
    assert!(h.get("strict-transport-security").is_none());
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // Upstream's order, without what is not built here (exchange, agent identity).
    assert_eq!(
        &keys[..13],
        [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "registration_endpoint",
            "revocation_endpoint",
            "introspection_endpoint",
            "jwks_uri",
            "response_types_supported",
            "grant_types_supported",
            "token_endpoint_auth_methods_supported",
            "introspection_endpoint_auth_methods_supported",
            "revocation_endpoint_auth_methods_supported",
            "code_challenge_methods_supported",
        ]
    );
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["client_id_metadata_document_supported"], true);
    assert_eq!(doc["issuer"], json!(iss));
    assert_eq!(doc["token_endpoint"], json!(format!("{iss}/oauth/token")));
    assert_eq!(
        doc["jwks_uri"],
        json!(format!("{iss}/.well-known/jwks.json"))
    );
    assert_eq!(doc["resource_indicators_supported"], true);
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials"))
    );
    assert!(
        doc.get("scopes_supported").is_none(),
        "no resources yet: {doc}"
    );

    s.create_resource("b-res", "http://localhost:1/b", &["z:b", "a:x"])
        .await;
    s.create_resource("a-res", "http://localhost:1/a", &["a:x", "m:y"])
        .await;
    let (_, _, doc) = json_of(
        get("/.well-known/oauth-authorization-server")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(doc["scopes_supported"], json!(["a:x", "m:y", "z:b"]));
    let (status, _, alias) = json_of(get("/.well-known/openid-configuration").await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(alias, doc);
}

#[tokio::test]
async fn metadata_follows_feature_switches_and_issuer_verbatim() {
    let dir = tmp();
    let s = AuthServer::start(
        dir.path(),
        &[
            ("AUTHPLANE_SERVER_ISSUER", "http://localhost:9000/"),
            ("AUTHPLANE_CLIENT_CREDENTIALS_ENABLED", "nope"),
            ("AUTHPLANE_DPOP_ENABLED", "false"),
            ("AUTHPLANE_TOKEN_EXCHANGE_ENABLED", "0"),
            ("AUTHPLANE_XAA_ENABLED", "no"),
        ],
    );
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
    assert_eq!(doc["issuer"], "http://localhost:9000/");
    assert_eq!(
        doc["token_endpoint"], "http://localhost:9000//oauth/token",
        "string concatenation"
    );
    // client_credentials is off; the user grants are always on.
    assert_eq!(
        doc["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert!(doc.get("dpop_signing_alg_values_supported").is_none());
    assert!(doc.get("identity_assertion_supported").is_none());
}

#[tokio::test]
async fn jwks_publishes_the_stored_p256_key() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    let r = AuthServer::http()
        .get(format!("{}/.well-known/jwks.json", s.public_url))
        .send()
        .await
        .unwrap();
    let (status, h, body) = json_of(r).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "cache-control"), "public, max-age=3600");
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    let names: Vec<&str> = k.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(names, ["use", "kty", "kid", "crv", "alg", "x", "y"]);
    assert_eq!(
        (
            k["use"].as_str(),
            k["kty"].as_str(),
            k["crv"].as_str(),
            k["alg"].as_str()
        ),
        (Some("sig"), Some("EC"), Some("P-256"), Some("ES256"))
    );
    let kid = k["kid"].as_str().unwrap();
    assert_eq!(kid.len(), 22);
    let keys_dir = s.state_dir.join("keys");
    assert_eq!(
        std::fs::read_to_string(keys_dir.join("current.kid")).unwrap(),
        kid
    );
    assert_eq!(
        std::fs::read_to_string(keys_dir.join("current.alg")).unwrap(),
        "ES256"
    );
    assert!(
        std::fs::read_to_string(keys_dir.join("current.pem"))
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
}

#[tokio::test]
async fn rs256_is_used_when_configured() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[("AUTHPLANE_SIGNING_ALGORITHM", "RS256")]);
    let body: Value = AuthServer::http()
        .get(format!("{}/.well-known/jwks.json", s.public_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let k = &body["keys"][0];
    assert_eq!(
        (k["kty"].as_str(), k["alg"].as_str()),
        (Some("RSA"), Some("RS256"))
    );
    assert_eq!(k["e"], "AQAB");
    assert!(k["n"].as_str().unwrap().len() >= 342, "RSA-2048 modulus");
    s.create_resource("r", RESOURCE, &["mcp:echo"]).await;
    let (id, secret) = s.create_client("mcp:echo").await;
    let token = s.mint(&id, &secret, "mcp:echo", RESOURCE).await;
    let (header, _) = decode_jwt(&token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], k["kid"]);
}

#[tokio::test]
async fn health_endpoints_and_go_style_routing() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    let get = |path: &str| {
        AuthServer::http()
            .get(format!("{}{path}", s.public_url))
            .send()
    };
    for (path, status, db) in [
        ("/livez", "alive", None),
        ("/health", "ok", Some("ok")),
        ("/ready", "ready", Some("ok")),
    ] {
        let (code, _, body) = json_of(get(path).await.unwrap()).await;
        assert_eq!(code, 200, "{path}");
        assert_eq!(body["status"], status);
        let time = body["time"].as_str().unwrap();
        assert!(
            time.ends_with('Z') && time.contains('T'),
            "RFC 3339: {time}"
        );
        assert_eq!(body.get("db").and_then(Value::as_str), db);
    }
    let r = get("/nope").await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(header(r.headers(), "content-type").starts_with("text/plain"));
    assert_eq!(r.text().await.unwrap(), "404 page not found\n");
    let r = AuthServer::http()
        .get(format!("{}/oauth/token", s.public_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(header(r.headers(), "allow").contains("POST"));
    let r = AuthServer::http()
        .delete(format!("{}/livez", s.public_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(header(r.headers(), "allow"), "GET, HEAD");
    assert!(header(r.headers(), "content-type").starts_with("text/plain"));
    assert_eq!(header(r.headers(), "x-frame-options"), "DENY");
    assert_eq!(r.text().await.unwrap(), "Method Not Allowed\n");
}

// ---------------------------------------------------------------------------------------------
// POST /oauth/token: the §2.4 table, row by row

#[tokio::test]
async fn token_success_body_headers_and_jwt() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    s.create_resource("demo-mcp", RESOURCE, &["mcp:echo", "mcp:other"])
        .await;
    let (id, secret) = s.create_client("mcp:other mcp:echo").await;
    let r = s
        .token(
            &id,
            &secret,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "mcp:echo"),
                ("resource", RESOURCE),
            ],
        )
        .await;
    let (status, h, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "content-type"), "application/json");
    assert_eq!(header(&h, "cache-control"), "no-store");
    assert_eq!(header(&h, "pragma"), "no-cache");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["access_token", "token_type", "expires_in", "scope"]);
    assert_eq!(
        (
            body["token_type"].as_str(),
            body["expires_in"].as_i64(),
            body["scope"].as_str()
        ),
        (Some("Bearer"), Some(3600), Some("mcp:echo"))
    );
    let (jh, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(jh["alg"], "ES256");
    assert_eq!(jh["typ"], "at+jwt");
    assert_eq!(jh["kid"].as_str().unwrap().len(), 22);
    assert_eq!(claims["iss"], json!(s.issuer));
    assert_eq!(claims["sub"], json!(id));
    assert_eq!(claims["client_id"], json!(id));
    assert_eq!(claims["aud"], json!([RESOURCE]));
    assert_eq!(claims["scope"], "mcp:echo");
    assert_eq!(claims["jti"].as_str().unwrap().len(), 22);
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));

    // Scope omitted with a resource: ceiling ∩ catalog, sorted.
    let token = s.mint(&id, &secret, "", RESOURCE).await;
    assert_eq!(decode_jwt(&token).1["scope"], "mcp:echo mcp:other");
    // No resource: the audience is the issuer and the whole ceiling is issued.
    let token = s.mint(&id, &secret, "", "").await;
    let (_, claims) = decode_jwt(&token);
    assert_eq!(claims["aud"], json!([s.issuer]));
    assert_eq!(claims["scope"], "mcp:echo mcp:other");
}

#[tokio::test]
async fn token_expiry_comes_from_the_go_duration_and_empty_scope_is_omitted() {
    let dir = tmp();
    let s = AuthServer::start(
        dir.path(),
        &[("AUTHPLANE_CLIENT_CREDENTIALS_TOKEN_EXPIRY", "90s")],
    );
    let (id, secret) = s.create_client("").await;
    let r = s
        .token(&id, &secret, &[("grant_type", "client_credentials")])
        .await;
    let (status, _, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 90);
    assert!(body.get("scope").is_none(), "{body}");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert!(claims.get("scope").is_none());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        90
    );
}

#[tokio::test]
async fn token_rows_1_to_3_form_and_grant_type() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    // 1: unparseable form, oversized body.
    let (st, h, b) = post_token(&s, |r| {
        r.header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=%zz")
    })
    .await;
    assert_oauth_error(st, &h, &b, (400, "invalid_request", "invalid form body"));
    let big = format!(
        "grant_type=client_credentials&pad={}",
        "x".repeat(70 * 1024)
    );
    let (st, h, b) = post_token(&s, |r| {
        r.header("content-type", "application/x-www-form-urlencoded")
            .body(big)
    })
    .await;
    assert_oauth_error(st, &h, &b, (400, "invalid_request", "invalid form body"));
    let (st, h, b) = post_token(&s, |r| {
        r.header("content-type", "application/x-www-form-urlencoded")
            .body("a=1;b=2")
    })
    .await;
    assert_oauth_error(st, &h, &b, (400, "invalid_request", "invalid form body"));
    // 2: empty, unknown and unimplemented grants; JSON bodies are not forms.
    let (st, h, b) = post_token(&s, |r| r.form(&[("scope", "x")])).await;
    assert_oauth_error(
        st,
        &h,
        &b,
        (
            400,
            "unsupported_grant_type",
            "grant_type \"\" is not supported",
        ),
    );
    let (st, h, b) = post_token(&s, |r| r.form(&[("grant_type", "password")])).await;
    assert_oauth_error(
        st,
        &h,
        &b,
        (
            400,
            "unsupported_grant_type",
            "grant_type \"password\" is not supported",
        ),
    );
    let (st, h, b) = post_token(&s, |r| r.json(&json!({"grant_type": "client_credentials"}))).await;
    assert_oauth_error(
        st,
        &h,
        &b,
        (
            400,
            "unsupported_grant_type",
            "grant_type \"\" is not supported",
        ),
    );
    // Query-string values are read too (Go's ParseForm): this reaches client authentication.
    let (st, h, b) = post_token(&s, |r| r.query(&[("grant_type", "client_credentials")])).await;
    assert_oauth_error(
        st,
        &h,
        &b,
        (401, "invalid_client", "client authentication failed"),
    );
    // Invalid UTF-8 in the body is a clean 4xx.
    let (st, _, _) = post_token(&s, |r| {
        r.header("content-type", "application/x-www-form-urlencoded")
            .body(vec![0xff, 0xfe, b'=', 0xc3])
    })
    .await;
    assert_eq!(st, 400);

    let dir = tmp();
    let off = AuthServer::start(
        dir.path(),
        &[("AUTHPLANE_CLIENT_CREDENTIALS_ENABLED", "false")],
    );
    // 3: the switch is checked before the client.
    let (st, h, b) = post_token(&off, |r| r.form(&[("grant_type", "client_credentials")])).await;
    assert_oauth_error(
        st,
        &h,
        &b,
        (
            400,
            "unsupported_grant_type",
            "feature client_credentials is disabled (set client_credentials.enabled=true to enable)",
        ),
    );
}

#[tokio::test]
async fn token_row_4_client_authentication() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    let (id, secret) = s.create_client("").await;
    let public: Value = s
        .admin(Method::POST, "/admin/clients")
        .json(&json!({"client_name": "pub", "grant_types": ["client_credentials"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(public.get("client_secret").is_none(), "{public}");
    let public_id = public["client_id"].as_str().unwrap().to_owned();
    let cc = [("grant_type", "client_credentials")];
    let failures = [
        (String::new(), String::new()),
        ("unknown".to_owned(), secret.clone()),
        (id.clone(), "wrong".to_owned()),
        (id.clone(), String::new()),
        (public_id.clone(), "anything".to_owned()),
    ];
    for (cid, csecret) in failures {
        let (st, h, b) = post_token(&s, |r| r.basic_auth(&cid, Some(&csecret)).form(&cc)).await;
        assert_oauth_error(
            st,
            &h,
            &b,
            (401, "invalid_client", "client authentication failed"),
        );
        assert_eq!(header(&h, "www-authenticate"), "Basic realm=\"authserver\"");
    }
    // No credentials at all.
    let (st, h, b) = post_token(&s, |r| r.form(&cc)).await;
    assert_oauth_error(
        st,
        &h,
        &b,
        (401, "invalid_client", "client authentication failed"),
    );
    // client_secret_post form fields are accepted on this grant.
    let (st, _, b) = post_token(&s, |r| {
        r.form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
    })
    .await;
    assert_eq!(st, 200, "{b}");
    // Basic halves are form-URL-unescaped: a percent-encoded id still authenticates.
    let escaped: String = id.bytes().fold(String::new(), |mut acc, b| {
        let _ = write!(acc, "%{b:02X}");
        acc
    });
    let (st, _, b) = post_token(&s, |r| r.basic_auth(&escaped, Some(&secret)).form(&cc)).await;
    assert_eq!(st, 200, "{b}");
    // Basic wins over form fields.
    let (st, h, b) = post_token(&s, |r| {
        r.basic_auth(&id, Some("wrong")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
    })
    .await;
    assert_oauth_error(
        st,
        &h,
        &b,
        (401, "invalid_client", "client authentication failed"),
    );
}

#[tokio::test]
async fn token_rows_4b_and_5_status_and_grant() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    let (id, secret) = s.create_client("").await;
    let cc = [("grant_type", "client_credentials")];
    for action in ["suspend", "revoke"] {
        if action == "revoke" {
            let r = s
                .admin(Method::PATCH, &format!("/admin/clients/{id}/reactivate"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(
                s.token(&id, &secret, &cc).await.status(),
                200,
                "reactivated"
            );
        }
        let (st, _, b) = json_of(
            s.admin(Method::PATCH, &format!("/admin/clients/{id}/{action}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(
            b["status"],
            if action == "suspend" {
                "suspended"
            } else {
                "revoked"
            }
        );
        let (st, h, b) = json_of(s.token(&id, &secret, &cc).await).await;
        assert_oauth_error(
            st,
            &h,
            &b,
            (401, "invalid_client", "client is suspended or revoked"),
        );
        assert_eq!(header(&h, "www-authenticate"), "Basic realm=\"authserver\"");
    }
    // 5: a confidential client without the grant.
    let body: Value = s
        .admin(Method::POST, "/admin/clients")
        .json(&json!({
            "client_name": "web", "token_endpoint_auth_method": "client_secret_basic",
            "redirect_uris": ["http://localhost:3000/cb"], "scope": "x",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    let (wid, wsecret) = (
        body["client_id"].as_str().unwrap(),
        body["client_secret"].as_str().unwrap(),
    );
    let (st, h, b) = json_of(s.token(wid, wsecret, &cc).await).await;
    assert_oauth_error(
        st,
        &h,
        &b,
        (
            400,
            "unauthorized_client",
            "client is not authorized for this grant type",
        ),
    );
}

#[tokio::test]
async fn token_rows_6_and_7_resource_and_scope() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    s.create_resource("demo-mcp", RESOURCE, &["mcp:echo", "mcp:read"])
        .await;
    let (id, secret) = s.create_client("mcp:echo mcp:write").await;
    let ask = |scope: &'static str, resource: &'static str| {
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", scope));
        }
        if !resource.is_empty() {
            form.push(("resource", resource));
        }
        let (id, secret) = (id.clone(), secret.clone());
        let s = &s;
        async move { json_of(s.token(&id, &secret, &form).await).await }
    };
    // 6: exact URI only; slug and trailing slash are not the registered URI.
    for other in [
        "http://localhost:8080/mcp/",
        "demo-mcp",
        "http://localhost:9999/mcp",
    ] {
        let (st, h, b) = ask("mcp:echo", other).await;
        assert_oauth_error(
            st,
            &h,
            &b,
            (
                400,
                "invalid_target",
                &format!(
                    "the requested resource target is unavailable: resource \"{other}\" is not a registered resource"
                ),
            ),
        );
    }
    let p = "the requested scope is invalid or not allowed: ";
    // 7a: beyond the ceiling (checked before the resource's catalog).
    let (st, h, b) = ask("mcp:read", RESOURCE).await;
    assert_oauth_error(
        st,
        &h,
        &b,
        (
            400,
            "invalid_scope",
            &format!("{p}the requested scope exceeds the client's registered scopes"),
        ),
    );
    let (st, h, b) = ask("mcp:echo other", "").await;
    assert_oauth_error(
        st,
        &h,
        &b,
        (
            400,
            "invalid_scope",
            &format!("{p}the requested scope exceeds the client's registered scopes"),
        ),
    );
    // 7b: within the ceiling but not declared by the resource.
    let (st, h, b) = ask("mcp:write", RESOURCE).await;
    assert_oauth_error(
        st,
        &h,
        &b,
        (
            400,
            "invalid_scope",
            &format!("{p}the requested scope is not declared by the target resource"),
        ),
    );
    // 7c: omitted, nothing in common.
    let (other_id, other_secret) = s.create_client("mcp:write").await;
    let (st, h, b) = json_of(
        s.token(
            &other_id,
            &other_secret,
            &[("grant_type", "client_credentials"), ("resource", RESOURCE)],
        )
        .await,
    )
    .await;
    assert_oauth_error(
        st,
        &h,
        &b,
        (
            400,
            "invalid_scope",
            &format!(
                "{p}none of the client's registered scopes is declared by the target resource"
            ),
        ),
    );
    // Empty ceiling: its own wording, with or without a requested scope.
    let (eid, esecret) = s.create_client("").await;
    let empty = format!(
        "{p}the client has no registered scopes; grant them with PATCH /admin/clients/{{id}}"
    );
    let (st, h, b) = json_of(
        s.token(
            &eid,
            &esecret,
            &[("grant_type", "client_credentials"), ("scope", "mcp:echo")],
        )
        .await,
    )
    .await;
    assert_oauth_error(st, &h, &b, (400, "invalid_scope", &empty));
    let (st, h, b) = json_of(
        s.token(
            &eid,
            &esecret,
            &[("grant_type", "client_credentials"), ("resource", RESOURCE)],
        )
        .await,
    )
    .await;
    assert_oauth_error(st, &h, &b, (400, "invalid_scope", &empty));

    // Each request is logged with its outcome, never with credentials.
    let log =
        s.wait_for_log("POST /oauth/token → 400 invalid_target: the requested resource target");
    assert!(log.contains("admin POST /admin/clients → 201"), "{log}");
    assert!(
        !log.contains(&secret) && !log.contains(&esecret),
        "secrets stay out of the log"
    );
}

#[tokio::test]
async fn token_row_0_rate_limit() {
    let dir = tmp();
    let s = AuthServer::start(
        dir.path(),
        &[
            ("AUTHPLANE_RATE_LIMIT_RPS", "0.01"),
            ("AUTHPLANE_RATE_LIMIT_BURST", "3"),
        ],
    );
    // The readiness poll spent some of the burst; keep asking until the bucket is empty.
    let mut limited = None;
    for _ in 0..10 {
        let r = AuthServer::http()
            .post(format!("{}/oauth/token", s.public_url))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a 429 within 10 requests at burst 3");
    assert_eq!(header(r.headers(), "retry-after"), "1");
    let (st, h, b) = json_of(r).await;
    assert_oauth_error(st, &h, &b, (429, "slow_down", "rate limit exceeded"));
    // Every public route is limited.
    let r = AuthServer::http()
        .get(format!("{}/livez", s.public_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
}

// ---------------------------------------------------------------------------------------------
// The official verifier accepts the tokens for the right audience only

#[tokio::test]
async fn tokens_pass_the_official_verifier_for_their_audience_only() {
    use authplane_sdk::{AuthplaneClient, FetchSettings};
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    s.create_resource("demo-mcp", RESOURCE, &["mcp:echo"]).await;
    s.create_resource("other", "http://localhost:8081/mcp", &["mcp:echo"])
        .await;
    let (id, secret) = s.create_client("mcp:echo").await;
    let client = AuthplaneClient::builder(s.issuer.clone())
        .with_fetch_settings(FetchSettings::from_dev_mode(true))
        .build()
        .await
        .expect("SDK discovery against the embedded AS");
    let verifier = client
        .resource(RESOURCE, &["mcp:echo".to_owned()])
        .await
        .expect("verifier");
    let good = s.mint(&id, &secret, "mcp:echo", RESOURCE).await;
    let claims = verifier
        .verify(&good)
        .await
        .expect("the SDK accepts the token");
    assert_eq!(claims.client_id, id);
    assert!(claims.has_scope("mcp:echo"));
    let other = s
        .mint(&id, &secret, "mcp:echo", "http://localhost:8081/mcp")
        .await;
    let err = verifier
        .verify(&other)
        .await
        .expect_err("another audience is rejected");
    assert!(format!("{err}").to_lowercase().contains("aud"), "{err}");
    let no_resource = s.mint(&id, &secret, "mcp:echo", "").await;
    assert!(
        verifier.verify(&no_resource).await.is_err(),
        "aud = issuer is useless at an RS"
    );
}

// ---------------------------------------------------------------------------------------------
// Admin API

#[tokio::test]
async fn admin_authentication_shapes() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    let url = format!("{}/admin/resources", s.admin_url);
    let cases: [(Option<&str>, &str); 4] = [
        (None, "missing API key"),
        (Some("Basic abc"), "missing API key"),
        (Some("Bearer wrong-key"), "invalid API key"),
        (Some("bearer test-admin-key-0123456789"), "missing API key"),
    ];
    for (auth, description) in cases {
        let mut rb = AuthServer::http().get(&url);
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        let (st, h, b) = json_of(rb.send().await.unwrap()).await;
        assert_eq!(st, 401);
        assert_eq!(header(&h, "content-type"), "application/json");
        assert_eq!(header(&h, "www-authenticate"), "Bearer realm=\"admin\"");
        assert_eq!(
            b,
            json!({"error": "unauthorized", "error_description": description})
        );
    }
    let (st, _, b) = json_of(
        s.admin(Method::POST, "/admin/auth/verify")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(b["valid"], true);
    assert!(b["version"].is_string());
    // Unknown admin paths: authenticated first, then Go's 404.
    let r = AuthServer::http()
        .get(format!("{}/admin/nope", s.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s.admin(Method::GET, "/admin/nope").send().await.unwrap();
    assert_eq!(r.status(), 404);

    let dir = tmp();
    let keyless = AuthServer::start(dir.path(), &[("AUTHPLANE_ADMIN_API_KEY", "")]);
    let (st, _, b) = json_of(
        keyless
            .admin(Method::GET, "/admin/clients")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 401);
    assert_eq!(b["error_description"], "admin API key not configured");
}

#[tokio::test]
async fn admin_resources_create_validate_and_view() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    let post = |body: Value| s.admin(Method::POST, "/admin/resources").json(&body).send();
    let (st, h, view) = json_of(
        post(json!({
            "slug": "Demo-MCP", "uri": RESOURCE, "backend_kind": "mint", "display_name": "Demo MCP",
            "scopes": [{"name": "mcp:echo", "description": "echo tool"}, {"name": "mcp:x"}],
        }))
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{view}");
    assert_eq!(header(&h, "content-type"), "application/json");
    let keys: Vec<&str> = view
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "slug",
            "uri",
            "backend_kind",
            "broker_provider_id",
            "display_name",
            "scopes",
            "policy",
            "created_at",
            "updated_at"
        ]
    );
    assert_eq!(view["id"].as_str().unwrap().len(), 22);
    assert_eq!(view["slug"], "demo-mcp", "lower-cased");
    assert_eq!(view["broker_provider_id"], "");
    assert_eq!(
        view["scopes"],
        json!([{"name": "mcp:echo", "description": "echo tool"}, {"name": "mcp:x"}])
    );
    assert_eq!(
        view["policy"],
        json!({"exchange": {"allowed_client_ids": []}, "runtime": {"client_ids": []}})
    );

    let bad: [(Value, u16, &str); 9] = [
        (
            json!({"slug": "x", "bogus": 1}),
            400,
            "invalid JSON body: json: unknown field \"bogus\"",
        ),
        (
            json!({"slug": "x", "scopes": [{"name": "a", "extra": true}]}),
            400,
            "invalid JSON body: json: unknown field \"extra\"",
        ),
        (
            json!({"slug": "-bad", "backend_kind": "mint"}),
            400,
            "invalid slug",
        ),
        (
            json!({"slug": "demo-mcp", "backend_kind": "mint"}),
            409,
            "slug \"demo-mcp\" is already in use",
        ),
        (
            json!({"slug": "DEMO-mcp", "backend_kind": "mint"}),
            409,
            "slug \"demo-mcp\" is already in use",
        ),
        (
            json!({"slug": "p", "backend_kind": "mint", "broker_provider_id": "prov"}),
            400,
            "broker_provider_id \"prov\" does not exist",
        ),
        (
            json!({"slug": "p", "backend_kind": "mint", "policy": {"runtime": {"client_ids": ["ghost"]}}}),
            400,
            "client_id \"ghost\" in policy.runtime.client_ids does not exist",
        ),
        (
            json!({"slug": "p", "backend_kind": "mint", "scopes": [{"name": "a"}, {"name": "a"}]}),
            400,
            "scope \"a\" is listed twice",
        ),
        (
            json!({"slug": "p", "id": "mine"}),
            400,
            "id is assigned by the server and must not be set",
        ),
    ];
    for (body, code, detail) in bad {
        let (st, _, b) = json_of(post(body.clone()).await.unwrap()).await;
        assert_admin_error(st, &b, code, detail);
    }
    let (st, h, b) = json_of(
        post(json!({"slug": "p", "backend_kind": "what"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400, "{b}");
    assert_eq!(header(&h, "content-type"), "application/problem+json");
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("backend_kind must be mint or broker")
    );
    let (st, _, b) = json_of(
        post(json!({"slug": "p", "backend_kind": "mint", "uri": "not a url"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400, "{b}");
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("absolute http(s) URL")
    );
    for raw in ["{", "", "[1]", "{\"slug\": 5}"] {
        let (st, _, b) = json_of(
            s.admin(Method::POST, "/admin/resources")
                .body(raw)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(st, 400, "{raw}: {b}");
        assert!(
            b["detail"]
                .as_str()
                .unwrap()
                .starts_with("invalid JSON body: "),
            "{b}"
        );
    }
    let huge = format!("{{\"slug\":\"{}\"}}", "a".repeat(1024 * 1024 + 10));
    let (st, _, b) = json_of(
        s.admin(Method::POST, "/admin/resources")
            .body(huge)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_admin_error(
        st,
        &b,
        400,
        "invalid JSON body: http: request body too large",
    );
    // Duplicate URIs are accepted, as upstream.
    let (st, _, _) = json_of(
        post(json!({"slug": "dup-uri", "uri": RESOURCE, "backend_kind": "mint"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201);
}

#[tokio::test]
async fn admin_resources_list_get_patch_delete() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    let b = s
        .create_resource("bbb", "http://localhost:1/b", &["s"])
        .await;
    let a = s.create_resource("aaa", RESOURCE, &["mcp:echo"]).await;
    let get = |path: String| s.admin(Method::GET, &path).send();
    let (st, _, list) = json_of(get("/admin/resources".into()).await.unwrap()).await;
    assert_eq!(st, 200);
    let slugs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["aaa", "bbb"], "bare array ordered by slug");
    let (_, _, page) = json_of(
        get("/admin/resources?limit=1&offset=1".into())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["slug"], "bbb");
    let (st, _, one) = json_of(get("/admin/resources?slug=bbb".into()).await.unwrap()).await;
    assert_eq!(st, 200);
    assert_eq!(one, b);
    for (query, code, detail) in [
        ("slug=zzz", 404, "resource not found"),
        (
            "slug=aaa&limit=5",
            400,
            "slug lookup is mutually exclusive with limit",
        ),
        (
            "slug=aaa&backend_kind=mint",
            400,
            "slug lookup is mutually exclusive with backend_kind",
        ),
        ("limit=0", 400, "limit must be 1..500"),
        ("limit=501", 400, "limit must be 1..500"),
        ("offset=-1", 400, "offset must be a non-negative integer"),
        ("backend_kind=x", 400, "backend_kind must be mint or broker"),
    ] {
        let (st, _, body) = json_of(get(format!("/admin/resources?{query}")).await.unwrap()).await;
        assert_admin_error(st, &body, code, detail);
    }
    let a_id = a["id"].as_str().unwrap();
    let (st, _, got) = json_of(get(format!("/admin/resources/{a_id}")).await.unwrap()).await;
    assert_eq!((st, &got), (200, &a));
    let (st, _, body) = json_of(get("/admin/resources/aaa".into()).await.unwrap()).await;
    assert_admin_error(st, &body, 404, "resource not found");

    let patch = |id: &str, body: Value| {
        s.admin(Method::PATCH, &format!("/admin/resources/{id}"))
            .json(&body)
            .send()
    };
    let (st, _, same) = json_of(patch(a_id, json!({})).await.unwrap()).await;
    assert_eq!((st, &same), (200, &a), "{{}} is a no-op");
    let (st, _, body) = json_of(patch(a_id, json!({"slug": "BBB"})).await.unwrap()).await;
    assert_admin_error(st, &body, 409, "slug \"bbb\" is already in use");
    let (st, _, body) = json_of(patch(a_id, json!({"id": "x"})).await.unwrap()).await;
    assert_admin_error(
        st,
        &body,
        400,
        "invalid JSON body: json: unknown field \"id\"",
    );
    let (st, _, patched) = json_of(
        patch(
            a_id,
            json!({"display_name": "Renamed", "scopes": [{"name": "mcp:echo"}, {"name": "new"}]}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(patched["display_name"], "Renamed");
    assert_eq!(
        patched["scopes"],
        json!([{"name": "mcp:echo"}, {"name": "new"}])
    );
    assert_eq!(patched["created_at"], a["created_at"]);

    // A resource a token was minted for cannot be deleted; another one can.
    let (id, secret) = s.create_client("mcp:echo").await;
    s.mint(&id, &secret, "mcp:echo", RESOURCE).await;
    let del = |id: &str| {
        s.admin(Method::DELETE, &format!("/admin/resources/{id}"))
            .send()
    };
    let (st, _, body) = json_of(del(a_id).await.unwrap()).await;
    assert_admin_error(
        st,
        &body,
        409,
        "resource has references and cannot be deleted",
    );
    let b_id = b["id"].as_str().unwrap();
    assert_eq!(del(b_id).await.unwrap().status(), 204);
    let (st, _, body) = json_of(del(b_id).await.unwrap()).await;
    assert_admin_error(st, &body, 404, "resource not found");
}

#[tokio::test]
async fn admin_clients_create_defaults_and_validation() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    let post = |body: Value| s.admin(Method::POST, "/admin/clients").json(&body).send();
    let (st, _, c) = json_of(
        post(json!({
            "client_name": "demo", "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic", "scope": "mcp:echo", "ignored": 1,
        }))
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "client_id",
            "client_secret",
            "client_name",
            "redirect_uris",
            "grant_types",
            "response_types",
            "token_endpoint_auth_method",
            "scope",
            "status",
            "registration_source",
            "agent",
            "agent_description",
            "issued_at"
        ]
    );
    assert_eq!(c["client_id"].as_str().unwrap().len(), 22);
    assert_eq!(c["client_secret"].as_str().unwrap().len(), 43);
    assert_eq!(c["redirect_uris"], Value::Null);
    assert_eq!(c["response_types"], json!(["code"]));
    assert_eq!(
        (c["status"].as_str(), c["registration_source"].as_str()),
        (Some("active"), Some("admin"))
    );
    // The secret is stored hashed, never in clear.
    let state = std::fs::read_to_string(s.state_dir.join("state.json")).unwrap();
    assert!(!state.contains(c["client_secret"].as_str().unwrap()));

    let prefix = "client authentication failed: client validation failed: ";
    let (st, _, b) = json_of(post(json!({"client_name": "web"})).await.unwrap()).await;
    assert_admin_error(
        st,
        &b,
        400,
        &format!(
            "{prefix}redirect_uris is required for the authorization_code and refresh_token grants"
        ),
    );
    let (st, _, b) = json_of(
        post(json!({"grant_types": ["client_credentials"]}))
            .await
            .unwrap(),
    )
    .await;
    assert_admin_error(st, &b, 400, &format!("{prefix}client_name is required"));
    let (st, _, b) = json_of(post(json!({"client_name": "x", "grant_types": ["implicit", "client_credentials"], "token_endpoint_auth_method": "private_key_jwt"})).await.unwrap()).await;
    assert_eq!(st, 400);
    let detail = b["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(prefix)
            && detail
                .contains("grant_type \"implicit\" is not supported; token_endpoint_auth_method"),
        "{detail}"
    );
    let (st, _, b) = json_of(post(json!({"client_name": "x", "redirect_uris": ["http://example.com/cb", "https://ok.example/cb#frag"]})).await.unwrap()).await;
    assert_eq!(st, 400);
    assert!(
        b["detail"].as_str().unwrap().contains("must use https"),
        "{b}"
    );
    assert!(b["detail"].as_str().unwrap().contains("fragment"), "{b}");
    let (st, _, b) = json_of(
        s.admin(Method::POST, "/admin/clients")
            .body("{nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_admin_error(st, &b, 400, "invalid JSON body");
    let (st, _, b) = json_of(post(json!({"client_name": 5})).await.unwrap()).await;
    assert_admin_error(st, &b, 400, "invalid JSON body");

    let dir = tmp();
    let off = AuthServer::start(
        dir.path(),
        &[("AUTHPLANE_CLIENT_CREDENTIALS_ENABLED", "false")],
    );
    let (st, _, b) = json_of(
        off.admin(Method::POST, "/admin/clients")
            .json(&json!({"client_name": "m", "grant_types": ["client_credentials"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_admin_error(
        st,
        &b,
        400,
        &format!(
            "{prefix}grant_type \"client_credentials\" is not enabled on this server — set AUTHPLANE_CLIENT_CREDENTIALS_ENABLED=true to enable it"
        ),
    );
}

#[tokio::test]
async fn admin_clients_read_patch_status_and_delete() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    let (id, secret) = s.create_client("a").await;
    let (st, _, list) = json_of(s.admin(Method::GET, "/admin/clients").send().await.unwrap()).await;
    assert_eq!(st, 200);
    let view = &list.as_array().unwrap()[0];
    let keys: Vec<&str> = view
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "redirect_uris",
            "grant_types",
            "response_types",
            "token_endpoint_auth_method",
            "scope",
            "status",
            "registration_source",
            "agent",
            "agent_description",
            "cimd_url",
            "issued_at",
            "updated_at"
        ]
    );
    assert_eq!(view["id"], json!(id));
    let (st, _, one) = json_of(
        s.admin(Method::GET, &format!("/admin/clients/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((st, &one), (200, view));
    let (st, _, b) = json_of(
        s.admin(Method::GET, "/admin/clients/ghost")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_admin_error(st, &b, 404, "client not found");
    let (_, _, filtered) = json_of(
        s.admin(Method::GET, "/admin/clients?status=suspended")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(filtered, json!([]));

    let (st, _, patched) = json_of(
        s.admin(Method::PATCH, &format!("/admin/clients/{id}"))
            .json(&json!({"scope": "a b", "client_name": "renamed"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        (patched["scope"].as_str(), patched["name"].as_str()),
        (Some("a b"), Some("renamed"))
    );
    let (st, _, b) = json_of(
        s.admin(Method::PATCH, &format!("/admin/clients/{id}"))
            .json(&json!({"grant_types": ["bogus"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400, "{b}");

    let patch = |action: &str| {
        s.admin(Method::PATCH, &format!("/admin/clients/{id}/{action}"))
            .send()
    };
    let (st, _, b) = json_of(patch("reactivate").await.unwrap()).await;
    assert_eq!(st, 409, "active → active is illegal: {b}");
    assert_eq!(patch("revoke").await.unwrap().status(), 200);
    assert_eq!(
        patch("suspend").await.unwrap().status(),
        409,
        "revoked is final"
    );

    // Delete: refused while tokens are live, unless forced.
    let (id2, secret2) = s.create_client("a").await;
    s.mint(&id2, &secret2, "a", "").await;
    let (st, _, b) = json_of(
        s.admin(Method::DELETE, &format!("/admin/clients/{id2}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_admin_error(
        st,
        &b,
        409,
        "client has active tokens — use force=true to revoke and delete",
    );
    assert_eq!(
        s.admin(Method::DELETE, &format!("/admin/clients/{id2}?force=true"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        s.admin(Method::DELETE, &format!("/admin/clients/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let (st, h, b) = json_of(
        s.token(&id, &secret, &[("grant_type", "client_credentials")])
            .await,
    )
    .await;
    assert_oauth_error(
        st,
        &h,
        &b,
        (401, "invalid_client", "client authentication failed"),
    );
}

// ---------------------------------------------------------------------------------------------
// Persistence, startup validation, the authserver personality

#[tokio::test]
async fn restart_keeps_the_key_and_registrations_and_shuts_down_cleanly() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    s.create_resource("demo-mcp", RESOURCE, &["mcp:echo"]).await;
    let (id, secret) = s.create_client("mcp:echo").await;
    let kid = std::fs::read_to_string(s.state_dir.join("keys/current.kid")).unwrap();
    let status = s.stop();
    assert!(status.success(), "graceful shutdown exits 0: {status}");

    let s = AuthServer::start(dir.path(), &[]);
    let jwks: Value = AuthServer::http()
        .get(format!("{}/.well-known/jwks.json", s.public_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], json!(kid), "same key after restart");
    let token = s.mint(&id, &secret, "mcp:echo", RESOURCE).await;
    assert_eq!(decode_jwt(&token).0["kid"], json!(kid));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&s.state_dir), 0o700);
    assert_eq!(mode(&s.state_dir.join("keys")), 0o700);
    for f in [
        "state.json",
        "keys/current.pem",
        "keys/current.kid",
        "keys/current.alg",
    ] {
        assert_eq!(mode(&s.state_dir.join(f)), 0o600, "{f}");
    }
    drop(s);
    // A fresh directory is a fresh key.
    let other = tmp();
    let s2 = AuthServer::start(other.path(), &[]);
    let kid2 = std::fs::read_to_string(s2.state_dir.join("keys/current.kid")).unwrap();
    assert_ne!(kid, kid2);
}

#[test]
fn startup_validation_lists_every_problem_and_exits_2() {
    let dir = tmp();
    let out = support_as::command(
        dir.path(),
        &[
            ("AUTHPLANE_SERVER_ISSUER", "http://authserver:9000"),
            ("AUTHPLANE_ADMIN_API_KEY", "admin"),
            (
                "AUTHPLANE_SERVER_ADDRESS",
                &format!("127.0.0.1:{}", free_port()),
            ),
            (
                "AUTHPLANE_ADMIN_ADDRESS",
                &format!("127.0.0.1:{}", free_port()),
            ),
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("configuration validation failed:\n  1. "),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n  2. ") && stderr.contains("\n  3. "),
        "{stderr}"
    );
    assert!(stderr.contains("secure cookies"), "{stderr}");
    assert!(stderr.contains("AUTHPLANE_ADMIN_API_KEY"), "{stderr}");
    assert!(
        !dir.path().join("authserver-state").exists(),
        "nothing written before validation"
    );

    let out = support_as::command(
        dir.path(),
        &[
            ("AUTHPLANE_SERVER_ADDRESS", ":7000"),
            ("AUTHPLANE_ADMIN_ADDRESS", ":7000"),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must differ"));
}

#[test]
fn a_taken_port_is_an_environment_error_naming_the_variable() {
    let dir = tmp();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let out = support_as::command(
        dir.path(),
        &[
            ("AUTHPLANE_SERVER_ADDRESS", &format!("127.0.0.1:{port}")),
            (
                "AUTHPLANE_ADMIN_ADDRESS",
                &format!("127.0.0.1:{}", free_port()),
            ),
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("AUTHPLANE_SERVER_ADDRESS"), "{stderr}");
}

#[test]
fn authserver_personality_version_usage_and_serve() {
    let dir = tmp();
    let link = dir.path().join("authserver");
    std::os::unix::fs::symlink(binary(), &link).unwrap();
    let run = |args: &[&str]| {
        Command::new(&link)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&["version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("authserver {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));

    // The personality keeps its state in /data when that is a writable directory (the image's
    // volume); on a host that has one, serving would write into it. The personality is the
    // Docker image's entry point, so the Docker switch forbids the skip: CI checks it.
    if std::path::Path::new("/data").exists() {
        skip(
            REQUIRE_DOCKER,
            "the serve part of the authserver personality: /data exists on this machine and \
             would be used",
        );
        return;
    }
    let port = free_port();
    let admin = free_port();
    let child = Command::new(&link)
        .args(["serve", "--config", "/config.yaml"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AUTHPLANE_SERVER_ADDRESS", format!(":{port}"))
        .env("AUTHPLANE_ADMIN_ADDRESS", format!(":{admin}"))
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = Guard(Some(child));
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    while support_as::http_status(port, "/.well-known/oauth-authorization-server") != Some(200) {
        let running = guard.0.as_mut().unwrap().try_wait().unwrap().is_none();
        assert!(running, "authserver serve exited early");
        assert!(
            std::time::Instant::now() < deadline,
            "authserver serve never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        dir.path().join("data/keys/current.pem").exists(),
        "state in ./data"
    );
    let mut child = guard.0.take().unwrap();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// Kills a child process on drop unless the test already took it.
struct Guard(Option<std::process::Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test]
async fn admin_rotate_secret_and_missing_ids() {
    let dir = tmp();
    let s = AuthServer::start(dir.path(), &[]);
    let (id, old) = s.create_client("").await;
    let (st, _, body) = json_of(
        s.admin(Method::POST, &format!("/admin/clients/{id}/rotate-secret"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["client_id"], json!(id));
    let new = body["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let cc = [("grant_type", "client_credentials")];
    assert_eq!(s.token(&id, &new, &cc).await.status(), 200);
    assert_eq!(s.token(&id, &old, &cc).await.status(), 401);

    let public: Value = s
        .admin(Method::POST, "/admin/clients")
        .json(&json!({"client_name": "pub", "grant_types": ["client_credentials"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pid = public["client_id"].as_str().unwrap();
    let (st, _, b) = json_of(
        s.admin(Method::POST, &format!("/admin/clients/{pid}/rotate-secret"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400, "{b}");

    for (method, path, detail) in [
        (
            Method::POST,
            "/admin/clients/ghost/rotate-secret",
            "client not found",
        ),
        (
            Method::PATCH,
            "/admin/clients/ghost/suspend",
            "client not found",
        ),
        (Method::PATCH, "/admin/clients/ghost", "client not found"),
        (Method::DELETE, "/admin/clients/ghost", "client not found"),
        (
            Method::PATCH,
            "/admin/resources/ghost",
            "resource not found",
        ),
    ] {
        let (st, _, b) =
            json_of(s.admin(method, path).json(&json!({})).send().await.unwrap()).await;
        assert_admin_error(st, &b, 404, detail);
    }
}

#[test]
fn an_unreadable_state_file_is_an_environment_error() {
    let dir = tmp();
    let state = dir.path().join("authserver-state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("state.json"), "{not json").unwrap();
    let out = support_as::command(
        dir.path(),
        &[
            (
                "AUTHPLANE_SERVER_ADDRESS",
                &format!("127.0.0.1:{}", free_port()),
            ),
            (
                "AUTHPLANE_ADMIN_ADDRESS",
                &format!("127.0.0.1:{}", free_port()),
            ),
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("state.json"), "{stderr}");
    assert!(stderr.contains("--state-dir"), "{stderr}");
}
