//! Step "browser" of `verify --flow auth-code --browser`: the user's own browser does the login
//! and the consent; authplane-dev opens it at the authorization URL and waits for the redirect on
//! its loopback listener (`flow::loopback`), as `gh auth login` does. The authorization response
//! then goes through the same checks as the headless one.

use std::time::Duration;

use serde_json::json;

use crate::diagnose::authcode as rules;
use crate::flow::authcode::AuthorizationResponse;
use crate::flow::loopback::{Loopback, open_browser};
use crate::report::Run;

use super::Flow;
use super::authcode::{Interactive, redact_code};

/// How long the user has to log in and approve in the browser.
pub const BROWSER_TIMEOUT: Duration = Duration::from_mins(5);

impl Flow<'_> {
    /// Step "browser": opens the user's browser at this run's authorization URL and waits for
    /// the redirect on `loopback`. Returns the authorization response, or None (with a finding)
    /// when the browser never came back or came back with an error.
    pub async fn authorize_in_browser(
        &mut self,
        run: &mut Run<'_>,
        ia: &Interactive,
        loopback: &Loopback,
        timeout: Duration,
    ) -> Option<AuthorizationResponse> {
        let url = ia.authorize_url(&self.scope, &self.settings().resource_uri);
        let t = run.start("browser");
        let opened = open_browser(&url);
        let how = match &opened {
            Ok(_) => "Opened your browser at",
            Err(_) => "Open this URL in your browser:",
        };
        self.reporter.progress(&format!(
            "{how}\n  {url}\nLog in and approve; waiting up to {} s for the redirect to {}",
            timeout.as_secs(),
            ia.redirect_uri
        ));
        match loopback.wait(timeout).await {
            Ok(callback) => {
                let response = AuthorizationResponse::parse(&callback);
                let detail = json!({"authorize_url": url, "opened_with": opened.as_ref().ok(), "redirect": redact_code(&callback)});
                if let Some(error) = &response.error {
                    let description = response.error_description.clone().unwrap_or_default();
                    run.fail(
                        t,
                        format!("the browser came back with error={error} {description}"),
                        detail,
                    );
                    run.finding(rules::authorization_error(
                        error,
                        &description,
                        ia.omitted,
                        &self.settings().resource_uri,
                    ));
                    return None;
                }
                run.pass(
                    t,
                    format!("the browser came back to {}", ia.redirect_uri),
                    detail,
                );
                Some(response)
            }
            Err(reason) => {
                run.fail(
                    t,
                    reason.clone(),
                    json!({"authorize_url": url, "opened_with": opened.as_ref().ok(), "open_error": opened.as_ref().err()}),
                );
                run.finding(rules::authorization_failed(
                    "the browser did not come back to the loopback redirect URI",
                    &reason,
                    "finish the login and consent in the browser (set BROWSER to the browser command if none opened), or run `verify --flow auth-code` without --browser to fill the forms headlessly",
                ));
                None
            }
        }
    }
}
