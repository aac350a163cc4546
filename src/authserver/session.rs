//! Browser state of the interactive flow, as upstream keeps it: a signed session cookie naming the
//! signed-in user, a pre-session login nonce cookie (`<nonce>|<mac>`) that binds the login form's
//! CSRF token to the browser that fetched it, and CSRF tokens derived from the session (consent
//! form) or the nonce (login form). Every value is an HMAC-SHA256 under the session secret, each
//! purpose with its own derived key; nothing is stored server-side.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use super::keys;

/// Upstream's default session cookie name (`AUTHPLANE_SESSION_COOKIE_NAME`).
pub const SESSION_COOKIE: &str = "authserver_session";
/// Upstream's login nonce cookie.
pub const LOGIN_NONCE_COOKIE: &str = "authserver_login_nonce";
/// How long a session lasts (upstream's `AUTHPLANE_SESSION_MAX_AGE` default, 24 h).
pub const SESSION_MAX_AGE: i64 = 24 * 60 * 60;
/// How long a rendered login form stays submittable (upstream: 12 h).
pub const LOGIN_NONCE_MAX_AGE: i64 = 12 * 60 * 60;

/// The key material every cookie and token is signed with.
#[derive(Debug)]
pub struct SessionKeys {
    secret: Vec<u8>,
    /// Add `Secure` to cookies (`AUTHPLANE_SESSION_SECURE`).
    secure: bool,
}

impl SessionKeys {
    /// Keys from the configured session secret; without one (allowed for a localhost issuer) a
    /// random secret for this process, as upstream does — sessions then end with the server.
    pub fn new(secret: Option<&str>, secure: bool) -> SessionKeys {
        let secret = secret.map_or_else(|| keys::random_id(32), str::to_owned);
        SessionKeys {
            secret: secret.into_bytes(),
            secure,
        }
    }

    fn mac(&self, purpose: &str, value: &str) -> String {
        // One key per purpose, so a value signed for one use never verifies for another.
        let mut derive = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        derive.update(purpose.as_bytes());
        let key = derive.finalize().into_bytes();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
        mac.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn check(&self, purpose: &str, value: &str, presented: &str) -> bool {
        self.mac(purpose, value)
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into()
    }

    /// The session cookie value for `user_id`, issued at `now` (Unix seconds).
    pub fn session_value(&self, user_id: &str, now: i64) -> String {
        let body = format!("{user_id}.{now}");
        let mac = self.mac("session", &body);
        format!("{body}.{mac}")
    }

    /// The user a session cookie value names, if it is ours and not older than the max age.
    pub fn session_user(&self, value: &str, now: i64) -> Option<String> {
        let (body, mac) = value.rsplit_once('.')?;
        if !self.check("session", body, mac) {
            return None;
        }
        let (user, issued) = body.rsplit_once('.')?;
        let issued: i64 = issued.parse().ok()?;
        (now - issued < SESSION_MAX_AGE && issued <= now + 60).then(|| user.to_owned())
    }

    /// A fresh login nonce cookie value (`<nonce>|<mac>`).
    pub fn new_login_nonce(&self) -> String {
        let nonce = keys::random_id(16);
        let mac = self.mac("login-nonce", &nonce);
        format!("{nonce}|{mac}")
    }

    /// The nonce inside a cookie value this server minted; `None` for anything else.
    pub fn login_nonce<'v>(&self, value: &'v str) -> Option<&'v str> {
        let (nonce, mac) = value.split_once('|')?;
        self.check("login-nonce", nonce, mac).then_some(nonce)
    }

    /// The CSRF token bound to `binding` (a session cookie value, or a login nonce).
    pub fn csrf_token(&self, binding: &str) -> String {
        self.mac("csrf", binding)
    }

    /// Whether `presented` is the CSRF token bound to `binding`.
    pub fn csrf_valid(&self, binding: &str, presented: &str) -> bool {
        !presented.is_empty() && self.check("csrf", binding, presented)
    }

    /// A `Set-Cookie` value (`HttpOnly`, `SameSite=Lax`, path `/`, `Secure` when configured).
    pub fn set_cookie(&self, name: &str, value: &str, max_age: i64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let text =
            format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// A `Set-Cookie` value that deletes cookie `name`.
    pub fn clear_cookie(&self, name: &str) -> HeaderValue {
        self.set_cookie(name, "", 0)
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The signed-in user's id, from the session cookie.
pub fn signed_in_user(keys: &SessionKeys, headers: &HeaderMap) -> Option<String> {
    let value = cookie(headers, SESSION_COOKIE)?;
    keys.session_user(value, time::OffsetDateTime::now_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_verify_only_unaltered_and_fresh() {
        let k = SessionKeys::new(Some("a-secret-of-some-length"), false);
        let v = k.session_value("user1", 1000);
        assert_eq!(k.session_user(&v, 1001).as_deref(), Some("user1"));
        assert_eq!(k.session_user(&v, 1000 + SESSION_MAX_AGE), None);
        assert_eq!(k.session_user(&v.replace("user1", "user2"), 1001), None);
        let other = SessionKeys::new(Some("another-secret-value"), false);
        assert_eq!(other.session_user(&v, 1001), None);
    }

    #[test]
    fn csrf_is_bound_to_its_nonce_and_purpose() {
        let k = SessionKeys::new(None, true);
        let cookie = k.new_login_nonce();
        let nonce = k.login_nonce(&cookie).unwrap();
        let token = k.csrf_token(nonce);
        assert!(k.csrf_valid(nonce, &token));
        assert!(!k.csrf_valid("another", &token));
        assert!(!k.csrf_valid(nonce, ""));
        // A nonce this server did not mint is refused.
        assert_eq!(k.login_nonce("invented|mac"), None);
        // The nonce's own MAC is no CSRF token.
        assert!(!k.csrf_valid(nonce, cookie.split_once('|').unwrap().1));
        let set = k.set_cookie(SESSION_COOKIE, "v", 5);
        assert!(set.to_str().unwrap().ends_with("SameSite=Lax; Secure"));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; authserver_session=xyz".parse().unwrap(),
        );
        h.append(header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
