//! Step "check token": the minted token decoded and checked against the configuration BEFORE it
//! is used (claims rules in `diagnose::claims`, the scope ledger in `diagnose::scope`). Sends
//! nothing.

use serde_json::{Value, json};

use crate::diagnose::claims;
use crate::diagnose::{Code, Finding};
use crate::flow::jwt::{self, Jwt};
use crate::report::Run;

use super::Flow;

impl Flow<'_> {
    /// Step "check token": decode the token and check it against the configuration before using
    /// it; the scope ledger records what it carries. False when it would be refused.
    pub fn check_token(&mut self, run: &mut Run<'_>, token: &str) -> bool {
        let t = run.start("check token");
        let jwt = match jwt::decode(token) {
            Ok(jwt) => jwt,
            Err(e) => {
                run.fail(t, e.to_string(), Value::Null);
                run.finding(
                    Finding::error(
                        Code::TokenRejected,
                        format!("the AS returned an access token that is {e}"),
                        "point AUTHPLANE_DEV_PUBLIC_URL at an Authplane AS (its access tokens are JWTs)",
                    )
                    .compare("a JWT (RFC 9068)", "an opaque string"),
                );
                return false;
            }
        };
        self.expectations.now = claims::now();
        self.ledger.token_carries = Some(jwt.scopes());
        let mut findings = claims::check_token(&jwt, &self.expectations);
        // The ledger adds where along the way a missing scope was lost (resource, ceiling).
        for f in self.ledger.check() {
            if !findings
                .iter()
                .any(|g| g.code == f.code && g.message == f.message)
            {
                findings.push(f);
            }
        }
        let summary = token_summary(&jwt, self.expectations.now);
        let detail = json!({
            "header": jwt.header,
            "claims": jwt.claims,
            "expected_audience": self.expectations.audience,
            "scope_ledger": self.ledger,
        });
        let ok = !findings.iter().any(Finding::is_error);
        if ok {
            run.pass(t, summary, detail);
        } else {
            run.fail(t, format!("{summary} — would be refused"), detail);
        }
        for f in findings {
            run.finding(f);
        }
        ok
    }
}

fn token_summary(jwt: &Jwt, now: i64) -> String {
    let auds = jwt.audiences().join(" ");
    let expires = jwt.claim_i64("exp").map_or_else(
        || "no exp".to_owned(),
        |exp| format!("expires {}", claims::describe_time(exp, now)),
    );
    format!(
        "aud {auds}, scope {:?}, {expires}",
        jwt.claim_str("scope").unwrap_or("")
    )
}
