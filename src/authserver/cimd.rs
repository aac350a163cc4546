//! Finding the client an authorization request names: a registered client by id, or — with CIMD
//! on (`AUTHPLANE_CIMD_ENABLED`, the default) — a client whose `client_id` is the URL of its
//! Client ID Metadata Document, fetched once and registered under that URL, as upstream does.
//!
//! The fetch follows upstream's rules: `https` only (`AUTHPLANE_CIMD_REQUIRE_HTTPS`), a URL with a
//! path, no loopback, private, link-local or unspecified address (checked on the literal and on
//! every address the name resolves to) unless `AUTHPLANE_CIMD_ALLOW_PRIVATE_ADDRESSES` — both
//! relaxations only with a localhost issuer — no redirects followed, `200` with a JSON content
//! type (`application/json` or `application/client-id+json`), at most 1 MiB; the document's
//! `client_id` must be the URL, `client_name` and valid `redirect_uris` present. Defaults: grant
//! `authorization_code`, response type `code`, `token_endpoint_auth_method: none`.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use super::AppState;
use super::admin::clients;
use super::store::{Client, ClientStatus, now_rfc3339};

const MAX_DOCUMENT_BYTES: usize = 1 << 20;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The members of a metadata document this server reads.
#[derive(Debug, Deserialize)]
struct Document {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_name: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    response_types: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_method: String,
}

/// The client `client_id` names, or why there is none (for the request log; the page says only
/// that the client is not recognised, as upstream's does).
pub async fn find_client(state: &AppState, client_id: &str) -> Result<Client, String> {
    if client_id.is_empty() {
        return Err("no client_id".to_owned());
    }
    let known = state
        .store
        .read(|d| d.clients.iter().find(|c| c.id == client_id).cloned());
    if let Some(client) = known {
        return Ok(client);
    }
    let is_url = client_id.starts_with("https://") || client_id.starts_with("http://");
    if !is_url {
        return Err(format!("client {client_id:?} is not registered"));
    }
    if !state.config.cimd_enabled {
        return Err(format!(
            "client {client_id:?} is not registered (client ID metadata documents are off)"
        ));
    }
    // A metadata document must not bypass the registration policy.
    if state.config.dcr_mode == "admin_only" {
        return Err("client registration is disabled (dcr.mode admin_only)".into());
    }
    let client = fetch(state, client_id)
        .await
        .map_err(|why| format!("client metadata document {client_id:?}: {why}"))?;
    let stored = client.clone();
    state
        .store
        .update(move |d| {
            // Two requests may have fetched it at once: keep the first.
            if !d.clients.iter().any(|c| c.id == stored.id) {
                d.clients.push(stored);
            }
            Ok::<_, ()>(())
        })
        .map_err(|_| "the registration could not be saved".to_owned())?;
    Ok(client)
}

/// Whether an address is one upstream refuses to fetch from without the private-address switch.
fn forbidden(ip: IpAddr) -> Option<&'static str> {
    let (loopback, private, link_local, unspecified) = match ip {
        IpAddr::V4(v4) => (
            v4.is_loopback(),
            v4.is_private(),
            v4.is_link_local(),
            v4.is_unspecified(),
        ),
        IpAddr::V6(v6) => (
            v6.is_loopback(),
            v6.is_unique_local(),
            v6.is_unicast_link_local(),
            v6.is_unspecified(),
        ),
    };
    if loopback {
        Some("loopback address rejected")
    } else if private {
        Some("private network address rejected")
    } else if link_local {
        Some("link-local address rejected")
    } else if unspecified {
        Some("unspecified address rejected")
    } else {
        None
    }
}

async fn check_address(url: &url::Url, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let host = url.host_str().unwrap_or("");
    if host.eq_ignore_ascii_case("localhost") {
        return Err(format!("loopback address rejected: {host}"));
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .map(|a| a.ip())
            .collect(),
    };
    for ip in addresses {
        if let Some(why) = forbidden(ip) {
            return Err(format!("{why}: {ip}"));
        }
    }
    Ok(())
}

async fn fetch(state: &AppState, client_id: &str) -> Result<Client, String> {
    let config = &state.config;
    let url = url::Url::parse(client_id).map_err(|e| e.to_string())?;
    if config.cimd_require_https && url.scheme() != "https" {
        return Err(format!("HTTPS required, got {}", url.scheme()));
    }
    if url.path().is_empty() || url.path() == "/" {
        return Err("the URL must have a path".to_owned());
    }
    check_address(&url, config.cimd_allow_private_addresses).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let response = http
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("fetch failed: {e}"))?;
    if response.status() != 200 {
        return Err(format!(
            "HTTP {} from {client_id}",
            response.status().as_u16()
        ));
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !content_type.starts_with("application/json")
        && !content_type.starts_with("application/client-id+json")
    {
        return Err(format!("expected JSON content-type, got {content_type:?}"));
    }
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err("response body exceeds maximum size (1048576 bytes)".to_owned());
    }
    let doc: Document = serde_json::from_slice(&body).map_err(|e| format!("invalid JSON: {e}"))?;
    if doc.client_id.is_empty() {
        return Err("missing client_id".to_owned());
    }
    if doc.client_id != client_id {
        return Err(format!(
            "client_id {:?} does not match fetch URL {client_id:?}",
            doc.client_id
        ));
    }
    if doc.client_name.is_empty() {
        return Err("missing client_name".to_owned());
    }
    if doc.redirect_uris.is_empty() {
        return Err("missing redirect_uris".to_owned());
    }
    let now = now_rfc3339();
    let or = |v: Vec<String>, default: &str| {
        if v.is_empty() {
            vec![default.to_owned()]
        } else {
            v
        }
    };
    let client = Client {
        id: client_id.to_owned(),
        name: doc.client_name,
        secret_hash: None,
        redirect_uris: Some(doc.redirect_uris),
        grant_types: or(doc.grant_types, "authorization_code"),
        response_types: or(doc.response_types, "code"),
        token_endpoint_auth_method: if doc.token_endpoint_auth_method.is_empty() {
            "none".to_owned()
        } else {
            doc.token_endpoint_auth_method
        },
        scope: String::new(),
        status: ClientStatus::Active,
        registration_source: "cimd".to_owned(),
        agent: false,
        agent_description: String::new(),
        issued_at: now.clone(),
        updated_at: now,
    };
    // A document cannot make a confidential client: nothing would hold its secret.
    if client.token_endpoint_auth_method != "none" {
        return Err(format!(
            "token_endpoint_auth_method {:?} needs a secret a metadata document cannot carry",
            client.token_endpoint_auth_method
        ));
    }
    if config.dcr_mode == "approved_redirects" {
        let approved = &config.dcr_approved_redirects;
        if let Some(uri) = client
            .redirect_uris
            .iter()
            .flatten()
            .find(|u| !approved.contains(u))
        {
            return Err(format!("cimd redirect_uri {uri:?} not in approved list"));
        }
    }
    let problems = clients::problems(&client, config);
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_named() {
        let named = |s: &str| forbidden(s.parse().unwrap());
        assert_eq!(named("127.0.0.1"), Some("loopback address rejected"));
        assert_eq!(named("::1"), Some("loopback address rejected"));
        assert_eq!(named("10.1.2.3"), Some("private network address rejected"));
        assert_eq!(
            named("192.168.0.1"),
            Some("private network address rejected")
        );
        assert_eq!(named("fd00::1"), Some("private network address rejected"));
        assert_eq!(named("169.254.1.1"), Some("link-local address rejected"));
        assert_eq!(named("0.0.0.0"), Some("unspecified address rejected"));
        assert_eq!(named("93.184.216.34"), None);
    }
}
