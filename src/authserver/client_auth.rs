//! Client credentials on the introspection and revocation endpoints, read as upstream reads them:
//! `Authorization: Basic` first (each half form-unescaped), else the `client_id` /
//! `client_secret` form fields.

use axum::http::HeaderMap;

use super::form::Form;
use super::store::{self, Client, Data};

/// The presented client id and secret (either may be empty).
pub fn presented(headers: &HeaderMap, form: &Form) -> (String, String) {
    super::oauth::basic_credentials(headers).unwrap_or_else(|| {
        (
            form.get("client_id").unwrap_or("").to_owned(),
            form.get("client_secret").unwrap_or("").to_owned(),
        )
    })
}

/// How much a client must prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Require {
    /// A confidential, active client with its secret (introspection: RFC 7662 §2.1 and
    /// upstream's 0.1.2+ rule; a public client carries no identity to check ownership against).
    ConfidentialActive,
    /// A known client; confidential ones with their secret, public ones by id alone
    /// (revocation advertises `none` among its auth methods).
    Known,
}

/// The authenticated client, or `None` (the caller answers 401 `invalid_client`).
pub fn authenticate(data: &Data, id: &str, secret: &str, require: Require) -> Option<Client> {
    let client = data.clients.iter().find(|c| c.id == id)?;
    match (&client.secret_hash, require) {
        (None, Require::Known) => return Some(client.clone()),
        (None, Require::ConfidentialActive) => return None,
        (Some(hash), _) => {
            if secret.is_empty() || !store::verify_secret(hash, secret) {
                return None;
            }
        }
    }
    if require == Require::ConfidentialActive && client.status != store::ClientStatus::Active {
        return None;
    }
    Some(client.clone())
}
