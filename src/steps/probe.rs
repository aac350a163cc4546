//! The negative probes, run after a successful round trip: no token, a token for another
//! resource, a token without the required scope. Each must be refused; one that is accepted is a
//! finding. The probes register only their own resource (`<slug>-probe-other`) and never change
//! the main resource or client.

use serde_json::json;

use crate::config::var;
use crate::diagnose::{Code, Finding, url};
use crate::flow::FlowError;
use crate::flow::admin::NewResource;
use crate::flow::credentials::StoredClient;
use crate::flow::mcp::{McpClient, McpReply};
use crate::flow::token::{self, TokenRequest};
use crate::report::Run;

use super::mcp::{Era, Exercised, RoundTrip, fail_unreachable};
use super::{Flow, PROBE_RESOURCE_PATH, PROBE_SCOPE};

/// The names of the three probe steps, in order: no token, a token for another resource, a
/// token without the required scope.
pub const PROBE_STEPS: [&str; 3] = [
    "probe: no token",
    "probe: token for another resource",
    "probe: token without the required scope",
];

impl Flow<'_> {
    /// Probe "token for another resource": a token minted for another registered resource
    /// (created as `<slug>-probe-other` at [`PROBE_RESOURCE_PATH`]) must be refused (401).
    pub async fn probe_other_resource(
        &mut self,
        run: &mut Run<'_>,
        client: &StoredClient,
        era: Era,
    ) {
        let name = PROBE_STEPS[1];
        let settings = self.settings().clone();
        let slug = format!("{}-probe-other", settings.resource_slug);
        let Some(origin) = url::origin(&settings.mcp_url) else {
            let t = run.start(name);
            run.skip(t, "skipped: the MCP URL has no origin");
            return;
        };
        let uri = format!("{origin}{PROBE_RESOURCE_PATH}");
        let Some(admin) = self.admin.clone() else {
            return;
        };
        let t = run.start(name);
        let existing = match admin.resource_by_slug(&slug).await {
            Ok(r) => r,
            Err(err) => {
                self.admin_failure(run, t, &err);
                return;
            }
        };
        let resource = if let Some(r) = existing {
            r
        } else {
            let new = NewResource {
                slug: slug.clone(),
                uri: uri.clone(),
                display_name: "authplane-dev wrong-audience probe".to_owned(),
                scopes: self
                    .scope
                    .split_whitespace()
                    .map(|s| (s.to_owned(), "probe".to_owned()))
                    .collect(),
            };
            match admin.create_resource(&new).await {
                Ok(r) => r,
                Err(err) => {
                    self.admin_failure(run, t, &err);
                    return;
                }
            }
        };
        if resource.uri == self.expectations.audience {
            run.skip(
                t,
                format!("skipped: resource {slug} has the server's own URI"),
            );
            return;
        }
        let request = TokenRequest {
            client_id: &client.client_id,
            client_secret: &client.client_secret,
            scope: Some(&self.scope),
            resource: Some(&resource.uri),
            dpop: None,
        };
        let minted = match token::mint(&self.http, &settings.public_url, &request).await {
            Ok(m) => m,
            Err(err) => {
                run.skip(
                    t,
                    format!(
                        "skipped: could not mint a token for {}: {err}",
                        resource.uri
                    ),
                );
                return;
            }
        };
        self.reporter.secret(&minted.access_token);
        let mcp = McpClient::new(
            self.http.clone(),
            &settings.mcp_url,
            Some(&minted.access_token),
        );
        let reply = match first_call(&mcp, era).await {
            Ok(r) => r,
            Err(err) => {
                fail_unreachable(run, t, &err, &settings.mcp_url);
                return;
            }
        };
        let detail = json!({"token_aud": resource.uri, "exchange": reply.exchange.to_json()});
        match reply.status {
            401 | 403 => run.pass(
                t,
                format!(
                    "{} refused a token with aud {} ({})",
                    settings.mcp_url, resource.uri, reply.status
                ),
                detail,
            ),
            s if (200..300).contains(&s) => {
                run.fail(
                    t,
                    format!("accepted a token with aud {} ({s})", resource.uri),
                    detail,
                );
                run.finding(
                    Finding::error(
                        Code::AudienceMismatch,
                        format!(
                            "the MCP server accepted a token minted for another resource ({})",
                            resource.uri
                        ),
                        "configure the server's verifier with its own URL as the resource identifier (authplane-sdk checks aud when given the resource)",
                    )
                    .why("without an audience check, a token for any resource of this AS unlocks this server")
                    .compare("HTTP 401 invalid_token", format!("HTTP {s}")),
                );
            }
            s => run.warn(t, format!("unexpected HTTP {s} (expected 401)"), detail),
        }
    }

    /// Probe "token without the required scope": a token carrying only [`PROBE_SCOPE`] repeats
    /// the round trip (`exercised`: the same tool and arguments, or the tools/list) and must be
    /// refused (403), or the tool hidden; accepting it is a warning. Needs the resource to declare
    /// the probe scope.
    pub async fn probe_missing_scope(
        &mut self,
        run: &mut Run<'_>,
        client: &StoredClient,
        exercised: &Exercised,
    ) {
        let t = run.start(PROBE_STEPS[2]);
        let settings = self.settings().clone();
        let request = TokenRequest {
            client_id: &client.client_id,
            client_secret: &client.client_secret,
            scope: Some(PROBE_SCOPE),
            resource: Some(&settings.resource_uri),
            dpop: None,
        };
        let minted = match token::mint(&self.http, &settings.public_url, &request).await {
            Ok(m) => m,
            Err(err) => {
                run.skip(
                    t,
                    format!("skipped: could not mint a {PROBE_SCOPE} token: {err}"),
                );
                return;
            }
        };
        self.reporter.secret(&minted.access_token);
        let mcp = McpClient::new(
            self.http.clone(),
            &settings.mcp_url,
            Some(&minted.access_token),
        );
        let (reply, init) = match repeat_round_trip(&mcp, exercised).await {
            Ok(pair) => pair,
            Err(err) => {
                fail_unreachable(run, t, &err, &settings.mcp_url);
                return;
            }
        };
        let detail = json!({
            "token_scope": minted.scope,
            "initialize": init.as_ref().map(|i| i.exchange.to_json()),
            "exchange": reply.exchange.to_json(),
        });
        let scope = self.scope.clone();
        let (hidden, answered, what) = match &exercised.round_trip {
            RoundTrip::Call { tool, echo, .. } => (
                reply.tool_is_error() || reply.rpc_error().is_some(),
                match echo {
                    Some(text) => reply.tool_text().is_some_and(|s| s.contains(text.as_str())),
                    None => reply.result().is_some(),
                },
                format!("the {tool} tool"),
            ),
            RoundTrip::List { tools } => {
                let listed = reply.tools().unwrap_or_default();
                let all_listed = tools.iter().all(|t| listed.iter().any(|l| &l.name == t));
                (
                    reply.rpc_error().is_some() || !all_listed,
                    all_listed,
                    "tools/list".to_owned(),
                )
            }
        };
        match reply.status {
            403 => {
                let error = reply
                    .bearer_challenge()
                    .and_then(|c| c.param("error"))
                    .unwrap_or("no error parameter")
                    .to_owned();
                run.pass(t, format!("refused with 403 ({error})"), detail);
            }
            401 => run.pass(t, "refused with 401", detail),
            200 if hidden => run.pass(
                t,
                "tool hidden (HTTP 200 without the tool: an error result or a shorter tools/list)",
                detail,
            ),
            200 if answered => {
                run.warn(
                    t,
                    format!("accepted: {what} answered a token without the scope"),
                    detail,
                );
                run.finding(
                    Finding::warning(
                        Code::ScopeNotEnforced,
                        format!(
                            "the MCP server ran {what} for a token without {scope} (scope {:?})",
                            minted.scope.as_deref().unwrap_or("")
                        ),
                        format!(
                            "require the scope on the server (authplane-sdk: claims.require_scope(\"{scope}\"); FastMCP: auth=require_scopes(...)), and list it in {}",
                            var::SCOPES
                        ),
                    )
                    .why("a scope only protects a tool if the resource server checks it; the AS just stamps it")
                    .compare("HTTP 403 insufficient_scope or the tool hidden", "HTTP 200 with the tool result"),
                );
            }
            s => run.warn(t, format!("unexpected answer HTTP {s}"), detail),
        }
    }
}

/// Probe "no token": a request without a token (`mcp` built without one) must get 401 with a
/// `resource_metadata` challenge.
pub async fn probe_no_token(run: &mut Run<'_>, mcp: &McpClient, era: Era) {
    let t = run.start(PROBE_STEPS[0]);
    let reply = match first_call(mcp, era).await {
        Ok(r) => r,
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            return;
        }
    };
    let metadata = reply
        .bearer_challenge()
        .and_then(|c| c.param("resource_metadata"))
        .map(str::to_owned);
    let detail = json!({"exchange": reply.exchange.to_json(), "resource_metadata": metadata});
    match (reply.status, metadata) {
        (401, Some(m)) => run.pass(t, format!("401 with resource_metadata={m}"), detail),
        (401, None) => {
            run.warn(
                t,
                "401 but no resource_metadata in WWW-Authenticate",
                detail,
            );
            run.finding(
                Finding::warning(
                    Code::McpHandshakeFailed,
                    "the MCP server's 401 carries no resource_metadata parameter",
                    "serve RFC 9728 protected-resource metadata and name it in WWW-Authenticate (authplane-sdk's challenge helper does)",
                )
                .why("MCP clients discover the authorization server through resource_metadata (MCP auth spec)")
                .compare(
                    "WWW-Authenticate: Bearer resource_metadata=\"…\"",
                    reply.exchange.response_header("www-authenticate").unwrap_or("(none)"),
                ),
            );
        }
        (s, _) if (200..300).contains(&s) => {
            run.fail(
                t,
                format!("accepted a request without a token ({s})"),
                detail,
            );
            run.finding(
                Finding::error(
                    Code::McpHandshakeFailed,
                    "the MCP server answered a request without any token",
                    "put the bearer-token check in front of every MCP route",
                )
                .why("an MCP server protected by Authplane must answer 401 to anonymous calls")
                .compare("HTTP 401", format!("HTTP {s}")),
            );
        }
        (s, _) => run.warn(t, format!("unexpected HTTP {s} (expected 401)"), detail),
    }
}

/// The first request of an era, used by the probes: `initialize`, or a stateless `tools/list`.
pub(super) async fn first_call(mcp: &McpClient, era: Era) -> Result<McpReply, FlowError> {
    match era {
        Era::Session => mcp.initialize().await,
        Era::Stateless => mcp.list_tools_stateless().await,
    }
}

/// The round trip again with another token: the reply of its last request, and the
/// `initialize` reply in the session era.
pub(super) async fn repeat_round_trip(
    mcp: &McpClient,
    exercised: &Exercised,
) -> Result<(McpReply, Option<McpReply>), FlowError> {
    let session = match exercised.era {
        Era::Stateless => None,
        Era::Session => {
            let init = mcp.initialize().await?;
            if init.status != 200 {
                return Ok((init, None));
            }
            let version = init
                .protocol_version()
                .unwrap_or(crate::flow::mcp::SESSION_PROTOCOL_VERSION)
                .to_owned();
            let _ = mcp.initialized(init.session_id.as_deref(), &version).await;
            Some((init, version))
        }
    };
    let id = session
        .as_ref()
        .and_then(|(init, _)| init.session_id.clone());
    let reply = match (&exercised.round_trip, &session) {
        (
            RoundTrip::Call {
                tool, arguments, ..
            },
            Some((_, version)),
        ) => {
            mcp.call_tool(id.as_deref(), version, tool, arguments)
                .await?
        }
        (
            RoundTrip::Call {
                tool, arguments, ..
            },
            None,
        ) => mcp.call_tool_stateless(tool, arguments).await?,
        (RoundTrip::List { .. }, Some((_, version))) => {
            mcp.list_tools(id.as_deref(), version).await?
        }
        (RoundTrip::List { .. }, None) => mcp.list_tools_stateless().await?,
    };
    Ok((reply, session.map(|(init, _)| init)))
}
