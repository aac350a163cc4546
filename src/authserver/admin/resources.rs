//! `/admin/resources` (§3.2): create (strict JSON), list (bare array ordered by slug, or one by
//! `?slug=`), get, patch, delete. Validation follows the real server, except that the entity
//! checks it answers with 500 (bad `backend_kind`, `uri`, scope names, provider rules) answer 400
//! with a clear detail here.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{
    Object, Page, Unknown, bad_request, invalid_json, json_response, query_pairs, query_value,
    read_body, store_error,
};
use crate::authserver::problem::AdminError;
use crate::authserver::store::{Data, Policy, Resource, ResourceScope, now_rfc3339};
use crate::authserver::{AppState, keys};

pub(crate) const CREATE_FIELDS: &[&str] = &[
    "id",
    "slug",
    "uri",
    "backend_kind",
    "broker_provider_id",
    "broker_provider_slug",
    "display_name",
    "scopes",
    "policy",
];
pub(crate) const PATCH_FIELDS: &[&str] = &[
    "slug",
    "uri",
    "backend_kind",
    "broker_provider_id",
    "display_name",
    "scopes",
    "policy",
];
const SCOPE_FIELDS: &[&str] = &["name", "description", "upstream"];
const POLICY_FIELDS: &[&str] = &["exchange", "runtime", "connect"];

/// What a create or patch body carried (absent members are `None`).
#[derive(Debug, Default)]
struct Input {
    id: Option<String>,
    slug: Option<String>,
    uri: Option<String>,
    backend_kind: Option<String>,
    broker_provider_id: Option<String>,
    broker_provider_slug: Option<String>,
    display_name: Option<String>,
    scopes: Option<Vec<ResourceScope>>,
    policy: Option<Policy>,
    /// True when the body named at least one member.
    any: bool,
}

fn decode(bytes: &[u8], type_name: &'static str, fields: &[&'static str]) -> Result<Input, String> {
    let o = Object::parse(bytes, type_name, fields, Unknown::Refuse)?;
    let scopes = o
        .objects("scopes", "scopeRequest", SCOPE_FIELDS, Unknown::Refuse)?
        .map(|items| {
            items
                .iter()
                .map(|s| {
                    Ok(ResourceScope {
                        name: s.string("name")?.unwrap_or_default(),
                        description: s.string("description")?.unwrap_or_default(),
                        upstream: s.string("upstream")?.unwrap_or_default(),
                    })
                })
                .collect::<Result<Vec<_>, String>>()
        })
        .transpose()?;
    let policy = match o.object("policy", "policyRequest", POLICY_FIELDS, Unknown::Refuse)? {
        None => None,
        Some(p) => {
            let list = |section: &str, type_name: &'static str, field: &'static str| {
                p.object(section, type_name, &[field], Unknown::Refuse)?
                    .map(|s| s.strings(field))
                    .transpose()
                    .map(Option::flatten)
            };
            Some(Policy {
                exchange_allowed_client_ids: list(
                    "exchange",
                    "exchangePolicy",
                    "allowed_client_ids",
                )?
                .unwrap_or_default(),
                runtime_client_ids: list("runtime", "runtimePolicy", "client_ids")?
                    .unwrap_or_default(),
                connect_allowed_return_urls: list(
                    "connect",
                    "connectPolicy",
                    "allowed_return_urls",
                )?,
            })
        }
    };
    Ok(Input {
        any: fields.iter().any(|f| o.has(f)),
        id: o.string("id")?,
        slug: o.string("slug")?,
        uri: o.string("uri")?,
        backend_kind: o.string("backend_kind")?,
        broker_provider_id: o.string("broker_provider_id")?,
        broker_provider_slug: o.string("broker_provider_slug")?,
        display_name: o.string("display_name")?,
        scopes,
        policy,
    })
}

/// The ResourceView shape.
pub fn view(r: &Resource) -> Value {
    let scopes: Vec<Value> = r
        .scopes
        .iter()
        .map(|s| {
            let mut v = json!({"name": s.name});
            if !s.description.is_empty() {
                v["description"] = json!(s.description);
            }
            if !s.upstream.is_empty() {
                v["upstream"] = json!(s.upstream);
            }
            v
        })
        .collect();
    let mut policy = json!({
        "exchange": {"allowed_client_ids": r.policy.exchange_allowed_client_ids},
        "runtime": {"client_ids": r.policy.runtime_client_ids},
    });
    if r.backend_kind == "broker" {
        policy["connect"] = json!({
            "allowed_return_urls": r.policy.connect_allowed_return_urls.clone().unwrap_or_default()
        });
    }
    json!({
        "id": r.id,
        "slug": r.slug,
        "uri": r.uri,
        "backend_kind": r.backend_kind,
        "broker_provider_id": r.broker_provider_id,
        "display_name": r.display_name,
        "scopes": scopes,
        "policy": policy,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    })
}

fn slug_is_valid(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    let ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 64
        && ok(&bytes[0])
        && bytes[1..].iter().all(|b| ok(b) || *b == b'-')
}

fn uri_is_valid(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    })
}

/// Checks a resource about to be stored, in the real server's order: slug, slug conflict,
/// provider, policy clients, then the entity rules.
fn check(r: &Resource, provider_slug: Option<&str>, data: &Data) -> Result<(), AdminError> {
    if !slug_is_valid(&r.slug) {
        return Err(bad_request("invalid slug"));
    }
    if data
        .resources
        .iter()
        .any(|o| o.slug == r.slug && o.id != r.id)
    {
        return Err(AdminError::conflict(format!(
            "slug {:?} is already in use",
            r.slug
        )));
    }
    // Broker providers are not part of the embedded server: every reference is unknown.
    if !r.broker_provider_id.is_empty() {
        return Err(bad_request(format!(
            "broker_provider_id {:?} does not exist",
            r.broker_provider_id
        )));
    }
    if let Some(slug) = provider_slug.filter(|s| !s.is_empty()) {
        return Err(bad_request(format!(
            "broker_provider_slug {slug:?} does not exist"
        )));
    }
    for (list, ids) in [
        (
            "policy.exchange.allowed_client_ids",
            &r.policy.exchange_allowed_client_ids,
        ),
        ("policy.runtime.client_ids", &r.policy.runtime_client_ids),
    ] {
        if let Some(id) = ids
            .iter()
            .find(|id| !data.clients.iter().any(|c| &c.id == *id))
        {
            return Err(bad_request(format!(
                "client_id {id:?} in {list} does not exist"
            )));
        }
    }
    match r.backend_kind.as_str() {
        "mint" => {}
        "broker" => {
            return Err(bad_request(
                "a broker resource needs a broker_provider_id (the embedded authorization server \
                 has no broker providers; use backend_kind \"mint\")",
            ));
        }
        other => {
            return Err(bad_request(format!(
                "backend_kind must be mint or broker, got {other:?}"
            )));
        }
    }
    if !r.uri.is_empty() && !uri_is_valid(&r.uri) {
        return Err(bad_request(format!(
            "uri {:?} must be an absolute http(s) URL with a host",
            r.uri
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for s in &r.scopes {
        if s.name.trim().is_empty() {
            return Err(bad_request("scope names must not be empty"));
        }
        if !seen.insert(s.name.as_str()) {
            return Err(bad_request(format!("scope {:?} is listed twice", s.name)));
        }
    }
    Ok(())
}

/// `POST /admin/resources`.
pub async fn create(State(state): State<AppState>, body: Body) -> Result<Response, AdminError> {
    let bytes = read_body(body).await?;
    let input = match decode(&bytes, "createResourceRequest", CREATE_FIELDS) {
        Ok(i) => i,
        Err(e) => return Err(invalid_json(&e)),
    };
    if input.id.as_deref().is_some_and(|id| !id.is_empty()) {
        return Err(bad_request(
            "id is assigned by the server and must not be set",
        ));
    }
    let now = now_rfc3339();
    let mut resource = Resource {
        id: keys::random_id(16),
        slug: input.slug.unwrap_or_default().to_lowercase(),
        uri: input.uri.unwrap_or_default(),
        backend_kind: input.backend_kind.unwrap_or_default(),
        broker_provider_id: input.broker_provider_id.unwrap_or_default(),
        display_name: input.display_name.unwrap_or_default(),
        scopes: input.scopes.unwrap_or_default(),
        policy: input.policy.unwrap_or_default(),
        created_at: now.clone(),
        updated_at: now,
    };
    if resource.backend_kind == "mint" {
        resource.policy.connect_allowed_return_urls = None;
    }
    let provider_slug = input.broker_provider_slug;
    let result = state.store.update(|data| {
        check(&resource, provider_slug.as_deref(), data)?;
        data.resources.push(resource.clone());
        Ok(())
    });
    match result {
        Ok(()) => Ok(json_response(StatusCode::CREATED, &view(&resource))),
        Err(e) => Err(store_error(e)),
    }
}

/// `GET /admin/resources` (list, or one resource with `?slug=`).
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, AdminError> {
    let pairs = query_pairs(query.as_deref())?;
    let value = |k: &str| query_value(&pairs, k);
    if let Some(slug) = value("slug") {
        if let Some(other) = ["backend_kind", "broker_provider_id", "limit", "offset"]
            .into_iter()
            .find(|p| value(p).is_some())
        {
            return Err(bad_request(format!(
                "slug lookup is mutually exclusive with {other}"
            )));
        }
        let slug = slug.to_lowercase();
        return match state
            .store
            .read(|d| d.resources.iter().find(|r| r.slug == slug).map(view))
        {
            Some(v) => Ok(json_response(StatusCode::OK, &v)),
            None => Err(AdminError::not_found("resource not found")),
        };
    }
    let kind = value("backend_kind");
    if kind.is_some_and(|k| k != "mint" && k != "broker") {
        return Err(bad_request("backend_kind must be mint or broker"));
    }
    let provider = value("broker_provider_id");
    let page = Page::from_query(&pairs, 100)?;
    let mut items: Vec<Resource> = state.store.read(|d| {
        d.resources
            .iter()
            .filter(|r| kind.is_none_or(|k| r.backend_kind == k))
            .filter(|r| provider.is_none_or(|p| r.broker_provider_id == p))
            .cloned()
            .collect()
    });
    items.sort_by(|a, b| a.slug.cmp(&b.slug));
    let views: Vec<Value> = page.apply(items).iter().map(view).collect();
    Ok(json_response(StatusCode::OK, &Value::Array(views)))
}

/// `GET /admin/resources/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    match state
        .store
        .read(|d| d.resources.iter().find(|r| r.id == id).map(view))
    {
        Some(v) => Ok(json_response(StatusCode::OK, &v)),
        None => Err(AdminError::not_found("resource not found")),
    }
}

/// `PATCH /admin/resources/{id}`: every member optional; `{}` changes nothing.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, AdminError> {
    let bytes = read_body(body).await?;
    let input = match decode(&bytes, "patchResourceRequest", PATCH_FIELDS) {
        Ok(i) => i,
        Err(e) => return Err(invalid_json(&e)),
    };
    let result = state.store.update(|data| {
        let Some(current) = data.resources.iter().find(|r| r.id == id).cloned() else {
            return Err(AdminError::not_found("resource not found"));
        };
        if !input.any {
            return Ok(current);
        }
        let mut next = current;
        if let Some(v) = &input.slug {
            next.slug = v.to_lowercase();
        }
        if let Some(v) = &input.uri {
            next.uri.clone_from(v);
        }
        if let Some(v) = &input.backend_kind {
            next.backend_kind.clone_from(v);
        }
        if let Some(v) = &input.broker_provider_id {
            next.broker_provider_id.clone_from(v);
        }
        if let Some(v) = &input.display_name {
            next.display_name.clone_from(v);
        }
        if let Some(v) = &input.scopes {
            next.scopes.clone_from(v);
        }
        if let Some(v) = &input.policy {
            next.policy = v.clone();
        }
        if next.backend_kind == "mint" {
            next.policy.connect_allowed_return_urls = None;
        }
        check(&next, None, data)?;
        next.updated_at = now_rfc3339();
        if let Some(slot) = data.resources.iter_mut().find(|r| r.id == id) {
            *slot = next.clone();
        }
        Ok(next)
    });
    match result {
        Ok(r) => Ok(json_response(StatusCode::OK, &view(&r))),
        Err(e) => Err(store_error(e)),
    }
}

/// `DELETE /admin/resources/{id}`: refused while tokens minted for it are on record.
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let result = state.store.update(|data| {
        if !data.resources.iter().any(|r| r.id == id) {
            return Err(AdminError::not_found("resource not found"));
        }
        if data
            .issuances
            .iter()
            .any(|i| i.resource_id.as_deref() == Some(id.as_str()))
        {
            return Err(AdminError::conflict(
                "resource has references and cannot be deleted",
            ));
        }
        data.resources.retain(|r| r.id != id);
        Ok(())
    });
    match result {
        Ok(()) => Ok(axum::response::IntoResponse::into_response(
            StatusCode::NO_CONTENT,
        )),
        Err(e) => Err(store_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rule() {
        for ok in ["a", "demo-mcp", "0x", &"a".repeat(64)] {
            assert!(slug_is_valid(ok), "{ok}");
        }
        for bad in ["", "-a", "A", "a_b", "a b", &"a".repeat(65)] {
            assert!(!slug_is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn nested_unknown_fields_are_refused() {
        let e = decode(
            br#"{"slug":"s","scopes":[{"name":"a","bogus":1}]}"#,
            "createResourceRequest",
            CREATE_FIELDS,
        )
        .unwrap_err();
        assert_eq!(e, r#"json: unknown field "bogus""#);
        let e = decode(br#"{"id":"x"}"#, "patchResourceRequest", PATCH_FIELDS).unwrap_err();
        assert_eq!(e, r#"json: unknown field "id""#);
        let i = decode(
            br#"{"policy":{"runtime":{"client_ids":["a"]}}}"#,
            "createResourceRequest",
            CREATE_FIELDS,
        )
        .unwrap();
        assert_eq!(i.policy.unwrap().runtime_client_ids, ["a"]);
    }
}
