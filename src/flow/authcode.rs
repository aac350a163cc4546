//! The OAuth side of an interactive MCP client (MCP authorization spec; authserver 0.2.2 §2):
//! PKCE S256 (RFC 7636), dynamic client registration of a public client (RFC 7591), the
//! authorization request with `resource` (RFC 8707) and `state`, reading the authorization
//! response on the redirect URI (`code`, `state`, `iss` per RFC 9207, or `error`), and the
//! `authorization_code` and `refresh_token` grants. Sends only what it is told to: the probes of
//! `verify --flow auth-code --omit …` leave parameters out on purpose.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::flow::{Exchange, FlowError, parse_json, send, token_answer};

/// A PKCE pair: the verifier kept by the client, the S256 challenge sent on the authorize request.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair: 32 random bytes as the verifier (43 base64url characters, RFC 7636 §4.1),
    /// its SHA-256 as the challenge.
    pub fn generate() -> Pkce {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// A random `state` value (16 bytes, base64url).
pub fn random_state() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the registration endpoint answered (RFC 7591 §3.2.1), the parts the flow uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Registered {
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
}

/// `POST <registration_endpoint>`: a public client (`token_endpoint_auth_method: none`) with
/// one redirect URI and the `authorization_code` + `refresh_token` grants. Returns the answer's
/// body too, for the step detail. An AS error comes back as [`FlowError::Status`] (`code` is the
/// RFC 7591 error, e.g. `invalid_redirect_uri`).
pub async fn register(
    http: &reqwest::Client,
    endpoint: &str,
    client_name: &str,
    redirect_uri: &str,
) -> Result<(Registered, Value), FlowError> {
    let body = json!({
        "client_name": client_name,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    let exchange = Exchange::new("POST", endpoint)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    let response = send(http.post(endpoint).json(&body), exchange).await?;
    if response.status != 201 && response.status != 200 {
        return Err(FlowError::status(response));
    }
    let doc = response.json().unwrap_or(Value::Null);
    let registered: Registered = parse_json(response)?;
    Ok((registered, doc))
}

/// The parameters of one authorization request; `None` leaves a parameter out.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: Option<&'a str>,
    pub state: &'a str,
    /// The S256 challenge.
    pub code_challenge: Option<&'a str>,
    /// The `resource` indicator: the MCP server's URL.
    pub resource: Option<&'a str>,
}

/// The authorization URL a browser is sent to.
pub fn authorize_url(endpoint: &str, request: &AuthorizeRequest<'_>) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", request.client_id),
        ("redirect_uri", request.redirect_uri),
    ];
    if let Some(scope) = request.scope.filter(|s| !s.is_empty()) {
        pairs.push(("scope", scope));
    }
    pairs.push(("state", request.state));
    if let Some(challenge) = request.code_challenge {
        pairs.push(("code_challenge", challenge));
        pairs.push(("code_challenge_method", "S256"));
    }
    if let Some(resource) = request.resource {
        pairs.push(("resource", resource));
    }
    match url::Url::parse(endpoint) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.into()
        }
        Err(_) => endpoint.to_owned(),
    }
}

/// What came back on the redirect URI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationResponse {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl AuthorizationResponse {
    /// Reads the query of a redirect to the redirect URI.
    pub fn parse(url: &str) -> AuthorizationResponse {
        let mut response = AuthorizationResponse::default();
        if let Ok(url) = url::Url::parse(url) {
            for (k, v) in url.query_pairs() {
                let v = Some(v.into_owned());
                match k.as_ref() {
                    "code" => response.code = v,
                    "state" => response.state = v,
                    "iss" => response.iss = v,
                    "error" => response.error = v,
                    "error_description" => response.error_description = v,
                    _ => {}
                }
            }
        }
        response
    }
}

/// True when `url` is an answer on `redirect_uri`: same scheme, host and path (the port of a
/// loopback redirect URI may differ, RFC 8252 §7.3, so it is not compared).
pub fn is_redirect_to(url: &str, redirect_uri: &str) -> bool {
    match (url::Url::parse(url), url::Url::parse(redirect_uri)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.path() == b.path()
                && (a.port_or_known_default() == b.port_or_known_default()
                    || is_loopback_host(b.host_str().unwrap_or("")))
        }
        _ => false,
    }
}

/// `127.0.0.1`, `[::1]` or `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "::1" | "localhost")
}

/// A token endpoint answer of the interactive grants.
#[derive(Debug, Clone, Deserialize)]
pub struct UserTokens {
    pub access_token: String,
    #[serde(default)]
    pub token_type: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// `POST <token_endpoint>` with `grant_type=authorization_code` for a public client: `code`,
/// `redirect_uri`, `client_id`, `code_verifier` (None leaves it out) and `resource`.
pub async fn exchange_code(
    http: &reqwest::Client,
    token_endpoint: &str,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
    resource: Option<&str>,
) -> Result<UserTokens, FlowError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", client_id),
    ];
    if let Some(verifier) = code_verifier {
        form.push(("code_verifier", verifier));
    }
    if let Some(resource) = resource {
        form.push(("resource", resource));
    }
    post_token(http, token_endpoint, &form, &["code", "code_verifier"]).await
}

/// `POST <token_endpoint>` with `grant_type=refresh_token` for a public client.
pub async fn refresh(
    http: &reqwest::Client,
    token_endpoint: &str,
    client_id: &str,
    refresh_token: &str,
    resource: Option<&str>,
) -> Result<UserTokens, FlowError> {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client_id),
    ];
    if let Some(resource) = resource {
        form.push(("resource", resource));
    }
    post_token(http, token_endpoint, &form, &["refresh_token"]).await
}

async fn post_token(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
    hidden: &[&str],
) -> Result<UserTokens, FlowError> {
    let shown = form
        .iter()
        .map(|(k, v)| {
            if hidden.contains(k) {
                format!("{k}=<{k}>")
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    let exchange = Exchange::new("POST", url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(shown);
    let response = send(http.post(url).form(form), exchange).await?;
    token_answer(response, |t: &UserTokens| t.access_token.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_is_s256_of_the_verifier() {
        let pkce = Pkce::generate();
        assert_eq!(pkce.verifier.len(), 43);
        let expected = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(pkce.verifier.as_bytes()));
        assert_eq!(pkce.challenge, expected);
        assert_ne!(Pkce::generate().verifier, pkce.verifier);
        // RFC 7636 appendix B.
        let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(
            b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ));
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn the_authorize_url_carries_what_it_is_given_and_nothing_else() {
        let request = AuthorizeRequest {
            client_id: "c1",
            redirect_uri: "http://127.0.0.1:5000/callback",
            scope: Some("mcp:echo"),
            state: "s t",
            code_challenge: Some("ch"),
            resource: Some("http://localhost:8080/mcp"),
        };
        let url = authorize_url("http://localhost:9000/oauth/authorize", &request);
        assert_eq!(
            url,
            "http://localhost:9000/oauth/authorize?response_type=code&client_id=c1&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcallback&scope=mcp%3Aecho&state=s+t&code_challenge=ch&code_challenge_method=S256&resource=http%3A%2F%2Flocalhost%3A8080%2Fmcp"
        );
        let bare = authorize_url(
            "http://localhost:9000/oauth/authorize",
            &AuthorizeRequest {
                code_challenge: None,
                resource: None,
                ..request
            },
        );
        assert!(
            !bare.contains("code_challenge") && !bare.contains("resource="),
            "{bare}"
        );
    }

    #[test]
    fn the_authorization_response_is_read_from_the_redirect() {
        let r = AuthorizationResponse::parse(
            "http://127.0.0.1:1/callback?code=abc&state=xyz&iss=http%3A%2F%2Flocalhost%3A9000",
        );
        assert_eq!(r.code.as_deref(), Some("abc"));
        assert_eq!(r.iss.as_deref(), Some("http://localhost:9000"));
        let e = AuthorizationResponse::parse(
            "http://127.0.0.1:1/callback?error=access_denied&error_description=no&state=xyz",
        );
        assert_eq!(e.error.as_deref(), Some("access_denied"));
        assert!(is_redirect_to(
            "http://127.0.0.1:9/callback?code=1",
            "http://127.0.0.1:5000/callback"
        ));
        assert!(!is_redirect_to(
            "http://localhost:9000/login?x",
            "http://127.0.0.1:5000/callback"
        ));
        assert!(!is_redirect_to(
            "https://app.example/cb2",
            "https://app.example/cb"
        ));
    }
}
