//! Step "mint token": a client_credentials token request with `resource=` and `scope=`. The
//! request is `flow::token`'s, the finding for a refusal `diagnose::failure`'s; this step only
//! records them.

use serde_json::json;

use crate::diagnose::failure::token_failure;
use crate::flow::credentials::StoredClient;
use crate::flow::token::{self, TokenRequest, TokenResponse};
use crate::report::Run;

use super::Flow;

impl Flow<'_> {
    /// Step `step` (usually "mint token"): client_credentials for `client` with `resource=` and
    /// `scope=`. The token response, or None after a failed step and a finding naming why the
    /// AS refused (`diagnose::failure::token_failure`).
    pub async fn mint(
        &mut self,
        run: &mut Run<'_>,
        step: &str,
        client: &StoredClient,
        scope: Option<&str>,
        resource: Option<&str>,
    ) -> Option<TokenResponse> {
        let t = run.start(step);
        let public_url = self.settings().public_url.clone();
        let request = TokenRequest {
            client_id: &client.client_id,
            client_secret: &client.client_secret,
            scope,
            resource,
            dpop: self.dpop.as_deref(),
        };
        match token::mint(&self.http, &public_url, &request).await {
            Ok(minted) => {
                if self.hide_tokens {
                    self.reporter.secret(&minted.access_token);
                }
                run.pass(
                    t,
                    format!(
                        "{} token, scope {:?}, expires in {} s",
                        if minted.token_type.is_empty() {
                            "access"
                        } else {
                            &minted.token_type
                        },
                        minted.scope.as_deref().unwrap_or(""),
                        minted.expires_in.unwrap_or(0)
                    ),
                    json!({
                        "resource": resource,
                        "scope_requested": scope,
                        "scope_granted": minted.scope,
                        "expires_in": minted.expires_in,
                        "token_length": minted.access_token.len(),
                    }),
                );
                Some(minted)
            }
            Err(err) => {
                let detail = err.detail();
                run.fail(t, err.to_string(), detail);
                run.finding(token_failure(&err, self.settings(), scope, resource));
                None
            }
        }
    }
}
