//! The token half of `verify --flow auth-code`: "authorization response" (the `state` sent
//! comes back, `iss` is the issuer — RFC 9207 — and a code is there), "code exchange" (with the
//! PKCE verifier and `resource`), "refresh" (a new access token and a NEW refresh token), "MCP
//! call (refreshed token)" (the round trip again with the new token) and "refresh token replay"
//! (the used refresh token must be refused). The requests are `flow::authcode`'s and
//! `flow::mcp`'s; the findings `diagnose::authcode`'s.

use serde_json::{Value, json};

use crate::diagnose::authcode as rules;
use crate::diagnose::failure::as_unreachable;
use crate::flow::FlowError;
use crate::flow::authcode::{self, AuthorizationResponse, UserTokens};
use crate::flow::jwt;
use crate::flow::mcp::McpClient;
use crate::report::Run;

use super::Flow;
use super::authcode::Interactive;
use super::mcp::{Exercised, RoundTrip};
use super::probe::repeat_round_trip;

/// The steps after the MCP round trip, in order.
pub const REFRESH_STEPS: [&str; 3] = [
    "refresh",
    "MCP call (refreshed token)",
    "refresh token replay",
];

impl Flow<'_> {
    /// Step "authorization response": the redirect must carry the `state` this run sent, the
    /// issuer as `iss` (always when the AS advertises it; compared whenever present) and a code.
    /// Returns the code.
    pub fn check_authorization_response(
        &self,
        run: &mut Run<'_>,
        ia: &Interactive,
        response: &AuthorizationResponse,
    ) -> Option<String> {
        let t = run.start("authorization response");
        let detail = json!({
            "state_sent": ia.state,
            "state_received": response.state,
            "iss": response.iss,
            "issuer": self.issuer,
            "iss_required": ia.endpoints.iss_supported,
            "code": response.code.as_ref().map(|_| "<code>"),
        });
        let mut findings = Vec::new();
        if response.state.as_deref() != Some(ia.state.as_str()) {
            findings.push(rules::response_mismatch(
                "state",
                &ia.state,
                response.state.as_deref(),
            ));
        }
        let iss_ok = match &response.iss {
            Some(iss) => iss == &self.issuer,
            None => !ia.endpoints.iss_supported,
        };
        if !iss_ok {
            findings.push(rules::response_mismatch(
                "iss",
                &self.issuer,
                response.iss.as_deref(),
            ));
        }
        let code = response.code.clone().filter(|c| !c.is_empty());
        if code.is_none() {
            findings.push(rules::authorization_failed(
                "the authorization response has no code",
                "no code= on the redirect URI",
                "the AS must redirect with code=… after consent (RFC 6749 §4.1.2)",
            ));
        }
        if findings.is_empty() {
            let iss = response.iss.as_deref().unwrap_or("(none: not advertised)");
            run.pass(
                t,
                format!("code received, state matches, iss {iss}"),
                detail,
            );
            return code;
        }
        let what: Vec<String> = findings.iter().map(|f| f.message.clone()).collect();
        run.fail(t, what.join("; "), detail);
        for f in findings {
            run.finding(f);
        }
        None
    }

    /// Step "code exchange": `grant_type=authorization_code` with the PKCE verifier and
    /// `resource` (unless omitted). Returns the tokens (registered as secrets).
    pub async fn exchange_code(
        &self,
        run: &mut Run<'_>,
        ia: &Interactive,
        code: &str,
    ) -> Option<UserTokens> {
        let t = run.start("code exchange");
        let resource = self.settings().resource_uri.clone();
        let result = authcode::exchange_code(
            &self.http,
            &ia.endpoints.token,
            &ia.client_id,
            code,
            &ia.redirect_uri,
            (!ia.omitted.pkce).then_some(ia.pkce.verifier.as_str()),
            (!ia.omitted.resource).then_some(resource.as_str()),
        )
        .await;
        match result {
            Ok(tokens) => {
                self.keep_secret(&tokens);
                let sub = jwt::decode(&tokens.access_token)
                    .ok()
                    .and_then(|j| j.claim_str("sub").map(str::to_owned))
                    .unwrap_or_default();
                let refresh = if tokens.refresh_token.is_some() {
                    "a refresh token"
                } else {
                    "NO refresh token"
                };
                run.pass(
                    t,
                    format!(
                        "{} token for sub {sub}, scope {:?}, {refresh}",
                        if tokens.token_type.is_empty() { "an access" } else { &tokens.token_type },
                        tokens.scope.as_deref().unwrap_or("")
                    ),
                    json!({"token_type": tokens.token_type, "expires_in": tokens.expires_in, "scope": tokens.scope, "sub": sub, "refresh_token": tokens.refresh_token.is_some()}),
                );
                Some(tokens)
            }
            Err(err) => {
                run.fail(t, err.to_string(), err.detail());
                run.finding(self.token_error_finding(ia, &err, "the code exchange"));
                None
            }
        }
    }

    /// Step "refresh": the refresh grant must answer a new access token AND a new refresh token
    /// (rotation). Returns the new tokens.
    pub async fn refresh_tokens(
        &self,
        run: &mut Run<'_>,
        ia: &Interactive,
        old: &UserTokens,
    ) -> Option<UserTokens> {
        let t = run.start(REFRESH_STEPS[0]);
        let Some(old_refresh) = &old.refresh_token else {
            run.fail(
                t,
                "the code exchange returned no refresh token",
                Value::Null,
            );
            run.finding(rules::refresh_rotation_broken(
                "the code exchange returned no refresh_token",
                "a refresh_token (the client registered the refresh_token grant)",
                "(none)",
            ));
            return None;
        };
        let result = self.refresh(ia, old_refresh).await;
        let new = match result {
            Ok(new) => new,
            Err(err) => {
                run.fail(t, err.to_string(), err.detail());
                run.finding(self.token_error_finding(ia, &err, "the refresh"));
                return None;
            }
        };
        self.keep_secret(&new);
        let detail = json!({"token_type": new.token_type, "expires_in": new.expires_in, "scope": new.scope, "refresh_token_rotated": new.refresh_token.as_ref().is_some_and(|r| r != old_refresh)});
        match &new.refresh_token {
            Some(r) if r != old_refresh => {
                run.pass(t, "a new access token and a new refresh token", detail);
                Some(new)
            }
            other => {
                let actual = if other.is_some() {
                    "the same refresh token again"
                } else {
                    "no refresh_token"
                };
                run.fail(t, format!("the refresh answered {actual}"), detail);
                run.finding(rules::refresh_rotation_broken(
                    &format!("the refresh answered {actual}"),
                    "a new refresh_token",
                    actual,
                ));
                None
            }
        }
    }

    /// Step "MCP call (refreshed token)": the round trip of the first call again, with the
    /// refreshed access token.
    pub async fn call_with_refreshed(
        &self,
        run: &mut Run<'_>,
        token: &str,
        exercised: &Exercised,
    ) -> bool {
        let t = run.start(REFRESH_STEPS[1]);
        let mcp = McpClient::new(self.http.clone(), &self.settings().mcp_url, Some(token));
        match repeat_round_trip(&mcp, exercised).await {
            Ok((reply, _)) if reply.status == 200 && reply.rpc_error().is_none() => {
                let what = match &exercised.round_trip {
                    RoundTrip::Call { tool, .. } => format!("tools/call {tool}"),
                    RoundTrip::List { .. } => "tools/list".to_owned(),
                };
                run.pass(
                    t,
                    format!("{what} answered 200 with the refreshed token"),
                    json!({"exchange": reply.exchange.to_json()}),
                );
                true
            }
            Ok((reply, _)) => {
                run.fail(
                    t,
                    format!(
                        "the MCP server answered {} to the refreshed token",
                        reply.status
                    ),
                    json!({"exchange": reply.exchange.to_json()}),
                );
                run.finding(crate::diagnose::failure::mcp_refused(
                    &reply,
                    "a round trip with the refreshed token",
                    "",
                ));
                false
            }
            Err(err) => {
                run.fail(t, err.to_string(), err.detail());
                run.finding(crate::diagnose::failure::mcp_unreachable(
                    &err,
                    &self.settings().mcp_url,
                ));
                false
            }
        }
    }

    /// Step "refresh token replay": the refresh token already used must be refused
    /// (`invalid_grant`); accepted, rotation is only for show.
    pub async fn replay_refresh(&self, run: &mut Run<'_>, ia: &Interactive, used: &str) {
        let t = run.start(REFRESH_STEPS[2]);
        let result = self.refresh(ia, used).await;
        match result {
            Err(FlowError::Status {
                code: Some(code),
                message,
                exchange,
                ..
            }) if code == "invalid_grant" => run.pass(
                t,
                format!("refused: invalid_grant ({message})"),
                json!({"exchange": exchange.to_json()}),
            ),
            Err(err @ FlowError::Status { .. }) => {
                run.warn(
                    t,
                    format!("refused, but not with invalid_grant: {err}"),
                    err.detail(),
                );
            }
            Err(err) => {
                run.fail(t, err.to_string(), err.detail());
                run.finding(as_unreachable(
                    &err,
                    &ia.endpoints.token,
                    crate::config::var::DEV_PUBLIC_URL,
                ));
            }
            Ok(tokens) => {
                self.keep_secret(&tokens);
                run.fail(t, "the used refresh token was accepted again", Value::Null);
                run.finding(rules::refresh_rotation_broken(
                    "the AS accepted a refresh token that had already been used",
                    "invalid_grant",
                    "200 with new tokens",
                ));
            }
        }
    }

    /// Presents `refresh_token` as the interactive client, with the resource unless the run
    /// leaves it out.
    async fn refresh(
        &self,
        ia: &Interactive,
        refresh_token: &str,
    ) -> Result<UserTokens, FlowError> {
        let resource = self.settings().resource_uri.as_str();
        authcode::refresh(
            &self.http,
            &ia.endpoints.token,
            &ia.client_id,
            refresh_token,
            (!ia.omitted.resource).then_some(resource),
        )
        .await
    }

    fn keep_secret(&self, tokens: &UserTokens) {
        if self.hide_tokens {
            self.reporter.secret(&tokens.access_token);
        }
        if let Some(r) = &tokens.refresh_token {
            self.reporter.secret(r);
        }
    }

    /// The finding for a token endpoint refusal of the interactive grants.
    fn token_error_finding(
        &self,
        ia: &Interactive,
        err: &FlowError,
        what: &str,
    ) -> crate::diagnose::Finding {
        match err {
            FlowError::Status {
                code: Some(code),
                message,
                ..
            } => {
                let lower = message.to_ascii_lowercase();
                let answer = format!("{code}: {message}");
                if code == "invalid_target" && ia.omitted.resource {
                    rules::resource_missing(&self.settings().resource_uri, &answer)
                } else if ia.omitted.pkce && (lower.contains("pkce") || lower.contains("verifier"))
                {
                    rules::pkce_missing(&answer)
                } else {
                    rules::authorization_failed(
                        &format!("the AS refused {what}"),
                        &answer,
                        "read the error_description; `authplane-dev logs authserver` shows the AS's side",
                    )
                }
            }
            FlowError::Status {
                status, message, ..
            } => rules::authorization_failed(
                &format!("the AS refused {what}"),
                &format!("HTTP {status}: {message}"),
                "read the answer; `authplane-dev logs authserver` shows the AS's side",
            ),
            _ => as_unreachable(err, &ia.endpoints.token, crate::config::var::DEV_PUBLIC_URL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, Settings, Vars};
    use crate::diagnose::Code;
    use crate::diagnose::authcode::Omitted;
    use crate::flow::authcode::Pkce;
    use crate::flow::browser::Browser;
    use crate::report::{ColorChoice, OutputOptions, Reporter};
    use crate::steps::authcode::Endpoints;
    use axum::extract::Query;
    use axum::response::{IntoResponse, Redirect};
    use std::collections::HashMap;

    /// An AS with two faults the embedded AS (and authserver) do not have, built for these tests
    /// because no real server here behaves like this: its authorize endpoint answers at once with
    /// a code, a state it made up and another issuer's `iss`; its token endpoint answers every
    /// refresh with the same refresh token and accepts it again and again.
    async fn careless_as() -> String {
        let router = axum::Router::new()
            .route(
                "/oauth/authorize",
                axum::routing::get(|Query(q): Query<HashMap<String, String>>| async move {
                    let mut to = url::Url::parse(&q["redirect_uri"]).unwrap();
                    to.query_pairs_mut()
                        .append_pair("code", "c0de")
                        .append_pair("state", "not-the-state-sent")
                        .append_pair("iss", "http://evil.example");
                    Redirect::to(to.as_str())
                }),
            )
            .route(
                "/oauth/token",
                axum::routing::post(|| async {
                    (
                        [("content-type", "application/json")],
                        json!({"access_token": "a.b.c", "token_type": "Bearer", "refresh_token": "never-rotated"})
                            .to_string(),
                    )
                        .into_response()
                }),
            );
        crate::flow::mock::serve(router).await
    }

    fn settings() -> Settings {
        Settings::resolve(
            Vars::from_parts(Vec::new(), Vec::new()),
            &Overrides::default(),
            std::path::Path::new(".env"),
            std::path::Path::new(".run"),
        )
        .unwrap()
    }

    fn reporter() -> Reporter {
        Reporter::new(OutputOptions {
            json: true,
            color: ColorChoice::Never,
            show_secrets: false,
        })
    }

    fn interactive(base: &str, http: &reqwest::Client) -> Interactive {
        Interactive {
            endpoints: Endpoints {
                authorization: format!("{base}/oauth/authorize"),
                token: format!("{base}/oauth/token"),
                registration: format!("{base}/oauth/register"),
                iss_supported: true,
            },
            client_id: "c1".into(),
            redirect_uri: "http://127.0.0.1:1/callback".into(),
            pkce: Pkce::generate(),
            state: "the-state-sent".into(),
            browser: Browser::new(http.clone()),
            omitted: Omitted::default(),
        }
    }

    #[tokio::test]
    async fn a_made_up_state_and_another_iss_are_authorization_response_mismatch() {
        let base = careless_as().await;
        let settings = settings();
        let reporter = reporter();
        let mut flow = Flow::new(&settings, &reporter, true, true).unwrap();
        let mut ia = interactive(&base, &flow.http.clone());
        let mut run = reporter.run("verify");
        // The real request: the AS redirects at once, so login and consent are not asked.
        let response = flow
            .authorize_headless(&mut run, &mut ia, false)
            .await
            .expect("a redirect to the redirect URI");
        assert_eq!(
            flow.check_authorization_response(&mut run, &ia, &response),
            None
        );
        let outcome = run.finish();
        let mismatches: Vec<_> = outcome
            .findings
            .iter()
            .filter(|f| f.code == Code::AuthorizationResponseMismatch)
            .map(|f| (f.differs.clone().unwrap(), f.actual.clone().unwrap()))
            .collect();
        assert_eq!(
            mismatches,
            [
                ("state".to_owned(), "not-the-state-sent".to_owned()),
                ("iss".to_owned(), "http://evil.example".to_owned())
            ]
        );
        let skipped: Vec<_> = outcome
            .steps
            .iter()
            .filter(|s| s.summary == "not asked by the AS")
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(skipped, ["login", "consent"]);
    }

    #[tokio::test]
    async fn a_refresh_that_does_not_rotate_and_a_replay_accepted_are_refresh_rotation_broken() {
        let base = careless_as().await;
        let settings = settings();
        let reporter = reporter();
        let flow = Flow::new(&settings, &reporter, true, true).unwrap();
        let ia = interactive(&base, &flow.http);
        let old = UserTokens {
            access_token: "x.y.z".into(),
            token_type: "Bearer".into(),
            expires_in: None,
            scope: None,
            refresh_token: Some("never-rotated".into()),
        };
        let mut run = reporter.run("verify");
        assert!(flow.refresh_tokens(&mut run, &ia, &old).await.is_none());
        flow.replay_refresh(&mut run, &ia, "never-rotated").await;
        let outcome = run.finish();
        let found: Vec<_> = outcome
            .findings
            .iter()
            .map(|f| (f.code, f.actual.clone().unwrap()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    Code::RefreshRotationBroken,
                    "the same refresh token again".to_owned()
                ),
                (
                    Code::RefreshRotationBroken,
                    "200 with new tokens".to_owned()
                ),
            ]
        );
        // Refresh tokens never reach the output.
        assert!(!outcome.to_json().to_string().contains("never-rotated"));
    }

    #[tokio::test]
    async fn an_authorize_endpoint_that_issues_a_code_without_pkce_is_pkce_not_enforced() {
        let base = careless_as().await;
        let settings = settings();
        let reporter = reporter();
        let mut flow = Flow::new(&settings, &reporter, true, true).unwrap();
        let mut ia = interactive(&base, &flow.http.clone());
        let mut run = reporter.run("verify");
        flow.probe_authorize_without_pkce(&mut run, &mut ia).await;
        let outcome = run.finish();
        assert_eq!(outcome.findings.len(), 1, "{:#?}", outcome.findings);
        assert_eq!(outcome.findings[0].code, Code::PkceNotEnforced);
        // The code on the redirect is not shown.
        let step = &outcome.steps[0];
        let redirect = step.detail["redirect"].as_str().unwrap();
        assert!(redirect.contains("code=%3Ccode%3E"), "{redirect}");
    }
}
