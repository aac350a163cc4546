//! The DPoP steps of `verify --dpop` (RFC 9449): "DPoP binding" (the minted token is bound to
//! this run's key: `token_type: DPoP` and `cnf.jkt` = the key's thumbprint) and two probes run
//! after the round trip — the bound token sent as a plain `Bearer` token, and sent with a proof
//! for another URL (`htu`). Each probe must be refused; a server that accepts either does not
//! enforce the binding, which is a finding. Mints nothing; the requests are `flow::mcp`'s.

use std::sync::Arc;

use serde_json::json;

use crate::diagnose::{Code, Finding, url};
use crate::flow::dpop::DpopKey;
use crate::flow::jwt;
use crate::flow::mcp::McpClient;
use crate::flow::token::TokenResponse;
use crate::report::Run;

use super::Flow;
use super::mcp::{Era, fail_unreachable};
use super::probe::first_call;

/// The names of the two DPoP probe steps, in order.
pub const DPOP_PROBE_STEPS: [&str; 2] = [
    "probe: DPoP-bound token sent as Bearer",
    "probe: DPoP proof for another URL",
];

/// The path the wrong-`htu` probe's proofs name, on the MCP server's own origin.
pub const OTHER_HTU_PATH: &str = "/authplane-dev-other-htu";

impl Flow<'_> {
    /// Step "DPoP binding": the token the AS minted for a proof-carrying request must be bound to
    /// the proof key. False (with `dpop_not_bound`) when the AS ignored the proof.
    pub fn check_dpop_binding(&self, run: &mut Run<'_>, minted: &TokenResponse) -> bool {
        let Some(key) = &self.dpop else {
            return true;
        };
        let t = run.start("DPoP binding");
        let jkt = jwt::decode(&minted.access_token)
            .ok()
            .and_then(|j| j.claims.get("cnf").and_then(|c| c.get("jkt")).cloned())
            .and_then(|v| v.as_str().map(str::to_owned));
        let detail = json!({
            "token_type": minted.token_type,
            "cnf_jkt": jkt,
            "key_thumbprint": key.thumbprint(),
        });
        let typed = minted.token_type.eq_ignore_ascii_case("DPoP");
        if typed && jkt.as_deref() == Some(key.thumbprint()) {
            run.pass(
                t,
                format!("token_type DPoP, cnf.jkt {}", key.thumbprint()),
                detail,
            );
            return true;
        }
        let shown_type = if minted.token_type.is_empty() {
            "(none)"
        } else {
            &minted.token_type
        };
        let actual = format!(
            "token_type {shown_type}, cnf.jkt {}",
            jkt.as_deref().unwrap_or("(none)")
        );
        run.fail(t, format!("not bound to the proof key: {actual}"), detail);
        run.finding(
            Finding::error(
                Code::DpopNotBound,
                "the AS answered a token request carrying a DPoP proof with a token that is not bound to the proof key",
                "turn DPoP on at the AS (AUTHPLANE_DPOP_ENABLED=true, the default since authserver 0.2.0) and restart it, or run verify without --dpop",
            )
            .why("an AS that supports DPoP returns token_type DPoP and puts the key's RFC 7638 thumbprint in cnf.jkt (RFC 9449 §5, §6); with DPoP off it ignores the proof")
            .compare(
                format!("token_type DPoP, cnf.jkt {}", key.thumbprint()),
                actual,
            ),
        );
        false
    }

    /// Probe "DPoP-bound token sent as Bearer": the bound token without a proof, as a plain
    /// bearer token, must be refused (RFC 9449 §7.1).
    pub async fn probe_dpop_as_bearer(&self, run: &mut Run<'_>, token: &str, era: Era) {
        let mcp = McpClient::new(self.http.clone(), &self.settings().mcp_url, Some(token));
        self.dpop_probe(
            run,
            DPOP_PROBE_STEPS[0],
            &mcp,
            era,
            "sent as Bearer without a proof",
        )
        .await;
    }

    /// Probe "DPoP proof for another URL": the bound token with a valid proof whose `htu` names
    /// another path of the same server must be refused (RFC 9449 §4.3).
    pub async fn probe_dpop_other_htu(&self, run: &mut Run<'_>, token: &str, era: Era) {
        let Some(key) = self.dpop.clone() else {
            return;
        };
        let mcp_url = self.settings().mcp_url.clone();
        let Some(origin) = url::origin(&mcp_url) else {
            let t = run.start(DPOP_PROBE_STEPS[1]);
            run.skip(t, "skipped: the MCP URL has no origin");
            return;
        };
        let htu = format!("{origin}{OTHER_HTU_PATH}");
        let mcp = McpClient::new(self.http.clone(), &mcp_url, Some(token))
            .with_dpop(Arc::<DpopKey>::clone(&key))
            .with_proof_url(&htu);
        self.dpop_probe(
            run,
            DPOP_PROBE_STEPS[1],
            &mcp,
            era,
            &format!("with a proof for {htu}"),
        )
        .await;
    }

    async fn dpop_probe(
        &self,
        run: &mut Run<'_>,
        name: &str,
        mcp: &McpClient,
        era: Era,
        how: &str,
    ) {
        let t = run.start(name);
        let reply = match first_call(mcp, era).await {
            Ok(r) => r,
            Err(err) => {
                fail_unreachable(run, t, &err, mcp.url());
                return;
            }
        };
        let detail = json!({"exchange": reply.exchange.to_json()});
        match reply.status {
            401 | 403 => run.pass(
                t,
                format!("refused the bound token {how} ({})", reply.status),
                detail,
            ),
            s if (200..300).contains(&s) => {
                run.fail(t, format!("accepted the bound token {how} ({s})"), detail);
                run.finding(
                    Finding::error(
                        Code::DpopNotEnforced,
                        format!(
                            "the MCP server accepted a DPoP-bound token {how}"
                        ),
                        "verify DPoP-bound tokens with their proof (authplane-sdk: ResourceOptions::with_inbound_dpop and verify_with_context with the request's method, URL and DPoP header)",
                    )
                    .why("a DPoP-bound token is only worth its binding if the resource server checks a fresh proof for this very request (RFC 9449 §7); otherwise a stolen token works anywhere")
                    .compare("HTTP 401", format!("HTTP {s}")),
                );
            }
            s => run.warn(t, format!("unexpected HTTP {s} (expected 401)"), detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, Settings, Vars};
    use crate::report::{ColorChoice, OutputOptions, Reporter};
    use axum::http::HeaderMap;
    use axum::response::IntoResponse;
    use serde_json::Value;

    /// An MCP server that checks only that some credentials are present — the fault the probes
    /// exist to find. No real server here behaves like this (the echo server refuses both probes,
    /// tests/verify_dpop.rs), so it is built for the test.
    async fn lax_server() -> String {
        let router = axum::Router::new().route(
            "/mcp",
            axum::routing::post(|headers: HeaderMap, body: String| async move {
                let msg: Value = serde_json::from_str(&body).unwrap();
                if headers.get("authorization").is_none() {
                    return axum::http::StatusCode::UNAUTHORIZED.into_response();
                }
                let result =
                    json!({"protocolVersion": "2025-06-18", "serverInfo": {"name": "lax"}});
                (
                    [("content-type", "application/json")],
                    json!({"jsonrpc": "2.0", "id": msg["id"], "result": result}).to_string(),
                )
                    .into_response()
            }),
        );
        format!("{}/mcp", crate::flow::mock::serve(router).await)
    }

    #[tokio::test]
    async fn a_server_that_ignores_the_binding_is_dpop_not_enforced() {
        let url = lax_server().await;
        let vars = Vars::from_parts(
            [("AUTHPLANE_DEV_MCP_URL".to_owned(), url.clone())],
            Vec::new(),
        );
        let settings = Settings::resolve(
            vars,
            &Overrides::default(),
            std::path::Path::new(".env"),
            std::path::Path::new(".run"),
        )
        .unwrap();
        let reporter = Reporter::new(OutputOptions {
            json: true,
            color: ColorChoice::Never,
            show_secrets: false,
        });
        let mut flow = Flow::new(&settings, &reporter, false, true).unwrap();
        flow.dpop = Some(Arc::new(DpopKey::generate().unwrap()));
        let mut run = reporter.run("verify");
        flow.probe_dpop_as_bearer(&mut run, "a.b.c", Era::Session)
            .await;
        flow.probe_dpop_other_htu(&mut run, "a.b.c", Era::Session)
            .await;
        let outcome = run.finish();
        let codes: Vec<Code> = outcome.findings.iter().map(|f| f.code).collect();
        assert_eq!(codes, [Code::DpopNotEnforced, Code::DpopNotEnforced]);
        // The second probe really sent a proof, for the other URL.
        let sent = &outcome.steps[1].detail["exchange"]["request_headers"];
        let sent = sent.to_string();
        assert!(sent.contains("DPoP a.b.c"), "{sent}");
        assert!(sent.contains(OTHER_HTU_PATH), "{sent}");
        assert!(!outcome.ok());
    }

    #[test]
    fn an_unbound_token_is_dpop_not_bound() {
        let settings = Settings::resolve(
            Vars::default(),
            &Overrides::default(),
            std::path::Path::new(".env"),
            std::path::Path::new(".run"),
        )
        .unwrap();
        let reporter = Reporter::new(OutputOptions {
            json: true,
            color: ColorChoice::Never,
            show_secrets: false,
        });
        let mut flow = Flow::new(&settings, &reporter, true, true).unwrap();
        flow.dpop = Some(Arc::new(DpopKey::generate().unwrap()));
        let minted = TokenResponse {
            // {"alg":"none"}.{"sub":"x"}.
            access_token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".to_owned(),
            token_type: "Bearer".to_owned(),
            expires_in: None,
            scope: None,
        };
        let mut run = reporter.run("verify");
        assert!(!flow.check_dpop_binding(&mut run, &minted));
        let outcome = run.finish();
        assert_eq!(outcome.findings[0].code, Code::DpopNotBound);
        assert_eq!(
            outcome.findings[0].actual.as_deref(),
            Some("token_type Bearer, cnf.jkt (none)")
        );
    }
}
