//! Step "MCP metadata": the dialled server's Protected Resource Metadata read FIRST, as an MCP
//! client does before it asks for a token — from the `resource_metadata` of the 401 an anonymous
//! `initialize` gets, else from the RFC 9728 well-known paths — and compared with the URL dialled,
//! the AS's issuer and the scope (`diagnose::prm::check_dialled`). Nothing is registered before
//! it: a server that does not answer, or announces another resource, ends the run here. Without a
//! named scope, a dialled server's `scopes_supported` becomes the scope asked for.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::diagnose::prm::{self, Dialled};
use crate::diagnose::{Finding, url};
use crate::flow::mcp::McpClient;
use crate::flow::{FlowError, get_json, protected_resource_metadata_url};
use crate::report::Run;

use super::Flow;
use super::mcp::fail_unreachable;

/// The step's name.
pub const STEP: &str = "MCP metadata";

impl Flow<'_> {
    /// Step "MCP metadata" (see the module). `with_echo`: the dialled server is the embedded echo
    /// server, whose scope is the configured one. False when the run must stop here: the server
    /// does not answer, or its metadata contradicts the URL dialled or the issuer.
    pub async fn read_server_metadata(&mut self, run: &mut Run<'_>, with_echo: bool) -> bool {
        let settings = self.settings();
        let dialled = settings.mcp_url.clone();
        let t = run.start(STEP);
        let anonymous = McpClient::new(self.http.clone(), &dialled, None);
        let challenge = match anonymous.initialize().await {
            Ok(reply) => reply
                .bearer_challenge()
                .and_then(|c| c.param("resource_metadata"))
                .map(str::to_owned),
            Err(err) => {
                fail_unreachable(run, t, &err, &dialled);
                return false;
            }
        };
        let mut candidates: Vec<(String, &str)> = Vec::new();
        if let Some(url) = challenge {
            candidates.push((url, "the 401's resource_metadata"));
        }
        candidates.push((
            protected_resource_metadata_url(&dialled),
            "the RFC 9728 well-known path",
        ));
        if let Some(origin) = url::origin(&dialled) {
            candidates.push((
                format!("{origin}/.well-known/oauth-protected-resource"),
                "the RFC 9728 well-known path at the root",
            ));
        }
        candidates.dedup_by(|a, b| a.0 == b.0);

        let mut tried = Vec::new();
        let mut found = None;
        for (url, how) in &candidates {
            match get_json(&self.http, url).await {
                Ok(doc) if doc.is_object() => {
                    found = Some((url.clone(), *how, doc));
                    break;
                }
                Ok(_) => tried.push(format!("{url}: not a JSON object")),
                Err(FlowError::Status {
                    status, message, ..
                }) => tried.push(format!("{url}: HTTP {status} {message}")),
                Err(err) => tried.push(format!("{url}: {err}")),
            }
        }
        let Some((prm_url, how, doc)) = found else {
            // The token flow works without it; MCP clients cannot find the AS. Go on with the
            // configured scope and resource.
            run.warn(
                t,
                "no Protected Resource Metadata served; going on with the configured resource URI",
                json!({"tried": tried}),
            );
            run.finding(prm::not_served(&candidates[0].0, &tried.join("; ")));
            return true;
        };

        let named_scope = settings.scope_given().then_some(settings.scope.as_str());
        let findings = prm::check_dialled(
            &prm_url,
            &doc,
            &Dialled {
                url: &dialled,
                issuer: &self.issuer,
                scope: if with_echo { None } else { named_scope },
                echo: with_echo,
            },
        );
        let supported: Vec<String> = doc
            .get("scopes_supported")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let mut summary = format!(
            "resource {} (from {how}), authorization_servers {}",
            doc.get("resource")
                .and_then(Value::as_str)
                .unwrap_or("(none)"),
            doc.get("authorization_servers")
                .and_then(Value::as_array)
                .map_or_else(
                    || "(none)".to_owned(),
                    |a| a
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
        );
        if !with_echo && named_scope.is_none() && !supported.is_empty() {
            self.use_scope(&supported.join(" "));
            let _ = write!(summary, "; scope {:?} from scopes_supported", self.scope);
        }
        let detail = json!({
            "prm_url": prm_url,
            "found_via": how,
            "document": doc,
            "dialled": dialled,
            "scope": self.scope,
        });
        let ok = !findings.iter().any(Finding::is_error);
        if ok && findings.is_empty() {
            run.pass(t, summary, detail);
        } else if ok {
            run.warn(t, summary, detail);
        } else {
            run.fail(t, format!("{summary} — does not match"), detail);
        }
        for f in findings {
            run.finding(f);
        }
        ok
    }
}
