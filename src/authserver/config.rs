//! The embedded authorization server's configuration: read from the same `AUTHPLANE_*` variables
//! as authserver 0.2.2 (bool and Go-duration parsing as the real server does) and validated with
//! its startup rules, so a configuration the real server refuses is refused here too.

use std::fmt::Write as _;
use std::time::Duration;

use crate::config::{Vars, bind_address, var};
use crate::exit::ConfigError;

/// Variables only the authorization server reads (the shared ones live in [`crate::config::var`]).
pub mod as_var {
    pub const ADMIN_ENABLED: &str = "AUTHPLANE_ADMIN_ENABLED";
    pub const SESSION_SECURE: &str = "AUTHPLANE_SESSION_SECURE";
    pub const SIGNING_ALGORITHM: &str = "AUTHPLANE_SIGNING_ALGORITHM";
    pub const CLIENT_CREDENTIALS_ENABLED: &str = "AUTHPLANE_CLIENT_CREDENTIALS_ENABLED";
    pub const CLIENT_CREDENTIALS_TOKEN_EXPIRY: &str = "AUTHPLANE_CLIENT_CREDENTIALS_TOKEN_EXPIRY";
    pub const RATE_LIMIT_ENABLED: &str = "AUTHPLANE_RATE_LIMIT_ENABLED";
    pub const RATE_LIMIT_RPS: &str = "AUTHPLANE_RATE_LIMIT_RPS";
    pub const RATE_LIMIT_BURST: &str = "AUTHPLANE_RATE_LIMIT_BURST";
    pub const DPOP_ENABLED: &str = "AUTHPLANE_DPOP_ENABLED";
    pub const DPOP_NONCE_TTL: &str = "AUTHPLANE_DPOP_NONCE_TTL";
    pub const DPOP_PROOF_LIFETIME: &str = "AUTHPLANE_DPOP_PROOF_LIFETIME";
    pub const DPOP_REQUIRE_NONCE: &str = "AUTHPLANE_DPOP_REQUIRE_NONCE";
    pub const TOKEN_EXCHANGE_ENABLED: &str = "AUTHPLANE_TOKEN_EXCHANGE_ENABLED";
    pub const XAA_ENABLED: &str = "AUTHPLANE_XAA_ENABLED";
    pub const CIMD_ENABLED: &str = "AUTHPLANE_CIMD_ENABLED";
    pub const CIMD_REQUIRE_HTTPS: &str = "AUTHPLANE_CIMD_REQUIRE_HTTPS";
    pub const CIMD_ALLOW_PRIVATE_ADDRESSES: &str = "AUTHPLANE_CIMD_ALLOW_PRIVATE_ADDRESSES";
    pub const OAUTH_REQUIRE_SCOPE: &str = "AUTHPLANE_OAUTH_REQUIRE_SCOPE";
    pub const SERVER_ALLOWED_ORIGINS: &str = "AUTHPLANE_SERVER_ALLOWED_ORIGINS";
    pub const DCR_MODE: &str = "AUTHPLANE_DCR_MODE";
    pub const DCR_APPROVED_REDIRECTS: &str = "AUTHPLANE_DCR_APPROVED_REDIRECTS";
    pub const DCR_DEFAULT_TOKEN_EXPIRY: &str = "AUTHPLANE_DCR_DEFAULT_TOKEN_EXPIRY";
    pub const DCR_DEFAULT_REFRESH_EXPIRY: &str = "AUTHPLANE_DCR_DEFAULT_REFRESH_EXPIRY";
}

/// Values the real server rejects as secrets (compared trimmed and lower-cased, exact match).
const WEAK_SECRETS: &[&str] = &[
    "dev-secret-change-me",
    "dev-admin-key",
    "changeme",
    "secret",
    "password",
    "admin",
    "test",
];

/// Minimum length of the session secret and admin key for a non-localhost issuer.
const MIN_SECRET_LEN: usize = 16;

/// The JWS algorithm access tokens are signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 (the default).
    Es256,
    /// RSASSA-PKCS1-v1_5 with an RSA-2048 key.
    Rs256,
}

impl SigningAlgorithm {
    /// The JOSE name (`ES256` / `RS256`).
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::Rs256 => "RS256",
        }
    }

    /// Parses a JOSE name; the real server accepts exactly these two spellings.
    pub fn parse(value: &str) -> Option<SigningAlgorithm> {
        match value {
            "ES256" => Some(SigningAlgorithm::Es256),
            "RS256" => Some(SigningAlgorithm::Rs256),
            _ => None,
        }
    }
}

/// Per-IP token bucket settings of the public listener.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub enabled: bool,
    /// Tokens added per second.
    pub rps: f64,
    /// Bucket size.
    pub burst: f64,
}

/// The resolved configuration of one embedded authorization server.
#[derive(Debug, Clone)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "mirrors the real server's independent on/off switches"
)]
pub struct AsConfig {
    /// Announced as `issuer`, stamped as `iss`, prefix of every endpoint URL (verbatim).
    pub issuer: String,
    /// Public listener address in the real server's form (`:9000`, `host:9000`).
    pub server_address: String,
    pub admin_enabled: bool,
    pub admin_address: String,
    /// Bearer key for the admin API; `None` means every admin call is refused.
    pub admin_api_key: Option<String>,
    pub session_secret: Option<String>,
    pub session_secure: bool,
    /// The raw `AUTHPLANE_SIGNING_ALGORITHM` value (validated by [`AsConfig::validate`]).
    pub signing_algorithm: String,
    pub client_credentials_enabled: bool,
    /// Lifetime of client-credentials tokens (`expires_in`, `exp - iat`).
    pub token_expiry: Duration,
    /// Set when the expiry variable held a negative or zero duration (a validation error).
    token_expiry_invalid: Option<String>,
    pub rate_limit: RateLimit,
    /// Numeric rate-limit values that could not be parsed, reported by validation.
    rate_limit_unparsable: Vec<(String, String)>,
    pub dpop_enabled: bool,
    /// How long a `DPoP-Nonce` stays valid (`AUTHPLANE_DPOP_NONCE_TTL`).
    pub dpop_nonce_ttl: Duration,
    /// How far a proof's `iat` may be from now (`AUTHPLANE_DPOP_PROOF_LIFETIME`, 10s–300s).
    pub dpop_proof_lifetime: Duration,
    /// Refuse proofs without a server nonce (`AUTHPLANE_DPOP_REQUIRE_NONCE`).
    pub dpop_require_nonce: bool,
    /// The proof lifetime as written, when it was not positive (a validation error).
    dpop_proof_lifetime_invalid: Option<String>,
    pub token_exchange_enabled: bool,
    pub xaa_enabled: bool,
    pub cimd_enabled: bool,
    /// CIMD document URLs must be https (`AUTHPLANE_CIMD_REQUIRE_HTTPS`; off only with a
    /// localhost issuer).
    pub cimd_require_https: bool,
    /// CIMD documents may be fetched from private addresses (only with a localhost issuer).
    pub cimd_allow_private_addresses: bool,
    /// An authorization request without `scope` is refused (`AUTHPLANE_OAUTH_REQUIRE_SCOPE`);
    /// otherwise it gets every scope of the resource.
    pub oauth_require_scope: bool,
    /// Lifetime of user access tokens (`AUTHPLANE_DCR_DEFAULT_TOKEN_EXPIRY`, 15m).
    pub user_token_expiry: Duration,
    /// Lifetime of refresh tokens (`AUTHPLANE_DCR_DEFAULT_REFRESH_EXPIRY`, 168h).
    pub refresh_token_expiry: Duration,
    /// `open`, `approved_redirects` or `admin_only` (`AUTHPLANE_DCR_MODE`).
    pub dcr_mode: String,
    /// The redirect URIs `approved_redirects` accepts (exact strings).
    pub dcr_approved_redirects: Vec<String>,
    /// Origins a browser client may call the public listener from (CORS).
    pub allowed_origins: Vec<String>,
    /// The local dev user to put in place at startup (`AUTHPLANE_DEV_USER_EMAIL` and
    /// `AUTHPLANE_DEV_USER_PASSWORD`, both set).
    pub dev_user: Option<(String, String)>,
    /// Bind a host-less address (`:9000`) on all interfaces instead of loopback (only the
    /// `authserver` personality, which runs inside a container, sets this).
    pub bind_all_interfaces: bool,
}

impl AsConfig {
    /// Reads the configuration from resolved variables (process environment over `.env`),
    /// with the real server's defaults for anything unset.
    pub fn from_vars(vars: &Vars) -> AsConfig {
        let text = |name: &str, default: &str| -> String {
            match vars.get(name) {
                Some(v) if !v.is_empty() => v.to_owned(),
                _ => default.to_owned(),
            }
        };
        let flag =
            |name: &str, default: bool| -> bool { vars.get(name).map_or(default, parse_bool) };
        let secret = |name: &str| vars.get(name).filter(|v| !v.is_empty()).map(str::to_owned);

        let mut token_expiry = Duration::from_hours(1);
        let mut token_expiry_invalid = None;
        if let Some(raw) = vars.get(as_var::CLIENT_CREDENTIALS_TOKEN_EXPIRY) {
            // The real server silently ignores an unparsable duration; a non-positive one is a
            // boot error.
            match parse_go_duration(raw) {
                Some(GoDuration::Positive(d)) => token_expiry = d,
                Some(GoDuration::NotPositive) => token_expiry_invalid = Some(raw.to_owned()),
                None => {}
            }
        }

        let mut rate_limit_unparsable = Vec::new();
        let mut number = |name: &str, default: f64| -> f64 {
            match vars.get(name).map(str::trim) {
                None | Some("") => default,
                Some(raw) => raw.parse::<f64>().unwrap_or_else(|_| {
                    rate_limit_unparsable.push((name.to_owned(), raw.to_owned()));
                    default
                }),
            }
        };
        let rate_limit = RateLimit {
            enabled: flag(as_var::RATE_LIMIT_ENABLED, true),
            rps: number(as_var::RATE_LIMIT_RPS, 100.0),
            burst: number(as_var::RATE_LIMIT_BURST, 200.0),
        };

        // Unparsable durations are ignored, as upstream; the proof lifetime's range is checked by
        // validation, a non-positive nonce TTL just makes every nonce stale at once.
        let duration = |name: &str| vars.get(name).and_then(parse_go_duration);
        // Upstream ignores an unparsable duration; a non-positive one keeps the default here.
        let positive = |name: &str, default: Duration| match duration(name) {
            Some(GoDuration::Positive(d)) => d,
            _ => default,
        };
        let dpop_nonce_ttl = match duration(as_var::DPOP_NONCE_TTL) {
            Some(GoDuration::Positive(d)) => d,
            Some(GoDuration::NotPositive) => Duration::ZERO,
            None => Duration::from_mins(1),
        };
        let mut dpop_proof_lifetime_invalid = None;
        let dpop_proof_lifetime = match duration(as_var::DPOP_PROOF_LIFETIME) {
            Some(GoDuration::Positive(d)) => d,
            Some(GoDuration::NotPositive) => {
                dpop_proof_lifetime_invalid =
                    vars.get(as_var::DPOP_PROOF_LIFETIME).map(str::to_owned);
                Duration::from_mins(1)
            }
            None => Duration::from_mins(1),
        };

        AsConfig {
            issuer: text(var::SERVER_ISSUER, crate::config::default::ISSUER),
            server_address: text(var::SERVER_ADDRESS, crate::config::default::SERVER_ADDRESS),
            admin_enabled: flag(as_var::ADMIN_ENABLED, true),
            admin_address: text(var::ADMIN_ADDRESS, crate::config::default::ADMIN_ADDRESS),
            admin_api_key: secret(var::ADMIN_API_KEY),
            session_secret: secret(var::SESSION_SECRET),
            session_secure: flag(as_var::SESSION_SECURE, false),
            signing_algorithm: text(as_var::SIGNING_ALGORITHM, "ES256"),
            client_credentials_enabled: flag(as_var::CLIENT_CREDENTIALS_ENABLED, true),
            token_expiry,
            token_expiry_invalid,
            rate_limit,
            rate_limit_unparsable,
            dpop_enabled: flag(as_var::DPOP_ENABLED, true),
            dpop_nonce_ttl,
            dpop_proof_lifetime,
            dpop_require_nonce: flag(as_var::DPOP_REQUIRE_NONCE, false),
            dpop_proof_lifetime_invalid,
            token_exchange_enabled: flag(as_var::TOKEN_EXCHANGE_ENABLED, true),
            xaa_enabled: flag(as_var::XAA_ENABLED, true),
            cimd_enabled: flag(as_var::CIMD_ENABLED, true),
            cimd_require_https: flag(as_var::CIMD_REQUIRE_HTTPS, true),
            cimd_allow_private_addresses: flag(as_var::CIMD_ALLOW_PRIVATE_ADDRESSES, false),
            oauth_require_scope: flag(as_var::OAUTH_REQUIRE_SCOPE, true),
            user_token_expiry: positive(as_var::DCR_DEFAULT_TOKEN_EXPIRY, Duration::from_mins(15)),
            refresh_token_expiry: positive(
                as_var::DCR_DEFAULT_REFRESH_EXPIRY,
                Duration::from_hours(168),
            ),
            dev_user: secret(var::DEV_USER_EMAIL).zip(secret(var::DEV_USER_PASSWORD)),
            allowed_origins: super::cors::parse(vars.get(as_var::SERVER_ALLOWED_ORIGINS)),
            dcr_mode: text(as_var::DCR_MODE, "open"),
            dcr_approved_redirects: super::cors::parse(vars.get(as_var::DCR_APPROVED_REDIRECTS)),
            bind_all_interfaces: false,
        }
    }

    /// The signing algorithm; call after [`AsConfig::validate`] (falls back to ES256).
    pub fn algorithm(&self) -> SigningAlgorithm {
        SigningAlgorithm::parse(&self.signing_algorithm).unwrap_or(SigningAlgorithm::Es256)
    }

    /// The DPoP settings the token endpoint applies.
    pub fn dpop(&self) -> super::dpop::DpopSettings {
        super::dpop::DpopSettings {
            enabled: self.dpop_enabled,
            nonce_ttl: self.dpop_nonce_ttl,
            proof_lifetime: self.dpop_proof_lifetime,
            require_nonce: self.dpop_require_nonce,
        }
    }

    /// True when the issuer names this machine (`http(s)://localhost`, `127.0.0.1` or `[::1]`).
    pub fn localhost_issuer(&self) -> bool {
        is_localhost_issuer(&self.issuer)
    }

    /// Applies the real server's startup rules. Every problem is collected into one
    /// `configuration validation failed:` message with a numbered list, as the real server prints.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            return Ok(());
        }
        let mut message = String::from("configuration validation failed:");
        for (i, p) in problems.iter().enumerate() {
            let _ = write!(message, "\n  {}. {p}", i + 1);
        }
        Err(ConfigError::Invalid(message))
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let local = self.localhost_issuer();
        if self.issuer.trim().is_empty() {
            out.push(format!(
                "server.issuer is required (set {})",
                var::SERVER_ISSUER
            ));
        }
        if self.server_address.trim().is_empty() {
            out.push(format!(
                "server.address is required (set {})",
                var::SERVER_ADDRESS
            ));
        } else if let Err(e) = bind_address(var::SERVER_ADDRESS, &self.server_address) {
            out.push(e.to_string());
        }
        if SigningAlgorithm::parse(&self.signing_algorithm).is_none() {
            out.push(format!(
                "signing.algorithm must be ES256 or RS256, got {:?} (set {}=ES256)",
                self.signing_algorithm,
                as_var::SIGNING_ALGORITHM
            ));
        }
        match &self.session_secret {
            None if !local => out.push(format!(
                "session.secret is required for a non-localhost issuer (set {} to a random \
                 value of at least {MIN_SECRET_LEN} characters, e.g. `openssl rand -hex 32`)",
                var::SESSION_SECRET
            )),
            Some(s) if is_weak(s) => out.push(format!(
                "session.secret is a well-known weak value; set {} to a random value \
                 (e.g. `openssl rand -hex 32`)",
                var::SESSION_SECRET
            )),
            Some(s) if !local && s.chars().count() < MIN_SECRET_LEN => out.push(format!(
                "session.secret must be at least {MIN_SECRET_LEN} characters for a \
                 non-localhost issuer (set {})",
                var::SESSION_SECRET
            )),
            _ => {}
        }
        if !["open", "approved_redirects", "admin_only"].contains(&self.dcr_mode.as_str()) {
            out.push(format!(
                "dcr.mode must be open, approved_redirects or admin_only, got {:?} (set {})",
                self.dcr_mode,
                as_var::DCR_MODE
            ));
        }
        if !local && !self.cimd_require_https {
            out.push(format!(
                "cimd.require_https=false is only allowed with a localhost issuer (unset {})",
                as_var::CIMD_REQUIRE_HTTPS
            ));
        }
        if !local && self.cimd_allow_private_addresses {
            out.push(format!(
                "cimd.allow_private_addresses=true is only allowed with a localhost issuer \
                 (unset {})",
                as_var::CIMD_ALLOW_PRIVATE_ADDRESSES
            ));
        }
        if !local && !self.session_secure {
            out.push(format!(
                "refusing non-localhost issuer {:?} without secure cookies (set {}=true)",
                self.issuer,
                as_var::SESSION_SECURE
            ));
        }
        if self.admin_enabled {
            match &self.admin_api_key {
                None if !local => out.push(format!(
                    "admin.api_key is required when the admin API is enabled and the issuer is \
                     not localhost (set {} to a random value of at least {MIN_SECRET_LEN} \
                     characters)",
                    var::ADMIN_API_KEY
                )),
                Some(k) if is_weak(k) => out.push(format!(
                    "admin.api_key is a well-known weak value; set {} to a random value \
                     (e.g. `openssl rand -hex 32`)",
                    var::ADMIN_API_KEY
                )),
                Some(k) if !local && k.chars().count() < MIN_SECRET_LEN => out.push(format!(
                    "admin.api_key must be at least {MIN_SECRET_LEN} characters for a \
                     non-localhost issuer (set {})",
                    var::ADMIN_API_KEY
                )),
                _ => {}
            }
            if let Err(e) = bind_address(var::ADMIN_ADDRESS, &self.admin_address) {
                out.push(e.to_string());
            } else if self.admin_address.trim() == self.server_address.trim() {
                out.push(format!(
                    "admin.address must differ from server.address (both are {:?}; set {} to \
                     another port)",
                    self.admin_address,
                    var::ADMIN_ADDRESS
                ));
            }
        }
        if let Some(raw) = &self.token_expiry_invalid {
            out.push(format!(
                "client_credentials.token_expiry must be positive, got {raw:?} (set {}=1h)",
                as_var::CLIENT_CREDENTIALS_TOKEN_EXPIRY
            ));
        }
        let lifetime_ok = (Duration::from_secs(10)..=Duration::from_mins(5))
            .contains(&self.dpop_proof_lifetime)
            && self.dpop_proof_lifetime_invalid.is_none();
        if !lifetime_ok {
            let shown = self
                .dpop_proof_lifetime_invalid
                .clone()
                .unwrap_or_else(|| format!("{}s", self.dpop_proof_lifetime.as_secs_f64()));
            out.push(format!(
                "dpop.proof_lifetime must be between 10s and 300s, got {shown:?} (set {}=60s)",
                as_var::DPOP_PROOF_LIFETIME
            ));
        }
        for (name, raw) in &self.rate_limit_unparsable {
            out.push(format!("{name}={raw:?} is not a number"));
        }
        if self.rate_limit.enabled {
            if self.rate_limit.rps <= 0.0 || !self.rate_limit.rps.is_finite() {
                out.push(format!(
                    "rate_limit.rps must be > 0 when rate limiting is enabled (set {})",
                    as_var::RATE_LIMIT_RPS
                ));
            }
            if self.rate_limit.burst < 1.0 || !self.rate_limit.burst.is_finite() {
                out.push(format!(
                    "rate_limit.burst must be > 0 when rate limiting is enabled (set {})",
                    as_var::RATE_LIMIT_BURST
                ));
            }
        }
        out
    }

    /// The socket address to bind for a listener address in the real server's form.
    pub fn bind_for(&self, name: &str, address: &str) -> Result<String, ConfigError> {
        let bound = bind_address(name, address)?;
        if self.bind_all_interfaces && address.trim_start().starts_with(':') {
            return Ok(bound.replacen("127.0.0.1", "0.0.0.0", 1));
        }
        Ok(bound)
    }
}

/// The real server's bool rule: true iff `true`, `1` or `yes` (any case); anything else is false.
pub fn parse_bool(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes"
    )
}

/// True when the issuer is `http(s)://localhost`, `127.0.0.1` or `[::1]` followed by the end,
/// `:` or `/` (so `http://localhost.example` is not local).
pub fn is_localhost_issuer(issuer: &str) -> bool {
    let rest = issuer
        .strip_prefix("http://")
        .or_else(|| issuer.strip_prefix("https://"));
    let Some(rest) = rest else { return false };
    ["localhost", "127.0.0.1", "[::1]"].iter().any(|host| {
        rest.strip_prefix(host).is_some_and(|after| {
            after.is_empty() || after.starts_with(':') || after.starts_with('/')
        })
    })
}

/// Whether the real AS refuses `secret` as weak (its fixed list, compared trimmed and lower-cased).
pub fn is_weak(secret: &str) -> bool {
    let normalised = secret.trim().to_lowercase();
    WEAK_SECRETS.contains(&normalised.as_str())
}

/// A parsed Go duration.
#[derive(Debug, PartialEq, Eq)]
pub enum GoDuration {
    Positive(Duration),
    /// Zero or negative (a sign is accepted by Go's parser).
    NotPositive,
}

/// Parses Go's `time.ParseDuration` syntax (`1h`, `90s`, `1h30m`, `1.5h`, `300ms`); `None` when
/// the text is not a duration.
pub fn parse_go_duration(text: &str) -> Option<GoDuration> {
    let mut s = text.trim();
    let negative = if let Some(rest) = s.strip_prefix('-') {
        s = rest;
        true
    } else {
        s = s.strip_prefix('+').unwrap_or(s);
        false
    };
    if s == "0" {
        return Some(GoDuration::NotPositive);
    }
    if s.is_empty() {
        return None;
    }
    let mut total_nanos: f64 = 0.0;
    while !s.is_empty() {
        let num_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, rest) = s.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let (unit, tail) = rest.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total_nanos += value * scale;
        s = tail;
    }
    if negative || total_nanos < 1.0 {
        return Some(GoDuration::NotPositive);
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "positive and far below u64::MAX nanoseconds for any sane duration"
    )]
    let nanos = total_nanos.min(u64::MAX as f64) as u64;
    Some(GoDuration::Positive(Duration::from_nanos(nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> AsConfig {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        AsConfig::from_vars(&Vars::from_parts(env, Vec::new()))
    }

    #[test]
    fn bools_follow_the_real_server() {
        for v in ["true", "TRUE", "1", "yes", "Yes"] {
            assert!(parse_bool(v), "{v}");
        }
        for v in ["", "false", "0", "on", "y", "enabled"] {
            assert!(!parse_bool(v), "{v}");
        }
    }

    #[test]
    fn go_durations_parse() {
        let secs = |s| match parse_go_duration(s) {
            Some(GoDuration::Positive(d)) => d.as_secs_f64(),
            other => panic!("{s}: {other:?}"),
        };
        assert!((secs("1h") - 3600.0).abs() < 1e-9);
        assert!((secs("90s") - 90.0).abs() < 1e-9);
        assert!((secs("15m") - 900.0).abs() < 1e-9);
        assert!((secs("1h30m") - 5400.0).abs() < 1e-9);
        assert!((secs("1.5h") - 5400.0).abs() < 1e-9);
        assert!((secs("300ms") - 0.3).abs() < 1e-9);
        assert_eq!(parse_go_duration("-1h"), Some(GoDuration::NotPositive));
        assert_eq!(parse_go_duration("0"), Some(GoDuration::NotPositive));
        for bad in ["", "1", "h", "1x", "1.2.3s", "abc"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn localhost_issuers_are_recognised_exactly() {
        for i in [
            "http://localhost",
            "http://localhost:9000",
            "https://127.0.0.1/x",
            "http://[::1]:9000",
        ] {
            assert!(is_localhost_issuer(i), "{i}");
        }
        for i in [
            "http://authserver:9000",
            "http://localhost.example",
            "localhost:9000",
        ] {
            assert!(!is_localhost_issuer(i), "{i}");
        }
    }

    #[test]
    fn defaults_are_the_real_servers() {
        let c = config(&[]);
        assert_eq!(c.issuer, "http://localhost:9000");
        assert!(c.client_credentials_enabled && c.admin_enabled && c.rate_limit.enabled);
        assert_eq!(c.token_expiry, Duration::from_hours(1));
        assert_eq!(c.algorithm(), SigningAlgorithm::Es256);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn unparsable_expiry_is_ignored_but_negative_is_fatal() {
        let c = config(&[(as_var::CLIENT_CREDENTIALS_TOKEN_EXPIRY, "soon")]);
        assert_eq!(c.token_expiry, Duration::from_hours(1));
        assert!(c.validate().is_ok());
        let c = config(&[(as_var::CLIENT_CREDENTIALS_TOKEN_EXPIRY, "-5m")]);
        assert!(c.validate().is_err());
    }

    #[test]
    fn dpop_settings_follow_the_real_server() {
        let d = config(&[]).dpop();
        assert!(d.enabled && !d.require_nonce);
        assert_eq!(
            (d.nonce_ttl, d.proof_lifetime),
            (Duration::from_mins(1), Duration::from_mins(1))
        );
        let c = config(&[
            (as_var::DPOP_PROOF_LIFETIME, "2m"),
            (as_var::DPOP_NONCE_TTL, "90s"),
            (as_var::DPOP_REQUIRE_NONCE, "yes"),
        ]);
        assert!(c.validate().is_ok());
        let d = c.dpop();
        assert!(d.require_nonce);
        assert_eq!(d.proof_lifetime, Duration::from_mins(2));
        assert_eq!(d.nonce_ttl, Duration::from_secs(90));
        for bad in ["5s", "301s", "-1m", "0"] {
            let msg = config(&[(as_var::DPOP_PROOF_LIFETIME, bad)])
                .validate()
                .unwrap_err()
                .to_string();
            assert!(
                msg.contains("dpop.proof_lifetime must be between 10s and 300s"),
                "{msg}"
            );
        }
        // Unparsable: ignored, as upstream.
        assert!(
            config(&[(as_var::DPOP_PROOF_LIFETIME, "soon")])
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn non_localhost_issuer_needs_secure_cookies_and_strong_secrets() {
        let c = config(&[
            (var::SERVER_ISSUER, "http://authserver:9000"),
            (var::ADMIN_API_KEY, "admin"),
        ]);
        let msg = c.validate().unwrap_err().to_string();
        assert!(
            msg.starts_with("configuration validation failed:\n  1. "),
            "{msg}"
        );
        assert!(msg.contains("session.secret is required"), "{msg}");
        assert!(msg.contains("without secure cookies"), "{msg}");
        assert!(
            msg.contains("admin.api_key is a well-known weak value"),
            "{msg}"
        );
        assert!(msg.contains("\n  3. "), "{msg}");
        let ok = config(&[
            (var::SERVER_ISSUER, "https://auth.example.com"),
            (var::ADMIN_API_KEY, "0123456789abcdef0123"),
            (var::SESSION_SECRET, "0123456789abcdef0123"),
            (as_var::SESSION_SECURE, "yes"),
        ]);
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn weak_key_is_refused_even_on_localhost_and_addresses_must_differ() {
        let c = config(&[
            (var::ADMIN_API_KEY, " ChangeMe "),
            (var::ADMIN_ADDRESS, ":9000"),
        ]);
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains("weak"), "{msg}");
        assert!(msg.contains("must differ"), "{msg}");
        // The examples' dev values are not on the list (exact match only).
        let c = config(&[(var::ADMIN_API_KEY, "dev-admin-key-change-me")]);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn host_less_addresses_bind_loopback_unless_in_a_container() {
        let mut c = config(&[]);
        assert_eq!(c.bind_for("X", ":9000").unwrap(), "127.0.0.1:9000");
        c.bind_all_interfaces = true;
        assert_eq!(c.bind_for("X", ":9000").unwrap(), "0.0.0.0:9000");
        assert_eq!(c.bind_for("X", "127.0.0.1:9000").unwrap(), "127.0.0.1:9000");
    }
}
