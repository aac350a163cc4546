//! The user grants at `POST /oauth/token`, in upstream's order:
//!
//! - `authorization_code`: consume the code (a replayed code is refused and the tokens it produced
//!   are revoked, RFC 6749 §4.1.2) → expiry → `client_id` matches → `redirect_uri` matches →
//!   client authentication (public clients by id alone, confidential ones by secret) → PKCE S256 →
//!   the user is still active → `resource` (optional; must name the authorized one) → DPoP → an
//!   access token with `sub` = the user, and a refresh token when the client holds the
//!   `refresh_token` grant (0.2.2).
//! - `refresh_token`: look up → expiry → family revoked → client → rotation: each refresh token
//!   works once; presenting a spent one revokes the whole family (reuse detection) → scope may
//!   only narrow → a new access token and a new refresh token.

use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::flows::{self, CodeError};
use super::form::Form;
use super::oauth::{SentProof, basic_credentials};
use super::problem::OAuthError;
use super::store::{self, Client, ClientStatus, Data, Family, RefreshRecord};
use super::{AppState, authorize, issue, keys};

pub const AUTHORIZATION_CODE: &str = "authorization_code";
pub const REFRESH_TOKEN: &str = "refresh_token";

const AUTH_FAILED: &str = "client authentication failed";
const GRANT_INVALID: &str = "the authorization grant is invalid, expired, or revoked";
const CODE_USED: &str = "authorization code has already been used";
const FAMILY_REVOKED: &str = "token family revoked due to reuse detection";
const SCOPE_INVALID: &str = "the requested scope is invalid or not allowed";

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::bad_request("invalid_grant", description)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}

/// The presented client id and secret: Basic first, else the form fields.
fn credentials(headers: &HeaderMap, form: &Form) -> (String, String) {
    basic_credentials(headers).unwrap_or_else(|| {
        (
            form.get("client_id").unwrap_or("").to_owned(),
            form.get("client_secret").unwrap_or("").to_owned(),
        )
    })
}

/// Upstream's `authenticateClient`: known, active, and the secret for a confidential client —
/// while a public client that sends a secret is refused too.
fn authenticate(state: &AppState, client_id: &str, secret: &str) -> Result<Client, OAuthError> {
    let client = state
        .store
        .read(|d| d.clients.iter().find(|c| c.id == client_id).cloned())
        .ok_or_else(|| OAuthError::invalid_client(AUTH_FAILED))?;
    if client.status != ClientStatus::Active {
        return Err(OAuthError::invalid_client("client is suspended or revoked"));
    }
    let ok = match &client.secret_hash {
        Some(hash) => !secret.is_empty() && store::verify_secret(hash, secret),
        None => secret.is_empty(),
    };
    if !ok {
        return Err(OAuthError::invalid_client(AUTH_FAILED));
    }
    Ok(client)
}

fn user_active(data: &Data, user_id: &str) -> bool {
    data.users.iter().any(|u| u.id == user_id && u.is_active())
}

/// RFC 7636 S256: `BASE64URL(SHA256(verifier)) == challenge`, verifier 43–128 characters.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    if !(43..=128).contains(&verifier.len()) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

/// The `resource` a token request may carry must name the one already authorized (0.2.0).
fn check_resource(state: &AppState, form: &Form, authorized: &str) -> Result<(), OAuthError> {
    let Some(named) = form.get("resource").filter(|r| !r.is_empty()) else {
        return Ok(());
    };
    let resolved = state
        .store
        .read(|d| authorize::resolve_resource(d, named))
        .map(|r| r.uri);
    if resolved.as_deref() == Some(authorized) {
        return Ok(());
    }
    Err(OAuthError::bad_request(
        "invalid_target",
        format!(
            "the requested resource target is unavailable: resource {named:?} is not the \
             resource this grant was authorized for ({authorized:?})"
        ),
    ))
}

/// Revokes a family and every access token minted in it.
fn revoke_family(data: &mut Data, matches: impl Fn(&Family) -> bool, now: i64) {
    let mut jtis = Vec::new();
    for f in data.families.iter_mut().filter(|f| matches(f)) {
        f.revoked = true;
        jtis.extend(f.access.iter().cloned());
    }
    for (jti, exp) in jtis {
        data.revoke(&jti, exp, now);
    }
}

/// Mints the access token and a refresh token, records both in the family, and answers.
fn issue_pair(
    state: &AppState,
    family: Family,
    scope: &str,
    with_refresh: bool,
    jkt: Option<&str>,
) -> Result<Response, OAuthError> {
    let lifetime = secs(state.config.user_token_expiry);
    let minted = issue::mint(
        state,
        &issue::Mint {
            sub: &family.user_id,
            client_id: &family.client_id,
            aud: &family.resource,
            resource_id: family.resource_id.as_deref(),
            scope,
            lifetime_secs: lifetime,
            jkt,
            user_id: Some(&family.user_id),
        },
    )?;
    let refresh = with_refresh.then(|| keys::random_id(32));
    let now = now();
    let record = refresh.as_deref().map(|r| RefreshRecord {
        hash: flows::hash(r),
        expires_at: now + secs(state.config.refresh_token_expiry),
        used: false,
    });
    let access = (minted.jti.clone(), minted.expires_at);
    state
        .store
        .record(move |d| {
            // Forget families nothing in can be used any more.
            d.families.retain(|f| {
                f.refresh.iter().any(|r| r.expires_at > now)
                    || f.access.iter().any(|(_, exp)| *exp > now)
            });
            let slot = if let Some(i) = d.families.iter().position(|f| f.id == family.id) {
                i
            } else {
                d.families.push(family);
                d.families.len() - 1
            };
            let f = &mut d.families[slot];
            f.access.push(access);
            f.refresh.extend(record);
            Ok::<_, ()>(())
        })
        .map_err(issue::store_failure)?;
    let mut body = json!({
        "access_token": minted.token,
        "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": lifetime,
    });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    if !scope.is_empty() {
        body["scope"] = json!(scope);
    }
    Ok(issue::token_response(&body))
}

/// `grant_type=authorization_code`.
pub fn authorization_code(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
    sent: Option<&SentProof<'_>>,
) -> Result<Response, OAuthError> {
    let (client_id, secret) = credentials(headers, form);
    let now = now();
    let authorization = match state.flows.consume(form.get("code").unwrap_or("")) {
        Ok(a) => a,
        Err(CodeError::Unknown) => return Err(invalid_grant(GRANT_INVALID)),
        Err(CodeError::Replayed(a)) => {
            // The code leaked: whatever it produced is no longer trusted.
            let _ = state.store.record(|d| {
                revoke_family(d, |f| f.authorization_id == a.id, now);
                Ok::<_, ()>(())
            });
            return Err(invalid_grant(CODE_USED));
        }
    };
    if authorization.expires_at <= now {
        return Err(invalid_grant(GRANT_INVALID));
    }
    if client_id != authorization.client_id {
        return Err(OAuthError::invalid_client(AUTH_FAILED));
    }
    if form.get("redirect_uri").unwrap_or("") != authorization.redirect_uri {
        return Err(invalid_grant(GRANT_INVALID));
    }
    let client = authenticate(state, &authorization.client_id, &secret)?;
    if !pkce_matches(
        form.get("code_verifier").unwrap_or(""),
        &authorization.code_challenge,
    ) {
        return Err(invalid_grant("PKCE verification failed"));
    }
    if !state.store.read(|d| user_active(d, &authorization.user_id)) {
        return Err(invalid_grant(GRANT_INVALID));
    }
    check_resource(state, form, &authorization.resource)?;
    let jkt = sent.map(|s| s.check(state)).transpose()?;
    let family = Family {
        id: keys::random_id(16),
        client_id: client.id.clone(),
        user_id: authorization.user_id.clone(),
        scope: authorization.scope.clone(),
        resource: authorization.resource.clone(),
        resource_id: Some(authorization.resource_id.clone()).filter(|r| !r.is_empty()),
        authorization_id: authorization.id.clone(),
        revoked: false,
        refresh: Vec::new(),
        access: Vec::new(),
    };
    let with_refresh = client.grant_types.iter().any(|g| g == REFRESH_TOKEN);
    issue_pair(
        state,
        family,
        &authorization.scope,
        with_refresh,
        jkt.as_deref(),
    )
}

/// `grant_type=refresh_token`.
pub fn refresh(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
    sent: Option<&SentProof<'_>>,
) -> Result<Response, OAuthError> {
    let (client_id, secret) = credentials(headers, form);
    let wanted = flows::hash(form.get("refresh_token").unwrap_or(""));
    let now = now();
    let found = state.store.read(|d| {
        d.families.iter().find_map(|f| {
            f.refresh
                .iter()
                .find(|r| r.hash == wanted)
                .map(|r| (f.clone(), r.clone()))
        })
    });
    let Some((family, record)) = found else {
        return Err(invalid_grant(GRANT_INVALID));
    };
    if record.expires_at <= now {
        return Err(invalid_grant(GRANT_INVALID));
    }
    if family.revoked {
        return Err(invalid_grant(FAMILY_REVOKED));
    }
    if client_id != family.client_id {
        return Err(OAuthError::invalid_client(AUTH_FAILED));
    }
    let client = authenticate(state, &family.client_id, &secret)?;
    if !client.grant_types.iter().any(|g| g == REFRESH_TOKEN) {
        return Err(OAuthError::bad_request(
            "unauthorized_client",
            "client is not authorized for this grant type",
        ));
    }
    // Consume atomically: of two presenters of the same token, one wins and the other is a reuse.
    let consumed = state
        .store
        .record(|d| {
            let reused = d
                .families
                .iter_mut()
                .find(|f| f.id == family.id)
                .and_then(|f| f.refresh.iter_mut().find(|r| r.hash == wanted))
                .is_some_and(|r| std::mem::replace(&mut r.used, true));
            if reused {
                revoke_family(d, |f| f.id == family.id, now);
            }
            Ok::<_, ()>(!reused)
        })
        .map_err(issue::store_failure)?;
    if !consumed {
        return Err(invalid_grant(FAMILY_REVOKED));
    }
    if !state.store.read(|d| user_active(d, &family.user_id)) {
        return Err(invalid_grant(GRANT_INVALID));
    }
    let granted: Vec<&str> = family.scope.split_whitespace().collect();
    let requested: Vec<&str> = form.get("scope").unwrap_or("").split_whitespace().collect();
    let scope = if requested.is_empty() {
        family.scope.clone()
    } else if requested.iter().all(|s| granted.contains(s)) {
        requested.join(" ")
    } else {
        return Err(OAuthError::bad_request("invalid_scope", SCOPE_INVALID));
    };
    check_resource(state, form, &family.resource)?;
    let jkt = sent.map(|s| s.check(state)).transpose()?;
    issue_pair(state, family, &scope, true, jkt.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_follows_rfc7636() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
        assert!(!pkce_matches("short", challenge));
    }
}
