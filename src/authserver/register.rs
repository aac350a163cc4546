//! `POST /oauth/register`: RFC 7591 dynamic client registration as upstream's DCR service does it.
//! JSON in (unknown members ignored, `scope` discarded: a DCR client gets no scope ceiling), the
//! RFC 7591 defaults applied (`authorization_code` + `refresh_token`, response type `code`,
//! `token_endpoint_auth_method: none` — a public client), the same validation as
//! `POST /admin/clients` (loopback `http` redirect URIs allowed, no fragments, at most ten), then
//! `201` with the registration; a confidential client's secret is shown once.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::admin::{Object, Unknown, clients};
use super::problem::OAuthError;
use super::store::{Client, ClientStatus, UpdateError, hash_secret, now_rfc3339};
use super::{AppState, keys};

/// The largest registration body read (upstream: 1 MiB).
const MAX_JSON_BYTES: usize = 1 << 20;

/// The members a registration request may carry (others are ignored, as Go's decoder does).
const FIELDS: &[&str] = &[
    "client_name",
    "redirect_uris",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "scope",
    "agent",
    "agent_description",
];

/// `POST /oauth/register`.
pub async fn register(State(state): State<AppState>, body: Body) -> Response {
    match decide(&state, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn decide(state: &AppState, body: Body) -> Result<Response, OAuthError> {
    if state.config.dcr_mode == "admin_only" {
        return Err(OAuthError {
            status: StatusCode::FORBIDDEN,
            code: "access_denied",
            description: "registration is disabled".to_owned(),
            cause: None,
        });
    }
    let invalid_json = || OAuthError::bad_request("invalid_request", "invalid JSON body");
    let bytes = axum::body::to_bytes(body, MAX_JSON_BYTES)
        .await
        .map_err(|_| invalid_json())?;
    let request = Object::parse(&bytes, "RegisterClientRequest", FIELDS, Unknown::Ignore)
        .and_then(|o| {
            Ok((
                o.string("client_name")?,
                o.strings("redirect_uris")?,
                o.strings("grant_types")?,
                o.strings("response_types")?,
                o.string("token_endpoint_auth_method")?,
                o.boolean("agent")?,
                o.string("agent_description")?,
            ))
        })
        .map_err(|_| invalid_json())?;
    let (name, redirects, grants, responses, method, agent, agent_description) = request;
    if state.config.dcr_mode == "approved_redirects"
        && redirects
            .iter()
            .flatten()
            .any(|r| !state.config.dcr_approved_redirects.contains(r))
    {
        return Err(OAuthError::bad_request(
            "invalid_redirect_uri",
            "redirect_uri not allowed",
        ));
    }

    let now = now_rfc3339();
    let issued_at = time::OffsetDateTime::now_utc().unix_timestamp();
    let method = method
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "none".to_owned());
    let secret = (method != "none").then(|| keys::random_id(32));
    let client = Client {
        id: keys::random_id(16),
        name: name.unwrap_or_default(),
        secret_hash: secret.as_deref().map(hash_secret),
        redirect_uris: redirects,
        grant_types: grants
            .filter(|g| !g.is_empty())
            .unwrap_or_else(|| vec!["authorization_code".to_owned(), "refresh_token".to_owned()]),
        response_types: responses
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| vec!["code".to_owned()]),
        token_endpoint_auth_method: method,
        scope: String::new(),
        status: ClientStatus::Active,
        registration_source: "dcr".to_owned(),
        agent: agent.unwrap_or(false),
        agent_description: agent_description.unwrap_or_default(),
        issued_at: now.clone(),
        updated_at: now,
    };
    let problems = clients::problems(&client, &state.config);
    if !problems.is_empty() {
        return Err(OAuthError::bad_request(
            "invalid_client_metadata",
            format!(
                "client authentication failed: client validation failed: {}",
                problems.join("; ")
            ),
        ));
    }
    let stored = client.clone();
    state
        .store
        .update(move |d| {
            d.clients.push(stored);
            Ok::<_, ()>(())
        })
        .map_err(|e| match e {
            UpdateError::Persist(e) => OAuthError::server_error().because(format!("{e:#}")),
            UpdateError::Refused(()) => OAuthError::server_error(),
        })?;

    let mut body = Map::new();
    body.insert("client_id".into(), json!(client.id));
    if let Some(secret) = &secret {
        body.insert("client_secret".into(), json!(secret));
    }
    body.insert("client_id_issued_at".into(), json!(issued_at));
    if secret.is_some() {
        // 0: the secret never expires (RFC 7591 §3.2.1).
        body.insert("client_secret_expires_at".into(), json!(0));
    }
    body.insert("redirect_uris".into(), json!(client.redirect_uris));
    body.insert("client_name".into(), json!(client.name));
    body.insert("grant_types".into(), json!(client.grant_types));
    body.insert("response_types".into(), json!(client.response_types));
    body.insert(
        "token_endpoint_auth_method".into(),
        json!(client.token_endpoint_auth_method),
    );
    if client.agent {
        body.insert("agent".into(), json!(true));
        body.insert("agent_description".into(), json!(client.agent_description));
    }
    Ok((
        StatusCode::CREATED,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Value::Object(body).to_string(),
    )
        .into_response())
}
