//! A short-lived memory of tokens authplane-sdk has already accepted.
//!
//! Verifying a token (JWKS lookup, key parsing, an ES256/RS256 signature check, claim decoding)
//! is most of what the echo server spends on a request; a client sends the same token on every
//! call until it expires. So an accepted token's claims are kept for a few seconds and a repeat
//! of the exact same token string skips the SDK. What this does not weaken:
//! - only accepted tokens are remembered, so a forged or mis-bound token always meets the SDK;
//! - the key is the whole token, signature included: a token that differs in one byte is a miss;
//! - an entry never outlives the token's `exp`, and lives at most [`TTL`], which is shorter than
//!   the SDK's own JWKS cache — a key the AS stops publishing is dropped no later than the SDK
//!   would drop it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authplane_sdk::VerifiedClaims;

/// How long an accepted token is remembered at most.
pub const TTL: Duration = Duration::from_secs(30);
/// Entries kept at most; a local echo server sees a handful of tokens, so this only bounds memory
/// against a client that sends a new token on every request.
const CAPACITY: usize = 1024;

struct Entry {
    claims: Arc<VerifiedClaims>,
    /// When the entry stops being used: the earlier of `exp` and now + [`TTL`].
    until: Instant,
}

/// The memory of accepted tokens. Cheap to share: one mutex around a map.
#[derive(Default)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<String, Entry>>,
}

impl VerifiedTokens {
    /// The claims of `token` if it was accepted recently and has not expired since.
    pub fn get(&self, token: &str) -> Option<Arc<VerifiedClaims>> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(token) {
            Some(entry) if entry.until > now => Some(entry.claims.clone()),
            Some(_) => {
                entries.remove(token);
                None
            }
            None => None,
        }
    }

    /// Remembers that authplane-sdk accepted `token` with `claims`.
    pub fn insert(&self, token: &str, claims: Arc<VerifiedClaims>) {
        let now = Instant::now();
        let until = now + TTL.min(time_to_expiry(claims.expires_at));
        if until <= now {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(token.to_owned(), Entry { claims, until });
    }
}

/// Time from now until the Unix time `exp` (zero when it has passed).
fn time_to_expiry(exp: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let exp = Duration::from_secs(u64::try_from(exp).unwrap_or(0));
    exp.saturating_sub(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires_in: i64) -> Arc<VerifiedClaims> {
        let now = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap();
        Arc::new(VerifiedClaims {
            sub: "client".into(),
            client_id: "client".into(),
            scopes: vec!["mcp:echo".into()],
            issuer: "http://localhost:9000".into(),
            audience: vec!["http://localhost:8080/mcp".into()],
            expires_at: now + expires_in,
            issued_at: now,
            jti: "j".into(),
            kid: "k".into(),
            agent_id: String::new(),
            agent_chain: Vec::new(),
            not_before: 0,
            raw: std::collections::BTreeMap::new(),
            dpop_proof: None,
        })
    }

    #[test]
    fn an_accepted_token_is_found_again_and_only_that_exact_string() {
        let cache = VerifiedTokens::default();
        cache.insert("a.b.c", claims(300));
        assert!(cache.get("a.b.c").is_some());
        assert!(cache.get("a.b.d").is_none(), "one byte differs: a miss");
        assert!(cache.get("a.b.c ").is_none());
    }

    #[test]
    fn an_expired_token_is_never_remembered() {
        let cache = VerifiedTokens::default();
        cache.insert("old", claims(-5));
        assert!(cache.get("old").is_none());
    }

    #[test]
    fn the_map_stays_bounded() {
        let cache = VerifiedTokens::default();
        for i in 0..(CAPACITY + 10) {
            cache.insert(&format!("token-{i}"), claims(300));
        }
        let len = cache.entries.lock().unwrap().len();
        assert!(len <= CAPACITY, "{len}");
        assert!(cache.get(&format!("token-{}", CAPACITY + 9)).is_some());
    }
}
