//! `GET /oauth/authorize`: the authorization code request, checked in upstream's order — response
//! type, client, client status, redirect URI (all four answered with an error page, never a
//! redirect: the redirect URI is not trusted yet), then PKCE (`S256` only), `resource` (required
//! since 0.2.0; missing or unknown → `invalid_target`) and scope, whose errors go back to the
//! client's redirect URI. A request that passes sends the browser to `/login` (no session), to
//! `/consent` (no earlier approval covering it), or straight back with a code. Every redirect to the
//! client carries `iss` (RFC 9207) and the request's `state`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::flows::NewAuthorization;
use super::store::{Client, ClientStatus, Data, Resource};
use super::{AppState, cimd, form, pages, session};

const SCOPE_PREFIX: &str = "the requested scope is invalid or not allowed: ";
const TARGET_PREFIX: &str = "the requested resource target is unavailable: ";

/// A 303 to `location` (a path on this server or the client's redirect URI).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A redirect to the client: `redirect_uri` with `params`, then `state` (when the request had
/// one) and `iss`, added to whatever query it already has.
pub fn to_client(redirect_uri: &str, params: &[(&str, &str)], state: &str, iss: &str) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return pages::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            "Invalid redirect URI",
        );
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if !state.is_empty() {
            query.append_pair("state", state);
        }
        query.append_pair("iss", iss);
    }
    see_other(url.as_str())
}

/// An authorization error sent back to the client.
pub fn error_to_client(
    redirect_uri: &str,
    code: &str,
    description: &str,
    state: &str,
    iss: &str,
) -> Response {
    let mut response = to_client(
        redirect_uri,
        &[("error", code), ("error_description", description)],
        state,
        iss,
    );
    response
        .extensions_mut()
        .insert(super::problem::Logged(format!("{code}: {description}")));
    response
}

fn is_loopback(host: Option<&str>) -> bool {
    matches!(host, Some("127.0.0.1" | "[::1]" | "localhost"))
}

/// Whether `presented` is one of the client's redirect URIs: the exact string, or — for an
/// `http` loopback URI — the same URI on any port (RFC 8252 §7.3: native apps listen on a port
/// chosen at run time).
pub fn redirect_uri_allowed(registered: &[String], presented: &str) -> bool {
    if presented.is_empty() {
        return false;
    }
    if registered.iter().any(|r| r == presented) {
        return true;
    }
    let Ok(p) = url::Url::parse(presented) else {
        return false;
    };
    if p.scheme() != "http" || !is_loopback(p.host_str()) {
        return false;
    }
    registered
        .iter()
        .filter_map(|r| url::Url::parse(r).ok())
        .any(|r| {
            r.scheme() == "http"
                && r.host_str() == p.host_str()
                && r.path() == p.path()
                && r.query() == p.query()
        })
}

/// The resource a request names, by URI (exact) or slug, as upstream's resolver accepts both.
pub fn resolve_resource(data: &Data, named: &str) -> Option<Resource> {
    data.resources
        .iter()
        .find(|r| r.uri == named)
        .or_else(|| data.resources.iter().find(|r| r.slug == named))
        .cloned()
}

/// The scope an authorization grants, or the `invalid_scope` description.
fn decide_scope(
    require_scope: bool,
    client: &Client,
    resource: &Resource,
    requested: &str,
) -> Result<String, String> {
    let catalog: Vec<&str> = resource.scopes.iter().map(|s| s.name.as_str()).collect();
    let mut scopes: Vec<&str> = requested.split_whitespace().collect();
    if scopes.is_empty() {
        if require_scope {
            return Err(format!(
                "{SCOPE_PREFIX}scope parameter is required (oauth.require_scope=true)"
            ));
        }
        scopes.clone_from(&catalog);
    }
    if catalog.is_empty() {
        return Err(format!(
            "{SCOPE_PREFIX}no scopes registered for resource {:?}",
            resource.uri
        ));
    }
    if let Some(bad) = scopes.iter().find(|s| !catalog.contains(s)) {
        return Err(format!(
            "{SCOPE_PREFIX}scope {bad:?} not allowed for resource {:?}",
            resource.uri
        ));
    }
    // 0.2.1: a client with a ceiling gets no more; an empty ceiling (every DCR client) is not
    // enforced until 0.3.0.
    let ceiling: Vec<&str> = client.scope.split_whitespace().collect();
    if !ceiling.is_empty() && scopes.iter().any(|s| !ceiling.contains(s)) {
        return Err(format!(
            "{SCOPE_PREFIX}the requested scope exceeds the client's registered scopes"
        ));
    }
    let mut seen = Vec::new();
    for s in scopes {
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    Ok(seen.join(" "))
}

/// `GET /oauth/authorize`.
pub async fn authorize(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let mut pairs = Vec::new();
    // Like Go's `URL.Query()`, a malformed pair is dropped and the rest kept.
    let _ = form::parse_query(uri.query().unwrap_or(""), &mut pairs);
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    };
    let iss = state.config.issuer.clone();

    if get("response_type") != "code" {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Authorization Error",
            "The requested grant type or response type is not supported.",
        );
    }
    let client_id = get("client_id");
    let client = match cimd::find_client(&state, client_id).await {
        Ok(client) => client,
        Err(why) => {
            let mut page = pages::error_page(
                StatusCode::BAD_REQUEST,
                "Invalid Client",
                "The client_id is not recognized.",
            );
            // The reason goes to the request log only, as upstream logs it.
            page.extensions_mut()
                .insert(super::problem::Logged(format!("Invalid Client: {why}")));
            return page;
        }
    };
    if client.status != ClientStatus::Active {
        return pages::error_page(
            StatusCode::FORBIDDEN,
            "Client Suspended",
            "This client has been suspended.",
        );
    }
    let redirect_uri = get("redirect_uri");
    let registered = client.redirect_uris.clone().unwrap_or_default();
    if !redirect_uri_allowed(&registered, redirect_uri) {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Invalid Redirect URI",
            "The redirect_uri does not match the client registration.",
        );
    }
    let request_state = get("state");
    let fail = |code: &str, description: &str| {
        error_to_client(redirect_uri, code, description, request_state, &iss)
    };

    let challenge = get("code_challenge");
    if challenge.is_empty() {
        return fail(
            "invalid_grant",
            "PKCE verification failed: code_challenge is required",
        );
    }
    let method = get("code_challenge_method");
    if method != "S256" {
        return fail(
            "invalid_grant",
            &format!(
                "PKCE verification failed: unsupported code_challenge_method {method:?}: only \
                 S256 is allowed"
            ),
        );
    }
    let named = get("resource");
    if named.is_empty() {
        return fail(
            "invalid_target",
            &format!("{TARGET_PREFIX}the resource parameter is required"),
        );
    }
    let Some(resource) = state.store.read(|d| resolve_resource(d, named)) else {
        return fail(
            "invalid_target",
            &format!("{TARGET_PREFIX}resource {named:?} is not a registered resource"),
        );
    };
    let scope = match decide_scope(
        state.config.oauth_require_scope,
        &client,
        &resource,
        get("scope"),
    ) {
        Ok(s) => s,
        Err(description) => return fail("invalid_scope", &description),
    };

    let user = session::signed_in_user(&state.session, &headers).filter(|id| {
        state
            .store
            .read(|d| d.users.iter().any(|u| &u.id == id && u.is_active()))
    });
    let Some(user) = user else {
        let here = uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), ToString::to_string);
        let back: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
        return see_other(&format!("/login?redirect={back}"));
    };

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let authorization = state.flows.start(
        NewAuthorization {
            client_id: client.id.clone(),
            user_id: user.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scope: scope.clone(),
            resource: resource.uri.clone(),
            resource_id: resource.id.clone(),
            state: request_state.to_owned(),
            code_challenge: challenge.to_owned(),
        },
        now,
    );
    let wanted: Vec<&str> = scope.split_whitespace().collect();
    let approved = state.store.read(|d| {
        d.consents.iter().any(|g| {
            g.user_id == user
                && g.client_id == client.id
                && g.resource == resource.uri
                && wanted.iter().all(|s| g.scopes.iter().any(|have| have == s))
        })
    });
    if !approved {
        return see_other(&format!("/consent?session_id={}", authorization.id));
    }
    match state.flows.complete(&authorization.id, &user, &scope, now) {
        Some(code) => to_client(redirect_uri, &[("code", &code)], request_state, &iss),
        None => fail("server_error", "authorization failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authserver::store::resource_with_scopes;

    #[test]
    fn loopback_redirects_match_on_any_port_and_nothing_else_does() {
        let registered = vec![
            "http://127.0.0.1:5000/callback".to_owned(),
            "https://app.example/cb".to_owned(),
        ];
        assert!(redirect_uri_allowed(
            &registered,
            "http://127.0.0.1:5000/callback"
        ));
        assert!(redirect_uri_allowed(
            &registered,
            "http://127.0.0.1:61234/callback"
        ));
        assert!(!redirect_uri_allowed(
            &registered,
            "http://127.0.0.1:5000/other"
        ));
        assert!(!redirect_uri_allowed(
            &registered,
            "http://localhost:5000/callback"
        ));
        assert!(redirect_uri_allowed(&registered, "https://app.example/cb"));
        assert!(!redirect_uri_allowed(
            &registered,
            "https://app.example:444/cb"
        ));
        assert!(!redirect_uri_allowed(&registered, ""));
    }

    #[test]
    fn scopes_follow_catalog_and_ceiling() {
        let mut client = crate::authserver::store::client_with_scope("");
        let r = resource_with_scopes(&["a", "b"]);
        assert_eq!(decide_scope(true, &client, &r, "b a b").unwrap(), "b a");
        assert!(
            decide_scope(true, &client, &r, "")
                .unwrap_err()
                .contains("required")
        );
        assert_eq!(decide_scope(false, &client, &r, "").unwrap(), "a b");
        assert!(
            decide_scope(true, &client, &r, "c")
                .unwrap_err()
                .contains("\"c\"")
        );
        client.scope = "a".into();
        assert!(
            decide_scope(true, &client, &r, "a b")
                .unwrap_err()
                .contains("exceeds")
        );
        let empty = resource_with_scopes(&[]);
        assert!(
            decide_scope(true, &client, &empty, "a")
                .unwrap_err()
                .contains("no scopes")
        );
    }
}
