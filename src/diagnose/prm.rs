//! The MCP server's Protected Resource Metadata (RFC 9728) against the configuration: its
//! `resource` is the audience the server checks, so it must equal the resource URI the CLI
//! registers byte for byte (audience rule; [`check_prm`], doctor) and, as an MCP client sees it,
//! the URL dialled ([`check_dialled`], `verify`: RFC 9728 §3.3); its `authorization_servers` is
//! where clients look for the AS, so it must name the AS's issuer byte for byte (issuer rule).

use serde_json::Value;

use crate::config::var;
use crate::diagnose::{Code, Finding, url};

/// The findings for the PRM document fetched from `prm_url`: `resource` vs `resource_uri`,
/// `authorization_servers` vs `issuer` (the issuer the AS announces).
pub fn check_prm(prm_url: &str, prm: &Value, resource_uri: &str, issuer: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let resource = prm.get("resource").and_then(Value::as_str);
    match resource {
        None => findings.push(
            Finding::error(
                Code::AudienceMismatch,
                format!("the Protected Resource Metadata at {prm_url} names no resource"),
                "the MCP server must announce its resource identifier (base URL + MCP path)",
            )
            .why("RFC 9728: `resource` is required; clients use it as the token's resource indicator")
            .compare(resource_uri, "(none)"),
        ),
        Some(resource) => {
            if let Some(differs) = url::difference(resource_uri, resource) {
                findings.push(
                    Finding::error(
                        Code::AudienceMismatch,
                        format!(
                            "the MCP server announces resource {resource} but the CLI registers {resource_uri}"
                        ),
                        format!(
                            "if the server still runs an older configuration, restart it (`authplane-dev clean && authplane-dev up`); \
                             otherwise make the CLI's {} + {} (or {}) give {resource}",
                            var::BASE_URL,
                            var::MCP_PATH,
                            var::DEV_RESOURCE_URI
                        ),
                    )
                    .why("the server accepts only tokens whose aud is its announced resource; a token minted for the configured URI is rejected with 401 invalid_token")
                    .compare(resource_uri, resource)
                    .differs(differs),
                );
            }
        }
    }

    findings.extend(authorization_servers(prm_url, prm, issuer));
    findings
}

/// What `verify` compares in the metadata of the server it dials, as an MCP client does before
/// asking for a token.
pub struct Dialled<'a> {
    /// The URL dialled (`--mcp-url`, or the echo server's URL).
    pub url: &'a str,
    /// The issuer the AS announces.
    pub issuer: &'a str,
    /// The scope named with `--scope` / `AUTHPLANE_DEV_SCOPE`, checked against
    /// `scopes_supported`; None when the scope is taken from there.
    pub scope: Option<&'a str>,
    /// The dialled server is the embedded echo server (the fixes name its variables).
    pub echo: bool,
}

/// The findings for the PRM document fetched from `prm_url` of the server dialled: `resource`
/// must be the URL dialled byte for byte (`audience_mismatch`: a spec-following client refuses
/// the metadata otherwise, or mints for the wrong audience), `authorization_servers` must name the
/// issuer (`issuer_mismatch`), and a named scope should be in `scopes_supported` (warning).
pub fn check_dialled(prm_url: &str, prm: &Value, dialled: &Dialled<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let url = dialled.url;
    match prm.get("resource").and_then(Value::as_str) {
        None => findings.push(
            Finding::error(
                Code::AudienceMismatch,
                format!("the Protected Resource Metadata at {prm_url} names no resource"),
                "the MCP server must announce its resource identifier (its base URL + MCP path)",
            )
            .why("RFC 9728: `resource` is required; MCP clients mint for it and refuse metadata without it")
            .compare(url, "(none)"),
        ),
        Some(resource) => {
            if let Some(differs) = url::difference(url, resource) {
                let fix = if dialled.echo {
                    format!(
                        "dial the announced URL (`authplane-dev verify --mcp-url {resource}`, or drop --mcp-url / {}), \
                         or make the echo server announce {url}: set {} and {} to match it and restart (`authplane-dev clean && authplane-dev up`)",
                        var::DEV_MCP_URL,
                        var::BASE_URL,
                        var::MCP_PATH
                    )
                } else {
                    format!(
                        "dial the announced URL (`authplane-dev verify --mcp-url {resource}`), \
                         or change the server's base URL so that it announces {url}"
                    )
                };
                findings.push(
                    Finding::error(
                        Code::AudienceMismatch,
                        format!(
                            "the MCP server at {url} announces resource {resource}: not the URL dialled"
                        ),
                        fix,
                    )
                    .why("RFC 9728 §3.3: the metadata's resource must be the URL the client used, or the client refuses it; a client that mints for the URL dialled gets a token with the wrong aud (localhost and 127.0.0.1 are different audiences)")
                    .compare(url, resource)
                    .differs(differs),
                );
            }
        }
    }
    findings.extend(authorization_servers(prm_url, prm, dialled.issuer));
    if let Some(scope) = dialled.scope {
        let supported: Vec<&str> = prm
            .get("scopes_supported")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let unknown: Vec<&str> = scope
            .split_whitespace()
            .filter(|s| !supported.contains(s))
            .collect();
        if !supported.is_empty() && !unknown.is_empty() {
            findings.push(
                Finding::warning(
                    Code::ScopeMismatch,
                    format!(
                        "the MCP server does not advertise scope {} (scopes_supported: {})",
                        unknown.join(" "),
                        supported.join(" ")
                    ),
                    format!(
                        "ask for an advertised scope (--scope or {}), or leave both unset to use scopes_supported",
                        var::DEV_SCOPE
                    ),
                )
                .why("MCP clients ask for the scopes the server advertises; a scope it does not list is probably not the one its tools check")
                .compare(supported.join(" "), scope),
            );
        }
    }
    findings
}

/// The `issuer_mismatch` finding when `authorization_servers` does not name `issuer`.
fn authorization_servers(prm_url: &str, prm: &Value, issuer: &str) -> Option<Finding> {
    let servers: Vec<&str> = prm
        .get("authorization_servers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if servers.contains(&issuer) {
        return None;
    }
    let actual = if servers.is_empty() {
        "(none)".to_owned()
    } else {
        servers.join(" ")
    };
    let mut finding = Finding::error(
        Code::IssuerMismatch,
        if servers.is_empty() {
            format!("the Protected Resource Metadata at {prm_url} names no authorization server")
        } else {
            format!("the MCP server names authorization server {actual}, but the AS's issuer is {issuer}")
        },
        format!(
            "set the server's {} to {issuer} and restart it (`authplane-dev clean && authplane-dev up` for the echo server)",
            var::ISSUER
        ),
    )
    .why("clients discover the AS from authorization_servers and require its metadata issuer to equal that entry byte for byte (RFC 8414 §3.3); the server also checks tokens' iss against it")
    .compare(issuer, actual);
    if let [only] = servers.as_slice()
        && let Some(differs) = url::difference(issuer, only)
    {
        finding = finding.differs(differs);
    }
    Some(finding)
}

/// The warning for an MCP server that answers but serves no Protected Resource Metadata
/// (`what`: the status or the parse error). A warning: the token flow works without it, but MCP
/// clients that follow the MCP authorization spec cannot find the AS.
pub fn not_served(prm_url: &str, what: &str) -> Finding {
    Finding::warning(
        Code::McpHandshakeFailed,
        format!("the MCP server serves no Protected Resource Metadata at {prm_url}: {what}"),
        "serve RFC 9728 metadata (`resource`, `authorization_servers`) at that URL; the authplane SDKs build it (`prm_response()`)",
    )
    .why("MCP clients discover the AS from this document (MCP authorization, RFC 9728); without it they cannot start the OAuth flow")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PRM: &str = "http://localhost:8080/.well-known/oauth-protected-resource/mcp";

    fn doc(resource: &str, issuer: &str) -> Value {
        json!({"resource": resource, "authorization_servers": [issuer], "bearer_methods_supported": ["header"]})
    }

    #[test]
    fn matching_metadata_has_no_findings() {
        let prm = doc("http://localhost:8080/mcp", "http://localhost:9000");
        assert!(
            check_prm(
                PRM,
                &prm,
                "http://localhost:8080/mcp",
                "http://localhost:9000"
            )
            .is_empty()
        );
    }

    #[test]
    fn another_resource_is_an_audience_mismatch_naming_the_part() {
        let prm = doc("http://localhost:8080/mcp", "http://localhost:9000");
        let f = check_prm(
            PRM,
            &prm,
            "http://127.0.0.1:8080/mcp",
            "http://localhost:9000",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::AudienceMismatch);
        assert_eq!(
            f[0].differs.as_deref(),
            Some("host: 127.0.0.1 vs localhost")
        );
        assert_eq!(f[0].actual.as_deref(), Some("http://localhost:8080/mcp"));
    }

    #[test]
    fn an_issuer_not_listed_is_an_issuer_mismatch() {
        let prm = doc("http://localhost:8080/mcp", "http://localhost:9000/");
        let f = check_prm(
            PRM,
            &prm,
            "http://localhost:8080/mcp",
            "http://localhost:9000",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::IssuerMismatch);
        assert!(
            f[0].differs.as_deref().unwrap().contains("trailing slash"),
            "{f:?}"
        );
        let none = check_prm(
            PRM,
            &json!({"resource": "http://localhost:8080/mcp"}),
            "http://localhost:8080/mcp",
            "http://localhost:9000",
        );
        assert_eq!(none[0].actual.as_deref(), Some("(none)"));
    }

    fn dialled<'a>(url: &'a str, scope: Option<&'a str>) -> Dialled<'a> {
        Dialled {
            url,
            issuer: "http://localhost:9000",
            scope,
            echo: false,
        }
    }

    #[test]
    fn the_dialled_url_must_be_the_announced_resource_byte_for_byte() {
        let prm = doc("http://localhost:8080/mcp", "http://localhost:9000");
        assert!(check_dialled(PRM, &prm, &dialled("http://localhost:8080/mcp", None)).is_empty());
        let f = check_dialled(PRM, &prm, &dialled("http://127.0.0.1:8080/mcp", None));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::AudienceMismatch);
        assert!(f[0].is_error());
        assert_eq!(f[0].expected.as_deref(), Some("http://127.0.0.1:8080/mcp"));
        assert_eq!(f[0].actual.as_deref(), Some("http://localhost:8080/mcp"));
        assert_eq!(
            f[0].differs.as_deref(),
            Some("host: 127.0.0.1 vs localhost")
        );
        assert!(
            f[0].fix.contains("--mcp-url http://localhost:8080/mcp"),
            "{}",
            f[0].fix
        );
        assert!(f[0].fix.contains("base URL"), "{}", f[0].fix);
        let echo = Dialled {
            echo: true,
            ..dialled("http://127.0.0.1:8080/mcp", None)
        };
        assert!(
            check_dialled(PRM, &prm, &echo)[0]
                .fix
                .contains("AUTHPLANE_BASE_URL")
        );
    }

    #[test]
    fn a_named_scope_the_server_does_not_advertise_is_a_warning() {
        let mut prm = doc("http://localhost:8080/mcp", "http://localhost:9000");
        prm["scopes_supported"] = json!(["db:read"]);
        let url = "http://localhost:8080/mcp";
        assert!(check_dialled(PRM, &prm, &dialled(url, Some("db:read"))).is_empty());
        let f = check_dialled(PRM, &prm, &dialled(url, Some("db:write")));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::ScopeMismatch);
        assert!(!f[0].is_error());
        // No scopes_supported: nothing to compare with.
        let bare = doc(url, "http://localhost:9000");
        assert!(check_dialled(PRM, &bare, &dialled(url, Some("x"))).is_empty());
    }

    #[test]
    fn a_missing_resource_is_reported() {
        let f = check_prm(
            PRM,
            &json!({"authorization_servers": ["http://a"]}),
            "http://localhost:8080/mcp",
            "http://a",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].actual.as_deref(), Some("(none)"));
    }
}
