//! Checks of a decoded (unverified) access token and of the AS metadata against the
//! configuration: audience, issuer, typ/alg/kid, required claims, expiry — the rules the
//! resource server's SDK applies (DESIGN §9), so a token is judged before it is spent and the
//! finding names the exact difference instead of a generic 401 `invalid_token`.

use crate::config::var;
use crate::diagnose::url::difference;
use crate::diagnose::{Code, Finding};
use crate::flow::jwt::Jwt;

/// Clock skew the SDKs allow for `nbf` / `iat` (the FastMCP layer allows none on `exp`).
pub const CLOCK_SKEW_SECS: i64 = 30;

/// Where the expected audience comes from, which decides what the fix names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudienceSource {
    /// The embedded echo server: `AUTHPLANE_BASE_URL` + `AUTHPLANE_MCP_PATH`.
    Echo,
    /// A user's MCP server dialled through `--mcp-url` / `AUTHPLANE_DEV_MCP_URL`.
    McpUrl,
}

/// What a token for this stack must look like.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// The audience the resource server checks for.
    pub audience: String,
    pub audience_source: AudienceSource,
    /// What the AS announces (`AUTHPLANE_SERVER_ISSUER`).
    pub server_issuer: String,
    /// What the resource server's SDK expects (`AUTHPLANE_ISSUER`).
    pub sdk_issuer: String,
    /// The issuer the running AS announced, when discovery ran.
    pub discovered_issuer: Option<String>,
    /// Scopes the resource server requires (all of them).
    pub required_scopes: Vec<String>,
    /// Seconds since the epoch.
    pub now: i64,
}

/// The fix for an audience that differs from `audience`.
pub fn audience_fix(audience: &str, source: AudienceSource) -> String {
    match source {
        AudienceSource::Echo => format!(
            "set {}={audience} (the URI registered and requested with resource=), or change {}/{} \
             so both read the same URL; then run `authplane-dev verify --fix` to re-register the \
             resource",
            var::DEV_RESOURCE_URI,
            var::BASE_URL,
            var::MCP_PATH,
        ),
        AudienceSource::McpUrl => format!(
            "set {}={audience} so the token is minted for the server you dial (or point \
             --mcp-url / {} at the URL the server uses as its resource identifier); then run \
             `authplane-dev verify --fix` to re-register the resource",
            var::DEV_RESOURCE_URI,
            var::DEV_MCP_URL,
        ),
    }
}

/// The configured resource URI must equal the audience the server checks, byte for byte.
pub fn check_resource_uri(resource_uri: &str, exp: &Expectations) -> Option<Finding> {
    let differs = difference(&exp.audience, resource_uri)?;
    Some(
        Finding::error(
            Code::AudienceMismatch,
            format!(
                "the resource URI tokens are minted for ({resource_uri}) is not the audience the MCP \
                 server checks ({})",
                exp.audience
            ),
            audience_fix(&exp.audience, exp.audience_source),
        )
        .why("the server accepts a token only if its aud contains its own URL byte for byte; every call would be 401 invalid_token")
        .compare(exp.audience.clone(), resource_uri)
        .differs(differs),
    )
}

/// The token's `aud` must contain exactly the expected audience.
pub fn check_audience(jwt: &Jwt, exp: &Expectations) -> Option<Finding> {
    let auds = jwt.audiences();
    if auds.iter().any(|a| a == &exp.audience) {
        return None;
    }
    let actual = match auds.as_slice() {
        [] => "(no aud claim)".to_owned(),
        [one] => one.clone(),
        many => many.join(" "),
    };
    let differs = auds.first().map_or_else(
        || "the token has no aud claim".to_owned(),
        |first| difference(&exp.audience, first).unwrap_or_default(),
    );
    Some(
        Finding::error(
            Code::AudienceMismatch,
            format!(
                "the token's aud does not contain the MCP server's URL {}",
                exp.audience
            ),
            audience_fix(&exp.audience, exp.audience_source),
        )
        .why("the server compares aud with its own URL byte for byte and answers 401 invalid_token otherwise")
        .compare(exp.audience.clone(), actual)
        .differs(differs),
    )
}

/// The issuer the AS announces must be the configured one, and the SDK's issuer must match it
/// (trailing slash ignored, as the SDK strips it).
pub fn check_issuers(discovered: &str, server_issuer: &str, sdk_issuer: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(differs) = difference(server_issuer, discovered) {
        findings.push(
            Finding::error(
                Code::IssuerMismatch,
                format!(
                    "the running AS announces issuer {discovered}, but {} is {server_issuer}",
                    var::SERVER_ISSUER
                ),
                format!(
                    "restart the AS with the current configuration (`authplane-dev clean && \
                     authplane-dev up`), or set {}={discovered} if that is the intended issuer",
                    var::SERVER_ISSUER
                ),
            )
            .why("the AS stamps its announced issuer into every token's iss; it was started with other settings, or another AS answers on this port")
            .compare(server_issuer, discovered)
            .differs(differs),
        );
    }
    let trim = |s: &str| s.trim_end_matches('/').to_owned();
    if trim(sdk_issuer) != trim(discovered) {
        let differs = difference(&trim(discovered), &trim(sdk_issuer)).unwrap_or_default();
        findings.push(
            Finding::error(
                Code::IssuerMismatch,
                format!(
                    "the MCP server's SDK expects issuer {sdk_issuer} ({}), but the AS announces {discovered}",
                    var::ISSUER
                ),
                format!(
                    "set {}={discovered} (it must name the same host as {})",
                    var::ISSUER,
                    var::SERVER_ISSUER
                ),
            )
            .why("the SDK compares the discovered issuer with its configured one and refuses to start (or rejects every token's iss) when they differ")
            .compare(discovered, sdk_issuer)
            .differs(differs),
        );
    }
    findings
}

/// The token's `iss` must be what the AS announces and what the SDK expects.
pub fn check_token_issuer(jwt: &Jwt, exp: &Expectations) -> Option<Finding> {
    let iss = jwt.claim_str("iss").unwrap_or("");
    let sdk = exp.sdk_issuer.trim_end_matches('/');
    if iss == sdk {
        return None;
    }
    let announced = exp
        .discovered_issuer
        .as_deref()
        .unwrap_or(&exp.server_issuer);
    let (message, fix) = if iss == announced {
        (
            format!(
                "the token's iss is {iss}, but the MCP server's SDK expects {sdk} ({})",
                var::ISSUER
            ),
            format!(
                "set {}={iss} so it names the same issuer as {}",
                var::ISSUER,
                var::SERVER_ISSUER
            ),
        )
    } else {
        (
            format!(
                "the token's iss is {iss:?}, which is neither the announced issuer nor the SDK's"
            ),
            format!(
                "make {} and {} name the same issuer and restart the stack",
                var::SERVER_ISSUER,
                var::ISSUER
            ),
        )
    };
    Some(
        Finding::error(Code::IssuerMismatch, message, fix)
            .why("the SDK requires iss to equal its configured issuer (minus a trailing slash) byte for byte")
            .compare(sdk, iss)
            .differs(difference(sdk, iss).unwrap_or_default()),
    )
}

/// Header rules: `typ` exactly `at+jwt`, `alg` ES256 or RS256, `kid` present.
pub fn check_header(jwt: &Jwt) -> Vec<Finding> {
    let mut findings = Vec::new();
    let typ = jwt.header_str("typ");
    if typ != Some("at+jwt") {
        findings.push(
            Finding::error(
                Code::TokenRejected,
                format!("the token's typ header is {}, not at+jwt", show(typ)),
                "mint the token from the Authplane AS token endpoint (it sets typ at+jwt); a token \
                 from another issuer or library will be refused",
            )
            .why("the SDK accepts only typ exactly \"at+jwt\" (RFC 9068); even application/at+jwt is refused")
            .compare("at+jwt", show(typ)),
        );
    }
    let alg = jwt.header_str("alg");
    if !matches!(alg, Some("ES256" | "RS256")) {
        findings.push(
            Finding::error(
                Code::TokenRejected,
                format!("the token's alg is {}, not ES256 or RS256", show(alg)),
                "set AUTHPLANE_SIGNING_ALGORITHM=ES256 (or RS256) on the AS",
            )
            .why("the SDK verifies ES256 and RS256 only; none and HS* are always refused")
            .compare("ES256 or RS256", show(alg)),
        );
    }
    if jwt.header_str("kid").is_none_or(str::is_empty) {
        findings.push(
            Finding::error(
                Code::TokenRejected,
                "the token has no kid header",
                "mint the token from the Authplane AS; its tokens name the signing key by kid",
            )
            .why("the SDK finds the verification key in the JWKS by exact kid")
            .compare("a kid", "(none)"),
        );
    }
    findings
}

/// Required claims (`sub`, `client_id`, `jti` non-empty strings; `iat`, `exp` numbers) and the
/// time window (`exp` in the future, `nbf`/`iat` not ahead of the clock by more than the skew).
pub fn check_claims_and_times(jwt: &Jwt, now: i64) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut missing: Vec<&str> = ["sub", "client_id", "jti"]
        .into_iter()
        .filter(|c| jwt.claim_str(c).is_none_or(str::is_empty))
        .collect();
    missing.extend(
        ["iat", "exp"]
            .into_iter()
            .filter(|c| jwt.claim_i64(c).is_none()),
    );
    if !missing.is_empty() {
        findings.push(
            Finding::error(
                Code::TokenRejected,
                format!("the token lacks required claims: {}", missing.join(", ")),
                "mint the token from the Authplane AS token endpoint",
            )
            .why("the SDK requires sub, client_id, jti (non-empty) and numeric iat and exp")
            .compare("sub client_id jti iat exp", missing.join(" ")),
        );
    }
    if let Some(exp) = jwt.claim_i64("exp")
        && exp <= now
    {
        findings.push(
            Finding::error(
                Code::TokenRejected,
                format!("the token expired {}", describe_time(exp, now)),
                "mint a fresh token (`authplane-dev token`); if it was just minted, check this \
                 machine's clock",
            )
            .why("the MCP layer rejects an expired token with no leeway")
            .compare(
                format!("exp after {}", describe_time(now, now)),
                describe_time(exp, now),
            ),
        );
    }
    for claim in ["nbf", "iat"] {
        if let Some(ts) = jwt.claim_i64(claim)
            && ts > now + CLOCK_SKEW_SECS
        {
            findings.push(
                Finding::error(
                    Code::ClockSkew,
                    format!(
                        "the token's {claim} is {}, ahead of this machine's clock by more than {CLOCK_SKEW_SECS} s",
                        describe_time(ts, now)
                    ),
                    "synchronise the clocks of this machine and the AS (e.g. enable NTP); in \
                     Docker, restart Docker Desktop to resync its VM clock",
                )
                .why("the SDK rejects tokens not yet valid beyond a 30 s skew")
                .compare(format!("{claim} ≤ {}", describe_time(now + CLOCK_SKEW_SECS, now)), describe_time(ts, now)),
            );
        }
    }
    findings
}

/// Every check of a token before it is used, in a stable order.
pub fn check_token(jwt: &Jwt, exp: &Expectations) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(check_audience(jwt, exp));
    findings.extend(check_token_issuer(jwt, exp));
    findings.extend(crate::diagnose::scope::check_token_scopes(
        &jwt.scopes(),
        &exp.required_scopes,
    ));
    findings.extend(check_header(jwt));
    findings.extend(check_claims_and_times(jwt, exp.now));
    findings
}

fn show(value: Option<&str>) -> String {
    value.map_or_else(|| "(absent)".to_owned(), |v| format!("{v:?}"))
}

/// A timestamp for people: `2026-11-28 13:40:00 UTC (in 59 min)`.
pub fn describe_time(ts: i64, now: i64) -> String {
    let absolute = time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        });
    let absolute = absolute.unwrap_or_else(|| format!("{ts} (out of range)"));
    format!("{absolute} ({})", relative(ts - now))
}

fn relative(delta: i64) -> String {
    let abs = delta.unsigned_abs();
    let amount = if abs < 60 {
        format!("{abs} s")
    } else if abs < 3600 {
        format!("{} min", abs / 60)
    } else if abs < 86_400 * 2 {
        format!("{} h {} min", abs / 3600, (abs % 3600) / 60)
    } else {
        format!("{} days", abs / 86_400)
    };
    match delta {
        0 => "now".to_owned(),
        d if d > 0 => format!("in {amount}"),
        _ => format!("{amount} ago"),
    }
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::jwt::{decode, tests::make};
    use serde_json::{Value, json};

    const NOW: i64 = 1_800_000_000;

    fn expectations() -> Expectations {
        Expectations {
            audience: "http://localhost:8080/mcp".into(),
            audience_source: AudienceSource::Echo,
            server_issuer: "http://localhost:9000".into(),
            sdk_issuer: "http://localhost:9000".into(),
            discovered_issuer: Some("http://localhost:9000".into()),
            required_scopes: vec!["mcp:echo".into()],
            now: NOW,
        }
    }

    fn good_claims() -> Value {
        json!({
            "iss": "http://localhost:9000", "sub": "c1", "client_id": "c1", "jti": "j1",
            "aud": ["http://localhost:8080/mcp"], "scope": "mcp:echo",
            "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 3590,
        })
    }

    fn token(claims: &Value) -> Jwt {
        decode(&make(
            &json!({"alg":"ES256","kid":"k1","typ":"at+jwt"}),
            claims,
        ))
        .unwrap()
    }

    fn with(key: &str, value: Value) -> Jwt {
        let mut claims = good_claims();
        claims[key] = value;
        token(&claims)
    }

    #[test]
    fn a_good_token_has_no_findings() {
        assert!(check_token(&token(&good_claims()), &expectations()).is_empty());
    }

    #[test]
    fn audience_trailing_slash_is_named() {
        let f = check_token(
            &with("aud", json!(["http://localhost:8080/mcp/"])),
            &expectations(),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::AudienceMismatch);
        assert!(f[0].differs.as_deref().unwrap().contains("trailing slash"));
        assert_eq!(f[0].expected.as_deref(), Some("http://localhost:8080/mcp"));
        assert_eq!(f[0].actual.as_deref(), Some("http://localhost:8080/mcp/"));
        assert!(
            f[0].fix
                .contains("AUTHPLANE_DEV_RESOURCE_URI=http://localhost:8080/mcp")
        );
        assert!(f[0].fix.contains("AUTHPLANE_BASE_URL/AUTHPLANE_MCP_PATH"));
    }

    #[test]
    fn audience_host_port_scheme_and_string_form() {
        for (aud, want) in [
            ("http://127.0.0.1:8080/mcp", "host: localhost vs 127.0.0.1"),
            ("http://localhost:8081/mcp", "port: 8080 vs 8081"),
            ("https://localhost:8080/mcp", "scheme: http vs https"),
        ] {
            let f = check_audience(&with("aud", json!(aud)), &expectations()).unwrap();
            assert_eq!(f.differs.as_deref(), Some(want), "{aud}");
        }
        // A string aud equal to the audience is fine; an array containing it among others too.
        assert!(
            check_audience(
                &with("aud", json!("http://localhost:8080/mcp")),
                &expectations()
            )
            .is_none()
        );
        assert!(
            check_audience(
                &with("aud", json!(["x", "http://localhost:8080/mcp"])),
                &expectations()
            )
            .is_none()
        );
        let f = check_audience(&with("aud", Value::Null), &expectations()).unwrap();
        assert_eq!(f.actual.as_deref(), Some("(no aud claim)"));
        let mut e = expectations();
        e.audience_source = AudienceSource::McpUrl;
        let f = check_audience(&with("aud", json!("x")), &e).unwrap();
        assert!(f.fix.contains("--mcp-url"), "{}", f.fix);
    }

    #[test]
    fn resource_uri_check() {
        let e = expectations();
        assert!(check_resource_uri("http://localhost:8080/mcp", &e).is_none());
        let f = check_resource_uri("http://localhost:8080/mcp/", &e).unwrap();
        assert_eq!(f.code, Code::AudienceMismatch);
        assert!(f.differs.unwrap().contains("trailing slash"));
    }

    #[test]
    fn issuer_rules() {
        assert!(
            check_issuers(
                "http://localhost:9000",
                "http://localhost:9000",
                "http://localhost:9000/"
            )
            .is_empty()
        );
        let f = check_issuers(
            "http://localhost:9000",
            "http://localhost:9000",
            "http://127.0.0.1:9000",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::IssuerMismatch);
        assert!(f[0].fix.contains("AUTHPLANE_ISSUER=http://localhost:9000"));
        assert_eq!(
            f[0].differs.as_deref(),
            Some("host: localhost vs 127.0.0.1")
        );
        let f = check_issuers(
            "http://localhost:9000/",
            "http://localhost:9000",
            "http://localhost:9000",
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("AUTHPLANE_SERVER_ISSUER"));
        assert!(f[0].differs.as_deref().unwrap().contains("trailing slash"));
    }

    #[test]
    fn token_issuer_with_a_trailing_slash_is_refused() {
        let f = check_token(
            &with("iss", json!("http://localhost:9000/")),
            &expectations(),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::IssuerMismatch);
        assert!(f[0].differs.as_deref().unwrap().contains("trailing slash"));
        let mut e = expectations();
        e.sdk_issuer = "http://127.0.0.1:9000".into();
        let f = check_token_issuer(&token(&good_claims()), &e).unwrap();
        assert!(
            f.fix.contains("AUTHPLANE_ISSUER=http://localhost:9000"),
            "{}",
            f.fix
        );
    }

    #[test]
    fn header_rules() {
        let jwt = decode(&make(
            &json!({"alg":"HS256","typ":"application/at+jwt"}),
            &good_claims(),
        ))
        .unwrap();
        let f = check_header(&jwt);
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f.iter().all(|f| f.code == Code::TokenRejected));
        assert!(f[0].message.contains("\"application/at+jwt\""));
        let jwt = decode(&make(&json!({"alg":"ES256","kid":"k"}), &good_claims())).unwrap();
        assert_eq!(check_header(&jwt)[0].actual.as_deref(), Some("(absent)"));
    }

    #[test]
    fn times_and_required_claims() {
        let f = check_claims_and_times(&with("exp", json!(NOW - 120)), NOW);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("2 min ago"), "{}", f[0].message);
        let f = check_claims_and_times(&with("nbf", json!(NOW + 600)), NOW);
        assert_eq!(f[0].code, Code::ClockSkew);
        assert!(check_claims_and_times(&with("nbf", json!(NOW + 20)), NOW).is_empty());
        let f = check_claims_and_times(&with("jti", json!("")), NOW);
        assert!(f[0].message.contains("jti"));
    }

    #[test]
    fn describe_time_is_human() {
        assert_eq!(describe_time(0, 0), "1970-01-01 00:00:00 UTC (now)");
        assert!(describe_time(3600 + 120, 0).ends_with("(in 1 h 2 min)"));
        assert!(describe_time(0, 86_400 * 3).ends_with("(3 days ago)"));
        assert!(describe_time(i64::MAX, 0).contains("out of range"));
    }
}
