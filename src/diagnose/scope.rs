//! The scope ledger: the same scope string must appear in four places (authserver docs,
//! "Lifecycle of a scope") — the scopes the MCP server requires (`AUTHPLANE_SCOPES`), the scopes
//! the resource declares at the AS, the client's ceiling, and the token (request and `scope`
//! claim). A scope missing from any one of them breaks the flow at a different step; the ledger
//! says which.

use serde::Serialize;

use crate::config::var;
use crate::diagnose::{Code, Finding};

/// The four places a scope must appear, as observed (`None` = not observed yet).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ledger {
    /// Scopes the MCP server requires (`AUTHPLANE_SCOPES`).
    pub server_requires: Vec<String>,
    /// Scope the CLI asks for (`AUTHPLANE_DEV_SCOPE`).
    pub requested: Vec<String>,
    /// Scopes the resource declares at the AS.
    pub resource_declares: Option<Vec<String>>,
    /// The client's scope ceiling.
    pub client_ceiling: Option<Vec<String>>,
    /// The token's `scope` claim.
    pub token_carries: Option<Vec<String>>,
}

impl Ledger {
    /// Findings for every scope the server requires that is missing somewhere along the way.
    pub fn check(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        for scope in &self.server_requires {
            if !self.requested.contains(scope) {
                findings.push(
                    Finding::error(
                        Code::ScopeMismatch,
                        format!("the MCP server requires scope {scope:?}, but authplane-dev does not ask for it"),
                        format!(
                            "set {}={scope} (or drop it from {} if the server does not need it)",
                            var::DEV_SCOPE,
                            var::SCOPES
                        ),
                    )
                    .why("a token without every required scope is refused with 403 insufficient_scope (or the tool is hidden)")
                    .compare(self.server_requires.join(" "), self.requested.join(" ")),
                );
                continue;
            }
            if let Some(declared) = &self.resource_declares
                && !declared.contains(scope)
            {
                findings.push(
                    Finding::error(
                        Code::ScopeMismatch,
                        format!("the resource at the AS does not declare scope {scope:?}"),
                        "run `authplane-dev verify --fix` to patch the resource's scopes",
                    )
                    .why("since authserver 0.2.2 a client_credentials token for a resource carries only scopes the resource declares (otherwise invalid_scope)")
                    .compare(scope.clone(), declared.join(" ")),
                );
            }
            if let Some(ceiling) = &self.client_ceiling
                && !ceiling.contains(scope)
            {
                findings.push(
                    Finding::error(
                        Code::ClientGrantMissing,
                        format!("the client's scope ceiling does not include {scope:?}"),
                        "delete <run-dir>/client.json and re-run; authplane-dev then creates a client with the right ceiling",
                    )
                    .why("the AS refuses to issue a scope beyond the client's registered ceiling (invalid_scope)")
                    .compare(scope.clone(), ceiling.join(" ")),
                );
            }
        }
        if let Some(carried) = &self.token_carries {
            findings.extend(check_token_scopes(carried, &self.server_requires));
        }
        findings
    }
}

/// The token must carry every scope the server requires.
pub fn check_token_scopes(carried: &[String], required: &[String]) -> Option<Finding> {
    let missing: Vec<&String> = required.iter().filter(|s| !carried.contains(s)).collect();
    if missing.is_empty() {
        return None;
    }
    let missing_text = missing
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Some(
        Finding::error(
            Code::ScopeMismatch,
            format!("the token lacks the scope(s) the MCP server requires: {missing_text}"),
            format!(
                "make {} name the scope(s) in {} and re-run `authplane-dev verify --fix` so the \
                 resource declares them",
                var::DEV_SCOPE,
                var::SCOPES
            ),
        )
        .why("the server refuses a token without every required scope (403 insufficient_scope, or the tool is hidden)")
        .compare(required.join(" "), if carried.is_empty() { "(no scope claim)".to_owned() } else { carried.join(" ") }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn consistent_ledger_is_clean() {
        let ledger = Ledger {
            server_requires: v(&["mcp:echo"]),
            requested: v(&["mcp:echo"]),
            resource_declares: Some(v(&["mcp:echo", "authplane-dev:probe"])),
            client_ceiling: Some(v(&["mcp:echo", "authplane-dev:probe"])),
            token_carries: Some(v(&["mcp:echo"])),
        };
        assert!(ledger.check().is_empty());
    }

    #[test]
    fn each_place_gets_its_own_finding() {
        let ledger = Ledger {
            server_requires: v(&["mcp:echo"]),
            requested: v(&["mcp:echo"]),
            resource_declares: Some(v(&["other"])),
            client_ceiling: Some(v(&[])),
            token_carries: Some(v(&[])),
        };
        let codes: Vec<Code> = ledger.check().iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            [
                Code::ScopeMismatch,
                Code::ClientGrantMissing,
                Code::ScopeMismatch
            ]
        );
        let ledger = Ledger {
            server_requires: v(&["mcp:echo", "mcp:admin"]),
            requested: v(&["mcp:echo"]),
            ..Ledger::default()
        };
        let f = ledger.check();
        assert_eq!(f.len(), 1);
        assert!(f[0].fix.contains("AUTHPLANE_DEV_SCOPE=mcp:admin"));
    }

    #[test]
    fn token_scopes() {
        assert!(check_token_scopes(&v(&["a", "b"]), &v(&["b"])).is_none());
        let f = check_token_scopes(&v(&[]), &v(&["mcp:echo"])).unwrap();
        assert_eq!(f.actual.as_deref(), Some("(no scope claim)"));
        assert!(f.message.contains("mcp:echo"));
    }
}
