//! `POST /oauth/introspect` (RFC 7662), as authserver 0.2.2 answers it: form (≤ 64 KiB) →
//! `token` present → client authentication (confidential, active) → token verified by this
//! server → caller entitled (the issuing client, or a runtime client of the resource the token's
//! `aud` names) → not revoked → issuing client still active. Every "no" after authentication is
//! the same bare `{"active":false}`, so the answer never tells a stranger that a token exists.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::access_token::{self, AccessToken};
use super::client_auth::{self, Require};
use super::problem::OAuthError;
use super::store::{ClientStatus, Data};
use super::{AppState, form, oauth};

/// The `invalid_client` description on both form endpoints.
pub const AUTH_FAILED: &str = "client authentication failed";

/// `POST /oauth/introspect`.
pub async fn introspect(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let form = match read_token_form(&parts.headers, parts.uri.query(), body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let (id, secret) = client_auth::presented(&parts.headers, &form.form);
    let answer = state.store.read(|data| {
        let caller = client_auth::authenticate(data, &id, &secret, Require::ConfidentialActive)
            .ok_or_else(|| OAuthError::invalid_client(AUTH_FAILED))?;
        let token = access_token::verify(&state, &form.token);
        Ok::<_, OAuthError>(match token {
            Some(token) if is_active(data, &state.config.issuer, &caller.id, &token) => {
                active_body(&token)
            }
            _ => json!({"active": false}),
        })
    });
    match answer {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body.to_string(),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// A form with its required `token`.
pub struct TokenForm {
    pub form: form::Form,
    pub token: String,
}

/// Reads the form and its `token`, with the two 400 rows both endpoints share.
pub async fn read_token_form(
    headers: &axum::http::HeaderMap,
    query: Option<&str>,
    body: axum::body::Body,
) -> Result<TokenForm, OAuthError> {
    let form = form::read(headers, query, body, oauth::MAX_FORM_BYTES)
        .await
        .map_err(|_| OAuthError::bad_request("invalid_request", "invalid form body"))?;
    let token = form.get("token").unwrap_or("").to_owned();
    if token.is_empty() {
        return Err(OAuthError::bad_request(
            "invalid_request",
            "token parameter is required",
        ));
    }
    Ok(TokenForm { form, token })
}

/// Whether `caller` may learn that `token` is active, and it is.
fn is_active(data: &Data, issuer: &str, caller: &str, token: &AccessToken) -> bool {
    entitled(data, issuer, caller, token)
        && !data.is_revoked(token.jti())
        && data
            .clients
            .iter()
            .any(|c| c.id == token.client_id() && c.status == ClientStatus::Active)
}

/// The issuing client, or a client in `policy.runtime.client_ids` of the resource an `aud` entry
/// names (by URI or slug; the issuer itself names no resource; an entry matching two resources
/// decides nothing).
fn entitled(data: &Data, issuer: &str, caller: &str, token: &AccessToken) -> bool {
    if caller == token.client_id() {
        return true;
    }
    token
        .audiences()
        .into_iter()
        .filter(|aud| !aud.is_empty() && *aud != issuer)
        .any(|aud| {
            let mut named = data
                .resources
                .iter()
                .filter(|r| r.uri == aud || r.slug == aud);
            match (named.next(), named.next()) {
                (Some(resource), None) => resource
                    .policy
                    .runtime_client_ids
                    .iter()
                    .any(|c| c == caller),
                _ => false,
            }
        })
}

/// The RFC 7662 body of an active token, with upstream's members: `aud` is the first audience,
/// empty members are left out, `token_type` is `DPoP` and `cnf` is copied when the token is
/// bound (`cnf.jkt`).
fn active_body(token: &AccessToken) -> Value {
    let claims = &token.claims;
    let mut body = Map::new();
    body.insert("active".into(), json!(true));
    let mut text = |name: &str, value: Option<&str>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            body.insert(name.into(), json!(v));
        }
    };
    let claim = |name: &str| claims.get(name).and_then(Value::as_str);
    text("scope", claim("scope"));
    text("client_id", claim("client_id"));
    text("sub", claim("sub"));
    text("aud", token.audiences().first().copied());
    text("iss", claim("iss"));
    for name in ["exp", "iat"] {
        if let Some(n) = claims.get(name).and_then(Value::as_i64).filter(|n| *n != 0) {
            body.insert(name.into(), json!(n));
        }
    }
    if let Some(jti) = claim("jti").filter(|j| !j.is_empty()) {
        body.insert("jti".into(), json!(jti));
    }
    let cnf = claims
        .get("cnf")
        .filter(|c| c.get("jkt").is_some())
        .cloned();
    let token_type = if cnf.is_some() { "DPoP" } else { "Bearer" };
    body.insert("token_type".into(), json!(token_type));
    if let Some(cnf) = cnf {
        body.insert("cnf".into(), cnf);
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: &Value) -> AccessToken {
        AccessToken {
            claims: claims.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn active_bodies_follow_upstream() {
        let bearer = token(&json!({
            "iss": "http://as", "sub": "c", "aud": ["http://rs/mcp"], "client_id": "c",
            "scope": "mcp:echo", "jti": "j", "iat": 10, "nbf": 10, "exp": 20
        }));
        assert_eq!(
            active_body(&bearer),
            json!({"active": true, "scope": "mcp:echo", "client_id": "c", "sub": "c",
                   "aud": "http://rs/mcp", "iss": "http://as", "exp": 20, "iat": 10, "jti": "j",
                   "token_type": "Bearer"})
        );
        let bound = token(&json!({"client_id": "c", "cnf": {"jkt": "thumb"}, "exp": 20}));
        let body = active_body(&bound);
        assert_eq!(body["token_type"], "DPoP");
        assert_eq!(body["cnf"], json!({"jkt": "thumb"}));
        assert!(body.get("scope").is_none());
    }
}
