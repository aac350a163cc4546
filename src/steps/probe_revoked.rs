//! The probe "revoked token", run when `AUTHPLANE_DEV_ECHO_REVOCATION` says the MCP server checks
//! revocation: a fresh token is accepted, revoked at the AS (`POST /oauth/revoke`, RFC 7009), and
//! must be refused (401) on the very next request. Accepting it is `revocation_ignored`.

use serde_json::json;

use crate::config::var;
use crate::diagnose::{Code, Finding};
use crate::flow::credentials::StoredClient;
use crate::flow::mcp::{McpClient, McpReply};
use crate::flow::token::{self, TokenRequest};
use crate::flow::{Exchange, FlowError, send};
use crate::report::Run;

use super::Flow;
use super::mcp::{Era, fail_unreachable};

/// The step's name.
pub const PROBE_REVOKED: &str = "probe: revoked token";

impl Flow<'_> {
    /// Probe "revoked token" (see the module documentation).
    pub async fn probe_revoked_token(
        &mut self,
        run: &mut Run<'_>,
        client: &StoredClient,
        era: Era,
    ) {
        let t = run.start(PROBE_REVOKED);
        let settings = self.settings().clone();
        let request = TokenRequest {
            client_id: &client.client_id,
            client_secret: &client.client_secret,
            scope: Some(&settings.scope),
            resource: Some(&settings.resource_uri),
            // A plain Bearer token: the probe is about revocation, not binding.
            dpop: None,
        };
        let minted = match token::mint(&self.http, &settings.public_url, &request).await {
            Ok(m) => m,
            Err(err) => {
                run.skip(t, format!("skipped: could not mint a token: {err}"));
                return;
            }
        };
        self.reporter.secret(&minted.access_token);
        let mcp = McpClient::new(
            self.http.clone(),
            &settings.mcp_url,
            Some(&minted.access_token),
        );
        let before = match call(&mcp, era).await {
            Ok(r) => r,
            Err(err) => {
                fail_unreachable(run, t, &err, &settings.mcp_url);
                return;
            }
        };
        if !(200..300).contains(&before.status) {
            run.skip(
                t,
                format!(
                    "skipped: the fresh token was not accepted (HTTP {})",
                    before.status
                ),
            );
            return;
        }
        let revoked = match revoke(
            &self.http,
            &settings.public_url,
            client,
            &minted.access_token,
        )
        .await
        {
            Ok(status) => status,
            Err(err) => {
                run.skip(t, format!("skipped: could not revoke the token: {err}"));
                return;
            }
        };
        if revoked != 200 {
            run.skip(
                t,
                format!("skipped: the authorization server answered HTTP {revoked} to POST /oauth/revoke"),
            );
            return;
        }
        let after = match call(&mcp, era).await {
            Ok(r) => r,
            Err(err) => {
                fail_unreachable(run, t, &err, &settings.mcp_url);
                return;
            }
        };
        let detail =
            json!({"before": before.exchange.to_json(), "after": after.exchange.to_json()});
        match after.status {
            401 => run.pass(
                t,
                "refused on the next request after revocation (401)",
                detail,
            ),
            s if (200..300).contains(&s) => {
                run.fail(t, format!("accepted after revocation (HTTP {s})"), detail);
                run.finding(
                    Finding::error(
                        Code::RevocationIgnored,
                        format!(
                            "{} accepted a token on the request after it was revoked at the authorization server",
                            settings.mcp_url
                        ),
                        format!(
                            "check revocation in the server (authplane-sdk RevocationConfig with a confidential client that is a runtime client of the resource; no accepted-token cache that outlives a revocation), or unset {}",
                            var::DEV_ECHO_REVOCATION
                        ),
                    )
                    .why(format!(
                        "{} is on, so the server is expected to ask the AS (introspection) and refuse a revoked token",
                        var::DEV_ECHO_REVOCATION
                    ))
                    .compare("HTTP 401 invalid_token", format!("HTTP {s}")),
                );
            }
            s => run.warn(t, format!("unexpected HTTP {s} (expected 401)"), detail),
        }
    }
}

/// One request of the era: `initialize`, or a stateless `tools/call`.
async fn call(mcp: &McpClient, era: Era) -> Result<McpReply, FlowError> {
    match era {
        Era::Session => mcp.initialize().await,
        Era::Stateless => {
            mcp.call_echo_stateless(&format!(
                "authplane-dev-probe-{}",
                crate::config::generate_secret(8)
            ))
            .await
        }
    }
}

/// `POST /oauth/revoke` for `token` with the client's credentials; the HTTP status.
async fn revoke(
    http: &reqwest::Client,
    public_url: &str,
    client: &StoredClient,
    token: &str,
) -> Result<u16, FlowError> {
    let url = format!("{}/oauth/revoke", public_url.trim_end_matches('/'));
    let exchange = Exchange::new("POST", &url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header(
            "Authorization",
            &format!("Basic base64({}:<client secret>)", client.client_id),
        )
        .body("token=<the probe token>&token_type_hint=access_token".to_owned());
    let builder = http
        .post(&url)
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&[("token", token), ("token_type_hint", "access_token")]);
    Ok(send(builder, exchange).await?.status)
}
