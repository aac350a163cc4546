//! DPoP (RFC 9449) at the embedded authorization server's token endpoint, driven by a client
//! nobody here wrote: authplane-sdk's own `AuthplaneClient` with its `DpopProvider`, and proofs
//! built by the SDK's `create_dpop_proof`. Proofs the SDK cannot be made to build (stale, wrong
//! `typ`, a private key in the header, a tampered signature) are signed here with a real key and
//! the faults put in on purpose; each refusal is checked against the reference's rows
//! (authserver 0.2.2 §2.4 rows 8 and 8b, upstream's sentinels verbatim).

mod support_as;

use std::sync::Arc;

use authplane_sdk::{
    AuthplaneClient, AuthplaneError, DpopProofOptions, DpopProvider, FetchSettings,
    create_dpop_proof,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
use serde_json::{Value, json};
use support_as::{AuthServer, decode_jwt};

const RESOURCE: &str = "http://localhost:8080/mcp";
const SCOPE: &str = "mcp:echo";

/// A P-256 key: its PKCS#8 PEM and public JWK.
struct ProofKey {
    secret: p256::SecretKey,
    pem: String,
    jwk: Value,
    private_d: String,
}

impl ProofKey {
    fn new() -> ProofKey {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let point = secret.public_key().to_encoded_point(false);
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(point.x().expect("x")),
            "y": URL_SAFE_NO_PAD.encode(point.y().expect("y")),
        });
        ProofKey {
            pem: secret
                .to_pkcs8_pem(LineEnding::LF)
                .expect("PKCS#8 PEM")
                .to_string(),
            jwk,
            private_d: URL_SAFE_NO_PAD.encode(secret.to_bytes()),
            secret,
        }
    }

    /// The SDK's provider for this key.
    fn provider(&self) -> DpopProvider {
        DpopProvider::from_pem(&self.pem, Algorithm::ES256).expect("SDK DPoP provider")
    }

    /// A proof built by the SDK (`iat` = now, fresh `jti`).
    fn sdk_proof(&self, method: &str, url: &str, nonce: Option<&str>) -> String {
        let options = DpopProofOptions {
            private_key_pem: self.pem.clone(),
            public_jwk: self.jwk.clone(),
            algorithm: Algorithm::ES256,
            key_id: None,
            nonce: nonce.map(str::to_owned),
            proof_ttl_seconds: None,
        };
        create_dpop_proof(method, url, None, &options).expect("SDK proof")
    }

    /// A proof signed here with this key, the header built by hand (`typ` and `jwk` exactly as
    /// given), for the faults the SDK will not produce.
    fn signed(&self, typ: &str, jwk: &Value, claims: &Value) -> String {
        use p256::ecdsa::signature::Signer as _;
        let header = json!({"typ": typ, "alg": "ES256", "jwk": jwk});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: p256::ecdsa::Signature =
            p256::ecdsa::SigningKey::from(&self.secret).sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(htu: &str, iat: i64) -> Value {
    json!({"jti": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()), "htm": "POST", "htu": htu, "iat": iat})
}

/// An AS with one resource and one client_credentials client.
async fn stack(dir: &std::path::Path, env: &[(&str, &str)]) -> (AuthServer, String, String) {
    let server = AuthServer::start(dir, env);
    server.create_resource("demo-mcp", RESOURCE, &[SCOPE]).await;
    let (id, secret) = server.create_client(SCOPE).await;
    (server, id, secret)
}

async fn sdk_client(server: &AuthServer, provider: Option<DpopProvider>) -> AuthplaneClient {
    let mut builder = AuthplaneClient::builder(server.issuer.clone())
        .with_fetch_settings(FetchSettings::from_dev_mode(true));
    if let Some(p) = provider {
        builder = builder.with_dpop_provider(Arc::new(p));
    }
    builder.build().await.expect("the SDK discovers the AS")
}

/// `POST /oauth/token` (client_credentials for RESOURCE) with `proof` in the `DPoP` header.
async fn token_with_proof(
    server: &AuthServer,
    id: &str,
    secret: &str,
    proof: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = AuthServer::http()
        .post(format!("{}/oauth/token", server.public_url))
        .basic_auth(id, Some(secret))
        .header("DPoP", proof)
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", SCOPE),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .expect("POST /oauth/token");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.expect("JSON body");
    (status, headers, body)
}

fn token_url(server: &AuthServer) -> String {
    format!("{}/oauth/token", server.public_url)
}

/// Asserts one of the reference's DPoP rows: 400, `error`, `error_description`, problem+json, and
/// a fresh `DPoP-Nonce` (the request carried a proof).
fn assert_row(
    (status, headers, body): &(u16, reqwest::header::HeaderMap, Value),
    error: &str,
    description: &str,
) {
    assert_eq!(*status, 400, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_description"], description, "{body}");
    assert_eq!(body["status"], 400, "{body}");
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    let nonce = headers
        .get("dpop-nonce")
        .expect("a DPoP-Nonce on an answer to a proof-carrying request");
    assert_eq!(nonce.len(), 43, "{nonce:?}");
}

const INVALID: (&str, &str) = ("invalid_dpop_proof", "DPoP proof is invalid");

#[tokio::test]
async fn the_sdk_client_gets_a_bound_token_with_its_key_thumbprint() {
    let dir = tempfile::tempdir().unwrap();
    // No DPoP variable set: on by default, as upstream since 0.2.0, and advertised.
    let (server, id, secret) = stack(dir.path(), &[]).await;
    let client = sdk_client(&server, None).await;
    let metadata: Value = AuthServer::http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.public_url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["ES256", "RS256", "PS256"])
    );
    let key = ProofKey::new();
    let provider = key.provider();
    let token = client
        .client_credentials(
            &id,
            &secret,
            &[SCOPE.to_owned()],
            &[RESOURCE.to_owned()],
            Some(&provider),
        )
        .await
        .expect("the SDK accepts the DPoP token response");
    assert_eq!(token.token_type, "DPoP");
    let (header, claims) = decode_jwt(&token.access_token);
    assert_eq!(header["typ"], "at+jwt");
    let jkt = provider.thumbprint().unwrap();
    assert_eq!(claims["cnf"], json!({"jkt": jkt}));
    assert_eq!(
        jkt,
        authplane_sdk::jwk_thumbprint_sha256(&key.jwk).unwrap(),
        "RFC 7638 thumbprint"
    );
    assert_eq!(claims["aud"], json!([RESOURCE]));
    // The response carried a DPoP-Nonce, which the SDK's provider kept for this origin.
    assert_eq!(
        provider.current_nonce(&token_url(&server)).unwrap().len(),
        43
    );

    // Without a proof: Bearer, no cnf, no DPoP-Nonce (0.2.0+: only for proof-carrying requests).
    let response = server
        .token(
            &id,
            &secret,
            &[("grant_type", "client_credentials"), ("resource", RESOURCE)],
        )
        .await;
    assert!(response.headers().get("dpop-nonce").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert!(claims.get("cnf").is_none(), "{claims}");
    client.aclose().await;
}

#[tokio::test]
async fn an_rs256_proof_key_binds_too() {
    let dir = tempfile::tempdir().unwrap();
    let (server, id, secret) = stack(dir.path(), &[]).await;
    let rsa = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key");
    let pem = rsa.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let provider = DpopProvider::from_pem(&pem, Algorithm::RS256).unwrap();
    let client = sdk_client(&server, None).await;
    let token = client
        .client_credentials(&id, &secret, &[], &[RESOURCE.to_owned()], Some(&provider))
        .await
        .expect("RS256 proof accepted");
    assert_eq!(token.token_type, "DPoP");
    let (_, claims) = decode_jwt(&token.access_token);
    assert_eq!(claims["cnf"]["jkt"], provider.thumbprint().unwrap());
    client.aclose().await;
}

#[tokio::test]
async fn garbage_replayed_and_wrong_htu_proofs_are_refused_with_the_reference_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (server, id, secret) = stack(dir.path(), &[]).await;
    let key = ProofKey::new();
    let url = token_url(&server);

    let garbage = token_with_proof(&server, &id, &secret, "garbage").await;
    assert_row(&garbage, INVALID.0, INVALID.1);
    let log = server.wait_for_log("not a compact JWS");
    assert!(
        log.contains("400 invalid_dpop_proof: DPoP proof is invalid ("),
        "{log}"
    );

    // A good proof works once; the same proof again is a replay.
    let proof = key.sdk_proof("POST", &url, None);
    let first = token_with_proof(&server, &id, &secret, &proof).await;
    assert_eq!(first.0, 200, "{}", first.2);
    assert_eq!(first.2["token_type"], "DPoP");
    assert!(first.1.get("dpop-nonce").is_some());
    let replayed = token_with_proof(&server, &id, &secret, &proof).await;
    assert_row(
        &replayed,
        "invalid_dpop_proof",
        "DPoP proof jti has already been used",
    );

    // A proof for another endpoint of the same server, and for another origin.
    for htu in [
        format!("{}/oauth/introspect", server.public_url),
        "http://localhost:9000/oauth/token".to_owned(),
    ] {
        let proof = key.sdk_proof("POST", &htu, None);
        let refused = token_with_proof(&server, &id, &secret, &proof).await;
        assert_row(&refused, INVALID.0, INVALID.1);
    }
    server.wait_for_log("does not name this endpoint");
    // The wrong method.
    let proof = key.sdk_proof("GET", &url, None);
    assert_row(
        &token_with_proof(&server, &id, &secret, &proof).await,
        INVALID.0,
        INVALID.1,
    );
    // A refused proof's jti is not spent: the fixed request with a new proof succeeds.
    let ok = token_with_proof(&server, &id, &secret, &key.sdk_proof("POST", &url, None)).await;
    assert_eq!(ok.0, 200, "{}", ok.2);
}

#[tokio::test]
async fn stale_future_and_malformed_proofs_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let (server, id, secret) = stack(dir.path(), &[]).await;
    let key = ProofKey::new();
    let url = token_url(&server);
    let mut private = key.jwk.clone();
    private["d"] = json!(key.private_d);
    let tampered = {
        let proof = key.signed("dpop+jwt", &key.jwk, &claims(&url, now()));
        let (rest, _) = proof.rsplit_once('.').unwrap();
        format!("{rest}.{}", URL_SAFE_NO_PAD.encode([7u8; 64]))
    };
    let other_key = ProofKey::new();
    let cases = [
        (
            "stale (iat 2 min ago, lifetime 60s)",
            key.signed("dpop+jwt", &key.jwk, &claims(&url, now() - 120)),
        ),
        (
            "from the future",
            key.signed("dpop+jwt", &key.jwk, &claims(&url, now() + 120)),
        ),
        ("typ JWT", key.signed("JWT", &key.jwk, &claims(&url, now()))),
        (
            "a private key in the header",
            key.signed("dpop+jwt", &private, &claims(&url, now())),
        ),
        (
            "signed by another key",
            key.signed("dpop+jwt", &other_key.jwk, &claims(&url, now())),
        ),
        (
            "no jti",
            key.signed(
                "dpop+jwt",
                &key.jwk,
                &json!({"htm": "POST", "htu": url, "iat": now()}),
            ),
        ),
        (
            "no iat",
            key.signed(
                "dpop+jwt",
                &key.jwk,
                &json!({"jti": "j", "htm": "POST", "htu": url}),
            ),
        ),
        ("a tampered signature", tampered),
    ];
    for (what, proof) in cases {
        let answer = token_with_proof(&server, &id, &secret, &proof).await;
        assert_eq!(
            answer.2["error_description"], INVALID.1,
            "{what}: {}",
            answer.2
        );
        assert_row(&answer, INVALID.0, INVALID.1);
    }
    let log = server.wait_for_log("beyond the proof lifetime of 60 s");
    assert!(
        log.contains("private member \\\"d\\\"") || log.contains("private member \"d\""),
        "{log}"
    );
}

#[tokio::test]
async fn the_proof_lifetime_setting_widens_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let (server, id, secret) = stack(dir.path(), &[("AUTHPLANE_DPOP_PROOF_LIFETIME", "5m")]).await;
    let key = ProofKey::new();
    let proof = key.signed(
        "dpop+jwt",
        &key.jwk,
        &claims(&token_url(&server), now() - 120),
    );
    let answer = token_with_proof(&server, &id, &secret, &proof).await;
    assert_eq!(answer.0, 200, "{}", answer.2);
    assert_eq!(answer.2["token_type"], "DPoP");
}

#[tokio::test]
async fn a_required_nonce_is_asked_for_and_the_sdk_retries_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, id, secret) = stack(dir.path(), &[("AUTHPLANE_DPOP_REQUIRE_NONCE", "true")]).await;
    let key = ProofKey::new();
    let url = token_url(&server);

    let nonceless =
        token_with_proof(&server, &id, &secret, &key.sdk_proof("POST", &url, None)).await;
    assert_row(
        &nonceless,
        "use_dpop_nonce",
        "server nonce is required in DPoP proof",
    );
    let unknown = token_with_proof(
        &server,
        &id,
        &secret,
        &key.sdk_proof("POST", &url, Some("never-issued")),
    )
    .await;
    assert_row(
        &unknown,
        "use_dpop_nonce",
        "DPoP proof nonce does not match server-issued nonce",
    );
    // The nonce the server just sent is accepted, and stays valid for its TTL (reusable).
    let nonce = unknown
        .1
        .get("dpop-nonce")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        let ok = token_with_proof(
            &server,
            &id,
            &secret,
            &key.sdk_proof("POST", &url, Some(&nonce)),
        )
        .await;
        assert_eq!(ok.0, 200, "{}", ok.2);
        assert_eq!(ok.2["token_type"], "DPoP");
    }

    // The SDK client: first request without a nonce, `use_dpop_nonce`, one retry with it.
    let provider = ProofKey::new().provider();
    let client = sdk_client(&server, None).await;
    let token = client
        .client_credentials(&id, &secret, &[], &[RESOURCE.to_owned()], Some(&provider))
        .await
        .expect("the SDK's use_dpop_nonce retry succeeds");
    assert_eq!(token.token_type, "DPoP");
    client.aclose().await;
}

#[tokio::test]
async fn with_dpop_off_the_proof_is_ignored_as_upstream_does() {
    let dir = tempfile::tempdir().unwrap();
    let (server, id, secret) = stack(dir.path(), &[("AUTHPLANE_DPOP_ENABLED", "false")]).await;
    let metadata: Value = AuthServer::http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.public_url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(metadata.get("dpop_signing_alg_values_supported").is_none());

    let answer = token_with_proof(&server, &id, &secret, "garbage").await;
    assert_eq!(answer.0, 200, "{}", answer.2);
    assert_eq!(answer.2["token_type"], "Bearer");
    assert!(answer.1.get("dpop-nonce").is_none());
    let (_, claims) = decode_jwt(answer.2["access_token"].as_str().unwrap());
    assert!(claims.get("cnf").is_none());

    // What an SDK that sent a proof makes of that: it refuses the Bearer answer.
    let provider = ProofKey::new().provider();
    let client = sdk_client(&server, None).await;
    let err = client
        .client_credentials(&id, &secret, &[], &[RESOURCE.to_owned()], Some(&provider))
        .await
        .expect_err("a Bearer answer to a DPoP request");
    let AuthplaneError::Auth(e) = &err else {
        panic!("{err:?}")
    };
    assert!(
        e.message.contains("DPoP proof was sent but token_type is"),
        "{e:?}"
    );
    client.aclose().await;
}

#[tokio::test]
async fn dpop_settings_outside_the_real_servers_range_are_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let output = support_as::command(dir.path(), &[("AUTHPLANE_DPOP_PROOF_LIFETIME", "1s")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dpop.proof_lifetime must be between 10s and 300s"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_stale_nonce_is_use_dpop_nonce_again() {
    let dir = tempfile::tempdir().unwrap();
    // Nonces that are stale as soon as they are sent (no waiting needed).
    let env = [
        ("AUTHPLANE_DPOP_REQUIRE_NONCE", "true"),
        ("AUTHPLANE_DPOP_NONCE_TTL", "1ns"),
    ];
    let (server, id, secret) = stack(dir.path(), &env).await;
    let key = ProofKey::new();
    let url = token_url(&server);
    let first = token_with_proof(&server, &id, &secret, &key.sdk_proof("POST", &url, None)).await;
    let nonce = first
        .1
        .get("dpop-nonce")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let stale = token_with_proof(
        &server,
        &id,
        &secret,
        &key.sdk_proof("POST", &url, Some(&nonce)),
    )
    .await;
    assert_row(
        &stale,
        "use_dpop_nonce",
        "DPoP proof nonce does not match server-issued nonce",
    );
}
