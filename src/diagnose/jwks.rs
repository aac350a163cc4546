//! The AS's signing keys (JWKS) as a resource server demands them (DESIGN §9): an absolute
//! `jwks_uri`, at least one key, every key found by exact `kid`, `use` = `sig` when present, and
//! an algorithm the SDKs verify: ES256 on an EC P-256 key or RS256 on an RSA key.

use serde_json::Value;

use crate::diagnose::{Code, Finding};

/// The fix every JWKS finding shares: the keys come from the AS, not from this configuration.
const FIX: &str = "the AS's signing keys must be ES256 (EC P-256) or RS256 (RSA) with use=sig; \
     check the AS's key configuration and log (`authplane-dev logs authserver`)";

/// A `jwks_invalid` finding when the `jwks_uri` of the AS metadata is missing or not absolute.
pub fn check_jwks_uri(jwks_uri: &str) -> Option<Finding> {
    let absolute = reqwest::Url::parse(jwks_uri)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if absolute {
        return None;
    }
    Some(
        Finding::error(
            Code::JwksInvalid,
            if jwks_uri.is_empty() {
                "the AS metadata announces no jwks_uri".to_owned()
            } else {
                format!("the AS metadata announces jwks_uri {jwks_uri:?}, not an absolute URL")
            },
            FIX,
        )
        .why("resource servers fetch the signing keys only from the announced jwks_uri")
        .compare("an absolute http(s) URL", jwks_uri),
    )
}

/// The finding for a `jwks_uri` that does not answer (connection refused, timeout).
pub fn unanswered(url: &str, reason: &str) -> Finding {
    Finding::error(
        Code::AsUnreachable,
        format!("the AS's jwks_uri {url} does not answer: {reason}"),
        "check that the AS is running (`authplane-dev status`) and that the jwks_uri its metadata announces is reachable from this machine",
    )
    .why("resource servers fetch the signing keys from jwks_uri; without them every token is rejected")
}

/// The finding for a `jwks_uri` that answers, but not with a JWKS (`what`: the status or the
/// parse error).
pub fn not_served(url: &str, what: &str) -> Finding {
    Finding::error(
        Code::JwksInvalid,
        format!("the AS's jwks_uri {url} does not serve a JWKS: {what}"),
        FIX,
    )
    .why("resource servers fetch the signing keys from jwks_uri; without them every token is rejected")
}

/// The findings for a JWKS document fetched from `url`; empty when every key is usable.
pub fn check_jwks(url: &str, jwks: &Value) -> Vec<Finding> {
    let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
        return vec![
            Finding::error(
                Code::JwksInvalid,
                format!("{url} is not a JWKS: it has no \"keys\" array"),
                FIX,
            )
            .why("resource servers look the token's kid up in the keys array"),
        ];
    };
    if keys.is_empty() {
        return vec![
            Finding::error(
                Code::JwksInvalid,
                format!("the JWKS at {url} holds no keys"),
                FIX,
            )
            .why("no token can be verified without a key")
            .compare("at least one key", "0 keys"),
        ];
    }
    keys.iter()
        .enumerate()
        .filter_map(|(i, key)| check_key(url, i, key))
        .collect()
}

/// What is wrong with one key, as one finding (several problems joined), or `None`.
fn check_key(url: &str, index: usize, key: &Value) -> Option<Finding> {
    let text = |name: &str| key.get(name).and_then(Value::as_str);
    let kid = text("kid");
    let name = kid.map_or_else(|| format!("key #{}", index + 1), |k| format!("key {k:?}"));
    let kty = text("kty").unwrap_or("(none)");
    let crv = text("crv");
    let alg = text("alg");
    let mut problems = Vec::new();
    let mut expected = Vec::new();
    let mut actual = Vec::new();

    let wanted_alg = match (kty, crv) {
        ("EC", Some("P-256")) => Some("ES256"),
        ("RSA", _) => Some("RS256"),
        ("EC", other) => {
            problems.push(format!(
                "curve {} (only P-256 is verified)",
                other.unwrap_or("(none)")
            ));
            expected.push("crv P-256".to_owned());
            actual.push(format!("crv {}", other.unwrap_or("(none)")));
            None
        }
        (other, _) => {
            problems.push(format!(
                "key type {other} (only EC P-256 and RSA are verified)"
            ));
            expected.push("kty EC or RSA".to_owned());
            actual.push(format!("kty {other}"));
            None
        }
    };
    match (alg, wanted_alg) {
        (None, _) => {
            problems.push("no alg (the SDKs compare the key's alg with the token's)".to_owned());
            expected.push(format!("alg {}", wanted_alg.unwrap_or("ES256 or RS256")));
            actual.push("alg (none)".to_owned());
        }
        (Some(alg), Some(want)) if alg != want => {
            problems.push(format!("alg {alg} on a {kty} key (expected {want})"));
            expected.push(format!("alg {want}"));
            actual.push(format!("alg {alg}"));
        }
        (Some(alg), None) if alg != "ES256" && alg != "RS256" => {
            problems.push(format!("alg {alg} (only ES256 and RS256 are verified)"));
            expected.push("alg ES256 or RS256".to_owned());
            actual.push(format!("alg {alg}"));
        }
        _ => {}
    }
    if let Some(usage) = key.get("use")
        && usage.as_str() != Some("sig")
    {
        let shown = usage
            .as_str()
            .map_or_else(|| usage.to_string(), str::to_owned);
        problems.push(format!("use {shown} (must be sig)"));
        expected.push("use sig".to_owned());
        actual.push(format!("use {shown}"));
    }
    if kid.is_none_or(str::is_empty) {
        problems.push("no kid (the SDKs find the key by the token's exact kid)".to_owned());
        expected.push("a kid".to_owned());
        actual.push("kid (none)".to_owned());
    }
    if problems.is_empty() {
        return None;
    }
    Some(
        Finding::error(
            Code::JwksInvalid,
            format!("{name} in the JWKS at {url} is unusable: {}", problems.join("; ")),
            FIX,
        )
        .why("authplane-sdk verifies only ES256 on EC P-256 and RS256 on RSA keys with use=sig, found by kid; every token signed with this key is rejected")
        .compare(expected.join(", "), actual.join(", ")),
    )
}

/// `jwks_uri` made reachable from this machine: when the CLI reaches the AS at `public_url`
/// rather than at its issuer (`AUTHPLANE_DEV_PUBLIC_URL`, e.g. an issuer host only containers can
/// resolve), an URI under the issuer is rewritten to the same path under `public_url`.
pub fn reachable_uri(jwks_uri: &str, issuer: &str, public_url: &str) -> String {
    let issuer = issuer.trim_end_matches('/');
    let public = public_url.trim_end_matches('/');
    match jwks_uri.strip_prefix(issuer) {
        Some(rest) if issuer != public && (rest.is_empty() || rest.starts_with('/')) => {
            format!("{public}{rest}")
        }
        _ => jwks_uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URL: &str = "http://localhost:9000/.well-known/jwks.json";

    fn ec() -> Value {
        json!({"use":"sig","kty":"EC","kid":"k1","crv":"P-256","alg":"ES256","x":"a","y":"b"})
    }

    #[test]
    fn the_embedded_as_shapes_pass() {
        let rsa = json!({"use":"sig","kty":"RSA","kid":"k2","alg":"RS256","n":"a","e":"AQAB"});
        assert!(check_jwks(URL, &json!({"keys": [ec(), rsa]})).is_empty());
        let mut no_use = ec();
        no_use.as_object_mut().unwrap().remove("use");
        assert!(check_jwks(URL, &json!({"keys": [no_use]})).is_empty());
    }

    #[test]
    fn no_keys_or_no_keys_array_is_one_finding() {
        let empty = check_jwks(URL, &json!({"keys": []}));
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].code, Code::JwksInvalid);
        assert_eq!(empty[0].actual.as_deref(), Some("0 keys"));
        assert!(
            check_jwks(URL, &json!({"error": "x"}))[0]
                .message
                .contains("no \"keys\"")
        );
    }

    #[test]
    fn each_bad_key_is_named_with_what_is_wrong() {
        let mut hs = ec();
        hs["kty"] = json!("oct");
        hs["alg"] = json!("HS256");
        let mut enc = ec();
        enc["use"] = json!("enc");
        enc["kid"] = json!("k3");
        let mut p384 = ec();
        p384["crv"] = json!("P-384");
        p384["alg"] = json!("ES384");
        p384["kid"] = json!("k4");
        let mut wrong_alg = ec();
        wrong_alg["alg"] = json!("RS256");
        wrong_alg["kid"] = json!("k5");
        let findings = check_jwks(URL, &json!({"keys": [hs, enc, p384, wrong_alg, ec()]}));
        assert_eq!(findings.len(), 4, "{findings:#?}");
        assert!(
            findings[0].message.contains("key type oct"),
            "{}",
            findings[0].message
        );
        assert!(
            findings[0].message.contains("alg HS256"),
            "{}",
            findings[0].message
        );
        assert_eq!(findings[1].actual.as_deref(), Some("use enc"));
        assert!(findings[1].message.starts_with("key \"k3\""));
        assert!(findings[2].message.contains("curve P-384"));
        assert_eq!(findings[3].expected.as_deref(), Some("alg ES256"));
        assert_eq!(findings[3].actual.as_deref(), Some("alg RS256"));
    }

    #[test]
    fn a_key_without_kid_or_alg_is_a_finding() {
        let mut bare = ec();
        bare.as_object_mut().unwrap().remove("kid");
        bare.as_object_mut().unwrap().remove("alg");
        let findings = check_jwks(URL, &json!({"keys": [bare]}));
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.starts_with("key #1"));
        assert_eq!(
            findings[0].actual.as_deref(),
            Some("alg (none), kid (none)")
        );
    }

    #[test]
    fn jwks_uri_must_be_absolute() {
        assert!(check_jwks_uri(URL).is_none());
        assert!(check_jwks_uri("").unwrap().message.contains("no jwks_uri"));
        assert!(check_jwks_uri("/.well-known/jwks.json").is_some());
    }

    #[test]
    fn jwks_uri_under_the_issuer_is_reached_through_the_public_url() {
        let uri = "http://authserver:9000/.well-known/jwks.json";
        assert_eq!(
            reachable_uri(uri, "http://authserver:9000", "http://localhost:9000"),
            "http://localhost:9000/.well-known/jwks.json"
        );
        assert_eq!(
            reachable_uri(URL, "http://localhost:9000", "http://localhost:9000"),
            URL
        );
        // Another host is left alone: doctor reports what the AS announces.
        assert_eq!(
            reachable_uri(
                "http://keys.example/jwks",
                "http://authserver:9000",
                "http://localhost:9000"
            ),
            "http://keys.example/jwks"
        );
        // A prefix that is not a path boundary is not the issuer.
        assert_eq!(
            reachable_uri(
                "http://authserver:90001/j",
                "http://authserver:9000",
                "http://localhost:9000"
            ),
            "http://authserver:90001/j"
        );
    }
}
