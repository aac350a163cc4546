//! Step "AS discovery": the AS's metadata, and its issuer checked against the configuration.
//! Owns nothing but that step: the issuer rules are `diagnose::claims`', the request is
//! `flow::token`'s.

use serde_json::json;

use crate::config::var;
use crate::diagnose::claims;
use crate::diagnose::failure::as_unreachable;
use crate::flow::token::{self, Metadata};
use crate::report::{Run, StepTimer};

use super::Flow;

impl Flow<'_> {
    /// Step "AS discovery": fetches the AS metadata and checks its issuer against both issuer
    /// settings (findings on mismatch); the issuer it announces is the one the token and the
    /// stored client are checked against from then on. False when the AS does not answer.
    pub async fn discover(&mut self, run: &mut Run<'_>) -> bool {
        let t = run.start("AS discovery");
        let public_url = self.settings().public_url.clone();
        match token::discover(&self.http, &public_url).await {
            Ok(metadata) => {
                self.record_discovery(run, t, &metadata);
                true
            }
            Err(err) => {
                let detail = err.detail();
                run.fail(t, err.to_string(), detail);
                run.finding(as_unreachable(&err, &public_url, var::DEV_PUBLIC_URL));
                false
            }
        }
    }

    fn record_discovery(&mut self, run: &mut Run<'_>, t: StepTimer, metadata: &Metadata) {
        let settings = self.settings();
        let findings = claims::check_issuers(
            &metadata.issuer,
            &settings.server_issuer,
            &settings.sdk_issuer,
        );
        let detail = json!({
            "issuer": metadata.issuer,
            "jwks_uri": metadata.jwks_uri,
            "token_endpoint": metadata.token_endpoint,
            "grant_types_supported": metadata.grant_types_supported,
        });
        let summary = format!("issuer {}", metadata.issuer);
        if findings.is_empty() {
            run.pass(t, summary, detail);
        } else {
            run.fail(
                t,
                format!("{summary} (does not match the configuration)"),
                detail,
            );
            for f in findings {
                run.finding(f);
            }
        }
        self.expectations.discovered_issuer = Some(metadata.issuer.clone());
        self.issuer.clone_from(&metadata.issuer);
        self.metadata = Some(metadata.clone());
    }
}
