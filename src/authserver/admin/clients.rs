//! `/admin/clients` (§3.3): create (lenient JSON, the real defaults and validation messages; the
//! secret is shown once and stored as a salted SHA-256 hash), list, get, patch, delete, status
//! changes and secret rotation. The create response uses `client_id`/`client_name`, every other
//! read the clientView keys `id`/`name`, as the real server does.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    Object, Page, Unknown, bad_request, json_response, query_pairs, query_value, read_body,
    store_error,
};
use crate::authserver::config::{AsConfig, as_var};
use crate::authserver::problem::AdminError;
use crate::authserver::store::{Client, ClientStatus, hash_secret, now_rfc3339};
use crate::authserver::{AppState, keys};

pub(crate) const CREATE_FIELDS: &[&str] = &[
    "client_name",
    "redirect_uris",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "scope",
    "agent",
    "agent_description",
];
pub(crate) const PATCH_FIELDS: &[&str] = &["client_name", "redirect_uris", "grant_types", "scope"];

const GRANT_AUTH_CODE: &str = "authorization_code";
const GRANT_REFRESH: &str = "refresh_token";
const GRANT_CC: &str = "client_credentials";
const GRANT_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const GRANT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const AUTH_METHODS: &[&str] = &["none", "client_secret_basic", "client_secret_post"];
const MAX_TEXT: usize = 255;
const MAX_REDIRECTS: usize = 10;

fn not_found() -> AdminError {
    AdminError::not_found("client not found")
}

/// Every rule a client's registration must satisfy; an empty list means valid.
pub(crate) fn problems(c: &Client, config: &AsConfig) -> Vec<String> {
    let mut out = Vec::new();
    if c.name.trim().is_empty() {
        out.push("client_name is required".to_owned());
    } else if c.name.chars().count() > MAX_TEXT {
        out.push(format!("client_name must be at most {MAX_TEXT} characters"));
    }
    if c.agent_description.chars().count() > MAX_TEXT {
        out.push(format!(
            "agent_description must be at most {MAX_TEXT} characters"
        ));
    }
    for g in &c.grant_types {
        let switch = match g.as_str() {
            GRANT_AUTH_CODE | GRANT_REFRESH => None,
            GRANT_CC => Some((
                config.client_credentials_enabled,
                as_var::CLIENT_CREDENTIALS_ENABLED,
            )),
            GRANT_EXCHANGE => Some((
                config.token_exchange_enabled,
                as_var::TOKEN_EXCHANGE_ENABLED,
            )),
            GRANT_JWT_BEARER => Some((config.xaa_enabled, as_var::XAA_ENABLED)),
            other => {
                out.push(format!("grant_type {other:?} is not supported"));
                continue;
            }
        };
        if let Some((false, variable)) = switch {
            out.push(format!(
                "grant_type {g:?} is not enabled on this server — set {variable}=true to enable it"
            ));
        }
    }
    for r in &c.response_types {
        if r != "code" {
            out.push(format!("response_type {r:?} is not supported"));
        }
    }
    if !AUTH_METHODS.contains(&c.token_endpoint_auth_method.as_str()) {
        out.push(format!(
            "token_endpoint_auth_method {:?} is not supported (use none, client_secret_basic or \
             client_secret_post)",
            c.token_endpoint_auth_method
        ));
    }
    let redirects = c.redirect_uris.as_deref().unwrap_or_default();
    let needs_redirect = c
        .grant_types
        .iter()
        .any(|g| g == GRANT_AUTH_CODE || g == GRANT_REFRESH);
    if needs_redirect && redirects.is_empty() {
        out.push(
            "redirect_uris is required for the authorization_code and refresh_token grants"
                .to_owned(),
        );
    }
    if redirects.len() > MAX_REDIRECTS {
        out.push(format!("at most {MAX_REDIRECTS} redirect_uris are allowed"));
    }
    for uri in redirects {
        match url::Url::parse(uri) {
            Err(_) => out.push(format!("redirect_uri {uri:?} is not an absolute URL")),
            Ok(u) => {
                let local = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
                let scheme_ok = u.scheme() == "https" || (u.scheme() == "http" && local);
                if !scheme_ok || u.host_str().is_none() {
                    out.push(format!(
                        "redirect_uri {uri:?} must use https (http is allowed only for localhost, \
                         127.0.0.1 and ::1)"
                    ));
                }
                if u.fragment().is_some() {
                    out.push(format!("redirect_uri {uri:?} must not contain a fragment"));
                }
            }
        }
    }
    out
}

fn validation_error(problems: &[String]) -> AdminError {
    bad_request(format!(
        "client authentication failed: client validation failed: {}",
        problems.join("; ")
    ))
}

/// The clientView shape (reads).
pub fn view(c: &Client) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "redirect_uris": c.redirect_uris,
        "grant_types": c.grant_types,
        "response_types": c.response_types,
        "token_endpoint_auth_method": c.token_endpoint_auth_method,
        "scope": c.scope,
        "status": c.status.as_str(),
        "registration_source": c.registration_source,
        "agent": c.agent,
        "agent_description": c.agent_description,
        "cimd_url": if c.registration_source == "cimd" { c.id.as_str() } else { "" },
        "issued_at": c.issued_at,
        "updated_at": c.updated_at,
    })
}

fn new_secret() -> String {
    keys::random_id(32)
}

/// `POST /admin/clients`.
pub async fn create(State(state): State<AppState>, body: Body) -> Result<Response, AdminError> {
    let bytes = read_body(body).await?;
    let decoded = Object::parse(
        &bytes,
        "createClientRequest",
        CREATE_FIELDS,
        Unknown::Ignore,
    )
    .and_then(|o| {
        Ok((
            o.string("client_name")?,
            o.strings("redirect_uris")?,
            o.strings("grant_types")?,
            o.strings("response_types")?,
            o.string("token_endpoint_auth_method")?,
            o.string("scope")?,
            o.boolean("agent")?,
            o.string("agent_description")?,
        ))
    });
    let Ok((name, redirects, grants, responses, method, scope, agent, agent_description)) = decoded
    else {
        return Err(bad_request("invalid JSON body"));
    };
    let now = now_rfc3339();
    let method = method
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "none".to_owned());
    let secret = (method != "none").then(new_secret);
    let client = Client {
        id: keys::random_id(16),
        name: name.unwrap_or_default(),
        secret_hash: secret.as_deref().map(hash_secret),
        redirect_uris: redirects,
        grant_types: grants
            .filter(|g| !g.is_empty())
            .unwrap_or_else(|| vec![GRANT_AUTH_CODE.to_owned(), GRANT_REFRESH.to_owned()]),
        response_types: responses
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| vec!["code".to_owned()]),
        token_endpoint_auth_method: method,
        scope: scope.unwrap_or_default(),
        status: ClientStatus::Active,
        registration_source: "admin".to_owned(),
        agent: agent.unwrap_or(false),
        agent_description: agent_description.unwrap_or_default(),
        issued_at: now.clone(),
        updated_at: now,
    };
    let found = problems(&client, &state.config);
    if !found.is_empty() {
        return Err(validation_error(&found));
    }
    let stored = client.clone();
    state
        .store
        .update(move |d| {
            d.clients.push(stored);
            Ok::<_, AdminError>(())
        })
        .map_err(store_error)?;
    let mut body = json!({"client_id": client.id});
    if let Some(secret) = &secret {
        body["client_secret"] = json!(secret);
    }
    for (k, v) in [
        ("client_name", json!(client.name)),
        ("redirect_uris", json!(client.redirect_uris)),
        ("grant_types", json!(client.grant_types)),
        ("response_types", json!(client.response_types)),
        (
            "token_endpoint_auth_method",
            json!(client.token_endpoint_auth_method),
        ),
        ("scope", json!(client.scope)),
        ("status", json!(client.status.as_str())),
        ("registration_source", json!(client.registration_source)),
        ("agent", json!(client.agent)),
        ("agent_description", json!(client.agent_description)),
        ("issued_at", json!(client.issued_at)),
    ] {
        body[k] = v;
    }
    Ok(json_response(StatusCode::CREATED, &body))
}

/// `GET /admin/clients` (`status`, `source`, `limit` (default 50), `offset`).
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, AdminError> {
    let pairs = query_pairs(query.as_deref())?;
    let value = |k: &str| query_value(&pairs, k);
    let status = value("status");
    if status.is_some_and(|s| !["active", "suspended", "revoked"].contains(&s)) {
        return Err(bad_request("status must be active, suspended or revoked"));
    }
    let source = value("source");
    let page = Page::from_query(&pairs, 50)?;
    let items: Vec<Client> = state.store.read(|d| {
        d.clients
            .iter()
            .filter(|c| status.is_none_or(|s| c.status.as_str() == s))
            .filter(|c| source.is_none_or(|s| c.registration_source == s))
            .cloned()
            .collect()
    });
    let views: Vec<Value> = page.apply(items).iter().map(view).collect();
    Ok(json_response(StatusCode::OK, &Value::Array(views)))
}

/// `GET /admin/clients/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    match state
        .store
        .read(|d| d.clients.iter().find(|c| c.id == id).map(view))
    {
        Some(v) => Ok(json_response(StatusCode::OK, &v)),
        None => Err(not_found()),
    }
}

/// `PATCH /admin/clients/{id}`: `client_name`, `redirect_uris`, `grant_types`, `scope`.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, AdminError> {
    let bytes = read_body(body).await?;
    let decoded = Object::parse(&bytes, "updateClientRequest", PATCH_FIELDS, Unknown::Ignore)
        .and_then(|o| {
            Ok((
                o.string("client_name")?,
                o.strings("redirect_uris")?,
                o.strings("grant_types")?,
                o.string("scope")?,
            ))
        });
    let Ok((name, redirects, grants, scope)) = decoded else {
        return Err(bad_request("invalid JSON body"));
    };
    let config = state.config.clone();
    let result = state.store.update(|d| {
        let Some(slot) = d.clients.iter_mut().find(|c| c.id == id) else {
            return Err(not_found());
        };
        let mut next = slot.clone();
        if let Some(v) = name {
            next.name = v;
        }
        if redirects.is_some() {
            next.redirect_uris = redirects;
        }
        if let Some(v) = grants {
            next.grant_types = v;
        }
        if let Some(v) = scope {
            next.scope = v;
        }
        let found = problems(&next, &config);
        if !found.is_empty() {
            return Err(validation_error(&found));
        }
        next.updated_at = now_rfc3339();
        *slot = next.clone();
        Ok(next)
    });
    match result {
        Ok(c) => Ok(json_response(StatusCode::OK, &view(&c))),
        Err(e) => Err(store_error(e)),
    }
}

/// `DELETE /admin/clients/{id}[?force=true]`: refused while the client holds unexpired tokens.
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, AdminError> {
    let pairs = query_pairs(query.as_deref())?;
    let force = pairs
        .iter()
        .any(|(k, v)| k == "force" && crate::authserver::config::parse_bool(v));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let result = state.store.update(|d| {
        if !d.clients.iter().any(|c| c.id == id) {
            return Err(not_found());
        }
        let active = d
            .issuances
            .iter()
            .any(|i| i.client_id == id && i.expires_at > now);
        if active && !force {
            return Err(AdminError::conflict(
                "client has active tokens — use force=true to revoke and delete",
            ));
        }
        d.clients.retain(|c| c.id != id);
        Ok(())
    });
    match result {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => Err(store_error(e)),
    }
}

fn transition(
    state: &AppState,
    id: &str,
    verb: &str,
    to: ClientStatus,
) -> Result<Response, AdminError> {
    let allowed_from: &[ClientStatus] = match to {
        ClientStatus::Suspended => &[ClientStatus::Active],
        ClientStatus::Revoked => &[ClientStatus::Active, ClientStatus::Suspended],
        ClientStatus::Active => &[ClientStatus::Suspended],
    };
    let result = state.store.update(|d| {
        let Some(c) = d.clients.iter_mut().find(|c| c.id == id) else {
            return Err(not_found());
        };
        if !allowed_from.contains(&c.status) {
            return Err(AdminError::conflict(format!(
                "cannot {verb} a client whose status is {}",
                c.status.as_str()
            )));
        }
        c.status = to;
        c.updated_at = now_rfc3339();
        Ok(())
    });
    match result {
        Ok(()) => Ok(json_response(
            StatusCode::OK,
            &json!({"status": to.as_str()}),
        )),
        Err(e) => Err(store_error(e)),
    }
}

/// `PATCH /admin/clients/{id}/suspend`.
pub async fn suspend(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    transition(&state, &id, "suspend", ClientStatus::Suspended)
}

/// `PATCH /admin/clients/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    transition(&state, &id, "revoke", ClientStatus::Revoked)
}

/// `PATCH /admin/clients/{id}/reactivate`.
pub async fn reactivate(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    transition(&state, &id, "reactivate", ClientStatus::Active)
}

/// `POST /admin/clients/{id}/rotate-secret`: a new secret, shown once (public clients have none).
pub async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let secret = new_secret();
    let result = state.store.update(|d| {
        let Some(c) = d.clients.iter_mut().find(|c| c.id == id) else {
            return Err(not_found());
        };
        if c.secret_hash.is_none() {
            return Err(bad_request(
                "client is public (token_endpoint_auth_method none) and has no secret to rotate",
            ));
        }
        c.secret_hash = Some(hash_secret(&secret));
        c.updated_at = now_rfc3339();
        Ok(())
    });
    match result {
        Ok(()) => Ok(json_response(
            StatusCode::OK,
            &json!({"client_id": id, "client_secret": secret}),
        )),
        Err(e) => Err(store_error(e)),
    }
}
