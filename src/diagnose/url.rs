//! Naming the precise difference between two URLs that must be byte-equal (resource URI vs token
//! audience vs MCP URL, issuer strings).
//!
//! The comparison works on the raw strings — no normalisation — because the AS and the SDKs
//! compare bytes: `http://localhost:8080/mcp/` and `…/mcp` are different audiences, and so are
//! `localhost` and `127.0.0.1`.

/// The parts of a URL as written (nothing lower-cased, no default port filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<&'a str>,
    /// Path, query and fragment as written.
    rest: &'a str,
}

fn split(url: &str) -> Option<Parts<'_>> {
    let (scheme, after) = url.split_once("://")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(close) => {
                let host = &authority[..=close];
                let port = authority[close + 1..].strip_prefix(':');
                (host, port)
            }
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    Some(Parts {
        scheme,
        host,
        port,
        rest,
    })
}

fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Some("80"),
        "https" => Some("443"),
        _ => None,
    }
}

/// True for `localhost`, `127.x.x.x` and `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "[::1]"
        || host.starts_with("127.")
}

/// Names how `actual` differs from `expected`, or `None` when they are byte-equal.
///
/// The wording is for a person: `"trailing slash (actual ends with '/')"`,
/// `"host: localhost vs 127.0.0.1"`, `"port: 8080 vs 8081"`, `"scheme: http vs https"`,
/// `"path: /mcp vs /api/mcp"`, `"letter case"`, `"whitespace"`. Several differences are joined
/// with `"; "`.
pub fn difference(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    if expected.trim() != expected || actual.trim() != actual {
        let mut what = Vec::new();
        if expected.trim() != expected {
            what.push("expected");
        }
        if actual.trim() != actual {
            what.push("actual");
        }
        let base = format!(
            "whitespace: leading or trailing spaces/newlines in the {} value",
            what.join(" and ")
        );
        return Some(match difference(expected.trim(), actual.trim()) {
            Some(more) => format!("{base}; {more}"),
            None => base,
        });
    }
    let (Some(e), Some(a)) = (split(expected), split(actual)) else {
        return Some(format!(
            "not comparable as URLs: {expected:?} vs {actual:?}"
        ));
    };
    let mut diffs = Vec::new();
    if e.scheme != a.scheme {
        if e.scheme.eq_ignore_ascii_case(a.scheme) {
            diffs.push(format!(
                "letter case of the scheme: {} vs {}",
                e.scheme, a.scheme
            ));
        } else {
            diffs.push(format!("scheme: {} vs {}", e.scheme, a.scheme));
        }
    }
    if e.host != a.host {
        if e.host.eq_ignore_ascii_case(a.host) {
            diffs.push(format!("letter case of the host: {} vs {}", e.host, a.host));
        } else {
            diffs.push(format!("host: {} vs {}", e.host, a.host));
        }
    }
    if e.port != a.port {
        let eff = |p: Option<&str>, scheme: &str| p.or(default_port(scheme)).map(str::to_owned);
        let (ep, ap) = (eff(e.port, e.scheme), eff(a.port, a.scheme));
        let show = |p: Option<&str>| p.map_or_else(|| "(none)".to_owned(), str::to_owned);
        if ep == ap && ep.is_some() {
            diffs.push(format!(
                "port written differently: {} vs {} (the same port, but not the same bytes)",
                e.port
                    .map_or_else(|| "(implicit)".to_owned(), |p| format!(":{p}")),
                a.port
                    .map_or_else(|| "(implicit)".to_owned(), |p| format!(":{p}")),
            ));
        } else {
            diffs.push(format!(
                "port: {} vs {}",
                show(ep.as_deref()),
                show(ap.as_deref())
            ));
        }
    }
    if e.rest != a.rest {
        diffs.push(rest_difference(e.rest, a.rest));
    }
    if diffs.is_empty() {
        // Only possible through userinfo, which we do not compare part by part.
        diffs.push("userinfo before the host".to_owned());
    }
    Some(diffs.join("; "))
}

fn rest_difference(expected: &str, actual: &str) -> String {
    if format!("{expected}/") == actual {
        return "trailing slash (actual ends with '/', expected does not)".to_owned();
    }
    if format!("{actual}/") == expected {
        return "trailing slash (expected ends with '/', actual does not)".to_owned();
    }
    if expected.eq_ignore_ascii_case(actual) {
        return format!("letter case of the path: {expected} vs {actual}");
    }
    let show = |p: &str| {
        if p.is_empty() {
            "(empty)".to_owned()
        } else {
            p.to_owned()
        }
    };
    format!("path: {} vs {}", show(expected), show(actual))
}

/// True when two URLs name the same local server: same scheme and port, and the same host or two
/// loopback names (`localhost` vs `127.0.0.1`). Used to tell whether `--mcp-url` dials the
/// embedded echo server.
pub fn same_local_server(a: &str, b: &str) -> bool {
    let (Some(pa), Some(pb)) = (split(a.trim()), split(b.trim())) else {
        return false;
    };
    let port = |p: &Parts<'_>| p.port.or(default_port(p.scheme)).map(str::to_owned);
    pa.scheme.eq_ignore_ascii_case(pb.scheme)
        && port(&pa) == port(&pb)
        && (pa.host.eq_ignore_ascii_case(pb.host)
            || (is_loopback_host(pa.host) && is_loopback_host(pb.host)))
}

/// `scheme://host[:port]` of a URL as written (for building the probe resource URI).
pub fn origin(url: &str) -> Option<String> {
    let parts = split(url.trim())?;
    Some(match parts.port {
        Some(port) => format!("{}://{}:{port}", parts.scheme, parts.host),
        None => format!("{}://{}", parts.scheme, parts.host),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MCP: &str = "http://localhost:8080/mcp";

    #[test]
    fn equal_is_none() {
        assert_eq!(difference(MCP, MCP), None);
    }

    #[test]
    fn trailing_slash_either_way() {
        let d = difference(MCP, "http://localhost:8080/mcp/").unwrap();
        assert!(d.starts_with("trailing slash"), "{d}");
        assert!(d.contains("actual ends with '/'"), "{d}");
        let d = difference("http://localhost:8080/mcp/", MCP).unwrap();
        assert!(d.contains("expected ends with '/'"), "{d}");
        let d = difference("http://localhost:9000", "http://localhost:9000/").unwrap();
        assert!(d.starts_with("trailing slash"), "{d}");
    }

    #[test]
    fn localhost_vs_127() {
        assert_eq!(
            difference(MCP, "http://127.0.0.1:8080/mcp").unwrap(),
            "host: localhost vs 127.0.0.1"
        );
    }

    #[test]
    fn port_scheme_and_path() {
        assert_eq!(
            difference(MCP, "http://localhost:8081/mcp").unwrap(),
            "port: 8080 vs 8081"
        );
        assert_eq!(
            difference(MCP, "https://localhost:8080/mcp").unwrap(),
            "scheme: http vs https"
        );
        assert_eq!(
            difference(MCP, "http://localhost:8080/api/mcp").unwrap(),
            "path: /mcp vs /api/mcp"
        );
        assert_eq!(
            difference(MCP, "http://localhost/mcp").unwrap(),
            "port: 8080 vs 80"
        );
        assert_eq!(
            difference(MCP, "http://localhost:8080").unwrap(),
            "path: /mcp vs (empty)"
        );
    }

    #[test]
    fn explicit_default_port_is_named() {
        let d = difference("http://localhost/mcp", "http://localhost:80/mcp").unwrap();
        assert!(
            d.starts_with("port written differently: (implicit) vs :80"),
            "{d}"
        );
    }

    #[test]
    fn several_differences_are_all_named() {
        let d = difference(MCP, "https://127.0.0.1:9999/mcp/").unwrap();
        assert!(d.contains("scheme: http vs https"), "{d}");
        assert!(d.contains("host: localhost vs 127.0.0.1"), "{d}");
        assert!(d.contains("port: 8080 vs 9999"), "{d}");
        assert!(d.contains("trailing slash"), "{d}");
    }

    #[test]
    fn case_and_whitespace() {
        assert_eq!(
            difference(MCP, "http://LocalHost:8080/mcp").unwrap(),
            "letter case of the host: localhost vs LocalHost"
        );
        assert_eq!(
            difference(MCP, "http://localhost:8080/MCP").unwrap(),
            "letter case of the path: /mcp vs /MCP"
        );
        assert_eq!(
            difference(MCP, "HTTP://localhost:8080/mcp").unwrap(),
            "letter case of the scheme: http vs HTTP"
        );
        let d = difference(MCP, "http://localhost:8080/mcp ").unwrap();
        assert_eq!(
            d,
            "whitespace: leading or trailing spaces/newlines in the actual value"
        );
        let d = difference(MCP, " http://localhost:8080/mcp/").unwrap();
        assert!(
            d.contains("whitespace") && d.contains("trailing slash"),
            "{d}"
        );
    }

    #[test]
    fn ipv6_and_garbage() {
        assert_eq!(
            difference("http://[::1]:8080/mcp", "http://[::1]:8081/mcp").unwrap(),
            "port: 8080 vs 8081"
        );
        assert!(
            difference(MCP, "not a url")
                .unwrap()
                .starts_with("not comparable")
        );
        assert_eq!(difference("", "").as_deref(), None);
    }

    #[test]
    fn same_local_server_treats_loopback_names_alike() {
        assert!(same_local_server(MCP, "http://127.0.0.1:8080/other"));
        assert!(same_local_server(MCP, "http://localhost:8080/mcp/"));
        assert!(!same_local_server(MCP, "http://localhost:8081/mcp"));
        assert!(!same_local_server(MCP, "http://example.com:8080/mcp"));
        assert!(!same_local_server(MCP, "https://localhost:8080/mcp"));
        assert!(!same_local_server(MCP, "garbage"));
    }

    #[test]
    fn origin_keeps_the_port_as_written() {
        assert_eq!(origin(MCP).unwrap(), "http://localhost:8080");
        assert_eq!(origin("https://h.example/x").unwrap(), "https://h.example");
        assert!(origin("nope").is_none());
    }
}
