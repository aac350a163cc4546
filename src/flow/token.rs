//! The AS's public endpoints a client uses: RFC 8414 discovery and the token endpoint
//! (client_credentials with HTTP Basic, authserver 0.2.2 §2.1, §2.4, §2.5).

use serde::{Deserialize, Serialize};

use crate::flow::{Exchange, FlowError, parse_json, send};

/// The parts of the AS metadata document the flow uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Metadata {
    pub issuer: String,
    #[serde(default)]
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint: String,
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

/// `GET <public_url>/.well-known/oauth-authorization-server`.
pub async fn discover(http: &reqwest::Client, public_url: &str) -> Result<Metadata, FlowError> {
    let url = format!(
        "{}/.well-known/oauth-authorization-server",
        public_url.trim_end_matches('/')
    );
    let response = send(http.get(&url), Exchange::new("GET", &url)).await?;
    if response.status != 200 {
        return Err(FlowError::status(response));
    }
    parse_json(response)
}

/// A successful token response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub token_type: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// What to ask the token endpoint for.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    /// Space-separated; `None` sends no `scope`.
    pub scope: Option<&'a str>,
    /// The `resource` indicator (must equal a registered resource URI byte for byte).
    pub resource: Option<&'a str>,
}

/// `POST <public_url>/oauth/token` with `grant_type=client_credentials`, HTTP Basic client
/// authentication, `scope` and `resource`. An OAuth error comes back as [`FlowError::Status`]
/// with `code` = `error` and `message` = `error_description`, verbatim.
pub async fn mint(
    http: &reqwest::Client,
    public_url: &str,
    request: &TokenRequest<'_>,
) -> Result<TokenResponse, FlowError> {
    let url = format!("{}/oauth/token", public_url.trim_end_matches('/'));
    let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
    if let Some(scope) = request.scope {
        form.push(("scope", scope));
    }
    if let Some(resource) = request.resource {
        form.push(("resource", resource));
    }
    let shown_body = form
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let exchange = Exchange::new("POST", &url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header(
            "Authorization",
            &format!("Basic base64({}:<client secret>)", request.client_id),
        )
        .body(shown_body);
    let builder = http
        .post(&url)
        .basic_auth(request.client_id, Some(request.client_secret))
        .form(&form);
    let response = send(builder, exchange).await?;
    if response.status != 200 {
        return Err(FlowError::status(response));
    }
    let token: TokenResponse = parse_json(response.clone())?;
    if token.access_token.is_empty() {
        return Err(FlowError::malformed(response, "access_token is empty"));
    }
    Ok(token)
}

/// The AS's clock as its HTTP `Date` header says (seconds since the epoch), from a `GET` of the
/// discovery document; `Ok(None)` when the header is missing or unreadable.
pub async fn server_time(
    http: &reqwest::Client,
    public_url: &str,
) -> Result<Option<i64>, FlowError> {
    let url = format!(
        "{}/.well-known/oauth-authorization-server",
        public_url.trim_end_matches('/')
    );
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| FlowError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
            exchange: Box::new(Exchange::new("GET", &url)),
        })?;
    Ok(response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{http_client, mock};
    use axum::Form;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use serde_json::json;
    use std::collections::HashMap;

    async fn as_server() -> String {
        let router = axum::Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(|| async {
                    axum::Json(json!({"issuer":"http://localhost:9000","jwks_uri":"http://localhost:9000/.well-known/jwks.json","token_endpoint":"http://localhost:9000/oauth/token"}))
                }),
            )
            .route(
                "/oauth/token",
                post(|headers: HeaderMap, Form(form): Form<HashMap<String, String>>| async move {
                    // base64("id:secret")
                    let basic = headers.get("authorization").and_then(|v| v.to_str().ok());
                    if basic != Some("Basic aWQ6c2VjcmV0") {
                        return (StatusCode::UNAUTHORIZED, [("content-type", "application/problem+json")],
                            json!({"error":"invalid_client","error_description":"client authentication failed"}).to_string()).into_response();
                    }
                    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
                        return StatusCode::BAD_REQUEST.into_response();
                    }
                    if form.get("resource").map(String::as_str) != Some("http://localhost:8080/mcp") {
                        let r = form.get("resource").cloned().unwrap_or_default();
                        return (StatusCode::BAD_REQUEST, [("content-type", "application/problem+json")],
                            json!({"error":"invalid_target","error_description":format!("the requested resource target is unavailable: resource {r:?} is not a registered resource")}).to_string()).into_response();
                    }
                    axum::Json(json!({"access_token":"a.b.c","token_type":"Bearer","expires_in":3600,"scope":form.get("scope")})).into_response()
                }),
            );
        mock::serve(router).await
    }

    #[tokio::test]
    async fn discovery_and_mint_against_a_mock_as() {
        let url = as_server().await;
        let http = http_client().unwrap();
        let metadata = discover(&http, &url).await.unwrap();
        assert_eq!(metadata.issuer, "http://localhost:9000");
        let mut request = TokenRequest {
            client_id: "id",
            client_secret: "secret",
            scope: Some("mcp:echo"),
            resource: Some("http://localhost:8080/mcp"),
        };
        let token = mint(&http, &url, &request).await.unwrap();
        assert_eq!(token.access_token, "a.b.c");
        assert_eq!(token.scope.as_deref(), Some("mcp:echo"));

        request.resource = Some("http://localhost:8080/mcp/");
        match mint(&http, &url, &request).await.unwrap_err() {
            FlowError::Status {
                status,
                code,
                message,
                exchange,
            } => {
                assert_eq!(status, 400);
                assert_eq!(code.as_deref(), Some("invalid_target"));
                assert!(
                    message.contains("\"http://localhost:8080/mcp/\" is not a registered resource")
                );
                // The request is recorded without the secret.
                assert!(
                    exchange
                        .request_body
                        .unwrap()
                        .contains("resource=http://localhost:8080/mcp/")
                );
                assert!(!format!("{:?}", exchange.request_headers).contains("secret\""));
            }
            other => panic!("{other:?}"),
        }
        request.client_secret = "wrong";
        match mint(&http, &url, &request).await.unwrap_err() {
            FlowError::Status { status, code, .. } => {
                assert_eq!((status, code.as_deref()), (401, Some("invalid_client")));
            }
            other => panic!("{other:?}"),
        }
        // Something that is not an AS.
        let err = discover(&http, &format!("{url}/nowhere"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, FlowError::Status { status: 404, .. }),
            "{err}"
        );
    }
}
