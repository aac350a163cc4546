//! CORS on the public listener for browser-based MCP clients (MCP Inspector runs its OAuth client
//! in a web page): with `AUTHPLANE_SERVER_ALLOWED_ORIGINS` (comma-separated origins, or `*`) a
//! request from a listed `Origin` gets `Access-Control-Allow-Origin` echoing it, and a preflight
//! (`OPTIONS` with `Access-Control-Request-Method`) is answered `204` before routing. Unset — as
//! upstream's default — no CORS headers at all, so a browser client cannot call the server.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What a browser client may send and read.
const ALLOW_METHODS: &str = "GET, POST, OPTIONS";
const ALLOW_HEADERS: &str = "Authorization, Content-Type, DPoP, MCP-Protocol-Version";
const EXPOSE_HEADERS: &str = "DPoP-Nonce, WWW-Authenticate";
const MAX_AGE: &str = "600";

/// The request's `Origin` when the configuration allows it.
pub fn allowed_origin<'h>(allowed: &[String], headers: &'h HeaderMap) -> Option<&'h HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/') == text)
        .then_some(origin)
}

/// The answer to a preflight from an allowed origin, if this request is one.
pub fn preflight(allowed: &[String], method: &Method, headers: &HeaderMap) -> Option<Response> {
    if method != Method::OPTIONS || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        return None;
    }
    let origin = allowed_origin(allowed, headers)?.clone();
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    Some(response)
}

/// Adds the CORS headers to an answer for an allowed origin.
pub fn decorate(origin: Option<HeaderValue>, response: &mut Response) {
    let Some(origin) = origin else { return };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    h.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// `AUTHPLANE_SERVER_ALLOWED_ORIGINS` as a list (comma-separated, blanks dropped).
pub fn parse(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_are_echoed() {
        let allowed = parse(Some(" http://localhost:6274 , ,https://app.example/"));
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, "http://localhost:6274".parse().unwrap());
        assert!(allowed_origin(&allowed, &h).is_some());
        h.insert(header::ORIGIN, "https://app.example".parse().unwrap());
        assert!(allowed_origin(&allowed, &h).is_some());
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(allowed_origin(&allowed, &h).is_none());
        assert!(allowed_origin(&parse(Some("*")), &h).is_some());
        assert!(allowed_origin(&parse(None), &h).is_none());
    }
}
