//! Steps of the MCP round trip: the handshake and an echo round trip in the session era
//! (initialize, notifications/initialized, tools/call) or the stateless era (one tools/call), or
//! the era found out first (`--protocol auto`). The requests are `flow::mcp`'s; the findings for
//! a refusal `diagnose::failure`'s. Mints nothing.

use serde_json::{Value, json};

use crate::cli::Protocol;
use crate::diagnose::failure::{self, mcp_unreachable};
use crate::flow::FlowError;
use crate::flow::mcp::{McpClient, McpReply, STATELESS_PROTOCOL_VERSION};
use crate::report::{Run, StepTimer};

/// The MCP protocol era a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2024-11-05 … 2025-11-25: initialize + session.
    Session,
    /// 2026-07-28: no initialize, no session.
    Stateless,
}

impl Era {
    /// The era's name in output (`protocol_era` in verify's JSON data).
    pub fn name(self) -> &'static str {
        match self {
            Era::Session => "session",
            Era::Stateless => "stateless",
        }
    }
}

/// Steps "MCP initialize", "notifications/initialized", "tools/call echo" (session era), or the
/// single "tools/call echo (stateless)", or "protocol era" then either, as `protocol` asks;
/// returns the era that worked, None after a failed step and its finding.
pub async fn exercise_mcp(run: &mut Run<'_>, mcp: &McpClient, protocol: Protocol) -> Option<Era> {
    match protocol {
        Protocol::Legacy => session_round_trip(run, mcp).await.then_some(Era::Session),
        Protocol::Stateless => stateless_round_trip(run, mcp)
            .await
            .then_some(Era::Stateless),
        Protocol::Auto => {
            let t = run.start("protocol era");
            let text = echo_text();
            match mcp.call_echo_stateless(&text).await {
                Ok(reply) if reply.status == 200 && echoed(&reply, &text) => {
                    run.pass(
                        t,
                        format!("stateless ({STATELESS_PROTOCOL_VERSION}): tools/call echo round-tripped"),
                        json!({"era": "stateless", "exchange": reply.exchange.to_json()}),
                    );
                    Some(Era::Stateless)
                }
                Ok(reply) if reply.status == 400 || reply.status == 404 || reply.status == 405 => {
                    run.pass(
                        t,
                        format!(
                            "session era: a {STATELESS_PROTOCOL_VERSION} request was answered {} — falling back to the three-step handshake",
                            reply.status
                        ),
                        json!({"era": "session", "stateless_attempt": reply.exchange.to_json()}),
                    );
                    session_round_trip(run, mcp).await.then_some(Era::Session)
                }
                Ok(reply) => {
                    fail_mcp(run, t, &reply, "a stateless tools/call", &text);
                    None
                }
                Err(err) => {
                    fail_unreachable(run, t, &err, mcp.url());
                    None
                }
            }
        }
    }
}

fn echo_text() -> String {
    format!("authplane-dev-{}", crate::config::generate_secret(12))
}

fn echoed(reply: &McpReply, text: &str) -> bool {
    !reply.tool_is_error() && reply.tool_text().is_some_and(|t| t.contains(text))
}

async fn stateless_round_trip(run: &mut Run<'_>, mcp: &McpClient) -> bool {
    let t = run.start("tools/call echo (stateless)");
    let text = echo_text();
    match mcp.call_echo_stateless(&text).await {
        Ok(reply) if reply.status == 200 && echoed(&reply, &text) => {
            run.pass(
                t,
                format!("{STATELESS_PROTOCOL_VERSION}: {text:?} came back"),
                json!({"era": "stateless", "exchange": reply.exchange.to_json()}),
            );
            true
        }
        Ok(reply) => {
            fail_mcp(run, t, &reply, "a stateless tools/call", &text);
            false
        }
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            false
        }
    }
}

async fn session_round_trip(run: &mut Run<'_>, mcp: &McpClient) -> bool {
    let t = run.start("MCP initialize");
    let init = match mcp.initialize().await {
        Ok(reply) => reply,
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            return false;
        }
    };
    if init.status != 200 || init.result().is_none() {
        fail_mcp(run, t, &init, "initialize", "");
        return false;
    }
    let version = init
        .protocol_version()
        .unwrap_or(crate::flow::mcp::SESSION_PROTOCOL_VERSION)
        .to_owned();
    let session = init.session_id.clone();
    let session_shown = session.as_deref().map_or_else(
        || "no session id".to_owned(),
        |s| format!("session {}…", s.chars().take(8).collect::<String>()),
    );
    let server = init
        .result()
        .and_then(|r| r.get("serverInfo"))
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    run.pass(
        t,
        format!("protocol {version}, {session_shown}, server {server}"),
        json!({"era": "session", "protocol_version": version, "session_id_prefix": session.as_deref().map(|s| s.chars().take(8).collect::<String>()), "server": server}),
    );

    let t = run.start("notifications/initialized");
    match mcp.initialized(session.as_deref(), &version).await {
        Ok(reply) if reply.status == 202 => run.pass(t, "202 Accepted", Value::Null),
        Ok(reply) if (200..300).contains(&reply.status) => run.warn(
            t,
            format!("{} (the spec says 202 Accepted)", reply.status),
            reply.exchange.to_json(),
        ),
        Ok(reply) => {
            fail_mcp(run, t, &reply, "notifications/initialized", "");
            return false;
        }
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            return false;
        }
    }

    let t = run.start("tools/call echo");
    let text = echo_text();
    match mcp.call_echo(session.as_deref(), &version, &text).await {
        Ok(reply) if reply.status == 200 && echoed(&reply, &text) => {
            run.pass(t, format!("{text:?} came back"), json!({"text": text}));
            true
        }
        Ok(reply) => {
            fail_mcp(run, t, &reply, "tools/call echo", &text);
            false
        }
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            false
        }
    }
}

/// A failed MCP step: the exchange as detail and a finding chosen by the status.
fn fail_mcp(run: &mut Run<'_>, t: StepTimer, reply: &McpReply, what: &str, text: &str) {
    let challenge = reply.bearer_challenge();
    let description = failure::mcp_error_description(reply);
    let detail = json!({"exchange": reply.exchange.to_json(), "challenge": challenge});
    run.fail(
        t,
        format!("{} — {description}", reply.exchange.line()),
        detail,
    );
    run.finding(failure::mcp_refused(reply, what, text));
}

/// Ends step `t` as failed because the MCP server did not answer, with the `mcp_unreachable`
/// finding that explains it.
pub(super) fn fail_unreachable(run: &mut Run<'_>, t: StepTimer, err: &FlowError, url: &str) {
    run.fail(t, err.to_string(), err.detail());
    run.finding(mcp_unreachable(err, url));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Code;
    use crate::flow::http_client;
    use crate::report::{ColorChoice, OutputOptions, Reporter};
    use crate::steps::probe::probe_no_token;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    /// A session-era-only server (like FastMCP): a stateless request is a 400.
    async fn session_only_server(hide_tool: bool) -> String {
        let router = axum::Router::new().route(
            "/mcp",
            axum::routing::post(move |headers: HeaderMap, body: String| async move {
                let msg: Value = serde_json::from_str(&body).unwrap();
                let session = headers.get("mcp-session-id").is_some();
                let method = msg["method"].as_str().unwrap_or("").to_owned();
                if headers.get("authorization").is_none() {
                    return (StatusCode::UNAUTHORIZED, [("www-authenticate", "Bearer error=\"invalid_token\"")], "").into_response();
                }
                if method != "initialize" && !session {
                    return (StatusCode::BAD_REQUEST, "Missing session ID").into_response();
                }
                if method == "notifications/initialized" {
                    return StatusCode::ACCEPTED.into_response();
                }
                let result = if method == "initialize" {
                    json!({"protocolVersion":"2025-06-18","serverInfo":{"name":"fastmcp"}})
                } else if hide_tool {
                    json!({"content":[{"type":"text","text":"Unknown tool: 'echo'"}],"isError":true})
                } else {
                    json!({"content":[{"type":"text","text":msg["params"]["arguments"]["text"]}],"isError":false})
                };
                (
                    [("content-type", "application/json"), ("mcp-session-id", "abcdef123456")],
                    json!({"jsonrpc":"2.0","id":msg["id"],"result":result}).to_string(),
                )
                    .into_response()
            }),
        );
        format!("{}/mcp", crate::flow::mock::serve(router).await)
    }

    fn reporter() -> Reporter {
        Reporter::new(OutputOptions {
            json: true,
            color: ColorChoice::Never,
            show_secrets: false,
        })
    }

    #[tokio::test]
    async fn auto_falls_back_to_the_session_era_on_400() {
        let url = session_only_server(false).await;
        let mcp = McpClient::new(http_client().unwrap(), &url, Some("token"));
        let reporter = reporter();
        let mut run = reporter.run("verify");
        assert_eq!(
            exercise_mcp(&mut run, &mcp, Protocol::Auto).await,
            Some(Era::Session)
        );
        let outcome = run.finish();
        assert!(outcome.ok(), "{:?}", outcome.findings);
        let names: Vec<&str> = outcome.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "protocol era",
                "MCP initialize",
                "notifications/initialized",
                "tools/call echo"
            ]
        );
        assert_eq!(outcome.steps[0].detail["era"], "session");
        assert!(outcome.steps[1].summary.contains("2025-06-18"));
        assert!(outcome.steps[1].summary.contains("abcdef12…"));

        // --protocol stateless against it fails with mcp_handshake_failed and the exchange.
        let mut run = reporter.run("verify");
        assert_eq!(
            exercise_mcp(&mut run, &mcp, Protocol::Stateless).await,
            None
        );
        let outcome = run.finish();
        assert_eq!(outcome.findings[0].code, Code::McpHandshakeFailed);
        assert!(outcome.findings[0].fix.contains("--protocol legacy"));
        assert_eq!(outcome.steps[0].detail["exchange"]["status"], 400);
    }

    #[tokio::test]
    async fn a_hidden_tool_and_a_401_are_reported() {
        let url = session_only_server(true).await;
        let reporter = reporter();
        let mcp = McpClient::new(http_client().unwrap(), &url, Some("token"));
        let mut run = reporter.run("verify");
        assert_eq!(exercise_mcp(&mut run, &mcp, Protocol::Legacy).await, None);
        let outcome = run.finish();
        assert_eq!(outcome.findings[0].code, Code::McpHandshakeFailed);

        let anonymous = McpClient::new(http_client().unwrap(), &url, None);
        let mut run = reporter.run("verify");
        assert_eq!(
            exercise_mcp(&mut run, &anonymous, Protocol::Legacy).await,
            None
        );
        let outcome = run.finish();
        assert_eq!(outcome.findings[0].code, Code::TokenRejected);
        assert!(
            outcome.findings[0]
                .actual
                .as_deref()
                .unwrap()
                .starts_with("HTTP 401")
        );

        // The no-token probe: 401 without resource_metadata is a warning.
        let mut run = reporter.run("verify");
        probe_no_token(&mut run, &anonymous, Era::Session).await;
        let outcome = run.finish();
        assert!(outcome.ok());
        assert_eq!(
            outcome.findings[0].severity,
            crate::diagnose::Severity::Warning
        );
    }
}
