//! Authorization requests in progress (upstream's auth sessions), in memory: created by
//! `/oauth/authorize`, shown by `/consent`, completed with a one-time code, consumed by the token
//! endpoint. A consumed code is remembered until its request expires, so a replay is recognised
//! (and the tokens it produced revoked) rather than looking like an unknown code. A restart
//! forgets them all, which only means a user mid-login starts again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use super::keys;

/// How long an authorization request (and the code it yields) stays usable.
pub const AUTHORIZATION_TTL: Duration = Duration::from_mins(10);

/// One authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub id: String,
    pub client_id: String,
    /// Set once a signed-in user is known.
    pub user_id: String,
    pub redirect_uri: String,
    /// Space-separated.
    pub scope: String,
    /// The resource URI (canonical form, whatever the request named it by).
    pub resource: String,
    pub resource_id: String,
    pub state: String,
    pub code_challenge: String,
    pub expires_at: i64,
    /// SHA-256 of the code once one was issued.
    code_hash: Option<String>,
    consumed: bool,
}

/// Why a code was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeError {
    /// No request issued this code (or it expired and was forgotten).
    Unknown,
    /// Already exchanged once; carries the request so its tokens can be revoked.
    Replayed(Box<Authorization>),
}

/// The requests in progress.
#[derive(Debug, Default)]
pub struct Flows {
    pending: Mutex<HashMap<String, Authorization>>,
}

/// SHA-256 of a secret value, base64url (codes and refresh tokens are stored only this way).
pub fn hash(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

/// What a new request holds.
pub struct NewAuthorization {
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub resource: String,
    pub resource_id: String,
    pub state: String,
    pub code_challenge: String,
}

impl Flows {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Authorization>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a new request and returns it (with its id).
    pub fn start(&self, new: NewAuthorization, now: i64) -> Authorization {
        let ttl = i64::try_from(AUTHORIZATION_TTL.as_secs()).unwrap_or(600);
        let authorization = Authorization {
            id: keys::random_id(16),
            client_id: new.client_id,
            user_id: new.user_id,
            redirect_uri: new.redirect_uri,
            scope: new.scope,
            resource: new.resource,
            resource_id: new.resource_id,
            state: new.state,
            code_challenge: new.code_challenge,
            expires_at: now + ttl,
            code_hash: None,
            consumed: false,
        };
        let mut pending = self.lock();
        pending.retain(|_, a| a.expires_at > now);
        pending.insert(authorization.id.clone(), authorization.clone());
        authorization
    }

    /// A live request that has not produced a code yet.
    pub fn awaiting(&self, id: &str, now: i64) -> Option<Authorization> {
        self.lock()
            .get(id)
            .filter(|a| a.expires_at > now && a.code_hash.is_none())
            .cloned()
    }

    /// Completes a request for `user_id` with the approved `scope`; returns the one-time code.
    pub fn complete(&self, id: &str, user_id: &str, scope: &str, now: i64) -> Option<String> {
        let mut pending = self.lock();
        let a = pending
            .get_mut(id)
            .filter(|a| a.expires_at > now && a.code_hash.is_none())?;
        let code = keys::random_id(32);
        a.code_hash = Some(hash(&code));
        user_id.clone_into(&mut a.user_id);
        scope.clone_into(&mut a.scope);
        Some(code)
    }

    /// Forgets a request (denied consent).
    pub fn cancel(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Consumes a code: the request it came from, once. Expiry is the caller's check, so an
    /// expired code reads as expired rather than unknown.
    pub fn consume(&self, code: &str) -> Result<Authorization, CodeError> {
        let wanted = hash(code);
        let mut pending = self.lock();
        let a = pending
            .values_mut()
            .find(|a| a.code_hash.as_deref() == Some(wanted.as_str()))
            .ok_or(CodeError::Unknown)?;
        if a.consumed {
            return Err(CodeError::Replayed(Box::new(a.clone())));
        }
        a.consumed = true;
        Ok(a.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new() -> NewAuthorization {
        NewAuthorization {
            client_id: "c".into(),
            user_id: String::new(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            scope: "a".into(),
            resource: "http://r/mcp".into(),
            resource_id: "r".into(),
            state: "s".into(),
            code_challenge: "x".into(),
        }
    }

    #[test]
    fn a_code_is_issued_once_and_consumed_once() {
        let flows = Flows::default();
        let a = flows.start(new(), 100);
        assert!(flows.awaiting(&a.id, 101).is_some());
        let code = flows.complete(&a.id, "u", "a", 101).unwrap();
        assert!(flows.complete(&a.id, "u", "a", 101).is_none(), "one code");
        assert!(flows.awaiting(&a.id, 101).is_none());
        let got = flows.consume(&code).unwrap();
        assert_eq!(
            (got.user_id.as_str(), got.id.as_str()),
            ("u", a.id.as_str())
        );
        assert!(matches!(flows.consume(&code), Err(CodeError::Replayed(_))));
        assert_eq!(flows.consume("other"), Err(CodeError::Unknown));
        // Expired requests are dropped when the next one starts.
        flows.start(new(), 100 + 601);
        assert_eq!(flows.consume(&code), Err(CodeError::Unknown));
    }
}
