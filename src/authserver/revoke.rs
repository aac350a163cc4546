//! `POST /oauth/revoke` (RFC 7009), as authserver 0.2.2 answers it: form (≤ 64 KiB) → `token`
//! present → client authentication (a public client by id alone) → 200 with an empty body,
//! whatever the token is. Only a live access token of this server that belongs to the calling
//! client is actually revoked; anything else (unknown, expired, someone else's) is ignored, as
//! RFC 7009 §2.2 asks. The revocation is written to disk before the answer.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::client_auth::{self, Require};
use super::introspect::{AUTH_FAILED, read_token_form};
use super::problem::OAuthError;
use super::store::UpdateError;
use super::{AppState, access_token};

/// `POST /oauth/revoke`.
pub async fn revoke(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let form = match read_token_form(&parts.headers, parts.uri.query(), body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let (id, secret) = client_auth::presented(&parts.headers, &form.form);
    let Some(caller) = state
        .store
        .read(|data| client_auth::authenticate(data, &id, &secret, Require::Known))
    else {
        return OAuthError::invalid_client(AUTH_FAILED).into_response();
    };
    if let Some(token) = access_token::verify(&state, &form.token)
        && token.client_id() == caller.id
    {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (jti, exp) = (token.jti().to_owned(), token.exp());
        let written = state.store.update(|data| {
            data.revoke(&jti, exp, now);
            Ok::<_, ()>(())
        });
        if let Err(UpdateError::Persist(e)) = written {
            return OAuthError::server_error()
                .because(format!("recording the revocation: {e:#}"))
                .into_response();
        }
    }
    StatusCode::OK.into_response()
}
