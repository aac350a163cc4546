//! `POST /oauth/token`: the form, then the grant type — `authorization_code` and `refresh_token`
//! go to [`super::user_grants`]; `client_credentials` is decided here, row by row as authserver
//! 0.2.2 decides it (§2.4): form → grant type → feature switch → client authentication → client status → client
//! grants → resource → scope → DPoP proof (when enabled and sent; see [`super::dpop`]) → mint.
//! Tokens are RFC 9068 JWTs signed with the server key, bound to the proof key (`cnf.jkt`,
//! `token_type: DPoP`) when a proof was sent; every mint is recorded as an issuance (which pins
//! the resource against deletion).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::problem::OAuthError;
use super::store::{self, Client, ClientStatus, Resource};
use super::{AppState, dpop, form, issue, user_grants};

/// The largest token request body the real server reads.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
const AUTH_FAILED: &str = "client authentication failed";
const SCOPE_PREFIX: &str = "the requested scope is invalid or not allowed: ";
const EMPTY_CEILING: &str =
    "the client has no registered scopes; grant them with PATCH /admin/clients/{id}";

/// A DPoP proof sent with a token request, and the URL its `htu` must name.
pub struct SentProof<'r> {
    pub proof: &'r str,
    pub request_url: String,
}

impl SentProof<'_> {
    /// The proof's key thumbprint, when the proof is valid for this request.
    pub fn check(&self, state: &AppState) -> Result<String, OAuthError> {
        Ok(state
            .dpop
            .check(&state.config.dpop(), self.proof, "POST", &self.request_url)?
            .jkt)
    }
}

/// `POST /oauth/token`. With DPoP on, a request carrying a `DPoP` header gets a fresh
/// `DPoP-Nonce` on whatever it is answered (0.2.0+); with DPoP off the header is ignored.
pub async fn token(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let settings = state.config.dpop();
    let sent = dpop::proof_header(&parts.headers)
        .filter(|_| settings.enabled)
        .map(|proof| SentProof {
            proof,
            request_url: dpop::request_url(&parts.headers, parts.uri.path()),
        });
    let mut response = match grant(
        &state,
        &parts.headers,
        parts.uri.query(),
        body,
        sent.as_ref(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if sent.is_some() {
        let nonce = state.dpop.issue_nonce(settings.nonce_ttl);
        dpop::add_nonce(response.headers_mut(), &nonce);
    }
    response
}

async fn grant(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
    sent: Option<&SentProof<'_>>,
) -> Result<Response, OAuthError> {
    // 1. The form.
    let form = form::read(headers, query, body, MAX_FORM_BYTES)
        .await
        .map_err(|_| OAuthError::bad_request("invalid_request", "invalid form body"))?;

    // 2–3. The grant type and its switch.
    let grant_type = form.get("grant_type").unwrap_or("");
    match grant_type {
        user_grants::AUTHORIZATION_CODE => {
            return user_grants::authorization_code(state, headers, &form, sent);
        }
        user_grants::REFRESH_TOKEN => return user_grants::refresh(state, headers, &form, sent),
        _ => {}
    }
    if grant_type != GRANT_CLIENT_CREDENTIALS {
        return Err(OAuthError::bad_request(
            "unsupported_grant_type",
            format!("grant_type {grant_type:?} is not supported"),
        ));
    }
    if !state.config.client_credentials_enabled {
        return Err(OAuthError::bad_request(
            "unsupported_grant_type",
            "feature client_credentials is disabled (set client_credentials.enabled=true to enable)",
        ));
    }

    // 4. Client authentication: Basic first (halves form-unescaped), else the form fields.
    let (client_id, secret) = match basic_credentials(headers) {
        Some(pair) => pair,
        None => (
            form.get("client_id").unwrap_or("").to_owned(),
            form.get("client_secret").unwrap_or("").to_owned(),
        ),
    };
    if client_id.is_empty() || secret.is_empty() {
        return Err(OAuthError::invalid_client(AUTH_FAILED));
    }
    let client = state
        .store
        .read(|d| d.clients.iter().find(|c| c.id == client_id).cloned())
        .ok_or_else(|| OAuthError::invalid_client(AUTH_FAILED))?;
    let authenticated = client
        .secret_hash
        .as_deref()
        .is_some_and(|hash| store::verify_secret(hash, &secret));
    if !authenticated {
        return Err(OAuthError::invalid_client(AUTH_FAILED));
    }
    // 4b.
    if client.status != ClientStatus::Active {
        return Err(OAuthError::invalid_client("client is suspended or revoked"));
    }
    // 5.
    if !client
        .grant_types
        .iter()
        .any(|g| g == GRANT_CLIENT_CREDENTIALS)
    {
        return Err(OAuthError::bad_request(
            "unauthorized_client",
            "client is not authorized for this grant type",
        ));
    }
    // 6. The resource: exact URI match, first registered wins.
    let resource_param = form.get("resource").filter(|r| !r.is_empty());
    let resource: Option<Resource> = match resource_param {
        None => None,
        Some(uri) => Some(
            state
                .store
                .read(|d| d.resources.iter().find(|r| r.uri == uri).cloned())
                .ok_or_else(|| {
                    OAuthError::bad_request(
                        "invalid_target",
                        format!(
                            "the requested resource target is unavailable: resource {uri:?} is \
                             not a registered resource"
                        ),
                    )
                })?,
        ),
    };
    // 7. The scope.
    let scopes = decide_scope(&client, form.get("scope").unwrap_or(""), resource.as_ref())
        .map_err(|reason| {
            OAuthError::bad_request("invalid_scope", format!("{SCOPE_PREFIX}{reason}"))
        })?;

    // 8. The DPoP proof, when one was sent (and DPoP is on).
    let bound = sent.map(|sent| sent.check(state)).transpose()?;

    mint(
        state,
        &client,
        resource.as_ref(),
        resource_param,
        &scopes,
        bound.as_deref(),
    )
}

/// Rows 7a–7c: the issued scopes (sorted, de-duplicated) or why the request is refused.
fn decide_scope(
    client: &Client,
    requested: &str,
    resource: Option<&Resource>,
) -> Result<Vec<String>, &'static str> {
    let fields = |s: &str| -> Vec<String> {
        let mut v: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
        v.sort();
        v.dedup();
        v
    };
    let requested = fields(requested);
    let ceiling = fields(&client.scope);
    let catalog: Option<Vec<&str>> =
        resource.map(|r| r.scopes.iter().map(|s| s.name.as_str()).collect());
    if requested.is_empty() {
        let Some(catalog) = catalog else {
            return Ok(ceiling);
        };
        let issued: Vec<String> = ceiling
            .iter()
            .filter(|s| catalog.contains(&s.as_str()))
            .cloned()
            .collect();
        if issued.is_empty() {
            return Err(if ceiling.is_empty() {
                EMPTY_CEILING
            } else {
                "none of the client's registered scopes is declared by the target resource"
            });
        }
        return Ok(issued);
    }
    if ceiling.is_empty() {
        return Err(EMPTY_CEILING);
    }
    if !requested.iter().all(|s| ceiling.contains(s)) {
        return Err("the requested scope exceeds the client's registered scopes");
    }
    if let Some(catalog) = catalog
        && !requested.iter().all(|s| catalog.contains(&s.as_str()))
    {
        return Err("the requested scope is not declared by the target resource");
    }
    Ok(requested)
}

fn mint(
    state: &AppState,
    client: &Client,
    resource: Option<&Resource>,
    resource_param: Option<&str>,
    scopes: &[String],
    jkt: Option<&str>,
) -> Result<Response, OAuthError> {
    let lifetime = i64::try_from(state.config.token_expiry.as_secs()).unwrap_or(i64::MAX / 2);
    let scope = scopes.join(" ");
    let minted = issue::mint(
        state,
        &issue::Mint {
            sub: &client.id,
            client_id: &client.id,
            aud: resource_param.unwrap_or(&state.config.issuer),
            resource_id: resource.map(|r| r.id.as_str()),
            scope: &scope,
            lifetime_secs: lifetime,
            jkt,
            user_id: None,
        },
    )?;
    let mut body = json!({
        "access_token": minted.token,
        "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": lifetime,
    });
    if !scope.is_empty() {
        body["scope"] = json!(scope);
    }
    Ok(issue::token_response(&body))
}

/// Go's `Request.BasicAuth` (scheme case-insensitive, standard base64, split at the first `:`),
/// then each half form-URL-unescaped as the real server does. `None` when there is no usable
/// Basic header (the form fields are used instead); a half that does not unescape becomes empty,
/// which fails authentication.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("Basic ") {
        return None;
    }
    let decoded = STANDARD.decode(rest).ok()?;
    let decoded = String::from_utf8_lossy(&decoded).into_owned();
    let (id, secret) = decoded.split_once(':')?;
    Some((
        form::unescape(id).unwrap_or_default(),
        form::unescape(secret).unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authserver::store::resource_with_scopes;

    fn client(scope: &str) -> Client {
        Client {
            id: "c".into(),
            name: "n".into(),
            secret_hash: None,
            redirect_uris: None,
            grant_types: vec![],
            response_types: vec![],
            token_endpoint_auth_method: "client_secret_basic".into(),
            scope: scope.into(),
            status: ClientStatus::Active,
            registration_source: "admin".into(),
            agent: false,
            agent_description: String::new(),
            issued_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn scope_rules() {
        let c = client("b a c");
        let r = resource_with_scopes(&["a", "b", "z"]);
        assert_eq!(decide_scope(&c, "", None).unwrap(), ["a", "b", "c"]);
        assert_eq!(decide_scope(&c, "  ", Some(&r)).unwrap(), ["a", "b"]);
        assert_eq!(decide_scope(&c, "b a b", Some(&r)).unwrap(), ["a", "b"]);
        assert!(decide_scope(&c, "d", None).unwrap_err().contains("exceeds"));
        assert!(
            decide_scope(&c, "c", Some(&r))
                .unwrap_err()
                .contains("not declared")
        );
        assert!(
            decide_scope(&c, "", Some(&resource_with_scopes(&["q"])))
                .unwrap_err()
                .starts_with("none of")
        );
        let empty = client("");
        assert_eq!(
            decide_scope(&empty, "", None).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(decide_scope(&empty, "a", None).unwrap_err(), EMPTY_CEILING);
        assert_eq!(
            decide_scope(&empty, "", Some(&r)).unwrap_err(),
            EMPTY_CEILING
        );
    }

    #[test]
    fn basic_credentials_follow_go() {
        let mut h = HeaderMap::new();
        let enc = STANDARD.encode("my%20id:pa+ss:word");
        h.insert(
            header::AUTHORIZATION,
            format!("bAsIc {enc}").parse().unwrap(),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(("my id".into(), "pa ss:word".into()))
        );
        h.insert(header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(basic_credentials(&h), None);
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(basic_credentials(&h), None);
    }
}
