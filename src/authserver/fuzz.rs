//! Property-based fuzzing of the embedded AS's request handlers through its real routers
//! (`tower::ServiceExt::oneshot`, no sockets): the token endpoint's form handling and the admin
//! API's JSON bodies, query strings and key check. Whatever arrives, the answer is a well-formed
//! reference-shaped answer (authserver 0.2.2 §2.4–2.5, §3.1–3.3): 2xx JSON, or a 4xx
//! `problem+json` body with exactly the reference members — never a 5xx, never a panic.
//!
//! Each case goes through the whole router (and may write `state.json`), so these tests run 128
//! cases by default rather than proptest's 256; `PROPTEST_CASES=100000 cargo test --lib fuzz`
//! runs them (and every other fuzz test) deeper.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::config::SigningAlgorithm;
use super::{AppState, AsConfig, Shared, admin, keyring, public_router, ratelimit, store};
use crate::config::{Vars, var};
use crate::fuzz::{bytes, cases, json_value};

const KEY: &str = "fuzz-admin-key-0123456789abcdef";
const RESOURCE: &str = "http://localhost:8080/mcp";
const DEFAULT_CASES: u32 = 128;

/// An embedded AS (state in a temp dir) with one resource and one `client_credentials` client
/// registered, and a runtime to drive its routers.
struct Server {
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    public: Router,
    admin: Router,
    resource_id: String,
    client_id: String,
    client_secret: String,
}

/// The answer to one request.
struct Answer {
    status: StatusCode,
    content_type: String,
    www_authenticate: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Result<Value, TestCaseError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            TestCaseError::fail(format!(
                "{} answered a body that is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            ))
        })
    }
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let vars = Vars::from_parts(
            Vec::new(),
            vec![(var::ADMIN_API_KEY.to_owned(), KEY.to_owned())],
        );
        let config = AsConfig::from_vars(&vars);
        config.validate().unwrap();
        let key =
            keyring::KeyRing::load_or_create(&dir.path().join("keys"), SigningAlgorithm::Es256)
                .unwrap();
        let state: AppState = Arc::new(Shared {
            limiter: ratelimit::Limiter::new(config.rate_limit),
            config,
            key,
            store: store::Store::open(dir.path()).unwrap(),
            dpop: super::dpop::DpopState::default(),
            session: super::session::SessionKeys::new(None, false),
            flows: super::flows::Flows::default(),
            request_log: OnceLock::new(),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut server = Server {
            _dir: dir,
            runtime,
            public: public_router(state.clone()),
            admin: admin::router(state),
            resource_id: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
        };
        let resource = server.admin_json(
            Method::POST,
            "/admin/resources",
            &json!({"slug": "demo-mcp", "uri": RESOURCE, "backend_kind": "mint",
                    "display_name": "Demo", "scopes": [{"name": "mcp:echo"}]}),
        );
        server.resource_id = resource["id"].as_str().unwrap().to_owned();
        let client = server.admin_json(
            Method::POST,
            "/admin/clients",
            &json!({"client_name": "fuzz", "grant_types": ["client_credentials"],
                    "token_endpoint_auth_method": "client_secret_basic", "scope": "mcp:echo"}),
        );
        server.client_id = client["client_id"].as_str().unwrap().to_owned();
        server.client_secret = client["client_secret"].as_str().unwrap().to_owned();
        server
    }

    fn admin_json(&self, method: Method, path: &str, body: &Value) -> Value {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let answer = self.send(&self.admin, request);
        assert!(answer.status.is_success(), "{}", answer.status);
        serde_json::from_slice(&answer.body).unwrap()
    }

    fn send(&self, router: &Router, request: Request<Body>) -> Answer {
        self.runtime.block_on(async {
            let response = router.clone().oneshot(request).await.unwrap();
            let header_text = |name: header::HeaderName| {
                response
                    .headers()
                    .get(name)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            };
            let content_type = header_text(header::CONTENT_TYPE).unwrap_or_default();
            let www_authenticate = header_text(header::WWW_AUTHENTICATE);
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec();
            Answer {
                status,
                content_type,
                www_authenticate,
                body,
            }
        })
    }
}

/// A header value from arbitrary bytes, when HTTP allows them in a header at all.
fn header_value(bytes: &[u8]) -> Option<HeaderValue> {
    HeaderValue::from_bytes(bytes).ok()
}

/// Asserts an admin answer: 2xx JSON, or the bare RFC 9457 problem of §3.1.
fn check_admin(answer: &Answer) -> Result<Value, TestCaseError> {
    let code = answer.status.as_u16();
    prop_assert!(
        code < 500,
        "admin answered {code}: {}",
        String::from_utf8_lossy(&answer.body)
    );
    let body = answer.json()?;
    if answer.status.is_success() {
        prop_assert_eq!(&answer.content_type, "application/json");
        prop_assert!(body.is_object() || body.is_array(), "{}", body);
    } else {
        prop_assert_eq!(&answer.content_type, "application/problem+json");
        let detail = body["detail"].as_str().unwrap_or_default().to_owned();
        prop_assert!(!detail.is_empty(), "{}", body);
        let want = json!({
            "type": "about:blank",
            "title": answer.status.canonical_reason().unwrap(),
            "status": code,
            "detail": detail,
        });
        prop_assert_eq!(&body, &want);
    }
    Ok(body)
}

/// Asserts a token endpoint answer: the §2.4 success body, or the §2.5 error body.
fn check_token(answer: &Answer) -> Result<(), TestCaseError> {
    let code = answer.status.as_u16();
    prop_assert!(
        code < 500,
        "token answered {code}: {}",
        String::from_utf8_lossy(&answer.body)
    );
    let body = answer.json()?;
    if code == 200 {
        prop_assert_eq!(&answer.content_type, "application/json");
        prop_assert_eq!(&body["token_type"], "Bearer");
        prop_assert!(body["expires_in"].as_u64().is_some(), "{}", body);
        let token = body["access_token"].as_str().unwrap_or_default();
        let jwt =
            crate::flow::jwt::decode(token).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(jwt.header_str("typ"), Some("at+jwt"));
    } else {
        prop_assert!(matches!(code, 400 | 401), "{code}: {body}");
        prop_assert_eq!(&answer.content_type, "application/problem+json");
        let error = body["error"].as_str().unwrap_or_default().to_owned();
        let description = body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        prop_assert!(!error.is_empty() && !description.is_empty(), "{}", body);
        let want = json!({
            "error": error,
            "error_description": description,
            "type": format!("https://docs.authplane.ai/errors/{error}"),
            "title": answer.status.canonical_reason().unwrap(),
            "detail": description,
            "status": code,
        });
        prop_assert_eq!(&body, &want);
        if code == 401 {
            prop_assert_eq!(
                answer.www_authenticate.as_deref(),
                Some("Basic realm=\"authserver\"")
            );
        }
    }
    Ok(())
}

/// Strings the handlers treat specially, or anything.
fn plausible_string() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "",
            "mint",
            "broker",
            "demo-mcp",
            "Demo-MCP",
            "-bad",
            RESOURCE,
            "http://localhost:8080/mcp/",
            "ftp://x",
            "http://",
            "mcp:echo",
            "client_credentials",
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "code",
            "none",
            "client_secret_basic",
            "client_secret_post",
            "https://app.example/cb",
            "http://127.0.0.1/cb#frag",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
        "[a-z0-9-]{60,70}",
    ]
}

/// A JSON value of the shapes the admin bodies hold (strings, lists, scope and policy objects)
/// with any JSON mixed in.
fn plausible_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => plausible_string().prop_map(Value::String),
        1 => json_value(),
        1 => any::<bool>().prop_map(Value::Bool),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                proptest::sample::select(vec![
                    "name",
                    "description",
                    "upstream",
                    "exchange",
                    "runtime",
                    "connect",
                    "allowed_client_ids",
                    "client_ids",
                    "allowed_return_urls",
                    "x",
                ])
                .prop_map(str::to_owned),
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON body for a request type with `fields`: raw bytes, any JSON, or an object of the type's
/// own members (in any case, with an unknown one now and then) holding plausible values.
fn json_body(fields: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let member = prop_oneof![
        6 => proptest::sample::select(fields).prop_map(str::to_owned),
        1 => proptest::sample::select(fields).prop_map(str::to_ascii_uppercase),
        1 => any::<String>(),
    ];
    prop_oneof![
        1 => bytes(256),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        4 => proptest::collection::btree_map(member, plausible_value(), 0..7)
            .prop_map(|m| Value::Object(m.into_iter().collect()).to_string().into_bytes()),
    ]
}

/// A query string of the list parameters (URI-safe characters only, as a request line allows).
fn query() -> impl Strategy<Value = String> {
    let pair = (
        proptest::sample::select(vec![
            "limit",
            "offset",
            "slug",
            "backend_kind",
            "broker_provider_id",
            "status",
            "source",
            "x",
        ]),
        "[A-Za-z0-9%;+._-]{0,8}",
    )
        .prop_map(|(k, v)| format!("{k}={v}"));
    prop_oneof![
        proptest::collection::vec(pair, 0..4).prop_map(|p| p.join("&")),
        "[A-Za-z0-9%&=;+._-]{0,24}",
    ]
}

/// Which admin route a case hits.
#[derive(Debug, Clone)]
enum AdminCall {
    CreateResource(Vec<u8>),
    PatchResource(Option<String>, Vec<u8>),
    CreateClient(Vec<u8>),
    PatchClient(Option<String>, Vec<u8>),
    ListResources(String),
    ListClients(String),
}

/// A valid body with up to two members replaced by plausible values (or dropped): gets past
/// decoding to the validation rules, and to a 201 now and then.
fn near_valid(valid: Value, fields: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        proptest::sample::select(fields),
        proptest::option::weighted(0.8, plausible_value()),
    );
    (
        "[a-z0-9][a-z0-9-]{0,12}",
        proptest::collection::vec(edit, 0..3),
    )
        .prop_map(move |(unique, edits)| {
            let mut body = valid.clone();
            if body.get("slug").is_some() {
                body["slug"] = Value::String(unique);
            }
            for (field, value) in edits {
                match value {
                    Some(v) => body[field] = v,
                    None => {
                        body.as_object_mut().map(|o| o.remove(field));
                    }
                }
            }
            body.to_string().into_bytes()
        })
}

fn admin_call() -> impl Strategy<Value = AdminCall> {
    use super::admin::{clients, resources};
    // `None` targets the registered entity; otherwise an id that is (almost surely) unknown.
    let id = proptest::option::weighted(0.3, "[A-Za-z0-9_-]{1,22}");
    let resource = json!({"slug": "x", "uri": RESOURCE, "backend_kind": "mint",
                          "display_name": "Demo", "scopes": [{"name": "mcp:echo"}]});
    let client = json!({"client_name": "c", "grant_types": ["client_credentials"],
                        "token_endpoint_auth_method": "client_secret_basic", "scope": "mcp:echo"});
    let resource_body =
        |fields| prop_oneof![json_body(fields), near_valid(resource.clone(), fields)];
    let client_body = |fields| prop_oneof![json_body(fields), near_valid(client.clone(), fields)];
    prop_oneof![
        resource_body(resources::CREATE_FIELDS).prop_map(AdminCall::CreateResource),
        (id.clone(), resource_body(resources::PATCH_FIELDS))
            .prop_map(|(id, b)| AdminCall::PatchResource(id, b)),
        client_body(clients::CREATE_FIELDS).prop_map(AdminCall::CreateClient),
        (id, client_body(clients::PATCH_FIELDS)).prop_map(|(id, b)| AdminCall::PatchClient(id, b)),
        query().prop_map(AdminCall::ListResources),
        query().prop_map(AdminCall::ListClients),
    ]
}

/// The token request's parts: content type, Authorization, body, query.
#[derive(Debug, Clone)]
struct TokenCall {
    content_type: Option<Vec<u8>>,
    authorization: Authorization,
    body: TokenBody,
    query: Option<String>,
}

#[derive(Debug, Clone)]
enum Authorization {
    None,
    /// Basic with the registered client's id and secret.
    Registered,
    /// Basic over arbitrary bytes (decoded, they need not be UTF-8 or hold a colon).
    BasicOf(Vec<u8>),
    Raw(Vec<u8>),
}

#[derive(Debug, Clone)]
enum TokenBody {
    Raw(Vec<u8>),
    /// Form pairs (values may stand for the registered client's id and secret).
    Form(Vec<(String, FormValue)>),
    /// `grant_type=client_credentials` with maybe a scope and a resource: reaches the later
    /// rows of the decision table (and a 200) far more often than random pairs.
    Grant(Option<String>, Option<String>),
}

#[derive(Debug, Clone)]
enum FormValue {
    ClientId,
    ClientSecret,
    Text(String),
    /// Sent as is, not percent-encoded (may hold bad escapes, `;`, `&`).
    Raw(String),
}

fn token_call() -> impl Strategy<Value = TokenCall> {
    let content_type = prop_oneof![
        1 => Just(None),
        4 => Just(Some(b"application/x-www-form-urlencoded".to_vec())),
        1 => Just(Some(b"Application/X-WWW-Form-Urlencoded; charset=utf-8".to_vec())),
        1 => Just(Some(b"application/json".to_vec())),
        1 => bytes(40).prop_map(Some),
    ];
    let authorization = prop_oneof![
        1 => Just(Authorization::None),
        2 => Just(Authorization::Registered),
        1 => bytes(40).prop_map(Authorization::BasicOf),
        1 => bytes(60).prop_map(Authorization::Raw),
    ];
    let value = prop_oneof![
        1 => Just(FormValue::ClientId),
        1 => Just(FormValue::ClientSecret),
        4 => plausible_string().prop_map(FormValue::Text),
        1 => "[%;&=+a-z0-9]{0,12}".prop_map(FormValue::Raw),
    ];
    let key = prop_oneof![
        6 => proptest::sample::select(vec![
            "grant_type",
            "scope",
            "resource",
            "client_id",
            "client_secret",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    let body = prop_oneof![
        1 => bytes(256).prop_map(TokenBody::Raw),
        4 => proptest::collection::vec((key, value), 0..6).prop_map(TokenBody::Form),
        3 => (
            proptest::option::of(prop_oneof![Just("mcp:echo".to_owned()), plausible_string()]),
            proptest::option::of(prop_oneof![Just(RESOURCE.to_owned()), plausible_string()]),
        )
            .prop_map(|(scope, resource)| TokenBody::Grant(scope, resource)),
    ];
    (
        content_type,
        authorization,
        body,
        proptest::option::weighted(0.2, query()),
    )
        .prop_map(|(content_type, authorization, body, query)| TokenCall {
            content_type,
            authorization,
            body,
            query,
        })
}

/// Percent-encodes everything but unreserved characters.
fn form_escape(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Runs `test` on `cases(DEFAULT_CASES)` values of `strategy` (one server per test function,
/// shared by its cases: registrations pile up, as they would); a failure panics with the shrunk
/// input.
fn run<S>(strategy: &S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let mut runner = proptest::test_runner::TestRunner::new(cases(DEFAULT_CASES));
    if let Err(e) = runner.run(strategy, test) {
        panic!("{e}");
    }
}

#[test]
fn admin_json_and_query_handlers_answer_every_body_with_a_reference_shape() {
    let s = Server::start();
    run(&admin_call(), |call| admin_case(&s, &call));
}

#[test]
fn token_endpoint_answers_every_request_with_a_reference_shape() {
    let s = Server::start();
    run(&token_call(), |call| token_case(&s, &call));
}

#[test]
fn admin_key_check_accepts_only_the_exact_bearer_key() {
    let s = Server::start();
    let strategy = (
        bytes(64),
        any::<prop::sample::Index>(),
        any::<char>(),
        0..6u8,
    );
    run(&strategy, |(raw, position, replacement, form)| {
        key_case(&s, &raw, position, replacement, form)
    });
}

fn admin_case(s: &Server, call: &AdminCall) -> Result<(), TestCaseError> {
    let (method, path, body) = match call {
        AdminCall::CreateResource(b) => (Method::POST, "/admin/resources".to_owned(), b.clone()),
        AdminCall::PatchResource(id, b) => (
            Method::PATCH,
            format!(
                "/admin/resources/{}",
                id.as_deref().unwrap_or(&s.resource_id)
            ),
            b.clone(),
        ),
        AdminCall::CreateClient(b) => (Method::POST, "/admin/clients".to_owned(), b.clone()),
        AdminCall::PatchClient(id, b) => (
            Method::PATCH,
            format!("/admin/clients/{}", id.as_deref().unwrap_or(&s.client_id)),
            b.clone(),
        ),
        AdminCall::ListResources(q) => (Method::GET, format!("/admin/resources?{q}"), Vec::new()),
        AdminCall::ListClients(q) => (Method::GET, format!("/admin/clients?{q}"), Vec::new()),
    };
    let request = Request::builder()
        .method(method)
        .uri(&path)
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let answer = s.send(&s.admin, request);
    let body = check_admin(&answer)?;
    match call {
        AdminCall::CreateResource(_) | AdminCall::PatchResource(..)
            if answer.status.is_success() =>
        {
            prop_assert!(
                body["id"].as_str().is_some_and(|id| id.len() == 22),
                "{}",
                body
            );
            prop_assert!(
                body["slug"].is_string() && body["scopes"].is_array(),
                "{}",
                body
            );
        }
        AdminCall::CreateClient(_) if answer.status.is_success() => {
            prop_assert_eq!(answer.status, StatusCode::CREATED);
            prop_assert!(body["client_id"].is_string(), "{}", body);
        }
        _ => {}
    }
    // Delete what a create registered: keeps the state (rewritten on every change) small in deep
    // runs, and exercises DELETE.
    let created = match call {
        AdminCall::CreateResource(_) if answer.status == StatusCode::CREATED => body["id"]
            .as_str()
            .map(|id| format!("/admin/resources/{id}")),
        AdminCall::CreateClient(_) if answer.status == StatusCode::CREATED => body["client_id"]
            .as_str()
            .map(|id| format!("/admin/clients/{id}?force=true")),
        _ => None,
    };
    if let Some(path) = created {
        let request = Request::builder()
            .method(Method::DELETE)
            .uri(&path)
            .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
            .body(Body::empty())
            .unwrap();
        let deleted = s.send(&s.admin, request);
        prop_assert_eq!(deleted.status, StatusCode::NO_CONTENT, "DELETE {}", path);
    }
    match call {
        AdminCall::ListResources(_) | AdminCall::ListClients(_) if answer.status.is_success() => {
            // A list, or the single resource a `slug=` lookup finds.
            prop_assert!(body.is_array() || body["id"].is_string(), "{}", body);
        }
        _ => {}
    }
    Ok(())
}

fn token_case(s: &Server, call: &TokenCall) -> Result<(), TestCaseError> {
    let body = match &call.body {
        TokenBody::Raw(b) => b.clone(),
        TokenBody::Form(pairs) => pairs
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    FormValue::ClientId => s.client_id.clone(),
                    FormValue::ClientSecret => s.client_secret.clone(),
                    FormValue::Text(t) => form_escape(t),
                    FormValue::Raw(r) => r.clone(),
                };
                format!("{}={v}", form_escape(k))
            })
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes(),
        TokenBody::Grant(scope, resource) => {
            let mut form = "grant_type=client_credentials".to_owned();
            for (name, value) in [("scope", scope), ("resource", resource)] {
                if let Some(v) = value {
                    let _ = write!(form, "&{name}={}", form_escape(v));
                }
            }
            form.into_bytes()
        }
    };
    let uri = match &call.query {
        Some(q) => format!("/oauth/token?{q}"),
        None => "/oauth/token".to_owned(),
    };
    let mut request = Request::builder().method(Method::POST).uri(uri);
    if let Some(ct) = call.content_type.as_deref().and_then(header_value) {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    let authorization = match &call.authorization {
        Authorization::None => None,
        Authorization::Registered => header_value(
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", s.client_id, s.client_secret))
            )
            .as_bytes(),
        ),
        Authorization::BasicOf(raw) => {
            header_value(format!("Basic {}", STANDARD.encode(raw)).as_bytes())
        }
        Authorization::Raw(raw) => header_value(raw),
    };
    if let Some(a) = authorization {
        request = request.header(header::AUTHORIZATION, a);
    }
    let answer = s.send(&s.public, request.body(Body::from(body)).unwrap());
    check_token(&answer)
}

fn key_case(
    s: &Server,
    raw: &[u8],
    position: prop::sample::Index,
    replacement: char,
    form: u8,
) -> Result<(), TestCaseError> {
    let key: Vec<char> = KEY.chars().collect();
    let i = position.index(key.len());
    let value: Vec<u8> = match form {
        // One character replaced (maybe by itself: then the key is right).
        0 => {
            let mut k = key.clone();
            k[i] = replacement;
            format!("Bearer {}", k.iter().collect::<String>()).into_bytes()
        }
        1 => format!("Bearer {}", key[..i].iter().collect::<String>()).into_bytes(),
        2 => format!("Bearer {KEY}{replacement}").into_bytes(),
        3 => format!("{}{KEY}", String::from_utf8_lossy(raw)).into_bytes(),
        4 => [b"Bearer ".as_slice(), raw].concat(),
        _ => raw.to_vec(),
    };
    let Some(value) = header_value(&value) else {
        return Ok(());
    };
    let accepted = value.as_bytes() == format!("Bearer {KEY}").as_bytes();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/admin/auth/verify")
        .header(header::AUTHORIZATION, value.clone())
        .body(Body::empty())
        .unwrap();
    let answer = s.send(&s.admin, request);
    if accepted {
        prop_assert_eq!(answer.status, StatusCode::OK);
    } else {
        prop_assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", value);
        prop_assert_eq!(&answer.content_type, "application/json");
        prop_assert_eq!(
            answer.www_authenticate.as_deref(),
            Some("Bearer realm=\"admin\"")
        );
        let body = answer.json()?;
        let description = body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        prop_assert!(
            ["missing API key", "invalid API key"].contains(&description.as_str()),
            "{}",
            body
        );
        prop_assert_eq!(
            body,
            json!({"error": "unauthorized", "error_description": description})
        );
    }
    Ok(())
}
