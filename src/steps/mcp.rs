//! Steps of the MCP round trip, as an MCP client makes it: the handshake (session era:
//! initialize, notifications/initialized; none in the stateless era), `tools/list`, then the tool
//! call chosen from the list — `--tool`, else `echo`, else the authorised `tools/list` is the
//! round trip — with its arguments checked against the tool's `inputSchema` first. `--protocol
//! auto` finds the era first. The requests are `flow::mcp`'s; the findings for a refusal
//! `diagnose::failure`'s. Mints nothing.

use serde_json::{Map, Value, json};

use crate::cli::Protocol;
use crate::diagnose::failure::{self, mcp_unreachable};
use crate::diagnose::{Code, Finding};
use crate::flow::FlowError;
use crate::flow::mcp::{ECHO_TOOL, McpClient, McpReply, STATELESS_PROTOCOL_VERSION, Tool};
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

/// What the user asked the round trip to call (`verify --tool NAME [--args JSON]`).
#[derive(Debug, Clone, Default)]
pub struct ToolChoice {
    pub tool: Option<String>,
    pub args: Option<Map<String, Value>>,
}

/// The round trip chosen once the server listed its tools; the missing-scope probe repeats it.
#[derive(Debug, Clone, PartialEq)]
pub enum RoundTrip {
    /// `tools/call` of `tool` with `arguments`; for the echo tool, `echo` is the text that must
    /// come back.
    Call {
        tool: String,
        arguments: Value,
        echo: Option<String>,
    },
    /// No `echo` tool and no `--tool`: the authorised `tools/list` (these tools) is the round trip.
    List { tools: Vec<String> },
}

/// The era a server spoke and the round trip that worked.
#[derive(Debug, Clone, PartialEq)]
pub struct Exercised {
    pub era: Era,
    pub round_trip: RoundTrip,
}

/// A session-era session: the `Mcp-Session-Id` (if the server gave one) and the negotiated
/// protocol version.
type Session = (Option<String>, String);

/// The step names for the tool call of `tool` in `era` (`tools/call echo`,
/// `tools/call echo (stateless)`).
pub fn call_step_name(tool: &str, era: Era) -> String {
    match era {
        Era::Session => format!("tools/call {tool}"),
        Era::Stateless => format!("tools/call {tool} (stateless)"),
    }
}

/// Steps "MCP initialize", "notifications/initialized", "tools/list", "tools/call `<tool>`"
/// (session era), or "tools/list (stateless)", "tools/call `<tool>` (stateless)", or "protocol
/// era" (a stateless tools/list) then either, as `protocol` asks. The tool called is `choice`'s,
/// else `echo` when listed; with neither, no tools/call is made and the authorised tools/list is
/// the round trip. Returns the era and round trip that worked, None after a failed step and its
/// finding.
pub async fn exercise_mcp(
    run: &mut Run<'_>,
    mcp: &McpClient,
    protocol: Protocol,
    choice: &ToolChoice,
) -> Option<Exercised> {
    let era = match protocol {
        Protocol::Legacy => Era::Session,
        Protocol::Stateless => Era::Stateless,
        Protocol::Auto => {
            let t = run.start("protocol era");
            match mcp.list_tools_stateless().await {
                Ok(reply) if reply.status == 200 && reply.tools().is_some() => {
                    let tools = reply.tools().unwrap_or_default();
                    let round_trip = choose(&tools, choice);
                    run.pass(
                        t,
                        format!(
                            "stateless ({STATELESS_PROTOCOL_VERSION}): {}",
                            list_summary(&tools, &round_trip)
                        ),
                        json!({"era": "stateless", "tools": names(&tools), "exchange": reply.exchange.to_json()}),
                    );
                    return call_round_trip(run, mcp, Era::Stateless, None, &tools, round_trip)
                        .await;
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
                    Era::Session
                }
                Ok(reply) => {
                    fail_mcp(run, t, &reply, "a stateless tools/list", "");
                    return None;
                }
                Err(err) => {
                    fail_unreachable(run, t, &err, mcp.url());
                    return None;
                }
            }
        }
    };
    let session = match era {
        Era::Session => Some(handshake(run, mcp).await?),
        Era::Stateless => None,
    };
    let (step, what) = match era {
        Era::Session => ("tools/list", "tools/list"),
        Era::Stateless => ("tools/list (stateless)", "a stateless tools/list"),
    };
    let t = run.start(step);
    let reply = match &session {
        Some((id, version)) => mcp.list_tools(id.as_deref(), version).await,
        None => mcp.list_tools_stateless().await,
    };
    match reply {
        Ok(reply) if reply.status == 200 && reply.tools().is_some() => {
            let tools = reply.tools().unwrap_or_default();
            let round_trip = choose(&tools, choice);
            run.pass(
                t,
                list_summary(&tools, &round_trip),
                json!({"tools": names(&tools)}),
            );
            call_round_trip(run, mcp, era, session.as_ref(), &tools, round_trip).await
        }
        Ok(reply) => {
            fail_mcp(run, t, &reply, what, "");
            None
        }
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            None
        }
    }
}

fn names(tools: &[Tool]) -> Vec<&str> {
    tools.iter().map(|t| t.name.as_str()).collect()
}

/// "3 tools: a, b, c" (at most ten names), and what the round trip will be.
fn list_summary(tools: &[Tool], round_trip: &RoundTrip) -> String {
    let mut shown: Vec<&str> = names(tools).into_iter().take(10).collect();
    if tools.len() > 10 {
        shown.push("…");
    }
    let listed = match tools.len() {
        0 => "no tools".to_owned(),
        1 => format!("1 tool: {}", shown.join(", ")),
        n => format!("{n} tools: {}", shown.join(", ")),
    };
    match round_trip {
        RoundTrip::List { .. } => format!(
            "{listed} — no echo tool and no --tool, so this authorised tools/list is the round trip"
        ),
        RoundTrip::Call { .. } => listed,
    }
}

/// The round trip for these tools: `--tool` (listed or not: the call step reports a tool the
/// server does not list), else `echo` when listed, else the tools/list itself.
fn choose(tools: &[Tool], choice: &ToolChoice) -> RoundTrip {
    if let Some(name) = &choice.tool {
        return RoundTrip::Call {
            tool: name.clone(),
            arguments: Value::Object(choice.args.clone().unwrap_or_default()),
            echo: None,
        };
    }
    if tools.iter().any(|t| t.name == ECHO_TOOL) {
        let text = echo_text();
        return RoundTrip::Call {
            tool: ECHO_TOOL.to_owned(),
            arguments: json!({"text": text}),
            echo: Some(text),
        };
    }
    RoundTrip::List {
        tools: tools.iter().map(|t| t.name.clone()).collect(),
    }
}

/// Step "tools/call `<tool>`" (when the round trip is a call): the arguments checked against
/// the tool's `inputSchema`, then the call; the result must not be an error (and for the echo
/// tool must carry the text sent).
async fn call_round_trip(
    run: &mut Run<'_>,
    mcp: &McpClient,
    era: Era,
    session: Option<&Session>,
    tools: &[Tool],
    round_trip: RoundTrip,
) -> Option<Exercised> {
    let RoundTrip::Call {
        tool,
        arguments,
        echo,
    } = &round_trip
    else {
        return Some(Exercised { era, round_trip });
    };
    let t = run.start(&call_step_name(tool, era));
    let Some(listed) = tools.iter().find(|t| &t.name == tool) else {
        run.fail(
            t,
            format!("not called: the server lists no tool {tool:?}"),
            json!({"tool": tool, "tools": names(tools)}),
        );
        run.finding(tool_not_listed(tool, tools));
        return None;
    };
    let args = arguments.as_object().cloned().unwrap_or_default();
    let missing = listed.missing_required(&args);
    if !missing.is_empty() {
        run.fail(
            t,
            format!("not called: --args lacks {}", missing.join(", ")),
            json!({"tool": tool, "arguments": arguments, "inputSchema": listed.input_schema}),
        );
        run.finding(missing_arguments(tool, &missing, listed));
        return None;
    }
    let reply = match session {
        Some((id, version)) => mcp.call_tool(id.as_deref(), version, tool, arguments).await,
        None => mcp.call_tool_stateless(tool, arguments).await,
    };
    let what = match era {
        Era::Session => format!("tools/call {tool}"),
        Era::Stateless => format!("a stateless tools/call {tool}"),
    };
    let reply = match reply {
        Ok(reply) => reply,
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            return None;
        }
    };
    let answered = reply.status == 200 && reply.result().is_some() && !reply.tool_is_error();
    let ok = match echo {
        Some(text) => answered && echoed(&reply, text),
        None => answered,
    };
    if !ok {
        if reply.status == 200 && reply.tool_is_error() && echo.is_none() {
            run.fail(
                t,
                format!(
                    "{tool} answered isError: {}",
                    reply.tool_text().unwrap_or_default()
                ),
                json!({"exchange": reply.exchange.to_json(), "inputSchema": listed.input_schema}),
            );
            run.finding(tool_error(tool, &reply));
        } else {
            fail_mcp(run, t, &reply, &what, echo.as_deref().unwrap_or(""));
        }
        return None;
    }
    let summary = if let Some(text) = echo {
        match era {
            Era::Session => format!("{text:?} came back"),
            Era::Stateless => format!("{STATELESS_PROTOCOL_VERSION}: {text:?} came back"),
        }
    } else {
        let excerpt: String = reply
            .tool_text()
            .unwrap_or_default()
            .chars()
            .take(80)
            .collect();
        format!("{tool} answered: {excerpt:?}")
    };
    run.pass(
        t,
        summary,
        json!({"era": era.name(), "tool": tool, "arguments": arguments, "exchange": reply.exchange.to_json()}),
    );
    Some(Exercised { era, round_trip })
}

/// The finding for `--tool NAME` that the server does not list.
fn tool_not_listed(tool: &str, tools: &[Tool]) -> Finding {
    let listed = if tools.is_empty() {
        "(no tools)".to_owned()
    } else {
        names(tools).join(" ")
    };
    Finding::error(
        Code::McpHandshakeFailed,
        format!("the MCP server lists no tool named {tool:?}"),
        format!("pass --tool with one of the listed tools: {listed}"),
    )
    .why("tools/list is what the server offers this token; a tool missing there may also need a scope the token lacks")
    .compare(tool, listed)
}

/// The finding for `--args` that lack properties the tool's `inputSchema` requires.
fn missing_arguments(tool: &str, missing: &[String], listed: &Tool) -> Finding {
    let example: Vec<String> = missing.iter().map(|m| format!("\"{m}\": …")).collect();
    Finding::error(
        Code::McpHandshakeFailed,
        format!(
            "--args for {tool} lacks the required {} {}",
            if missing.len() == 1 { "property" } else { "properties" },
            missing.join(", ")
        ),
        format!("pass --args '{{{}}}'", example.join(", ")),
    )
    .why("the tool's inputSchema requires them; a call without them fails on the server, not on authorisation")
    .compare(
        format!("arguments with {}", missing.join(", ")),
        format!("arguments; the schema's properties are {}", listed.properties().join(", ")),
    )
}

/// The finding for a tool that ran but answered `isError: true`.
fn tool_error(tool: &str, reply: &McpReply) -> Finding {
    let text = reply.tool_text().unwrap_or_default();
    Finding::error(
        Code::McpHandshakeFailed,
        format!("the MCP server answered tools/call {tool} with an error: {text}"),
        "check --args against the tool's inputSchema (shown in the step's detail) and the server's log; `Unknown tool` from FastMCP means the token lacks the tool's scope",
    )
    .why("authorisation passed (HTTP 200), but the round trip needs a tool result without isError")
    .compare("isError: false", format!("isError: true ({text})"))
}

fn echo_text() -> String {
    format!("authplane-dev-{}", crate::config::generate_secret(12))
}

fn echoed(reply: &McpReply, text: &str) -> bool {
    !reply.tool_is_error() && reply.tool_text().is_some_and(|t| t.contains(text))
}

/// Steps "MCP initialize" and "notifications/initialized": the session id (if any) and the
/// negotiated version, None after a failed step.
async fn handshake(run: &mut Run<'_>, mcp: &McpClient) -> Option<Session> {
    let t = run.start("MCP initialize");
    let init = match mcp.initialize().await {
        Ok(reply) => reply,
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            return None;
        }
    };
    if init.status != 200 || init.result().is_none() {
        fail_mcp(run, t, &init, "initialize", "");
        return None;
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
            return None;
        }
        Err(err) => {
            fail_unreachable(run, t, &err, mcp.url());
            return None;
        }
    }
    Some((session, version))
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
                } else if method == "tools/list" {
                    json!({"tools":[{"name":"echo","inputSchema":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}}]})
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
            exercise_mcp(&mut run, &mcp, Protocol::Auto, &ToolChoice::default())
                .await
                .map(|e| e.era),
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
                "tools/list",
                "tools/call echo"
            ]
        );
        assert!(
            outcome.steps[3].summary.contains("1 tool: echo"),
            "{:?}",
            outcome.steps[3]
        );
        assert_eq!(outcome.steps[0].detail["era"], "session");
        assert!(outcome.steps[1].summary.contains("2025-06-18"));
        assert!(outcome.steps[1].summary.contains("abcdef12…"));

        // --protocol stateless against it fails with mcp_handshake_failed and the exchange.
        let mut run = reporter.run("verify");
        assert_eq!(
            exercise_mcp(&mut run, &mcp, Protocol::Stateless, &ToolChoice::default()).await,
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
        assert_eq!(
            exercise_mcp(&mut run, &mcp, Protocol::Legacy, &ToolChoice::default()).await,
            None
        );
        let outcome = run.finish();
        assert_eq!(outcome.findings[0].code, Code::McpHandshakeFailed);

        let anonymous = McpClient::new(http_client().unwrap(), &url, None);
        let mut run = reporter.run("verify");
        assert_eq!(
            exercise_mcp(
                &mut run,
                &anonymous,
                Protocol::Legacy,
                &ToolChoice::default()
            )
            .await,
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
