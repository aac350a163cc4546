//! The AS's public endpoints a client uses: RFC 8414 discovery and the token endpoint
//! (client_credentials with HTTP Basic, authserver 0.2.2 §2.1, §2.4, §2.5), optionally with a
//! DPoP proof (RFC 9449; one retry with the server's nonce on `use_dpop_nonce`, as §8 says).

use serde::{Deserialize, Serialize};

use crate::flow::dpop::DpopKey;
use crate::flow::{Exchange, FlowError, parse_json, send, token_answer};

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
    /// The interactive flow's endpoints and capabilities (`verify --flow auth-code`).
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
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
    /// Send a DPoP proof made with this key (asks for a token bound to it).
    pub dpop: Option<&'a DpopKey>,
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
    let post = |proof: Option<String>| {
        let mut exchange = Exchange::new("POST", &url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header(
                "Authorization",
                &format!("Basic base64({}:<client secret>)", request.client_id),
            );
        let mut builder = http
            .post(&url)
            .basic_auth(request.client_id, Some(request.client_secret))
            .form(&form);
        if let Some(proof) = proof {
            exchange = exchange.header("DPoP", &format!("<proof for POST {url}>"));
            builder = builder.header("DPoP", proof);
        }
        send(builder, exchange.body(shown_body.clone()))
    };
    let proof = |key: &DpopKey| {
        key.proof("POST", &url, None)
            .map_err(|reason| FlowError::Unreachable {
                url: url.clone(),
                reason: format!("could not build a DPoP proof: {reason}"),
                exchange: Box::new(Exchange::new("POST", &url)),
            })
    };
    let mut response = post(request.dpop.map(proof).transpose()?).await?;
    if let Some(key) = request.dpop
        && let Some(nonce) = response.exchange.response_header("dpop-nonce")
    {
        key.note_nonce(&url, nonce);
        let asks_nonce = response.status == 400
            && response
                .json()
                .is_some_and(|b| b["error"] == "use_dpop_nonce");
        if asks_nonce {
            response = post(Some(proof(key)?)).await?;
            if let Some(nonce) = response.exchange.response_header("dpop-nonce") {
                key.note_nonce(&url, nonce);
            }
        }
    }
    token_answer(response, |t: &TokenResponse| t.access_token.as_str())
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
    use crate::flow::admin::{AdminClient, NewResource};
    use crate::flow::{http_client, jwt, real_as};
    use base64::Engine as _;

    const RESOURCE: &str = "http://localhost:8080/mcp";

    #[tokio::test]
    async fn discovery_and_mint_against_the_embedded_as() {
        let server = real_as::start().await;
        let http = http_client().unwrap();
        let admin = AdminClient::new(http.clone(), &server.admin_url, &server.admin_key);
        admin
            .create_resource(&NewResource {
                slug: "demo-mcp".into(),
                uri: RESOURCE.into(),
                display_name: "Demo".into(),
                scopes: vec![("mcp:echo".into(), "echo".into())],
            })
            .await
            .unwrap();
        let client = admin
            .create_client("authplane-dev", "mcp:echo")
            .await
            .unwrap();
        // The AS generates the secret: long and random, so finding it anywhere means a leak.
        assert!(client.client_secret.len() >= 16, "a short secret");

        let metadata = discover(&http, &server.public_url).await.unwrap();
        assert_eq!(metadata.issuer, "http://localhost:9000");
        assert_eq!(metadata.token_endpoint, "http://localhost:9000/oauth/token");
        let mut request = TokenRequest {
            client_id: &client.client_id,
            client_secret: &client.client_secret,
            scope: Some("mcp:echo"),
            resource: Some(RESOURCE),
            dpop: None,
        };
        let token = mint(&http, &server.public_url, &request).await.unwrap();
        assert_eq!(token.token_type, "Bearer");
        assert_eq!(token.scope.as_deref(), Some("mcp:echo"));
        let claims = jwt::decode(&token.access_token).unwrap();
        assert_eq!(claims.audiences(), vec![RESOURCE]);
        assert_eq!(claims.scopes(), vec!["mcp:echo"]);

        request.resource = Some("http://localhost:8080/mcp/");
        match mint(&http, &server.public_url, &request).await.unwrap_err() {
            FlowError::Status {
                status,
                code,
                message,
                exchange,
            } => {
                assert_eq!(status, 400);
                assert_eq!(code.as_deref(), Some("invalid_target"));
                assert!(
                    message.contains("\"http://localhost:8080/mcp/\" is not a registered resource"),
                    "{message}"
                );
                assert!(
                    exchange
                        .request_body
                        .as_deref()
                        .unwrap()
                        .contains("resource=http://localhost:8080/mcp/")
                );
                // The request is recorded without the secret, in the clear or as the Basic
                // credentials it travels in.
                let basic = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", client.client_id, client.client_secret));
                for recorded in [
                    format!("{exchange:?}"),
                    serde_json::to_string(&exchange).unwrap(),
                ] {
                    assert!(
                        !recorded.contains(&client.client_secret),
                        "the secret is recorded: {recorded}"
                    );
                    assert!(
                        !recorded.contains(&basic),
                        "the Basic credentials are recorded: {recorded}"
                    );
                }
            }
            other => panic!("{other:?}"),
        }
        request.resource = Some(RESOURCE);
        request.client_secret = "wrong";
        match mint(&http, &server.public_url, &request).await.unwrap_err() {
            FlowError::Status { status, code, .. } => {
                assert_eq!((status, code.as_deref()), (401, Some("invalid_client")));
            }
            other => panic!("{other:?}"),
        }
        // Something that is not an AS.
        let err = discover(&http, &format!("{}/nowhere", server.public_url))
            .await
            .unwrap_err();
        assert!(
            matches!(err, FlowError::Status { status: 404, .. }),
            "{err}"
        );
    }
}
