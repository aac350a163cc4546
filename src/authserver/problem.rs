//! Error bodies, exactly as authserver 0.2.2 writes them: OAuth errors as `problem+json` with
//! both the RFC 6749 and RFC 9457 members (§2.5), admin errors as bare RFC 9457 problems, the admin
//! 401 envelope (§3.1), and Go's plain-text 404 / 405.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

const PROBLEM_JSON: &str = "application/problem+json";

/// What went wrong, attached to error responses as an extension so the request log can show it
/// without parsing bodies.
#[derive(Debug, Clone)]
pub struct Logged(pub String);

fn logged(mut response: Response, what: String) -> Response {
    response.extensions_mut().insert(Logged(what));
    response
}

fn status_text(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Unknown")
}

fn with_type(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// An OAuth error (`error`, `error_description`, `type`, `title`, `detail`, `status`).
pub fn oauth(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({
        "error": code,
        "error_description": description,
        "type": format!("https://docs.authplane.ai/errors/{code}"),
        "title": status_text(status),
        "detail": description,
        "status": status.as_u16(),
    });
    logged(
        with_type(status, PROBLEM_JSON, body.to_string()),
        format!("{code}: {description}"),
    )
}

/// `invalid_client` (401) with the Basic challenge the real server always sends.
pub fn invalid_client(description: &str) -> Response {
    let mut response = oauth(StatusCode::UNAUTHORIZED, "invalid_client", description);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"authserver\""),
    );
    response
}

/// 429 `slow_down` with `Retry-After: 1` (public listener rate limit).
pub fn slow_down() -> Response {
    let mut response = oauth(
        StatusCode::TOO_MANY_REQUESTS,
        "slow_down",
        "rate limit exceeded",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// An admin API error: `{"type":"about:blank","title","status","detail"}`.
pub fn admin(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": status_text(status),
        "status": status.as_u16(),
        "detail": detail,
    });
    logged(
        with_type(status, PROBLEM_JSON, body.to_string()),
        detail.to_owned(),
    )
}

/// The admin listener's 401: `{"error":"unauthorized","error_description":…}` with a Bearer
/// challenge.
pub fn admin_unauthorized(description: &str) -> Response {
    let body = json!({"error": "unauthorized", "error_description": description});
    let mut response = logged(
        with_type(
            StatusCode::UNAUTHORIZED,
            "application/json",
            body.to_string(),
        ),
        format!("unauthorized: {description}"),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"admin\""),
    );
    response
}

/// Go's `ServeMux` 404 for an unknown path.
pub fn not_found() -> Response {
    with_type(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        "404 page not found\n".to_owned(),
    )
}

/// Go's `ServeMux` 405 body (the `Allow` header is added by the router).
pub fn method_not_allowed_body() -> (HeaderValue, &'static str) {
    (
        HeaderValue::from_static("text/plain; charset=utf-8"),
        "Method Not Allowed\n",
    )
}

/// An OAuth error on its way to the client (small, so it can travel in a `Result`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
    /// Why, for the AS's own log only (a 500's cause is never sent to the client).
    pub cause: Option<String>,
}

impl OAuthError {
    /// A 400 with `code`.
    pub fn bad_request(code: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
            cause: None,
        }
    }

    /// 401 `invalid_client` (the response carries the Basic challenge).
    pub fn invalid_client(description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_client",
            description: description.into(),
            cause: None,
        }
    }

    /// The 500 every store or signing failure becomes (the cause is not shown to the client).
    pub fn server_error() -> OAuthError {
        OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "server_error",
            description: "internal error".to_owned(),
            cause: None,
        }
    }

    /// The same error with a cause that the request log shows and the client never sees.
    #[must_use]
    pub fn because(mut self, cause: impl Into<String>) -> OAuthError {
        self.cause = Some(cause.into());
        self
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        if self.code == "invalid_client" {
            invalid_client(&self.description)
        } else {
            let response = oauth(self.status, self.code, &self.description);
            match self.cause {
                Some(cause) => logged(
                    response,
                    format!("{}: {} ({cause})", self.code, self.description),
                ),
                None => response,
            }
        }
    }
}

/// An admin API error on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminError {
    pub status: StatusCode,
    pub detail: String,
    /// Why, for the AS's own log only (a 500's cause is never sent to the client).
    pub cause: Option<String>,
}

impl AdminError {
    /// An error with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> AdminError {
        AdminError {
            status,
            detail: detail.into(),
            cause: None,
        }
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::NOT_FOUND, detail)
    }

    /// 409.
    pub fn conflict(detail: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::CONFLICT, detail)
    }

    /// 500 `internal error` (the cause is not shown to the client).
    pub fn internal() -> AdminError {
        AdminError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }

    /// The same error with a cause that the request log shows and the client never sees.
    #[must_use]
    pub fn because(mut self, cause: impl Into<String>) -> AdminError {
        self.cause = Some(cause.into());
        self
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let response = admin(self.status, &self.detail);
        match self.cause {
            Some(cause) => logged(response, format!("{} ({cause})", self.detail)),
            None => response,
        }
    }
}
