//! `/admin/tokens` (§3.4): the live access tokens, and revoking one by `jti`, in upstream's
//! shapes. A token is a `client_credentials` machine token or an `authorization_code` user token
//! (also minted by a refresh); the list holds the ones
//! neither expired nor revoked, newest first, as `{"tokens":[…],"total":N}`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{json_response, query_pairs, query_value, store_error};
use crate::authserver::AppState;
use crate::authserver::problem::AdminError;
use crate::authserver::store::{Data, Issuance};

/// Upstream's bound on path parameters.
const MAX_PATH_PARAM: usize = 256;
/// The detail upstream answers for an unknown `jti` (its domain `invalid_grant`, so a 400).
pub const TOKEN_NOT_FOUND: &str =
    "the authorization grant is invalid, expired, or revoked: token not found";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Unix seconds as Go writes a `time.Time` in JSON (RFC 3339, UTC).
fn rfc3339(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn view(data: &Data, i: &Issuance) -> Value {
    let resource = i
        .resource_id
        .as_ref()
        .and_then(|id| data.resources.iter().find(|r| &r.id == id))
        .map_or("", |r| r.uri.as_str());
    json!({
        "jti": i.jti,
        "type": if i.user_id.is_some() { "authorization_code" } else { "client_credentials" },
        "client_id": i.client_id,
        "scope": i.scope,
        "resource": resource,
        "status": "active",
        "created_at": rfc3339(i.issued_at),
        "expires_at": rfc3339(i.expires_at),
    })
}

/// Go's `strconv.Atoi` as upstream uses it here: anything unparsable is 0.
fn atoi(value: Option<&str>) -> i64 {
    value.and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// `GET /admin/tokens[?client_id=&user_id=&limit=&offset=]`.
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, AdminError> {
    let pairs = query_pairs(query.as_deref())?;
    let value = |k: &str| query_value(&pairs, k);
    let limit = match atoi(value("limit")) {
        n if n <= 0 => 50,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let offset = usize::try_from(atoi(value("offset")).max(0)).unwrap_or(0);
    let client_id = value("client_id");
    // A user filter selects that user's (authorization-code) tokens.
    let user_id = value("user_id");
    let now = now();
    let body = state.store.read(|data| {
        let mut live: Vec<&Issuance> = data
            .issuances
            .iter()
            .filter(|i| i.expires_at > now && !data.is_revoked(&i.jti))
            .filter(|i| user_id.is_none_or(|u| i.user_id.as_deref() == Some(u)))
            .filter(|i| client_id.is_none_or(|c| i.client_id == c))
            .collect();
        // Newest first; the later mint of the same second first (it was recorded later).
        live.reverse();
        live.sort_by_key(|i| std::cmp::Reverse(i.issued_at));
        let total = live.len();
        let tokens: Vec<Value> = live
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|i| view(data, i))
            .collect();
        json!({"tokens": tokens, "total": total})
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// `DELETE /admin/tokens/{jti}`: 204; an unknown `jti` is upstream's 400.
pub async fn revoke(
    State(state): State<AppState>,
    Path(jti): Path<String>,
) -> Result<Response, AdminError> {
    if jti.len() > MAX_PATH_PARAM {
        return Err(AdminError::bad_request("jti too long"));
    }
    let now = now();
    state
        .store
        .update(|data| {
            let exp = data
                .issuances
                .iter()
                .find(|i| i.jti == jti)
                .map(|i| i.expires_at)
                .ok_or_else(|| AdminError::bad_request(TOKEN_NOT_FOUND))?;
            data.revoke(&jti, exp, now);
            Ok(())
        })
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
