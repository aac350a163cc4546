//! The admin listener (§3): Bearer-key authentication (constant-time compare) in front of every
//! `/admin/*` route, `POST /admin/auth/verify`, and the resource, client, token and key routes in
//! the child modules. Also the JSON plumbing both share: the 1 MiB body limit and Go-`encoding/json`-shaped
//! decoding (case-insensitive member names, strict or lenient about unknown members, Go's error
//! wording).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq as _;

use super::problem::AdminError;
use super::store::UpdateError;
use super::{AppState, form, problem};

pub mod clients;
pub mod keys;
pub mod resources;
pub mod tokens;
pub mod users;

/// The largest admin request body read.
const MAX_JSON_BYTES: usize = 1024 * 1024;

/// The admin listener's routes.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/admin/auth/verify", post(verify))
        .route(
            "/admin/resources",
            get(resources::list).post(resources::create),
        )
        .route(
            "/admin/resources/{id}",
            get(resources::show)
                .patch(resources::update)
                .delete(resources::remove),
        )
        .route("/admin/clients", get(clients::list).post(clients::create))
        .route(
            "/admin/clients/{id}",
            get(clients::show)
                .patch(clients::update)
                .delete(clients::remove),
        )
        .route("/admin/clients/{id}/suspend", patch(clients::suspend))
        .route("/admin/clients/{id}/revoke", patch(clients::revoke))
        .route("/admin/clients/{id}/reactivate", patch(clients::reactivate))
        .route(
            "/admin/clients/{id}/rotate-secret",
            post(clients::rotate_secret),
        )
        .route("/admin/tokens", get(tokens::list))
        .route("/admin/tokens/{jti}", delete(tokens::revoke))
        .route("/admin/users", get(users::list).post(users::create))
        .route(
            "/admin/users/{id}",
            get(users::show).patch(users::update).delete(users::remove),
        )
        .route("/admin/users/{id}/disable", patch(users::disable))
        .route("/admin/users/{id}/enable", patch(users::enable))
        .route("/admin/keys", get(keys::list))
        .route("/admin/keys/rotate", post(keys::rotate))
        .fallback(|| async { problem::not_found() })
        .with_state(state.clone());
    super::wrap(routes, middleware::from_fn_with_state(state, guard))
}

/// Authenticates `/admin/*` requests, then applies the common response treatment.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let seen = super::Seen::of(&request, "admin");
    let path = request.uri().path();
    if (path == "/admin" || path.starts_with("/admin/"))
        && let Err(description) = authenticate(&state, request.headers())
    {
        return super::finish_response(&state, &seen, problem::admin_unauthorized(description));
    }
    let response = next.run(request).await;
    super::finish_response(&state, &seen, response)
}

/// Checks the Bearer key; the error is the 401's `error_description`.
fn authenticate(state: &AppState, headers: &axum::http::HeaderMap) -> Result<(), &'static str> {
    let Some(expected) = state.config.admin_api_key.as_deref() else {
        return Err("admin API key not configured");
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|k| !k.is_empty());
    let Some(presented) = presented else {
        return Err("missing API key");
    };
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err("invalid API key")
    }
}

/// `POST /admin/auth/verify`: a cheap key check for the UI.
async fn verify() -> Response {
    json_response(
        StatusCode::OK,
        &json!({"valid": true, "version": env!("CARGO_PKG_VERSION")}),
    )
}

/// A JSON response with `Content-Type: application/json`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

/// 400 with a detail.
pub fn bad_request(detail: impl Into<String>) -> AdminError {
    AdminError::bad_request(detail)
}

/// 400 `invalid JSON body: <why>`.
pub fn invalid_json(why: &str) -> AdminError {
    AdminError::bad_request(format!("invalid JSON body: {why}"))
}

/// Maps a refused or failed store update to an error (persist failures are a 500 `internal error`).
pub fn store_error(e: UpdateError<AdminError>) -> AdminError {
    match e {
        UpdateError::Refused(r) => r,
        UpdateError::Persist(e) => AdminError::internal().because(format!("{e:#}")),
    }
}

/// Reads a JSON body up to 1 MiB.
pub async fn read_body(body: Body) -> Result<Bytes, AdminError> {
    axum::body::to_bytes(body, MAX_JSON_BYTES)
        .await
        .map_err(|_| invalid_json("http: request body too large"))
}

/// Whether members the request type does not know are an error (Go's `DisallowUnknownFields`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    Refuse,
    Ignore,
}

/// A decoded JSON object whose member names were matched against the request type's fields.
pub struct Object {
    type_name: &'static str,
    members: Map<String, Value>,
}

/// Why a body could not be decoded, in Go's words (`json: unknown field "x"`, …).
pub type DecodeError = String;

impl Object {
    /// Decodes the first JSON value of `bytes` as an object of `type_name` with `fields`.
    pub fn parse(
        bytes: &[u8],
        type_name: &'static str,
        fields: &[&'static str],
        unknown: Unknown,
    ) -> Result<Object, DecodeError> {
        let value = match serde_json::Deserializer::from_slice(bytes)
            .into_iter::<Value>()
            .next()
        {
            None => return Err("EOF".to_owned()),
            Some(Err(e)) if e.is_eof() => return Err("unexpected EOF".to_owned()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(v)) => v,
        };
        Object::from_value(value, type_name, fields, unknown)
    }

    /// Matches an already decoded value.
    pub fn from_value(
        value: Value,
        type_name: &'static str,
        fields: &[&'static str],
        unknown: Unknown,
    ) -> Result<Object, DecodeError> {
        let Value::Object(raw) = value else {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type {type_name}",
                kind(&value)
            ));
        };
        let mut members = Map::new();
        for (key, v) in raw {
            // Go prefers an exact match, then a case-insensitive one.
            let field = fields
                .iter()
                .find(|f| **f == key)
                .or_else(|| fields.iter().find(|f| f.eq_ignore_ascii_case(&key)));
            match field {
                Some(f) => {
                    members.insert((*f).to_owned(), v);
                }
                None if unknown == Unknown::Refuse => {
                    return Err(format!("json: unknown field {key:?}"));
                }
                None => {}
            }
        }
        Ok(Object { type_name, members })
    }

    fn type_error(&self, field: &str, found: &Value, go_type: &str) -> DecodeError {
        format!(
            "json: cannot unmarshal {} into Go struct field {}.{field} of type {go_type}",
            kind(found),
            self.type_name
        )
    }

    /// True when the member is present (even as `null`).
    pub fn has(&self, field: &str) -> bool {
        self.members.contains_key(field)
    }

    /// A string member; `null` or absent is `None`.
    pub fn string(&self, field: &str) -> Result<Option<String>, DecodeError> {
        match self.members.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.type_error(field, other, "string")),
        }
    }

    /// A boolean member.
    pub fn boolean(&self, field: &str) -> Result<Option<bool>, DecodeError> {
        match self.members.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.type_error(field, other, "bool")),
        }
    }

    /// A list of strings; `null` or absent is `None`.
    pub fn strings(&self, field: &str) -> Result<Option<Vec<String>>, DecodeError> {
        match self.members.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.type_error(field, other, "string")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.type_error(field, other, "[]string")),
        }
    }

    /// A list of objects of `type_name`.
    pub fn objects(
        &self,
        field: &str,
        type_name: &'static str,
        fields: &[&'static str],
        unknown: Unknown,
    ) -> Result<Option<Vec<Object>>, DecodeError> {
        match self.members.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    // Go decodes `null` into the zero value.
                    Value::Null => Ok(Object {
                        type_name,
                        members: Map::new(),
                    }),
                    Value::Object(_) => {
                        Object::from_value(item.clone(), type_name, fields, unknown)
                    }
                    other => Err(self.type_error(field, other, type_name)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.type_error(field, other, &format!("[]{type_name}"))),
        }
    }

    /// A nested object of `type_name`.
    pub fn object(
        &self,
        field: &str,
        type_name: &'static str,
        fields: &[&'static str],
        unknown: Unknown,
    ) -> Result<Option<Object>, DecodeError> {
        match self.members.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v @ Value::Object(_)) => {
                Object::from_value(v.clone(), type_name, fields, unknown).map(Some)
            }
            Some(other) => Err(self.type_error(field, other, type_name)),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `limit` and `offset` of a list request.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: usize,
    pub offset: usize,
}

impl Page {
    /// Reads `limit` (1..=500, default `default_limit`) and `offset` (≥ 0) from query pairs.
    pub fn from_query(
        query: &[(String, String)],
        default_limit: usize,
    ) -> Result<Page, AdminError> {
        let limit = match query_value(query, "limit") {
            None => default_limit,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=500).contains(n))
                .ok_or_else(|| bad_request("limit must be 1..500"))?,
        };
        let offset = match query_value(query, "offset") {
            None => 0,
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| bad_request("offset must be a non-negative integer"))?,
        };
        Ok(Page { limit, offset })
    }

    /// The page of `items`.
    pub fn apply<T>(self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect()
    }
}

/// The value of the first `key` in query `pairs`; an empty value counts as absent.
pub fn query_value<'p>(pairs: &'p [(String, String)], key: &str) -> Option<&'p str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The query string as pairs (a malformed one is a 400).
pub fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, AdminError> {
    let mut pairs = Vec::new();
    form::parse_query(query.unwrap_or(""), &mut pairs)
        .map_err(|e| bad_request(format!("invalid query string: {e}")))?;
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_shaped_decoding() {
        let o = Object::parse(
            br#"{"Slug":"x","n":null}"#,
            "t",
            &["slug", "n"],
            Unknown::Refuse,
        )
        .unwrap();
        assert_eq!(o.string("slug").unwrap().as_deref(), Some("x"));
        assert_eq!(o.string("n").unwrap(), None);
        let e = Object::parse(
            br#"{"slug":"x","bogus":1}"#,
            "t",
            &["slug"],
            Unknown::Refuse,
        )
        .err()
        .unwrap();
        assert_eq!(e, r#"json: unknown field "bogus""#);
        assert!(Object::parse(br#"{"bogus":1}"#, "t", &["slug"], Unknown::Ignore).is_ok());
        assert_eq!(
            Object::parse(b"", "t", &[], Unknown::Refuse).err().unwrap(),
            "EOF"
        );
        let o = Object::parse(
            br#"{"slug":5}"#,
            "createResourceRequest",
            &["slug"],
            Unknown::Refuse,
        )
        .unwrap();
        assert_eq!(
            o.string("slug").unwrap_err(),
            "json: cannot unmarshal number into Go struct field createResourceRequest.slug of type string"
        );
        assert!(Object::parse(b"[1]", "t", &[], Unknown::Refuse).is_err());
    }

    /// Property-based fuzzing (`cargo test --lib fuzz`).
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        const FIELDS: &[&str] = &["slug", "scopes"];
        const SCOPE_FIELDS: &[&str] = &["name", "description"];

        /// The request field a member name decodes into (Go: exact, then case-insensitive).
        fn field_of(fields: &[&'static str], key: &str) -> Option<&'static str> {
            fields.iter().copied().find(|f| f.eq_ignore_ascii_case(key))
        }

        /// A member name: a field in some spelling, or an unknown name.
        fn spelling() -> impl Strategy<Value = String> {
            prop_oneof![
                proptest::sample::select(vec!["slug", "SLUG", "Slug", "scopes", "sCopes"])
                    .prop_map(str::to_owned),
                "[a-zA-Z_]{1,8}",
            ]
        }

        /// A member value in the shapes the admin API reads (a string, a list of strings, a list
        /// of scope objects, `null`), or anything.
        fn member_value() -> impl Strategy<Value = Value> {
            let scope = proptest::collection::btree_map(
                prop_oneof![
                    proptest::sample::select(vec!["name", "Description", "description"])
                        .prop_map(str::to_owned),
                    "[a-z]{1,6}",
                ],
                prop_oneof![
                    any::<String>().prop_map(Value::String),
                    crate::fuzz::json_value()
                ],
                0..3,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect()));
            prop_oneof![
                any::<String>().prop_map(Value::String),
                proptest::collection::vec(any::<String>().prop_map(Value::String), 0..3)
                    .prop_map(Value::Array),
                proptest::collection::vec(prop_oneof![scope, Just(Value::Null)], 0..3)
                    .prop_map(Value::Array),
                Just(Value::Null),
                crate::fuzz::json_value(),
            ]
        }

        /// An object's members, each name distinct ignoring case (so no field is given twice).
        fn members() -> impl Strategy<Value = Vec<(String, Value)>> {
            proptest::collection::vec((spelling(), member_value()), 0..5).prop_map(|pairs| {
                let mut seen = Vec::new();
                pairs
                    .into_iter()
                    .filter(|(k, _)| {
                        let lower = k.to_ascii_lowercase();
                        let new = !seen.contains(&lower);
                        seen.push(lower);
                        new
                    })
                    .collect()
            })
        }

        proptest! {
            #[test]
            fn any_body_decodes_or_fails_cleanly(raw in crate::fuzz::bytes(256)) {
                if let Ok(o) = Object::parse(&raw, "t", &["a", "b"], Unknown::Refuse) {
                    let _ = o.string("a");
                    let _ = o.strings("b");
                    let _ = o.objects("a", "u", &["x"], Unknown::Ignore);
                }
            }

            /// A request body decodes to exactly its members, read by the field's type; an unknown
            /// member or a member of the wrong type is refused with Go's message naming it.
            #[test]
            fn request_objects_decode_to_their_members(
                members in members(),
                tail in prop_oneof![Just(""), Just("\n"), Just(" {\"slug\":"), Just("garbage")],
            ) {
                let object: Map<String, Value> = members.iter().cloned().collect();
                // Only the first JSON value counts, as with Go's json.Decoder.
                let body = format!("{}{tail}", Value::Object(object));
                let t = "createResourceRequest";
                let refused = Object::parse(body.as_bytes(), t, FIELDS, Unknown::Refuse);
                match members.iter().find(|(k, _)| field_of(FIELDS, k).is_none()) {
                    Some((key, _)) => prop_assert_eq!(refused.err(), Some(format!("json: unknown field {key:?}"))),
                    None => prop_assert!(refused.is_ok()),
                }
                let o = Object::parse(body.as_bytes(), t, FIELDS, Unknown::Ignore).unwrap();
                let given = |field: &str| {
                    members.iter().find(|(k, _)| field_of(FIELDS, k) == Some(field)).map(|(_, v)| v)
                };
                let wrong = |field: &str, v: &Value, go_type: &str| {
                    format!("json: cannot unmarshal {} into Go struct field {t}.{field} of type {go_type}", kind(v))
                };

                prop_assert_eq!(o.has("slug"), given("slug").is_some());
                match given("slug") {
                    None | Some(Value::Null) => prop_assert_eq!(o.string("slug"), Ok(None)),
                    Some(Value::String(s)) => prop_assert_eq!(o.string("slug"), Ok(Some(s.clone()))),
                    Some(v) => prop_assert_eq!(o.string("slug"), Err(wrong("slug", v, "string"))),
                }
                match given("slug") {
                    None | Some(Value::Null) => prop_assert_eq!(o.strings("slug"), Ok(None)),
                    Some(Value::Array(items)) => match items.iter().find(|i| !i.is_string()) {
                        None => prop_assert_eq!(
                            o.strings("slug"),
                            Ok(Some(items.iter().map(|i| i.as_str().unwrap().to_owned()).collect()))
                        ),
                        Some(item) => prop_assert_eq!(o.strings("slug"), Err(wrong("slug", item, "string"))),
                    },
                    Some(v) => prop_assert_eq!(o.strings("slug"), Err(wrong("slug", v, "[]string"))),
                }

                let scopes = o.objects("scopes", "scopeRequest", SCOPE_FIELDS, Unknown::Refuse);
                match given("scopes") {
                    None | Some(Value::Null) => prop_assert!(matches!(scopes, Ok(None))),
                    Some(Value::Array(items)) => {
                        // The first bad item decides the error.
                        let first_error = items.iter().find_map(|item| match item {
                            Value::Null => None,
                            Value::Object(m) => m
                                .keys()
                                .find(|k| field_of(SCOPE_FIELDS, k).is_none())
                                .map(|key| format!("json: unknown field {key:?}")),
                            other => Some(wrong("scopes", other, "scopeRequest")),
                        });
                        if let Some(error) = first_error {
                            prop_assert_eq!(scopes.err(), Some(error));
                        } else {
                            let decoded = scopes.unwrap().unwrap();
                            prop_assert_eq!(decoded.len(), items.len());
                            for (d, item) in decoded.iter().zip(items) {
                                let name = item.as_object().and_then(|m| {
                                    m.iter().find(|(k, _)| field_of(SCOPE_FIELDS, k) == Some("name"))
                                });
                                prop_assert_eq!(d.has("name"), name.is_some());
                            }
                        }
                    }
                    Some(v) => prop_assert_eq!(scopes.err(), Some(wrong("scopes", v, "[]scopeRequest"))),
                }
            }
        }
    }
}
