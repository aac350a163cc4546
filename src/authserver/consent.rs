//! `GET /consent` and `POST /consent`: the signed-in user approves or denies one authorization
//! request. The form's CSRF token is bound to the session cookie. Approve (`action=allow`, with at
//! least one of the checked `scopes`) records the approval and sends the browser back to the client
//! with a code; deny (`action=deny`) sends it back with `error=access_denied` (RFC 6749 §4.1.2.1;
//! the upstream build read renders an "Access Denied" page instead — see
//! docs/embedded-authserver.md). Both carry `state` and `iss`.

use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;

use super::authorize::{error_to_client, see_other, to_client};
use super::pages::{self, ConsentForm, ScopeItem};
use super::session::SESSION_COOKIE;
use super::store::ConsentGrant;
use super::{AppState, form, session};

const MAX_FORM_BYTES: usize = 64 * 1024;

fn invalid_session() -> Response {
    pages::error_page(
        StatusCode::BAD_REQUEST,
        "Invalid Session",
        "The authorization session is invalid or expired.",
    )
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `GET /consent?session_id=<id>`.
pub async fn show(State(state): State<AppState>, request: Request) -> Response {
    let uri: &Uri = request.uri();
    let mut pairs = Vec::new();
    let _ = form::parse_query(uri.query().unwrap_or(""), &mut pairs);
    let session_id = pairs
        .iter()
        .find(|(k, _)| k == "session_id")
        .map_or("", |(_, v)| v.as_str());
    if session_id.is_empty() {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Missing Session",
            "No session_id provided.",
        );
    }
    let headers = request.headers();
    let Some(user) = session::signed_in_user(&state.session, headers) else {
        let here = uri.path_and_query().map_or("/consent", |p| p.as_str());
        let back: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
        return see_other(&format!("/login?redirect={back}"));
    };
    // Only the user who started the request may answer it.
    let Some(pending) = state
        .flows
        .awaiting(session_id, now())
        .filter(|p| p.user_id == user)
    else {
        return invalid_session();
    };
    let (client_name, resource) = state.store.read(|d| {
        (
            d.clients
                .iter()
                .find(|c| c.id == pending.client_id)
                .map_or_else(|| pending.client_id.clone(), |c| c.name.clone()),
            d.resources
                .iter()
                .find(|r| r.id == pending.resource_id)
                .cloned(),
        )
    });
    let description = |name: &str| {
        resource
            .as_ref()
            .and_then(|r| r.scopes.iter().find(|s| s.name == name))
            .map_or("", |s| s.description.as_str())
    };
    let scopes: Vec<ScopeItem<'_>> = pending
        .scope
        .split_whitespace()
        .map(|name| ScopeItem {
            name,
            description: description(name),
        })
        .collect();
    let cookie = session::cookie(headers, SESSION_COOKIE).unwrap_or("");
    let csrf = state.session.csrf_token(cookie);
    pages::consent(&ConsentForm {
        session_id,
        csrf_token: &csrf,
        client_name: &client_name,
        resource: &pending.resource,
        resource_name: resource.as_ref().map_or("", |r| r.display_name.as_str()),
        scopes: &scopes,
    })
}

/// `POST /consent`.
pub async fn submit(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(form) = form::read(&parts.headers, None, body, MAX_FORM_BYTES).await else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Invalid Form",
            "Could not parse form data.",
        );
    };
    let Some(user) = session::signed_in_user(&state.session, &parts.headers) else {
        return pages::error_page(
            StatusCode::UNAUTHORIZED,
            "Not Authenticated",
            "Please log in first.",
        );
    };
    let cookie = session::cookie(&parts.headers, SESSION_COOKIE).unwrap_or("");
    if !state
        .session
        .csrf_valid(cookie, form.get("csrf_token").unwrap_or(""))
    {
        return pages::error_page(
            StatusCode::FORBIDDEN,
            "Invalid Request",
            "CSRF validation failed. Please try again.",
        );
    }
    let session_id = form.get("session_id").unwrap_or("");
    let Some(pending) = state.flows.awaiting(session_id, now()) else {
        return invalid_session();
    };
    if pending.user_id != user {
        return invalid_session();
    }
    let iss = &state.config.issuer;
    if form.get("action") == Some("deny") {
        state.flows.cancel(session_id);
        return error_to_client(
            &pending.redirect_uri,
            "access_denied",
            "the user denied the authorization request",
            &pending.state,
            iss,
        );
    }
    let approved = form.all("scopes");
    if approved.is_empty() {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "No Permissions Selected",
            "You must approve at least one permission to continue. Use the Deny button if you do \
             not want to grant access.",
        );
    }
    let requested: Vec<&str> = pending.scope.split_whitespace().collect();
    if approved.iter().any(|s| !requested.contains(s)) {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Consent Error",
            "Failed to process consent. The session may have expired.",
        );
    }
    // The requested order, narrowed to what the user left checked.
    let scope: Vec<&str> = requested
        .iter()
        .copied()
        .filter(|s| approved.contains(s))
        .collect();
    let scope = scope.join(" ");
    let grant = ConsentGrant {
        user_id: user.clone(),
        client_id: pending.client_id.clone(),
        resource: pending.resource.clone(),
        scopes: scope.split_whitespace().map(str::to_owned).collect(),
    };
    let saved = state.store.update(|d| {
        d.consents.retain(|g| {
            !(g.user_id == grant.user_id
                && g.client_id == grant.client_id
                && g.resource == grant.resource)
        });
        d.consents.push(grant);
        Ok::<_, ()>(())
    });
    let code = saved
        .ok()
        .and_then(|()| state.flows.complete(session_id, &user, &scope, now()));
    match code {
        Some(code) => to_client(
            &pending.redirect_uri,
            &[("code", &code)],
            &pending.state,
            iss,
        ),
        None => pages::error_page(
            StatusCode::BAD_REQUEST,
            "Consent Error",
            "Failed to process consent. The session may have expired.",
        ),
    }
}
