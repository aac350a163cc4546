//! Decoding a JWT's header and claims WITHOUT verifying it.
//!
//! Used to compare a token with the configuration (audience, issuer, scope, typ, expiry) before
//! spending it, and by `inspect`. Verification is the resource server's job (authplane-sdk); this
//! module only reads. It never panics on garbage: anything that is not three base64url parts
//! with JSON-object header and claims is a [`JwtError`] that says which part is wrong.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// Why a string is not a decodable JWT. The message starts with "not a JWT:".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a JWT: {0}")]
pub struct JwtError(String);

/// A decoded (unverified) JWT.
#[derive(Debug, Clone, PartialEq)]
pub struct Jwt {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// Length of the decoded signature in bytes (64 for a JWS ES256 signature).
    pub signature_len: usize,
}

/// Decodes `token` (surrounding whitespace and a `Bearer ` prefix are ignored).
pub fn decode(token: &str) -> Result<Jwt, JwtError> {
    let token = token.trim();
    let token = token
        .strip_prefix("Bearer ")
        .or_else(|| token.strip_prefix("bearer "))
        .unwrap_or(token)
        .trim();
    if token.is_empty() {
        return Err(JwtError("the input is empty".into()));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(JwtError(format!(
            "expected three base64url parts separated by '.', found {} part(s)",
            parts.len()
        )));
    }
    let header = object(parts[0], "header")?;
    let claims = object(parts[1], "claims")?;
    let signature = base64url(parts[2], "signature")?;
    Ok(Jwt {
        header,
        claims,
        signature_len: signature.len(),
    })
}

fn base64url(part: &str, what: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| JwtError(format!("the {what} is not base64url ({e})")))
}

fn object(part: &str, what: &str) -> Result<Map<String, Value>, JwtError> {
    if part.is_empty() {
        return Err(JwtError(format!("the {what} part is empty")));
    }
    let bytes = base64url(part, what)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(JwtError(format!(
            "the {what} is JSON but not an object ({})",
            kind(&other)
        ))),
        Err(e) => Err(JwtError(format!("the {what} is not JSON ({e})"))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Jwt {
    /// A header member as a string.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// A claim as a string.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A numeric claim (seconds since the epoch for `exp`, `iat`, `nbf`).
    pub fn claim_i64(&self, name: &str) -> Option<i64> {
        let value = self.claims.get(name)?;
        value.as_i64().or_else(|| {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "timestamps with a fraction are truncated to whole seconds"
            )]
            value.as_f64().map(|f| f as i64)
        })
    }

    /// The `aud` claim as a list (a string audience is a one-element list).
    pub fn audiences(&self) -> Vec<String> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The `scope` claim split on whitespace (empty when absent).
    pub fn scopes(&self) -> Vec<String> {
        self.claim_str("scope")
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// Builds an unsigned-looking token from JSON parts (test helper, shared with diagnose tests).
    pub(crate) fn make(header: &Value, claims: &Value) -> String {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.{}",
            enc(header),
            enc(claims),
            URL_SAFE_NO_PAD.encode([7u8; 64])
        )
    }

    #[test]
    fn decodes_an_authserver_shaped_token() {
        let token = make(
            &json!({"alg":"ES256","kid":"abc","typ":"at+jwt"}),
            &json!({"iss":"http://localhost:9000","aud":["http://localhost:8080/mcp"],
                    "scope":"mcp:echo other","exp":2_000_000_000,"iat":1_000_000_000}),
        );
        let jwt = decode(&format!("  Bearer {token}\n")).unwrap();
        assert_eq!(jwt.header_str("typ"), Some("at+jwt"));
        assert_eq!(jwt.audiences(), vec!["http://localhost:8080/mcp"]);
        assert_eq!(jwt.scopes(), vec!["mcp:echo", "other"]);
        assert_eq!(jwt.claim_i64("exp"), Some(2_000_000_000));
        assert_eq!(jwt.signature_len, 64);
    }

    #[test]
    fn string_audience_is_a_list_of_one() {
        let token = make(&json!({"alg":"ES256"}), &json!({"aud":"x","exp":1.5}));
        let jwt = decode(&token).unwrap();
        assert_eq!(jwt.audiences(), vec!["x"]);
        assert_eq!(jwt.claim_i64("exp"), Some(1));
        assert!(jwt.scopes().is_empty());
    }

    #[test]
    fn garbage_is_a_clear_error_never_a_panic() {
        let cases = [
            ("", "empty"),
            ("   ", "empty"),
            ("hello", "found 1 part"),
            ("a.b", "found 2 part"),
            ("a.b.c.d", "found 4 part"),
            ("!!!.e30.", "header is not base64url"),
            (".e30.", "header part is empty"),
            ("e30.!!!.", "claims is not base64url"),
            ("bm90IGpzb24.e30.", "header is not JSON"),
            ("WzFd.e30.", "header is JSON but not an object (an array)"),
            ("e30.MQ.", "claims is JSON but not an object (a number)"),
            ("e30.e30.***", "signature is not base64url"),
            ("\u{1F600}.\u{1F600}.\u{1F600}", "not base64url"),
        ];
        for (input, want) in cases {
            let err = decode(input).unwrap_err().to_string();
            assert!(err.starts_with("not a JWT: "), "{input:?}: {err}");
            assert!(err.contains(want), "{input:?}: {err}");
        }
        // Empty header/claims objects with an empty signature decode fine.
        assert_eq!(decode("e30.e30.").unwrap().signature_len, 0);
    }

    #[test]
    fn padded_parts_are_accepted() {
        // "{}" base64 with padding is "e30=".
        assert!(decode("e30=.e30=.").is_ok());
    }

    /// Property-based fuzzing of the decoder (`cargo test --lib fuzz`).
    mod fuzz {
        use super::*;
        use crate::authserver::config::SigningAlgorithm;
        use crate::authserver::keys::SigningKey;
        use crate::fuzz::{bytes, json_object};
        use proptest::prelude::*;
        use std::sync::OnceLock;

        /// One ES256 key for every case (generating one per case would dominate the run).
        fn key() -> &'static SigningKey {
            static KEY: OnceLock<SigningKey> = OnceLock::new();
            KEY.get_or_init(|| {
                let dir = tempfile::tempdir().unwrap();
                SigningKey::load_or_create(dir.path(), SigningAlgorithm::Es256).unwrap()
            })
        }

        /// A part made of base64url characters, dots and padding: gets past the cheap checks.
        fn near_token() -> impl Strategy<Value = String> {
            "[A-Za-z0-9_=.+/-]{0,80}"
        }

        proptest! {
            #[test]
            fn decode_never_panics(text in any::<String>(), raw in bytes(256), near in near_token()) {
                for input in [text.as_str(), &String::from_utf8_lossy(&raw), &near] {
                    if let Err(e) = decode(input) {
                        prop_assert!(e.to_string().starts_with("not a JWT: "));
                    }
                }
            }

            #[test]
            fn json_parts_of_any_shape_never_panic(header in crate::fuzz::json_value(), claims in crate::fuzz::json_value()) {
                let token = make(&header, &claims);
                match decode(&token) {
                    Ok(_) => prop_assert!(header.is_object() && claims.is_object()),
                    Err(e) => prop_assert!(!(header.is_object() && claims.is_object()), "{e}"),
                }
            }

            /// The accessors the checks rely on, over the claims they read in every shape a
            /// token may carry them: `aud` a string or a list (with non-strings mixed in),
            /// `scope` a space-separated string, `exp` whole or fractional seconds, or any of
            /// them of the wrong type or absent.
            #[test]
            fn audience_scope_and_expiry_read_as_the_claims_say(
                aud in proptest::option::of(prop_oneof![
                    any::<String>().prop_map(Value::String),
                    proptest::collection::vec(
                        prop_oneof![any::<String>().prop_map(Value::String), crate::fuzz::json_value()],
                        0..4,
                    ).prop_map(Value::Array),
                    crate::fuzz::json_value(),
                ]),
                scope in proptest::option::of(prop_oneof![
                    proptest::collection::vec("[!-~]{1,12}", 0..4)
                        .prop_flat_map(|words| {
                            let n = words.len();
                            (Just(words), proptest::collection::vec("[ \t\n]{1,3}", n + 1))
                        })
                        .prop_map(|(words, gaps)| {
                            let mut text = gaps[0].clone();
                            for (word, gap) in words.iter().zip(&gaps[1..]) {
                                text.push_str(word);
                                text.push_str(gap);
                            }
                            Value::String(text)
                        }),
                    crate::fuzz::json_value(),
                ]),
                // With the number of whole seconds it stands for.
                exp in proptest::option::of(prop_oneof![
                    any::<i64>().prop_map(|n| (Value::from(n), Some(n))),
                    (0u32..4_000_000_000, 1u32..1000).prop_map(|(s, ms)| {
                        (Value::from(f64::from(s) + f64::from(ms) / 1000.0), Some(i64::from(s)))
                    }),
                    crate::fuzz::json_value()
                        .prop_filter("not a number", |v| !v.is_number())
                        .prop_map(|v| (v, None)),
                ]),
                others in json_object(),
            ) {
                let mut claims = others;
                let exp_value = exp.as_ref().map(|(v, _)| v.clone());
                for (name, value) in [("aud", &aud), ("scope", &scope), ("exp", &exp_value)] {
                    match value {
                        Some(v) => claims.insert(name.to_owned(), v.clone()),
                        None => claims.remove(name),
                    };
                }
                let jwt = decode(&make(&serde_json::json!({"alg": "ES256"}), &Value::Object(claims))).unwrap();

                let want_aud: Vec<String> = match &aud {
                    Some(Value::String(s)) => vec![s.clone()],
                    Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
                    _ => Vec::new(),
                };
                prop_assert_eq!(jwt.audiences(), want_aud);

                let want_scopes: Vec<String> = match &scope {
                    Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
                    _ => Vec::new(),
                };
                prop_assert_eq!(jwt.scopes(), want_scopes);

                prop_assert_eq!(jwt.claim_i64("exp"), exp.and_then(|(_, seconds)| seconds));
            }

            #[test]
            fn a_built_token_decodes_to_its_header_and_claims(
                header in json_object(),
                claims in json_object(),
                prefix in prop_oneof![Just(""), Just("Bearer "), Just("bearer "), Just("  \t")],
                suffix in prop_oneof![Just(""), Just("\n"), Just(" \r\n")],
            ) {
                let token = make(&Value::Object(header.clone()), &Value::Object(claims.clone()));
                let jwt = decode(&format!("{prefix}{token}{suffix}")).unwrap();
                prop_assert_eq!(jwt.header, header);
                prop_assert_eq!(jwt.claims, claims);
                prop_assert_eq!(jwt.signature_len, 64);
            }

            #[test]
            fn a_token_signed_by_the_embedded_as_decodes_to_its_claims(claims in json_object()) {
                let token = key().sign(&claims).unwrap();
                let jwt = decode(&token).unwrap();
                prop_assert_eq!(jwt.header_str("alg"), Some("ES256"));
                prop_assert_eq!(jwt.header_str("typ"), Some("at+jwt"));
                prop_assert_eq!(jwt.header_str("kid"), Some(key().kid.as_str()));
                prop_assert_eq!(jwt.claims, claims);
                prop_assert_eq!(jwt.signature_len, 64);
            }
        }
    }
}
