//! MCP over streamable HTTP, client side, in both protocol eras (DESIGN §8).
//!
//! - Session era: `initialize` → `Mcp-Session-Id`; `notifications/initialized` (202); then
//!   `tools/call` with the session header.
//! - Stateless era (2026-07-28): one `tools/call` carrying `MCP-Protocol-Version`, `Mcp-Method`,
//!   `Mcp-Name` headers and the `io.modelcontextprotocol/*` keys in `params._meta`.
//!
//! Responses may be plain JSON or a short SSE stream (rmcp sends an empty priming event first);
//! [`parse_body`] finds the JSON-RPC response with the matching id in either. Every call returns
//! an [`McpReply`] whatever the HTTP status — the caller decides what a 401 means — and only a
//! transport failure is an error. [`parse_www_authenticate`] reads RFC 6750 / RFC 9728 challenges.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use std::sync::Arc;

use crate::flow::dpop::DpopKey;
use crate::flow::{Exchange, FlowError, send};

/// The newest session-era protocol version; `initialize` asks for it.
pub const SESSION_PROTOCOL_VERSION: &str = "2025-11-25";
/// The stateless-era protocol version.
pub const STATELESS_PROTOCOL_VERSION: &str = "2026-07-28";
/// The tool the echo server exposes.
pub const ECHO_TOOL: &str = "echo";

/// One answer from an MCP server.
#[derive(Debug, Clone)]
pub struct McpReply {
    pub status: u16,
    /// The `Mcp-Session-Id` response header.
    pub session_id: Option<String>,
    /// The JSON-RPC response with the request's id, if the body held one.
    pub message: Option<Value>,
    /// Parsed `WWW-Authenticate` challenges.
    pub challenges: Vec<Challenge>,
    pub exchange: Exchange,
}

impl McpReply {
    /// The `result` member of the JSON-RPC response.
    pub fn result(&self) -> Option<&Value> {
        self.message.as_ref().and_then(|m| m.get("result"))
    }

    /// The `error` member of the JSON-RPC response.
    pub fn rpc_error(&self) -> Option<&Value> {
        self.message.as_ref().and_then(|m| m.get("error"))
    }

    /// The negotiated protocol version from an `initialize` result.
    pub fn protocol_version(&self) -> Option<&str> {
        self.result()?.get("protocolVersion")?.as_str()
    }

    /// The concatenated text content of a `tools/call` result.
    pub fn tool_text(&self) -> Option<String> {
        let content = self.result()?.get("content")?.as_array()?;
        let texts: Vec<&str> = content
            .iter()
            .filter_map(|c| c.get("text").and_then(Value::as_str))
            .collect();
        (!texts.is_empty()).then(|| texts.concat())
    }

    /// True when a `tools/call` result says `isError: true`.
    pub fn tool_is_error(&self) -> bool {
        self.result()
            .and_then(|r| r.get("isError"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The tools of a `tools/list` result, in the server's order.
    pub fn tools(&self) -> Option<Vec<Tool>> {
        let tools = self.result()?.get("tools")?.as_array()?;
        Some(
            tools
                .iter()
                .filter_map(|t| {
                    Some(Tool {
                        name: t.get("name")?.as_str()?.to_owned(),
                        input_schema: t.get("inputSchema").cloned().unwrap_or(Value::Null),
                    })
                })
                .collect(),
        )
    }

    /// The first Bearer challenge.
    pub fn bearer_challenge(&self) -> Option<&Challenge> {
        self.challenges
            .iter()
            .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
    }
}

/// One tool a server lists: its name and the JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub input_schema: Value,
}

impl Tool {
    /// The properties the schema's `required` names that `arguments` lacks, in schema order.
    pub fn missing_required(&self, arguments: &serde_json::Map<String, Value>) -> Vec<String> {
        self.input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|required| {
                required
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|name| !arguments.contains_key(*name))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The schema's property names (for a hint), in the schema's order.
    pub fn properties(&self) -> Vec<String> {
        self.input_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// A client for one MCP endpoint with one (optional) access token, sent as `Bearer`, or as
/// `DPoP` with a fresh proof per request once [`McpClient::with_dpop`] gave it a key.
#[derive(Debug, Clone)]
pub struct McpClient {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
    client_name: String,
    dpop: Option<Arc<DpopKey>>,
    /// The `htu` proofs name when it is not [`McpClient::url`] (the wrong-`htu` probe).
    proof_url: Option<String>,
}

impl McpClient {
    /// A client that calls `url`, sending `token` as a bearer token when given.
    pub fn new(http: reqwest::Client, url: &str, token: Option<&str>) -> McpClient {
        McpClient {
            http,
            url: url.to_owned(),
            token: token.map(str::to_owned),
            client_name: "authplane-dev".to_owned(),
            dpop: None,
            proof_url: None,
        }
    }

    /// The same client, sending its token as `Authorization: DPoP` with a fresh proof from `key`
    /// on every request.
    #[must_use]
    pub fn with_dpop(mut self, key: Arc<DpopKey>) -> McpClient {
        self.dpop = Some(key);
        self
    }

    /// The same client, with proofs naming `htu` instead of the URL it calls.
    #[must_use]
    pub fn with_proof_url(mut self, htu: &str) -> McpClient {
        self.proof_url = Some(htu.to_owned());
        self
    }

    /// The endpoint this client calls.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Session era step 1: `initialize`.
    pub async fn initialize(&self) -> Result<McpReply, FlowError> {
        let body = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": SESSION_PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": self.client_name, "version": env!("CARGO_PKG_VERSION")},
            },
        });
        self.post(&body, &[], Some(1)).await
    }

    /// Session era step 2: `notifications/initialized` (a server answers 202).
    pub async fn initialized(
        &self,
        session_id: Option<&str>,
        protocol_version: &str,
    ) -> Result<McpReply, FlowError> {
        let body = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let headers = session_headers(session_id, protocol_version);
        self.post(&body, &headers, None).await
    }

    /// Session era: `tools/list` with the session.
    pub async fn list_tools(
        &self,
        session_id: Option<&str>,
        protocol_version: &str,
    ) -> Result<McpReply, FlowError> {
        let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
        let headers = session_headers(session_id, protocol_version);
        self.post(&body, &headers, Some(2)).await
    }

    /// Session era: `tools/call` of `name` with `arguments`.
    pub async fn call_tool(
        &self,
        session_id: Option<&str>,
        protocol_version: &str,
        name: &str,
        arguments: &Value,
    ) -> Result<McpReply, FlowError> {
        let body = json!({
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        });
        let headers = session_headers(session_id, protocol_version);
        self.post(&body, &headers, Some(3)).await
    }

    /// Session era: `tools/call echo {"text": text}`.
    pub async fn call_echo(
        &self,
        session_id: Option<&str>,
        protocol_version: &str,
        text: &str,
    ) -> Result<McpReply, FlowError> {
        self.call_tool(
            session_id,
            protocol_version,
            ECHO_TOOL,
            &json!({"text": text}),
        )
        .await
    }

    /// Stateless era: one `tools/list` with the 2026-07-28 headers and `_meta` keys.
    pub async fn list_tools_stateless(&self) -> Result<McpReply, FlowError> {
        self.stateless("tools/list", None, serde_json::Map::new())
            .await
    }

    /// Stateless era: one `tools/call` of `name` with `arguments`.
    pub async fn call_tool_stateless(
        &self,
        name: &str,
        arguments: &Value,
    ) -> Result<McpReply, FlowError> {
        let mut params = serde_json::Map::new();
        params.insert("name".into(), json!(name));
        params.insert("arguments".into(), arguments.clone());
        self.stateless("tools/call", Some(name), params).await
    }

    /// Stateless era: one `tools/call echo`.
    pub async fn call_echo_stateless(&self, text: &str) -> Result<McpReply, FlowError> {
        self.call_tool_stateless(ECHO_TOOL, &json!({"text": text}))
            .await
    }

    /// One stateless-era request: `MCP-Protocol-Version`, `Mcp-Method` and (for a tool)
    /// `Mcp-Name` headers, the `io.modelcontextprotocol/*` keys in `params._meta`.
    async fn stateless(
        &self,
        method: &str,
        name: Option<&str>,
        mut params: serde_json::Map<String, Value>,
    ) -> Result<McpReply, FlowError> {
        params.insert(
            "_meta".into(),
            json!({
                "io.modelcontextprotocol/protocolVersion": STATELESS_PROTOCOL_VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {
                    "name": self.client_name,
                    "version": env!("CARGO_PKG_VERSION"),
                },
            }),
        );
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut headers = vec![
            (
                "MCP-Protocol-Version",
                STATELESS_PROTOCOL_VERSION.to_owned(),
            ),
            ("Mcp-Method", method.to_owned()),
        ];
        if let Some(name) = name {
            headers.push(("Mcp-Name", name.to_owned()));
        }
        self.post(&body, &headers, Some(1)).await
    }

    async fn post(
        &self,
        body: &Value,
        headers: &[(&str, String)],
        id: Option<i64>,
    ) -> Result<McpReply, FlowError> {
        let accept = "application/json, text/event-stream";
        let mut request = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Accept", accept)
            .body(body.to_string());
        let mut exchange = Exchange::new("POST", &self.url)
            .header("Content-Type", "application/json")
            .header("Accept", accept);
        match (&self.token, &self.dpop) {
            (Some(token), Some(key)) => {
                let htu = self.proof_url.as_deref().unwrap_or(&self.url);
                let proof = key.proof("POST", htu, Some(token)).map_err(|reason| {
                    FlowError::Unreachable {
                        url: self.url.clone(),
                        reason: format!("could not build a DPoP proof: {reason}"),
                        exchange: Box::new(exchange.clone()),
                    }
                })?;
                request = request
                    .header("Authorization", format!("DPoP {token}"))
                    .header("DPoP", &proof);
                exchange = exchange
                    .header("Authorization", &format!("DPoP {token}"))
                    .header("DPoP", &format!("<proof for POST {htu}>"));
            }
            (Some(token), None) => {
                request = request.bearer_auth(token);
                exchange = exchange.header("Authorization", &format!("Bearer {token}"));
            }
            (None, _) => {}
        }
        for (name, value) in headers {
            request = request.header(*name, value);
            exchange = exchange.header(name, value);
        }
        let exchange = exchange.body(body.to_string());
        let response = send(request, exchange).await?;
        let content_type = response
            .exchange
            .response_header("content-type")
            .unwrap_or("")
            .to_owned();
        let message = parse_body(&content_type, &response.body, id);
        let session_id = response
            .exchange
            .response_header("mcp-session-id")
            .map(str::to_owned);
        let challenges = response
            .exchange
            .response_header("www-authenticate")
            .map(parse_www_authenticate)
            .unwrap_or_default();
        Ok(McpReply {
            status: response.status,
            session_id,
            message,
            challenges,
            exchange: response.exchange,
        })
    }
}

fn session_headers(
    session_id: Option<&str>,
    protocol_version: &str,
) -> Vec<(&'static str, String)> {
    let mut headers = vec![("MCP-Protocol-Version", protocol_version.to_owned())];
    if let Some(id) = session_id {
        headers.push(("Mcp-Session-Id", id.to_owned()));
    }
    headers
}

/// Finds the JSON-RPC response in a body that is plain JSON or an SSE stream.
///
/// With `id`, the message whose `id` equals it is returned (a batch array is searched too); a
/// lone response without a matching id is returned only when nothing matches. Empty `data:`
/// lines (rmcp's priming event), comments and non-JSON events are skipped.
pub fn parse_body(content_type: &str, body: &str, id: Option<i64>) -> Option<Value> {
    let is_sse = content_type
        .to_ascii_lowercase()
        .contains("text/event-stream")
        || looks_like_sse(body);
    let candidates: Vec<Value> = if is_sse {
        sse_data(body)
            .iter()
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .collect()
    } else {
        serde_json::from_str::<Value>(body.trim())
            .ok()
            .into_iter()
            .collect()
    };
    let messages: Vec<Value> = candidates
        .into_iter()
        .flat_map(|v| match v {
            Value::Array(items) => items,
            other => vec![other],
        })
        .filter(Value::is_object)
        .collect();
    let is_response = |m: &Value| m.get("result").is_some() || m.get("error").is_some();
    if let Some(id) = id
        && let Some(found) = messages
            .iter()
            .find(|m| m.get("id").and_then(Value::as_i64) == Some(id))
    {
        return Some(found.clone());
    }
    messages.into_iter().find(is_response)
}

fn looks_like_sse(body: &str) -> bool {
    let start = body.trim_start();
    ["data:", "event:", "id:", "retry:", ":"]
        .iter()
        .any(|p| start.starts_with(p))
}

/// The data payloads of an SSE stream, one per event (multi-line data joined with `\n`), empty
/// payloads dropped. Lines end with LF, CRLF or a lone CR, as the SSE specification allows.
pub fn sse_data(body: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut flush = |current: &mut Vec<String>| {
        if !current.is_empty() {
            let data = current.join("\n");
            if !data.trim().is_empty() {
                events.push(data);
            }
            current.clear();
        }
    };
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    for line in body.split('\n') {
        if line.is_empty() {
            flush(&mut current);
        } else if let Some(rest) = line.strip_prefix("data:") {
            current.push(rest.strip_prefix(' ').unwrap_or(rest).to_owned());
        }
        // event:, id:, retry: and comments carry nothing we need.
    }
    flush(&mut current);
    events
}

/// One `WWW-Authenticate` challenge: scheme and auth-params (names lower-cased).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// An auth-param by (case-insensitive) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Parses a `WWW-Authenticate` value into challenges (RFC 9110 §11.6.1): several challenges
/// separated by commas, auth-params with token or quoted-string values (backslash escapes), a
/// token68 kept under the key `token68`. Tolerant of stray whitespace and empty list elements.
pub fn parse_www_authenticate(value: &str) -> Vec<Challenge> {
    let mut parser = Parser {
        chars: value.chars().collect(),
        pos: 0,
    };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        parser.skip_separators();
        if parser.done() {
            break;
        }
        let Some(word) = parser.token() else {
            // Unparseable byte: skip it rather than loop forever.
            parser.pos += 1;
            continue;
        };
        parser.skip_spaces();
        if parser.peek() == Some('=') && !challenges.is_empty() {
            // An auth-param of the current challenge.
            parser.pos += 1;
            parser.skip_spaces();
            let value = parser.value();
            if let Some(last) = challenges.last_mut() {
                last.params.insert(word.to_ascii_lowercase(), value);
            }
            continue;
        }
        // A new challenge: the scheme, then maybe a token68 (e.g. `Basic dXNlcg==`); auth-params
        // that follow are picked up by the loop above.
        let mut challenge = Challenge {
            scheme: word,
            params: BTreeMap::new(),
        };
        if let Some(name) = parser.peek_token() {
            let after = parser.pos + name.chars().count();
            let mut end = after;
            while parser.chars.get(end) == Some(&'=') {
                end += 1;
            }
            let terminated = matches!(parser.chars.get(end), None | Some(',' | ' ' | '\t'));
            if terminated {
                let token: String = parser.chars[parser.pos..end].iter().collect();
                parser.pos = end;
                challenge.params.insert("token68".into(), token);
            }
        }
        challenges.push(challenge);
    }
    challenges
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn done(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | ',')) {
            self.pos += 1;
        }
    }

    fn is_tchar(c: char) -> bool {
        c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/".contains(c)
    }

    fn peek_token(&self) -> Option<String> {
        let token: String = self.chars[self.pos..]
            .iter()
            .take_while(|c| Parser::is_tchar(**c))
            .collect();
        (!token.is_empty()).then_some(token)
    }

    fn token(&mut self) -> Option<String> {
        let token = self.peek_token()?;
        self.pos += token.chars().count();
        Some(token)
    }

    fn value(&mut self) -> String {
        if self.peek() == Some('"') {
            self.pos += 1;
            let mut out = String::new();
            while let Some(c) = self.peek() {
                self.pos += 1;
                match c {
                    '\\' => {
                        if let Some(next) = self.peek() {
                            out.push(next);
                            self.pos += 1;
                        }
                    }
                    '"' => break,
                    other => out.push(other),
                }
            }
            out
        } else {
            let mut out = String::new();
            while let Some(c) = self.peek() {
                if c == ',' || c == ' ' || c == '\t' {
                    break;
                }
                out.push(c);
                self.pos += 1;
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_with_an_empty_priming_event_yields_the_response() {
        let body = "data: \nid: 0\nretry: 3000\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-11-25\"}}\nid: 1/1\n\n";
        let msg = parse_body("text/event-stream", body, Some(1)).unwrap();
        assert_eq!(msg["result"]["protocolVersion"], "2025-11-25");
    }

    #[test]
    fn sse_takes_the_matching_id_not_the_first_message() {
        let body = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\r\n\r\n\
                    data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"x\":1}}\r\n\r\n\
                    data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"x\":2}}\r\n\r\n";
        let msg = parse_body("text/event-stream; charset=utf-8", body, Some(2)).unwrap();
        assert_eq!(msg["result"]["x"], 2);
    }

    #[test]
    fn sse_joins_multi_line_data_and_detects_sse_without_content_type() {
        let body = ":comment\ndata: {\"jsonrpc\":\"2.0\",\ndata: \"id\":3,\"result\":{}}\n";
        let msg = parse_body("", body, Some(3)).unwrap();
        assert_eq!(msg["id"], 3);
        assert_eq!(
            sse_data("data:a\ndata:b\n\ndata:\n\n"),
            vec!["a\nb".to_owned()]
        );
        // A lone CR ends a line too (found by fuzzing: it used to stay inside the data).
        assert_eq!(
            sse_data("data: a\rdata: b\r\rdata: c\r\n\r\n"),
            vec!["a\nb".to_owned(), "c".to_owned()]
        );
    }

    #[test]
    fn plain_json_and_batches_and_garbage() {
        let msg = parse_body(
            "application/json",
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"tool not found"}}"#,
            Some(1),
        )
        .unwrap();
        assert_eq!(msg["error"]["message"], "tool not found");
        let batch = r#"[{"jsonrpc":"2.0","id":1,"result":1},{"jsonrpc":"2.0","id":2,"result":2}]"#;
        assert_eq!(
            parse_body("application/json", batch, Some(2)).unwrap()["result"],
            2
        );
        assert!(
            parse_body(
                "application/json",
                "Bad Request: Session ID is required",
                Some(1)
            )
            .is_none()
        );
        assert!(parse_body("text/event-stream", "data: not json\n\n", Some(1)).is_none());
        assert!(parse_body("application/json", "", None).is_none());
        // A lone response with another id is still returned when nothing matches.
        let other = r#"{"jsonrpc":"2.0","id":"abc","result":{}}"#;
        assert!(parse_body("application/json", other, Some(1)).is_some());
    }

    #[test]
    fn bearer_challenge_with_quoted_params_and_escapes() {
        let v = r#"Bearer error="invalid_token", error_description="token claims validation failed: token type must be 'at+jwt', got \"JWT\"", resource_metadata="http://localhost:8080/.well-known/oauth-protected-resource/mcp""#;
        let c = parse_www_authenticate(v);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "Bearer");
        assert_eq!(c[0].param("error"), Some("invalid_token"));
        assert_eq!(
            c[0].param("error_description"),
            Some("token claims validation failed: token type must be 'at+jwt', got \"JWT\"")
        );
        assert_eq!(
            c[0].param("RESOURCE_METADATA"),
            Some("http://localhost:8080/.well-known/oauth-protected-resource/mcp")
        );
    }

    #[test]
    fn bare_scheme_unquoted_values_and_scope() {
        let c = parse_www_authenticate("Bearer");
        assert_eq!(c.len(), 1);
        assert!(c[0].params.is_empty());
        let c = parse_www_authenticate(
            "Bearer error=insufficient_scope,scope=\"mcp:echo other\" ,  realm=admin",
        );
        assert_eq!(c[0].param("error"), Some("insufficient_scope"));
        assert_eq!(c[0].param("scope"), Some("mcp:echo other"));
        assert_eq!(c[0].param("realm"), Some("admin"));
    }

    #[test]
    fn several_challenges_and_token68() {
        let c = parse_www_authenticate(
            r#"Basic realm="authserver", Bearer resource_metadata="http://x/.well-known/oauth-protected-resource/mcp", DPoP algs="ES256""#,
        );
        let schemes: Vec<&str> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Basic", "Bearer", "DPoP"]);
        assert_eq!(c[0].param("realm"), Some("authserver"));
        assert_eq!(c[2].param("algs"), Some("ES256"));
        let c = parse_www_authenticate("Negotiate dXNlcjpwYXNz==, Bearer");
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].param("token68"), Some("dXNlcjpwYXNz=="));
    }

    #[test]
    fn garbage_challenges_never_panic() {
        for v in [
            "",
            ",,,",
            "=",
            "\"",
            "Bearer error=\"unterminated",
            "Bearer ,=,",
            "é ü",
        ] {
            let _ = parse_www_authenticate(v);
        }
        let c = parse_www_authenticate("Bearer error=\"unterminated");
        assert_eq!(c[0].param("error"), Some("unterminated"));
    }

    async fn mcp_server() -> String {
        use axum::http::{HeaderMap, StatusCode};
        use axum::response::IntoResponse;
        let router = axum::Router::new().route(
            "/mcp",
            axum::routing::post(|headers: HeaderMap, body: String| async move {
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
                if h("authorization").as_deref() != Some("Bearer tok-123456789") {
                    return (
                        StatusCode::UNAUTHORIZED,
                        [("www-authenticate", "Bearer resource_metadata=\"http://x/.well-known/oauth-protected-resource/mcp\"")],
                        "",
                    )
                        .into_response();
                }
                if h("accept").as_deref() != Some("application/json, text/event-stream") {
                    return StatusCode::NOT_ACCEPTABLE.into_response();
                }
                let msg: serde_json::Value = serde_json::from_str(&body).unwrap();
                let method = msg["method"].as_str().unwrap_or("");
                if method == "notifications/initialized" {
                    return StatusCode::ACCEPTED.into_response();
                }
                if method == "tools/call" && h("mcp-method").is_some() {
                    // Stateless: plain JSON.
                    assert_eq!(h("mcp-protocol-version").as_deref(), Some(STATELESS_PROTOCOL_VERSION));
                    assert_eq!(h("mcp-name").as_deref(), Some("echo"));
                    assert!(msg["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"].is_object());
                    let text = msg["params"]["arguments"]["text"].clone();
                    return axum::Json(serde_json::json!({"jsonrpc":"2.0","id":msg["id"],"result":{"resultType":"complete","content":[{"type":"text","text":text}]}})).into_response();
                }
                if method == "tools/call" && h("mcp-session-id").as_deref() != Some("sess-1") {
                    return (StatusCode::BAD_REQUEST, "Bad Request: Session ID is required").into_response();
                }
                let result = if method == "initialize" {
                    serde_json::json!({"protocolVersion":"2025-11-25","serverInfo":{"name":"demo-server"}})
                } else {
                    serde_json::json!({"content":[{"type":"text","text":msg["params"]["arguments"]["text"]}],"isError":false})
                };
                let reply = serde_json::json!({"jsonrpc":"2.0","id":msg["id"],"result":result});
                (
                    [("content-type", "text/event-stream"), ("mcp-session-id", "sess-1")],
                    format!("data: \nid: 0\nretry: 3000\n\nevent: message\ndata: {reply}\nid: 1/1\n\n"),
                )
                    .into_response()
            }),
        );
        crate::flow::mock::serve(router).await
    }

    #[tokio::test]
    async fn both_eras_against_a_mock_server() {
        let base = mcp_server().await;
        let url = format!("{base}/mcp");
        let http = crate::flow::http_client().unwrap();
        let mcp = McpClient::new(http.clone(), &url, Some("tok-123456789"));
        let init = mcp.initialize().await.unwrap();
        assert_eq!(init.status, 200);
        assert_eq!(init.protocol_version(), Some("2025-11-25"));
        assert_eq!(init.session_id.as_deref(), Some("sess-1"));
        let session = init.session_id.as_deref();
        assert_eq!(
            mcp.initialized(session, "2025-11-25").await.unwrap().status,
            202
        );
        let call = mcp
            .call_echo(session, "2025-11-25", "hi there")
            .await
            .unwrap();
        assert_eq!(call.tool_text().as_deref(), Some("hi there"));
        let no_session = mcp.call_echo(None, "2025-11-25", "x").await.unwrap();
        assert_eq!(no_session.status, 400);
        assert!(no_session.message.is_none());
        let stateless = mcp.call_echo_stateless("solo").await.unwrap();
        assert_eq!(stateless.tool_text().as_deref(), Some("solo"));

        let anonymous = McpClient::new(http, &url, None);
        let denied = anonymous.initialize().await.unwrap();
        assert_eq!(denied.status, 401);
        assert_eq!(
            denied
                .bearer_challenge()
                .and_then(|c| c.param("resource_metadata")),
            Some("http://x/.well-known/oauth-protected-resource/mcp")
        );
    }

    #[test]
    fn tools_are_listed_and_required_arguments_named() {
        let reply = McpReply {
            status: 200,
            session_id: None,
            message: Some(
                serde_json::json!({"jsonrpc":"2.0","id":2,"result":{"tools":[
                {"name":"forecast","inputSchema":{"type":"object","properties":{"city":{},"days":{}},"required":["city"]}},
                {"name":"ping"},
                {"inputSchema":{}}]}}),
            ),
            challenges: vec![],
            exchange: Exchange::default(),
        };
        let tools = reply.tools().unwrap();
        assert_eq!(tools.len(), 2, "a tool without a name is dropped");
        let forecast = &tools[0];
        assert_eq!(forecast.properties(), ["city", "days"]);
        assert_eq!(forecast.missing_required(&serde_json::Map::new()), ["city"]);
        let mut args = serde_json::Map::new();
        args.insert("city".into(), serde_json::json!("Paris"));
        assert!(forecast.missing_required(&args).is_empty());
        assert!(
            tools[1]
                .missing_required(&serde_json::Map::new())
                .is_empty()
        );
    }

    #[test]
    fn reply_helpers_read_tool_results() {
        let reply = McpReply {
            status: 200,
            session_id: None,
            message: Some(serde_json::json!({"jsonrpc":"2.0","id":2,"result":{
                "content":[{"type":"text","text":"hello "},{"type":"text","text":"world"}],"isError":false}})),
            challenges: vec![],
            exchange: Exchange::default(),
        };
        assert_eq!(reply.tool_text().as_deref(), Some("hello world"));
        assert!(!reply.tool_is_error());
        assert!(reply.rpc_error().is_none());
    }

    /// Property-based fuzzing of the SSE framing and the challenge parser (`cargo test --lib fuzz`).
    mod fuzz {
        use super::*;
        use crate::fuzz::{bytes, json_object};
        use proptest::prelude::*;
        use std::fmt::Write as _;

        /// One line of an event's data: anything without a line break.
        fn data_line() -> impl Strategy<Value = String> {
            "[^\r\n]{0,24}"
        }

        /// A line ending the SSE specification allows.
        fn eol() -> impl Strategy<Value = &'static str> {
            prop_oneof![Just("\n"), Just("\r\n"), Just("\r")]
        }

        /// An SSE stream of `events` (each a list of data lines), with the fields and comments a
        /// server may interleave, every line ended by `eol`.
        fn encode(events: &[Vec<String>], extras: &[u8], eol: &str) -> String {
            let mut out = String::new();
            for (i, lines) in events.iter().enumerate() {
                let extra = extras.get(i).copied().unwrap_or(0);
                if extra & 1 != 0 {
                    let _ = write!(out, ": keep-alive {i}{eol}");
                }
                if extra & 2 != 0 {
                    let _ = write!(out, "event: message{eol}");
                }
                for line in lines {
                    // "data:" then one optional space, which the parser removes.
                    let space = if extra & 4 != 0 { "" } else { " " };
                    if space.is_empty() && line.starts_with(' ') {
                        let _ = write!(out, "data: {line}{eol}");
                    } else {
                        let _ = write!(out, "data:{space}{line}{eol}");
                    }
                }
                if extra & 8 != 0 {
                    let _ = write!(out, "id: {i}/0{eol}retry: 3000{eol}");
                }
                out.push_str(eol);
            }
            out
        }

        proptest! {
            #[test]
            fn sse_and_body_parsing_never_panic(
                body in any::<String>(),
                raw in bytes(512),
                content_type in prop_oneof![
                    Just(String::new()),
                    Just("text/event-stream".to_owned()),
                    Just("application/json".to_owned()),
                    any::<String>(),
                ],
                id in proptest::option::of(any::<i64>()),
            ) {
                for body in [body.as_str(), &String::from_utf8_lossy(&raw)] {
                    let _ = sse_data(body);
                    if let Some(found) = parse_body(&content_type, body, id) {
                        prop_assert!(found.is_object());
                    }
                }
            }

            #[test]
            fn sse_events_come_back_whatever_the_line_endings_and_fields(
                events in proptest::collection::vec(proptest::collection::vec(data_line(), 1..4), 0..6),
                extras in bytes(6),
                eol in eol(),
            ) {
                let body = encode(&events, &extras, eol);
                let want: Vec<String> = events
                    .iter()
                    .map(|lines| lines.join("\n"))
                    .filter(|data| !data.trim().is_empty())
                    .collect();
                prop_assert_eq!(sse_data(&body), want);
            }

            #[test]
            fn the_response_with_the_requested_id_is_found_anywhere_in_the_stream(
                before in proptest::collection::vec(json_object(), 0..4),
                result in json_object(),
                after in proptest::collection::vec(json_object(), 0..4),
                id in any::<i64>(),
                eol in eol(),
                split in any::<bool>(),
            ) {
                // Notifications (no id) around the response, and an empty priming event first.
                let notification = |params: &serde_json::Map<String, Value>| {
                    serde_json::json!({"jsonrpc": "2.0", "method": "notifications/message", "params": params})
                };
                let response = serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result});
                let mut events = vec![vec![String::new()]];
                events.extend(before.iter().map(|p| vec![notification(p).to_string()]));
                // A message split into data lines between its members: joined with "\n" it is
                // the same JSON.
                events.push(if split {
                    vec![
                        "{\"jsonrpc\":\"2.0\",".to_owned(),
                        format!("\"id\":{id},"),
                        format!("\"result\":{}}}", Value::Object(result)),
                    ]
                } else {
                    vec![response.to_string()]
                });
                events.extend(after.iter().map(|p| vec![notification(p).to_string()]));
                let body = encode(&events, &[], eol);
                prop_assert_eq!(parse_body("text/event-stream", &body, Some(id)), Some(response.clone()));
                // Without the content type the stream is still recognised.
                prop_assert_eq!(parse_body("", &body, Some(id)), Some(response));
            }

            #[test]
            fn www_authenticate_never_panics(value in any::<String>(), near in "[A-Za-z0-9 ,=\"\\\\\t:/._~+-]{0,64}") {
                for v in [value.as_str(), &near] {
                    for c in parse_www_authenticate(v) {
                        prop_assert!(!c.scheme.is_empty());
                    }
                }
            }

            #[test]
            fn www_authenticate_round_trips(
                challenges in proptest::collection::vec(
                    (
                        "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,10}",
                        proptest::collection::btree_map("[a-z][a-z0-9_]{0,10}", any::<String>(), 0..4),
                        proptest::collection::vec(any::<bool>(), 4),
                    ),
                    1..4,
                ),
                spaces in prop_oneof![Just(", "), Just(","), Just(" ,  "), Just(",\t")],
            ) {
                let mut text = String::new();
                for (i, (scheme, params, quote)) in challenges.iter().enumerate() {
                    if i > 0 {
                        text.push_str(spaces);
                    }
                    text.push_str(scheme);
                    for (j, (name, value)) in params.iter().enumerate() {
                        text.push_str(if j == 0 { " " } else { spaces });
                        let token = !value.is_empty() && value.chars().all(Parser::is_tchar);
                        if token && quote[j % quote.len()] {
                            let _ = write!(text, "{name}={value}");
                        } else {
                            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
                            let _ = write!(text, "{name}=\"{escaped}\"");
                        }
                    }
                }
                let parsed = parse_www_authenticate(&text);
                let want: Vec<Challenge> = challenges
                    .iter()
                    .map(|(scheme, params, _)| Challenge { scheme: scheme.clone(), params: params.clone() })
                    .collect();
                prop_assert_eq!(parsed, want, "{}", text);
            }
        }
    }
}
