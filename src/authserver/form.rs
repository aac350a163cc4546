//! Form parsing with Go's `Request.ParseForm` semantics, which the real token endpoint uses: a
//! `application/x-www-form-urlencoded` body (size-limited) followed by the query string's values,
//! strict percent-escapes, `;` refused as a separator, other content types ignored.

use axum::body::Body;
use axum::http::{HeaderMap, header};

/// Parsed form values in Go's order: body values first, then query-string values.
#[derive(Debug, Default, Clone)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// The first value of `key` (Go's `FormValue`), `None` when absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order (a form's checked boxes of one name).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Why a form could not be parsed (the token endpoint answers every one with `invalid_request`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    #[error("invalid URL escape {0:?}")]
    Escape(String),
    #[error("invalid semicolon separator in query")]
    Semicolon,
    #[error("request body too large or unreadable")]
    Body,
    #[error("mime: invalid media type")]
    MediaType,
}

/// Reads the form of a request: the body when it is form-encoded (at most `limit` bytes), then
/// the query string.
pub async fn read(
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
    limit: usize,
) -> Result<Form, FormError> {
    let mut pairs = Vec::new();
    let mut first_error = None;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let media_type = match content_type {
        None => "application/octet-stream".to_owned(),
        Some(ct) => media_type(&ct)?,
    };
    if media_type == "application/x-www-form-urlencoded" {
        // Over the limit or cut short: either way Go's ParseForm fails.
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| FormError::Body)?;
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse_query(&text, &mut pairs) {
            first_error.get_or_insert(e);
        }
    }
    if let Some(q) = query
        && let Err(e) = parse_query(q, &mut pairs)
    {
        first_error.get_or_insert(e);
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(Form { pairs }),
    }
}

/// The lower-cased media type of a `Content-Type` value; error when there is none.
fn media_type(value: &str) -> Result<String, FormError> {
    let media = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let is_token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/".contains(c);
    if media.is_empty() || !media.chars().all(is_token) {
        return Err(FormError::MediaType);
    }
    Ok(media)
}

/// Go's `url.ParseQuery`: appends every `key=value` pair; keeps going after an error and reports
/// the first.
pub fn parse_query(text: &str, out: &mut Vec<(String, String)>) -> Result<(), FormError> {
    let mut first_error = None;
    for part in text.split('&') {
        if part.is_empty() {
            continue;
        }
        if part.contains(';') {
            first_error.get_or_insert(FormError::Semicolon);
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match (unescape(k), unescape(v)) {
            (Ok(k), Ok(v)) => out.push((k, v)),
            (Err(e), _) | (_, Err(e)) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` must be two hex digits. Bytes that are not
/// UTF-8 are replaced (Go keeps them; they can only ever compare unequal here).
pub fn unescape(s: &str) -> Result<String, FormError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = |b: u8| char::from(b).to_digit(16);
                let high = bytes.get(i + 1).copied().and_then(hex);
                let low = bytes.get(i + 2).copied().and_then(hex);
                let (Some(h), Some(l)) = (high, low) else {
                    let end = (i + 3).min(bytes.len());
                    return Err(FormError::Escape(
                        String::from_utf8_lossy(&bytes[i..end]).into_owned(),
                    ));
                };
                // Two hex digits always fit a byte.
                out.push(u8::try_from(h * 16 + l).unwrap_or(0));
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<(String, String)>, FormError> {
        let mut v = Vec::new();
        parse_query(s, &mut v).map(|()| v)
    }

    #[test]
    fn go_query_rules() {
        assert_eq!(
            parse("a=1&b=x+y%21&&c").unwrap(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y!".into()),
                ("c".into(), String::new())
            ]
        );
        assert_eq!(parse("a=%zz"), Err(FormError::Escape("%zz".into())));
        assert_eq!(parse("a=%4"), Err(FormError::Escape("%4".into())));
        assert_eq!(parse("a=1;b=2"), Err(FormError::Semicolon));
        assert_eq!(unescape("%C3%A9").unwrap(), "é");
    }

    #[test]
    fn media_types() {
        assert_eq!(
            media_type("Application/X-WWW-Form-Urlencoded; charset=utf-8").unwrap(),
            "application/x-www-form-urlencoded"
        );
        assert_eq!(media_type(""), Err(FormError::MediaType));
        assert_eq!(media_type("a b"), Err(FormError::MediaType));
    }

    #[tokio::test]
    async fn body_values_come_before_query_values_and_limits_hold() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let form = read(&headers, Some("scope=q&x=1"), Body::from("scope=b"), 100)
            .await
            .unwrap();
        assert_eq!(form.get("scope"), Some("b"));
        assert_eq!(form.get("x"), Some("1"));
        let big = "a=".to_owned() + &"x".repeat(200);
        let err = read(&headers, None, Body::from(big), 100)
            .await
            .unwrap_err();
        assert_eq!(err, FormError::Body);
        // Other content types: the body is not read, the query still is.
        let form = read(&HeaderMap::new(), Some("g=1"), Body::from("scope=b"), 100)
            .await
            .unwrap();
        assert_eq!((form.get("scope"), form.get("g")), (None, Some("1")));
    }

    /// Property-based fuzzing (`cargo test --lib fuzz`).
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn pairs(min: usize) -> impl Strategy<Value = Vec<(String, String)>> {
            proptest::collection::vec((any::<String>(), any::<String>()), min..6)
        }

        /// How a client encodes a form (what reqwest's `.form()` sends).
        fn encode(pairs: &[(String, String)]) -> String {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
        }

        proptest! {
            #[test]
            fn any_input_parses_or_fails_naming_the_fault(text in ".*", raw in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
                for text in [text.clone(), String::from_utf8_lossy(&raw).into_owned()] {
                    let mut out = Vec::new();
                    match parse_query(&text, &mut out) {
                        Ok(()) => {}
                        Err(FormError::Escape(bad)) => {
                            // At most three bytes from a `%` of the input (fewer where its part
                            // ends), as Go quotes them.
                            let bytes = text.as_bytes();
                            let quoted = (0..bytes.len()).filter(|&i| bytes[i] == b'%').any(|i| {
                                (1..=3).any(|n| {
                                    String::from_utf8_lossy(&bytes[i..(i + n).min(bytes.len())]) == bad
                                })
                            });
                            prop_assert!(quoted, "{bad:?} in {text:?}");
                        }
                        Err(FormError::Semicolon) => prop_assert!(text.contains(';')),
                        Err(other) => prop_assert!(false, "{other:?}"),
                    }
                    if !text.contains('%') && !text.contains(';') {
                        prop_assert!(parse_query(&text, &mut Vec::new()).is_ok());
                    }
                }
            }

            #[test]
            fn an_encoded_form_parses_back_to_its_pairs(pairs in pairs(0)) {
                let mut out = Vec::new();
                prop_assert_eq!(parse_query(&encode(&pairs), &mut out), Ok(()));
                prop_assert_eq!(out, pairs);
            }

            /// Go reports the first bad part and keeps every good one.
            #[test]
            fn a_bad_part_is_reported_and_the_good_ones_kept(
                pairs in pairs(1),
                at in any::<proptest::sample::Index>(),
                bad in prop_oneof![
                    "%|%[g-z]|%[0-9a-fA-F]|%[0-9a-fA-F][g-z]|%[g-z][0-9a-fA-F]"
                        .prop_map(|e| (format!("k={e}"), FormError::Escape(e))),
                    "[a-z]{0,3};[a-z]{0,3}(=[a-z]{0,3})?".prop_map(|part| (part, FormError::Semicolon)),
                ],
            ) {
                let (part, error) = bad;
                let mut parts: Vec<String> = pairs.iter().map(|p| encode(std::slice::from_ref(p))).collect();
                parts.insert(at.index(parts.len() + 1), part);
                let mut out = Vec::new();
                prop_assert_eq!(parse_query(&parts.join("&"), &mut out), Err(error));
                prop_assert_eq!(out, pairs);
            }
        }
    }
}
