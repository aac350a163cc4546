//! The client side of the flow: the AS admin API ([`admin`]), discovery and the token endpoint
//! ([`token`]), MCP in both protocol eras ([`mcp`]), JWT decoding without verification ([`jwt`]),
//! the client credentials kept between runs ([`credentials`]), DPoP proofs ([`dpop`]), and the
//! interactive authorization-code flow of an MCP client ([`authcode`]: registration, PKCE, the
//! grants) with its headless browser ([`browser`], reading HTML forms with [`html_form`]) and,
//! for `--browser`, the loopback redirect listener ([`loopback`]).
//!
//! This is the only module that speaks HTTP to the AS and to MCP servers as a client. Every call
//! has timeouts (5 s to connect, 10 s in total) and never follows redirects silently (a 307 from
//! `POST /mcp/` is an answer worth showing, not something to hide). Every exchange is kept as an
//! [`Exchange`] record (method, URL, status, selected headers, body excerpt) so a failing step can
//! show exactly what was sent and what came back.

pub mod admin;
pub mod authcode;
pub mod browser;
pub mod credentials;
pub mod dpop;
pub mod html_form;
pub mod jwt;
pub mod loopback;
pub mod mcp;
pub mod signature;
pub mod token;

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a response body an [`Exchange`] keeps.
const BODY_EXCERPT_CHARS: usize = 2000;

/// Response headers worth showing when something fails.
const SHOWN_HEADERS: &[&str] = &[
    "content-type",
    "www-authenticate",
    "mcp-session-id",
    "mcp-protocol-version",
    "location",
    "retry-after",
    "dpop-nonce",
];

/// The HTTP client every flow call uses: timeouts on, redirects off.
pub fn http_client() -> Result<reqwest::Client, FlowError> {
    resolve_localhost(reqwest::Client::builder())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("authplane-dev/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FlowError::Client(e.to_string()))
}

/// Answers `localhost` without the system resolver: RFC 6761 reserves it for loopback, and
/// asking getaddrinfo (on a thread of its own) was the largest single cost of a warm `verify`.
/// Both loopback addresses are offered, IPv4 first, so a server listening only on `::1` is still
/// reached (a refused connection moves on to the next address at once).
pub fn resolve_localhost(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
    builder.resolve_to_addrs(
        "localhost",
        &[
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
        ],
    )
}

/// One HTTP request and what came back, for failure output and `--json` details.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    /// Request headers worth showing (the bearer token appears as `Bearer <token>`, and tokens
    /// are registered as secrets, so they are redacted on output).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_headers: Vec<(String, String)>,
    /// The request body, when it is JSON-RPC or a form without secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub body_excerpt: String,
    /// Set when no response came back (connection refused, timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Exchange {
    /// A record for a request about to be sent.
    pub fn new(method: &str, url: &str) -> Exchange {
        Exchange {
            method: method.to_owned(),
            url: url.to_owned(),
            ..Exchange::default()
        }
    }

    /// Adds a request header to the record.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Exchange {
        self.request_headers
            .push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds the request body to the record.
    #[must_use]
    pub fn body(mut self, body: impl Into<String>) -> Exchange {
        self.request_body = Some(body.into());
        self
    }

    /// The record as JSON, for a step's detail.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// A response header, by case-insensitive name.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// One line: `POST http://… → 401`.
    pub fn line(&self) -> String {
        match (self.status, &self.error) {
            (Some(status), _) => format!("{} {} → {status}", self.method, self.url),
            (None, Some(err)) => format!("{} {} → no answer ({err})", self.method, self.url),
            (None, None) => format!("{} {}", self.method, self.url),
        }
    }
}

/// The body and headers of an answered request.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: String,
    pub exchange: Exchange,
    /// The `Set-Cookie` values, kept apart from the exchange (they may carry a session): the
    /// headless user agent of `verify --flow auth-code` keeps them as a browser does.
    pub set_cookies: Vec<String>,
}

impl Response {
    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// Sends `request` and records it; only a transport failure is an error, any HTTP status is a
/// [`Response`].
pub async fn send(
    request: reqwest::RequestBuilder,
    mut exchange: Exchange,
) -> Result<Response, FlowError> {
    match request.send().await {
        Err(e) => {
            let reason = describe_transport_error(&e);
            exchange.error = Some(reason.clone());
            Err(FlowError::Unreachable {
                url: exchange.url.clone(),
                reason,
                exchange: Box::new(exchange),
            })
        }
        Ok(response) => {
            let status = response.status().as_u16();
            exchange.status = Some(status);
            let set_cookies: Vec<String> = response
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            for name in SHOWN_HEADERS {
                for value in response.headers().get_all(*name) {
                    exchange.response_headers.push((
                        (*name).to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    ));
                }
            }
            let body = match response.text().await {
                Ok(body) => body,
                Err(e) => {
                    let reason = describe_transport_error(&e);
                    exchange.error = Some(reason.clone());
                    return Err(FlowError::Unreachable {
                        url: exchange.url.clone(),
                        reason,
                        exchange: Box::new(exchange),
                    });
                }
            };
            exchange.body_excerpt = excerpt(&body);
            Ok(Response {
                status,
                body,
                exchange,
                set_cookies,
            })
        }
    }
}

fn excerpt(body: &str) -> String {
    if body.chars().count() <= BODY_EXCERPT_CHARS {
        body.to_owned()
    } else {
        let cut: String = body.chars().take(BODY_EXCERPT_CHARS).collect();
        format!("{cut}… ({} bytes in all)", body.len())
    }
}

fn describe_transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!(
            "timed out (connect {} s, total {} s)",
            CONNECT_TIMEOUT.as_secs(),
            REQUEST_TIMEOUT.as_secs()
        );
    }
    // reqwest's Display hides the cause ("error sending request"); the innermost cause names it
    // (e.g. "Connection refused (os error 111)").
    let mut innermost = None;
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        innermost = Some(cause.to_string());
        source = cause.source();
    }
    let cause = innermost.unwrap_or_else(|| e.to_string());
    if e.is_connect() {
        format!("connection failed: {cause}")
    } else {
        cause
    }
}

/// The message an error response carries: problem+json `detail`, OAuth `error_description`,
/// admin `error_description`, or the body excerpt — verbatim.
pub fn error_message(body: &str) -> String {
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) {
        for key in ["detail", "error_description", "error", "message"] {
            if let Some(Value::String(text)) = map.get(key)
                && !text.is_empty()
            {
                return text.clone();
            }
        }
    }
    let trimmed = body.trim();
    if trimmed.is_empty() {
        "(empty body)".to_owned()
    } else {
        excerpt(trimmed)
    }
}

/// The `error` member of an OAuth/admin error body, if any.
pub fn error_code(body: &str) -> Option<String> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => map.get("error").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// What can go wrong talking to the AS or an MCP server. Every variant keeps the exchange, so the
/// failing step can show the request and the response.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// No answer: connection refused, DNS failure, timeout.
    #[error("{url} did not answer: {reason}")]
    Unreachable {
        url: String,
        reason: String,
        exchange: Box<Exchange>,
    },
    /// The admin API answered 401: the admin key is missing, wrong, or not configured on the AS.
    #[error("the admin API rejected the admin key (HTTP {status}): {description}")]
    AdminKeyRejected {
        status: u16,
        description: String,
        exchange: Box<Exchange>,
    },
    /// An unexpected HTTP status; `message` is the server's own text (problem+json `detail` or
    /// OAuth `error_description`), verbatim.
    #[error("{} answered HTTP {status}: {message}", exchange.line_no_status())]
    Status {
        status: u16,
        /// The OAuth/admin `error` code, when the body has one.
        code: Option<String>,
        message: String,
        exchange: Box<Exchange>,
    },
    /// A 2xx answer whose body is not what the protocol promises.
    #[error("{} answered with an unexpected body: {reason}", exchange.line_no_status())]
    Malformed {
        reason: String,
        exchange: Box<Exchange>,
    },
    /// The HTTP client could not be built (TLS backend).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl Exchange {
    fn line_no_status(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
}

impl FlowError {
    /// The exchange behind the error, if one was made.
    pub fn exchange(&self) -> Option<&Exchange> {
        match self {
            FlowError::Unreachable { exchange, .. }
            | FlowError::AdminKeyRejected { exchange, .. }
            | FlowError::Status { exchange, .. }
            | FlowError::Malformed { exchange, .. } => Some(exchange),
            FlowError::Client(_) => None,
        }
    }

    /// The exchange as JSON for a step detail (null when none).
    pub fn detail(&self) -> Value {
        let mut detail = self.exchange().map_or(Value::Null, Exchange::to_json);
        if let Value::Object(map) = &mut detail {
            map.insert("error".into(), Value::String(self.to_string()));
        }
        detail
    }

    /// Builds the error for a non-success answer.
    pub fn status(response: Response) -> FlowError {
        FlowError::Status {
            status: response.status,
            code: error_code(&response.body),
            message: error_message(&response.body),
            exchange: Box::new(response.exchange),
        }
    }

    /// Builds the error for a 2xx answer whose body does not parse.
    pub fn malformed(response: Response, reason: impl Into<String>) -> FlowError {
        FlowError::Malformed {
            reason: reason.into(),
            exchange: Box::new(response.exchange),
        }
    }
}

/// The embedded authorization server, served in-process on free loopback ports for the flow's
/// unit tests: the real thing for ordinary AS behaviour, where a hand-written mock could drift
/// from it.
#[cfg(test)]
pub(crate) mod real_as {
    use crate::authserver::{self, AsConfig};
    use crate::config::Vars;

    /// A running embedded AS (issuer `http://localhost:9000`, whatever port it listens on).
    pub(crate) struct RealAs {
        /// `http://127.0.0.1:<port>` of the public listener.
        pub(crate) public_url: String,
        /// `http://127.0.0.1:<port>` of the admin listener.
        pub(crate) admin_url: String,
        /// The admin API key.
        pub(crate) admin_key: String,
        /// Holds the state directory for as long as the test uses the server.
        _state: tempfile::TempDir,
    }

    /// Starts one; it serves until the test's runtime ends.
    pub(crate) async fn start() -> RealAs {
        let admin_key = crate::config::generate_secret(40);
        let env = [
            ("AUTHPLANE_SERVER_ISSUER", "http://localhost:9000"),
            ("AUTHPLANE_SERVER_ADDRESS", "127.0.0.1:0"),
            // Spelled differently from the public address: the AS refuses two equal addresses.
            ("AUTHPLANE_ADMIN_ADDRESS", "localhost:0"),
            ("AUTHPLANE_ADMIN_API_KEY", admin_key.as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let config = AsConfig::from_vars(&Vars::from_parts(env, Vec::new()));
        let state = tempfile::tempdir().unwrap();
        let bound = authserver::bind(config, state.path()).await.unwrap();
        let public_url = format!("http://{}", bound.public_addr().unwrap());
        let admin_url = format!("http://{}", bound.admin_addr().unwrap().unwrap());
        tokio::spawn(bound.run(std::future::pending()));
        RealAs {
            public_url,
            admin_url,
            admin_key,
            _state: state,
        }
    }
}

/// A throw-away HTTP server for the flow's unit tests.
#[cfg(test)]
pub(crate) mod mock {
    /// Serves `router` on a free loopback port; returns `http://127.0.0.1:<port>`. The server
    /// lives as long as the test's runtime.
    pub(crate) async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        format!("http://{addr}")
    }
}

/// `GET url` expecting 200 and a JSON body: the AS's JWKS, an MCP server's Protected Resource
/// Metadata. Another status is [`FlowError::Status`], a body that is not JSON
/// [`FlowError::Malformed`].
pub async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, FlowError> {
    let response = send(http.get(url), Exchange::new("GET", url)).await?;
    if response.status != 200 {
        return Err(FlowError::status(response));
    }
    parse_json(response)
}

/// The RFC 9728 metadata URL of a protected resource: `/.well-known/oauth-protected-resource`
/// inserted between the origin and the path (`http://h:8080/mcp` →
/// `http://h:8080/.well-known/oauth-protected-resource/mcp`); a trailing slash of the path is
/// dropped, as the SDKs do.
pub fn protected_resource_metadata_url(resource: &str) -> String {
    const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";
    match url::Url::parse(resource) {
        Ok(u) => {
            let path = u.path().trim_end_matches('/');
            format!("{}{WELL_KNOWN}{path}", u.origin().ascii_serialization())
        }
        Err(_) => format!("{}{WELL_KNOWN}", resource.trim_end_matches('/')),
    }
}

/// Parses a response body as the JSON shape `T`; a body of another shape is a
/// [`FlowError`] that keeps the response for the failure output.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    response: Response,
) -> Result<T, FlowError> {
    serde_json::from_str::<T>(&response.body).map_err(|e| {
        let reason = format!("not the documented JSON shape ({e})");
        FlowError::malformed(response, reason)
    })
}

/// A token endpoint's answer: anything but 200 is the AS's refusal, and a 200 must parse as `T`
/// and carry a non-empty access token (`access_token` reads it).
pub(crate) fn token_answer<T: serde::de::DeserializeOwned>(
    response: Response,
    access_token: impl Fn(&T) -> &str,
) -> Result<T, FlowError> {
    if response.status != 200 {
        return Err(FlowError::status(response));
    }
    let tokens: T = parse_json(response.clone())?;
    if access_token(&tokens).is_empty() {
        return Err(FlowError::malformed(response, "access_token is empty"));
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_resource_metadata_url_inserts_the_well_known_path() {
        assert_eq!(
            protected_resource_metadata_url("http://localhost:8080/mcp"),
            "http://localhost:8080/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            protected_resource_metadata_url("http://127.0.0.1:8080/api/mcp/"),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/api/mcp"
        );
        assert_eq!(
            protected_resource_metadata_url("http://localhost:8080"),
            "http://localhost:8080/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn error_message_prefers_detail_then_description() {
        assert_eq!(
            error_message(
                r#"{"type":"about:blank","title":"Conflict","status":409,"detail":"slug \"x\" is already in use"}"#
            ),
            "slug \"x\" is already in use"
        );
        assert_eq!(
            error_message(r#"{"error":"unauthorized","error_description":"invalid API key"}"#),
            "invalid API key"
        );
        assert_eq!(error_message("  plain text \n"), "plain text");
        assert_eq!(error_message(""), "(empty body)");
        assert_eq!(
            error_code(r#"{"error":"invalid_target"}"#).as_deref(),
            Some("invalid_target")
        );
        assert_eq!(error_code("[1]"), None);
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "x".repeat(5000);
        let cut = excerpt(&body);
        assert!(cut.len() < 2100);
        assert!(cut.ends_with("(5000 bytes in all)"));
    }

    #[tokio::test]
    async fn refused_connection_is_unreachable_with_the_exchange() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}/x");
        let client = http_client().unwrap();
        let err = send(client.get(&url), Exchange::new("GET", &url))
            .await
            .unwrap_err();
        assert!(matches!(err, FlowError::Unreachable { .. }), "{err}");
        assert_eq!(err.exchange().unwrap().url, url);
        assert!(
            err.detail()["error"]
                .as_str()
                .unwrap()
                .contains("did not answer")
        );
    }

    /// Property-based fuzzing of how error bodies from the AS are read (`cargo test --lib fuzz`).
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_error_body_gives_a_bounded_message(body in any::<String>(), long in "[^\\x00]{1990,2100}") {
                for body in [body.as_str(), &long] {
                    let message = error_message(body);
                    prop_assert!(!message.is_empty());
                    let _ = error_code(body);
                    prop_assert!(excerpt(body).chars().count() <= BODY_EXCERPT_CHARS + 40);
                }
            }
        }
    }
}
