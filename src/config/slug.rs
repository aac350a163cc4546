//! The slug of the resource registered for a server you dial (`verify --mcp-url`): derived from
//! its resource URI, so every server gets its own Mint resource and none overwrites another's
//! (the embedded echo server keeps `demo-mcp`). Documented in docs/commands.md ("Which resource").

/// The longest derived slug: the AS allows 64 characters, and the wrong-audience probe adds
/// `-probe-other` (12) to it.
const MAX_LEN: usize = 52;

/// The slug for `resource_uri`: host, port and path, lower-cased, every run of other characters
/// one `-` (`http://localhost:8181/mcp` → `localhost-8181-mcp`). Stable and readable; a URI whose
/// readable part is too long is cut and ends with 8 hex digits of its FNV-1a hash, so two long
/// URIs still differ. The result always matches the AS's `^[a-z0-9][a-z0-9-]{0,63}$`.
pub fn derived_slug(resource_uri: &str) -> String {
    let readable = match url::Url::parse(resource_uri) {
        Ok(u) => {
            let mut s = u.host_str().unwrap_or_default().to_owned();
            if let Some(port) = u.port() {
                s.push('-');
                s.push_str(&port.to_string());
            }
            s.push('-');
            s.push_str(u.path());
            s
        }
        Err(_) => resource_uri.to_owned(),
    };
    let mut slug = String::new();
    for c in readable.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        return format!("mcp-{:08x}", fnv1a(resource_uri));
    }
    if slug.len() <= MAX_LEN {
        return slug.to_owned();
    }
    let cut = slug[..MAX_LEN - 9].trim_end_matches('-');
    format!("{cut}-{:08x}", fnv1a(resource_uri))
}

/// 32-bit FNV-1a: tiny, and the same on every platform and version (unlike std's hasher).
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(slug: &str) -> bool {
        let b = slug.as_bytes();
        !b.is_empty()
            && b.len() <= 64
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    }

    #[test]
    fn readable_slugs_for_usual_urls() {
        for (uri, slug) in [
            ("http://localhost:8181/mcp", "localhost-8181-mcp"),
            ("http://127.0.0.1:8080/mcp", "127-0-0-1-8080-mcp"),
            (
                "https://mcp.Example.com/api/mcp/",
                "mcp-example-com-api-mcp",
            ),
            ("https://db.example.com", "db-example-com"),
            ("http://[::1]:9/mcp", "1-9-mcp"),
        ] {
            assert_eq!(derived_slug(uri), slug, "{uri}");
        }
    }

    #[test]
    fn long_or_odd_uris_still_give_valid_distinct_slugs() {
        let long_a = format!("http://localhost:1/{}", "a".repeat(100));
        let long_b = format!("http://localhost:1/{}b", "a".repeat(100));
        let a = derived_slug(&long_a);
        assert!(valid(&a) && a.len() <= MAX_LEN, "{a}");
        assert_ne!(a, derived_slug(&long_b));
        for odd in ["", "not a url", "http://ü.example/é", "---"] {
            let s = derived_slug(odd);
            assert!(valid(&s), "{odd:?} → {s:?}");
        }
        assert_eq!(derived_slug(&long_a), a, "stable");
    }
}
