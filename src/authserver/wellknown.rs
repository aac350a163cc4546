//! Discovery and liveness on the public listener: the RFC 8414 metadata document (§2.1, served at
//! both well-known paths), the JWKS (§2.2), and `/livez`, `/health`, `/ready` (§1.5).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use super::config::AsConfig;
use super::store::Data;

fn cached_json(body: &Value) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body.to_string(),
    )
        .into_response()
}

/// `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub async fn metadata(State(state): State<AppState>) -> Response {
    let doc = state
        .store
        .read(|data| metadata_document(&state.config, data));
    cached_json(&doc)
}

/// The metadata document, computed from the configuration and the registered scopes.
///
/// It advertises only what this server answers: the authorization, token, registration,
/// revocation and introspection endpoints, the user grants and `client_credentials` when on. The
/// exchange and jwt-bearer grants and the agent-identity flags upstream also names are not built
/// here, so they are left out (a client that follows the document must not be sent to a 404).
/// Members keep upstream's order.
pub fn metadata_document(config: &AsConfig, data: &Data) -> Value {
    let iss = &config.issuer;
    // Endpoints are plain concatenation, like the real server (a trailing slash doubles up).
    let endpoint = |path: &str| Value::String(format!("{iss}{path}"));
    let mut grants = vec!["authorization_code", "refresh_token"];
    if config.client_credentials_enabled {
        grants.push("client_credentials");
    }
    let mut scopes: Vec<&str> = data
        .resources
        .iter()
        .flat_map(|r| r.scopes.iter().map(|s| s.name.as_str()))
        .collect();
    scopes.sort_unstable();
    scopes.dedup();

    let mut doc = Map::new();
    doc.insert("issuer".into(), json!(iss));
    doc.insert(
        "authorization_endpoint".into(),
        endpoint("/oauth/authorize"),
    );
    doc.insert("token_endpoint".into(), endpoint("/oauth/token"));
    doc.insert("registration_endpoint".into(), endpoint("/oauth/register"));
    doc.insert("revocation_endpoint".into(), endpoint("/oauth/revoke"));
    doc.insert(
        "introspection_endpoint".into(),
        endpoint("/oauth/introspect"),
    );
    doc.insert("jwks_uri".into(), endpoint("/.well-known/jwks.json"));
    doc.insert("response_types_supported".into(), json!(["code"]));
    doc.insert("grant_types_supported".into(), json!(grants));
    doc.insert(
        "token_endpoint_auth_methods_supported".into(),
        json!(["none", "client_secret_basic", "client_secret_post"]),
    );
    doc.insert(
        "introspection_endpoint_auth_methods_supported".into(),
        json!(["client_secret_basic", "client_secret_post"]),
    );
    doc.insert(
        "revocation_endpoint_auth_methods_supported".into(),
        json!(["none", "client_secret_basic", "client_secret_post"]),
    );
    doc.insert("code_challenge_methods_supported".into(), json!(["S256"]));
    if !scopes.is_empty() {
        doc.insert("scopes_supported".into(), json!(scopes));
    }
    doc.insert("resource_indicators_supported".into(), json!(true));
    if config.cimd_enabled {
        doc.insert("client_id_metadata_document_supported".into(), json!(true));
    }
    if config.dpop_enabled {
        doc.insert(
            "dpop_signing_alg_values_supported".into(),
            json!(["ES256", "RS256", "PS256"]),
        );
    }
    doc.insert(
        "authorization_response_iss_parameter_supported".into(),
        json!(true),
    );
    Value::Object(doc)
}

/// `GET /.well-known/jwks.json`: the current public key, and the previous one while tokens it
/// signed may still be valid.
pub async fn jwks(State(state): State<AppState>) -> Response {
    cached_json(&json!({"keys": state.key.jwks()}))
}

fn now_seconds() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn health_json(body: &Value) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

/// `GET /livez`: alive, no dependency checks.
pub async fn livez() -> Response {
    health_json(&json!({"status": "alive", "time": now_seconds()}))
}

/// `GET /health`: the store is in memory and written on change, so it is always `ok`.
pub async fn health() -> Response {
    health_json(&json!({"status": "ok", "time": now_seconds(), "db": "ok"}))
}

/// `GET /ready`: ready as soon as the listener answers (key and store load before binding).
pub async fn ready() -> Response {
    health_json(&json!({"status": "ready", "time": now_seconds(), "db": "ok"}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authserver::store::resource_with_scopes;
    use crate::config::Vars;

    #[test]
    fn document_follows_the_configuration() {
        let config = AsConfig::from_vars(&Vars::default());
        let doc = metadata_document(&config, &Data::default());
        assert_eq!(doc["token_endpoint"], "http://localhost:9000/oauth/token");
        assert!(doc.get("scopes_supported").is_none());
        assert_eq!(
            doc["authorization_endpoint"],
            "http://localhost:9000/oauth/authorize"
        );
        assert_eq!(
            doc["registration_endpoint"],
            "http://localhost:9000/oauth/register"
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(doc["client_id_metadata_document_supported"], true);
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "issuer");
        assert_eq!(keys[6], "jwks_uri");
        let data = Data {
            resources: vec![
                resource_with_scopes(&["b", "a"]),
                resource_with_scopes(&["a", "c"]),
            ],
            ..Data::default()
        };
        let doc = metadata_document(&config, &data);
        assert_eq!(doc["scopes_supported"], json!(["a", "b", "c"]));
        assert_eq!(
            doc["grant_types_supported"],
            json!(["authorization_code", "refresh_token", "client_credentials"])
        );

        let env = [
            ("AUTHPLANE_CLIENT_CREDENTIALS_ENABLED", "false"),
            ("AUTHPLANE_DPOP_ENABLED", "no"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let config = AsConfig::from_vars(&Vars::from_parts(env, Vec::new()));
        let doc = metadata_document(&config, &Data::default());
        assert_eq!(
            doc["grant_types_supported"],
            json!(["authorization_code", "refresh_token"])
        );
        assert!(doc.get("dpop_signing_alg_values_supported").is_none());
    }
}
