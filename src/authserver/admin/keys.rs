//! `/admin/keys` (§3.4): the published signing keys and `POST /admin/keys/rotate`, in upstream's
//! shapes (`{"keys":[{kid,alg,use,status}]}`, `{kid,alg}`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::json_response;
use crate::authserver::problem::AdminError;
use crate::authserver::{AppState, access_token};

/// `GET /admin/keys`: the current key, then the previous one while it is still published.
pub async fn list(State(state): State<AppState>) -> Response {
    let keys: Vec<Value> = state
        .key
        .published()
        .into_iter()
        .map(|(key, status)| {
            json!({
                "kid": key.kid,
                "alg": key.alg.as_str(),
                "use": "sig",
                "status": status.as_str(),
            })
        })
        .collect();
    json_response(StatusCode::OK, &json!({"keys": keys}))
}

/// `POST /admin/keys/rotate`: a new current key; the old one stays published until the last token
/// it signed has expired (one token lifetime, `AUTHPLANE_CLIENT_CREDENTIALS_TOKEN_EXPIRY`, plus
/// the clock skew verifiers allow).
pub async fn rotate(State(state): State<AppState>) -> Result<Response, AdminError> {
    let lifetime = state.config.token_expiry + access_token::LEEWAY;
    let ring = state.clone();
    // RSA key generation is CPU-bound for a moment; keep it off the async workers.
    let rotated = tokio::task::spawn_blocking(move || ring.key.rotate(lifetime))
        .await
        .map_err(|e| anyhow::Error::new(e).context("the rotation task failed"))
        .and_then(|r| r);
    match rotated {
        Ok(key) => Ok(json_response(
            StatusCode::OK,
            &json!({"kid": key.kid, "alg": key.alg.as_str()}),
        )),
        Err(e) => Err(
            AdminError::new(StatusCode::INTERNAL_SERVER_ERROR, "key rotation failed")
                .because(format!("{e:#}")),
        ),
    }
}
