//! The steps of `verify --flow auth-code` up to the authorization response, as a
//! spec-following MCP client makes them: "authorization endpoints" (the AS metadata advertises
//! the interactive flow: authorize, register, PKCE S256), "client registration" (RFC 7591, a
//! public client with a loopback redirect URI), then either the headless walk — "authorize",
//! "login", "consent", each page read and posted as a browser would ([`crate::flow::browser`]) —
//! or "browser" (`--browser`, [`super::authcode_browser`]); and the probe "probe: authorize without
//! PKCE". The token half is [`super::authcode_tokens`]. Requests are `flow::authcode`'s and
//! `flow::browser`'s; findings `diagnose::authcode`'s.

use serde_json::{Value, json};

use crate::config::{Settings, var};
use crate::diagnose::Finding;
use crate::diagnose::authcode::{self as rules, Omitted};
use crate::diagnose::failure::as_unreachable;
use crate::flow::FlowError;
use crate::flow::Response;
use crate::flow::authcode::{
    self, AuthorizationResponse, AuthorizeRequest, Pkce, Registered, is_redirect_to,
};
use crate::flow::browser::{Browser, page_forms, page_text, redirect_target};
use crate::flow::html_form::Form;
use crate::report::{Run, StepTimer};

use super::Flow;

/// The `client_name` the flow registers.
pub const CLIENT_NAME: &str = "authplane-dev verify (auth-code)";
/// The path of the loopback redirect URI.
pub const CALLBACK_PATH: &str = "/callback";
/// How many redirects one navigation may take before the flow gives up.
const MAX_HOPS: usize = 10;

/// The step names of the headless walk, in order.
pub const HEADLESS_STEPS: [&str; 3] = ["authorize", "login", "consent"];
/// The probe step's name.
pub const PKCE_PROBE: &str = "probe: authorize without PKCE";

/// What the user asked of the interactive flow.
#[derive(Debug, Clone, Default)]
pub struct AuthCodeOptions {
    /// `--browser`: the user's browser, a loopback listener.
    pub browser: bool,
    /// `--redirect-uri`: register and use this one instead of a loopback one.
    pub redirect_uri: Option<String>,
    /// `--omit`: parameters left out on purpose.
    pub omitted: Omitted,
    /// `--consent deny`.
    pub deny_consent: bool,
}

/// The endpoints the AS metadata names, reachable from here.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
    pub registration: String,
    /// `authorization_response_iss_parameter_supported`: `iss` must come with every answer.
    pub iss_supported: bool,
}

/// The client's state along the interactive flow.
pub struct Interactive {
    pub endpoints: Endpoints,
    pub client_id: String,
    pub redirect_uri: String,
    pub pkce: Pkce,
    pub state: String,
    pub browser: Browser,
    pub omitted: Omitted,
}

impl Interactive {
    /// The authorization request of this run (PKCE and `resource` unless omitted).
    pub fn authorize_url(&self, scope: &str, resource: &str) -> String {
        authcode::authorize_url(
            &self.endpoints.authorization,
            &AuthorizeRequest {
                client_id: &self.client_id,
                redirect_uri: &self.redirect_uri,
                scope: Some(scope),
                state: &self.state,
                code_challenge: (!self.omitted.pkce).then_some(self.pkce.challenge.as_str()),
                resource: (!self.omitted.resource).then_some(resource),
            },
        )
    }
}

/// Where a navigation ended.
enum Landing {
    /// A redirect to the client's redirect URI (the authorization response).
    Callback(String),
    /// A page the AS rendered (login, consent, an error page).
    Page {
        url: String,
        response: Box<Response>,
    },
}

/// What a page or an answer asks of the user next.
enum Next {
    Login(String, Box<Response>),
    Consent(String, Box<Response>),
    Done(AuthorizationResponse),
}

impl Flow<'_> {
    /// The `--flow auth-code` credentials of the dev user: (email, password), or the names unset.
    pub fn dev_user(&self) -> Result<(String, String), Vec<&'static str>> {
        let settings = self.settings();
        match &settings.dev_user_password {
            Some(password) => Ok((settings.dev_user_email.clone(), password.clone())),
            None => Err(vec![var::DEV_USER_PASSWORD]),
        }
    }

    /// A URL the AS metadata names, made reachable from here: in the containers topology the
    /// issuer's host resolves only on the Docker network, so its prefix becomes the public URL.
    fn reachable(&self, url: &str) -> String {
        let settings: &Settings = self.settings();
        let issuer = self.issuer.trim_end_matches('/');
        let public = settings.public_url.trim_end_matches('/');
        match url.strip_prefix(issuer) {
            Some(rest) if issuer != public => format!("{public}{rest}"),
            _ => url.to_owned(),
        }
    }

    /// Step "authorization endpoints": the AS metadata ([`Flow::discover`]) must advertise the
    /// interactive flow an MCP client needs. None (with a finding) when it does not.
    pub fn check_interactive_support(&mut self, run: &mut Run<'_>) -> Option<Endpoints> {
        let t = run.start("authorization endpoints");
        let Some(metadata) = self.metadata.clone() else {
            run.skip(t, "skipped: no AS metadata");
            return None;
        };
        let mut missing = Vec::new();
        if metadata.authorization_endpoint.is_none() {
            missing.push("authorization_endpoint");
        }
        if metadata.registration_endpoint.is_none() {
            missing.push("registration_endpoint");
        }
        if metadata.token_endpoint.is_empty() {
            missing.push("token_endpoint");
        }
        if !metadata
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
        {
            missing.push("code_challenge_methods_supported S256");
        }
        if !metadata
            .response_types_supported
            .iter()
            .any(|r| r == "code")
        {
            missing.push("response_types_supported code");
        }
        let detail = json!({
            "authorization_endpoint": metadata.authorization_endpoint,
            "registration_endpoint": metadata.registration_endpoint,
            "token_endpoint": metadata.token_endpoint,
            "code_challenge_methods_supported": metadata.code_challenge_methods_supported,
            "response_types_supported": metadata.response_types_supported,
            "authorization_response_iss_parameter_supported": metadata.authorization_response_iss_parameter_supported,
        });
        if !missing.is_empty() {
            run.fail(
                t,
                format!("the AS metadata lacks {}", missing.join(", ")),
                detail,
            );
            run.finding(
                rules::authorization_failed(
                    "the AS does not advertise the interactive flow an MCP client needs",
                    &format!("missing {}", missing.join(", ")),
                    "use an AS that supports the authorization code flow with PKCE S256 and dynamic registration (authserver 0.2.x, or authplane-dev's embedded AS); MCP clients refuse to go on without code_challenge_methods_supported S256",
                )
                .compare(
                    "authorization_endpoint, registration_endpoint, S256",
                    missing.join(", ") + " missing",
                ),
            );
            return None;
        }
        let endpoints = Endpoints {
            authorization: self.reachable(metadata.authorization_endpoint.as_deref()?),
            token: self.reachable(&metadata.token_endpoint),
            registration: self.reachable(metadata.registration_endpoint.as_deref()?),
            iss_supported: metadata.authorization_response_iss_parameter_supported,
        };
        run.pass(
            t,
            format!(
                "authorize {}, register {}, PKCE S256",
                endpoints.authorization, endpoints.registration
            ),
            detail,
        );
        Some(endpoints)
    }

    /// Step "client registration": registers a public client for `redirect_uri` (RFC 7591).
    pub async fn register_public_client(
        &mut self,
        run: &mut Run<'_>,
        endpoints: &Endpoints,
        redirect_uri: &str,
    ) -> Option<Registered> {
        let t = run.start("client registration");
        match authcode::register(
            &self.http,
            &endpoints.registration,
            CLIENT_NAME,
            redirect_uri,
        )
        .await
        {
            Ok((registered, doc)) => {
                let auth = registered
                    .token_endpoint_auth_method
                    .as_deref()
                    .unwrap_or("(unset)");
                let summary = format!(
                    "client_id {} (token_endpoint_auth_method {auth}), redirect URI {redirect_uri}",
                    registered.client_id
                );
                if let Some(secret) = &registered.client_secret {
                    self.reporter.secret(secret);
                }
                run.pass(t, summary, json!({"response": doc}));
                Some(registered)
            }
            Err(err) => {
                run.fail(t, err.to_string(), err.detail());
                run.finding(match &err {
                    FlowError::Status {
                        code: Some(code),
                        message,
                        ..
                    } if code == "invalid_redirect_uri"
                        || (code == "invalid_client_metadata"
                            && message.contains("redirect_uri")) =>
                    {
                        rules::redirect_uri_rejected(
                        redirect_uri,
                        "at registration",
                        &format!("{code}: {message}"),
                        )
                    }
                    FlowError::Status {
                        status, message, ..
                    } => rules::authorization_failed(
                        "the AS refused the dynamic client registration",
                        &format!("HTTP {status}: {message}"),
                        "enable dynamic client registration on the AS (authserver: AUTHPLANE_DCR_MODE), or register the client ahead of time",
                    ),
                    _ => as_unreachable(&err, &endpoints.registration, var::DEV_PUBLIC_URL),
                });
                None
            }
        }
    }

    /// Steps "authorize", "login", "consent" without a browser: the authorization request, the
    /// login form filled with the dev user, the consent form answered as asked. Returns the
    /// authorization response (a code) or None after a failed step and its finding; steps not
    /// reached are marked skipped.
    pub async fn authorize_headless(
        &mut self,
        run: &mut Run<'_>,
        ia: &mut Interactive,
        deny_consent: bool,
    ) -> Option<AuthorizationResponse> {
        let url = ia.authorize_url(&self.scope, &self.settings().resource_uri);
        let t = run.start("authorize");
        let next = match follow(&mut ia.browser, url.clone(), &ia.redirect_uri).await {
            Ok(landing) => self.classify(run, t, landing, ia, "authorize", |page| {
                format!("the AS asks the user to log in ({})", short(page))
            }),
            Err(err) => {
                fail_transport(run, t, &err, &url);
                None
            }
        };
        let mut next = next?;
        let mut done_login = false;
        let mut done_consent = false;
        loop {
            match next {
                Next::Done(response) => {
                    for (done, name) in [(done_login, "login"), (done_consent, "consent")] {
                        if !done {
                            let t = run.start(name);
                            run.skip(t, "not asked by the AS");
                        }
                    }
                    return Some(response);
                }
                Next::Login(page_url, response) if !done_login => {
                    done_login = true;
                    next = self.login(run, ia, &page_url, &response).await?;
                }
                Next::Consent(page_url, response) if !done_consent => {
                    if !done_login {
                        done_login = true;
                        let t = run.start("login");
                        run.skip(t, "not asked: the session was still logged in");
                    }
                    done_consent = true;
                    next = self
                        .consent(run, ia, &page_url, &response, deny_consent)
                        .await?;
                }
                Next::Login(..) | Next::Consent(..) => {
                    let t = run.start("authorize (again)");
                    run.fail(t, "the AS asked for the same page twice", Value::Null);
                    run.finding(rules::authorization_failed(
                        "the AS sent the browser back to a page it had already passed",
                        "login or consent asked twice",
                        "check the AS's session cookie settings (AUTHPLANE_SESSION_SECURE=true needs https)",
                    ));
                    return None;
                }
            }
        }
    }

    /// Step "login": the login form filled with the dev user and posted with its CSRF token.
    async fn login(
        &mut self,
        run: &mut Run<'_>,
        ia: &mut Interactive,
        page_url: &str,
        page: &Response,
    ) -> Option<Next> {
        let t = run.start("login");
        let (email, password) = match self.dev_user() {
            Ok(user) => user,
            Err(unset) => {
                let answer = format!("{} not set", unset.join(" and "));
                run.fail(t, answer.clone(), Value::Null);
                run.finding(rules::login_failed("the dev user", &answer));
                skip(run, &["consent"], "skipped: not logged in");
                return None;
            }
        };
        self.reporter.secret(&password);
        let Some(mut form) = page_forms(page)
            .into_iter()
            .find(|f| !f.password_fields.is_empty())
        else {
            run.fail(t, "the login page has no password form", page_detail(page));
            run.finding(rules::login_failed(&email, "no login form on the page"));
            return None;
        };
        let user_field = ["email", "username", "login"]
            .into_iter()
            .find(|n| form.value(n).is_some())
            .unwrap_or("email");
        form.fill(user_field, &email);
        let password_field = form.password_fields[0].clone();
        form.fill(&password_field, &password);
        let pairs = form.submission(form.buttons.first());
        let answer = match ia
            .browser
            .submit(
                page_url,
                &form,
                &pairs,
                &[password_field.as_str(), "csrf_token"],
            )
            .await
        {
            Ok(answer) => answer,
            Err(err) => {
                fail_transport(run, t, &err, page_url);
                return None;
            }
        };
        let cookies = ia.browser.cookie_names(page_url);
        let Some(target) = redirect_target(&answer) else {
            let text = page_text(&answer.body);
            run.fail(
                t,
                format!("HTTP {}: {}", answer.status, clip(&text)),
                page_detail(&answer),
            );
            run.finding(rules::login_failed(
                &email,
                &format!("HTTP {} {}", answer.status, clip(&text)),
            ));
            skip(run, &["consent"], "skipped: not logged in");
            return None;
        };
        let summary = format!(
            "logged in as {email} (cookies {}); back to {}",
            cookies.join(", "),
            short(&target)
        );
        let landing = match follow(&mut ia.browser, target.clone(), &ia.redirect_uri).await {
            Ok(landing) => landing,
            Err(err) => {
                fail_transport(run, t, &err, &target);
                return None;
            }
        };
        if let Landing::Page { response, .. } = &landing
            && page_forms(response)
                .iter()
                .any(|f| !f.password_fields.is_empty())
        {
            let text = page_text(&response.body);
            run.fail(
                t,
                "the AS showed the login page again",
                page_detail(response),
            );
            run.finding(rules::login_failed(&email, &clip(&text)));
            skip(run, &["consent"], "skipped: not logged in");
            return None;
        }
        self.classify(run, t, landing, ia, "login", |_| summary.clone())
    }

    /// Step "consent": the consent form answered with its approve (or, asked, deny) button.
    async fn consent(
        &mut self,
        run: &mut Run<'_>,
        ia: &mut Interactive,
        page_url: &str,
        page: &Response,
        deny: bool,
    ) -> Option<Next> {
        let t = run.start("consent");
        let words: &[&str] = if deny {
            &["deny", "reject", "decline", "cancel"]
        } else {
            &[
                "allow",
                "approve",
                "accept",
                "authorize",
                "consent",
                "grant",
            ]
        };
        let forms = page_forms(page);
        let Some((form, button)) = forms
            .iter()
            .find_map(|f| f.button_saying(words).map(|b| (f, b.clone())))
        else {
            run.fail(
                t,
                format!("the consent page has no {} button", words[0]),
                page_detail(page),
            );
            run.finding(rules::authorization_failed(
                "the consent page cannot be answered",
                &format!("no button saying {}", words.join("/")),
                "the consent page needs a form with approve and deny submit buttons",
            ));
            return None;
        };
        let pairs = form.submission(Some(&button));
        let answer = match ia
            .browser
            .submit(page_url, form, &pairs, &["csrf_token"])
            .await
        {
            Ok(answer) => answer,
            Err(err) => {
                fail_transport(run, t, &err, page_url);
                return None;
            }
        };
        let pressed = if button.name.is_empty() {
            button.label.clone()
        } else {
            format!("{}={}", button.name, button.value)
        };
        let landing = match redirect_target(&answer) {
            Some(target) => match follow(&mut ia.browser, target.clone(), &ia.redirect_uri).await {
                Ok(landing) => landing,
                Err(err) => {
                    fail_transport(run, t, &err, &target);
                    return None;
                }
            },
            None => Landing::Page {
                url: page_url.to_owned(),
                response: Box::new(answer),
            },
        };
        if deny && let Landing::Page { response, .. } = &landing {
            // authserver renders an "Access Denied" page instead of redirecting.
            let text = page_text(&response.body);
            run.fail(
                t,
                format!("pressed {pressed}: {}", clip(&text)),
                page_detail(response),
            );
            run.finding(rules::consent_denied(&clip(&text)));
            return None;
        }
        let scopes: Vec<&str> = form
            .fields
            .iter()
            .filter(|(n, _)| n == "scope" || n == "scopes")
            .map(|(_, v)| v.as_str())
            .collect();
        let summary = format!("pressed {pressed} (scopes {})", scopes.join(" "));
        self.classify(run, t, landing, ia, "consent", |_| summary.clone())
    }

    /// Ends step `t` by where the navigation landed: a login or consent page to answer next, an
    /// authorization response, or an error (a finding).
    fn classify(
        &self,
        run: &mut Run<'_>,
        t: StepTimer,
        landing: Landing,
        ia: &Interactive,
        step: &str,
        summary: impl Fn(&str) -> String,
    ) -> Option<Next> {
        match landing {
            Landing::Callback(url) => {
                let response = AuthorizationResponse::parse(&url);
                if let Some(error) = &response.error {
                    let description = response.error_description.clone().unwrap_or_default();
                    run.fail(
                        t,
                        format!("the AS answered on the redirect URI: error={error} {description}"),
                        json!({"redirect": url}),
                    );
                    run.finding(rules::authorization_error(
                        error,
                        &description,
                        ia.omitted,
                        &self.settings().resource_uri,
                    ));
                    return None;
                }
                let what = if step == "consent" {
                    summary(&url)
                } else {
                    format!("{} → a code on the redirect URI", summary(&url))
                };
                run.pass(t, what, json!({"redirect": redact_code(&url)}));
                Some(Next::Done(response))
            }
            Landing::Page { url, response } => {
                let forms = page_forms(&response);
                let ok = response.status == 200;
                if ok && forms.iter().any(|f| !f.password_fields.is_empty()) {
                    run.pass(t, summary(&url), json!({"page": url}));
                    return Some(Next::Login(url, response));
                }
                if ok && forms.iter().any(|f: &Form| !f.buttons.is_empty()) {
                    let s = if step == "authorize" {
                        format!("already logged in: consent page ({})", short(&url))
                    } else {
                        format!("{}; consent page next", summary(&url))
                    };
                    run.pass(t, s, json!({"page": url}));
                    return Some(Next::Consent(url, response));
                }
                let text = page_text(&response.body);
                run.fail(
                    t,
                    format!("HTTP {} page: {}", response.status, clip(&text)),
                    page_detail(&response),
                );
                run.finding(self.error_page_finding(ia, &text, response.status));
                None
            }
        }
    }

    /// The finding for an error page the AS showed instead of redirecting.
    fn error_page_finding(&self, ia: &Interactive, text: &str, status: u16) -> Finding {
        let lower = text.to_ascii_lowercase();
        let answer = format!("HTTP {status}: {}", clip(text));
        if lower.contains("redirect") {
            return rules::redirect_uri_rejected(
                &ia.redirect_uri,
                "on the authorization request",
                &answer,
            );
        }
        if ia.omitted.pkce && (lower.contains("pkce") || lower.contains("code_challenge")) {
            return rules::pkce_missing(&answer);
        }
        if ia.omitted.resource && lower.contains("resource") {
            return rules::resource_missing(&self.settings().resource_uri, &answer);
        }
        rules::authorization_failed(
            "the AS showed an error page on the authorization request",
            &answer,
            "read the page's message; `authplane-dev logs authserver` shows the AS's side",
        )
    }

    /// Step "probe: authorize without PKCE": the same authorization with the logged-in session
    /// but no code_challenge must be refused; an AS that shows the consent page or issues a
    /// code does not enforce PKCE.
    pub async fn probe_authorize_without_pkce(&mut self, run: &mut Run<'_>, ia: &mut Interactive) {
        let t = run.start(PKCE_PROBE);
        let url = authcode::authorize_url(
            &ia.endpoints.authorization,
            &AuthorizeRequest {
                client_id: &ia.client_id,
                redirect_uri: &ia.redirect_uri,
                scope: Some(&self.scope),
                state: &authcode::random_state(),
                code_challenge: None,
                resource: (!ia.omitted.resource).then_some(self.settings().resource_uri.as_str()),
            },
        );
        let landing = match follow(&mut ia.browser, url.clone(), &ia.redirect_uri).await {
            Ok(landing) => landing,
            Err(err) => {
                run.warn(t, err.to_string(), err.detail());
                return;
            }
        };
        match landing {
            Landing::Callback(url) => {
                let response = AuthorizationResponse::parse(&url);
                if let Some(error) = response.error {
                    run.pass(
                        t,
                        format!(
                            "refused: error={error} {}",
                            response.error_description.unwrap_or_default()
                        ),
                        json!({"redirect": url}),
                    );
                } else {
                    run.fail(
                        t,
                        "a code was issued without PKCE",
                        json!({"redirect": redact_code(&url)}),
                    );
                    run.finding(rules::pkce_not_enforced(
                        "it redirected with a code to the redirect URI",
                    ));
                }
            }
            Landing::Page { url, response } => {
                let forms = page_forms(&response);
                if response.status == 200 && forms.iter().any(|f| !f.password_fields.is_empty()) {
                    run.skip(t, "not checked: the AS asked to log in again");
                } else if response.status == 200 && forms.iter().any(|f| !f.buttons.is_empty()) {
                    run.fail(t, "the AS showed the consent page", json!({"page": url}));
                    run.finding(rules::pkce_not_enforced(
                        "it showed the consent page, on the way to issuing a code",
                    ));
                } else {
                    let text = page_text(&response.body);
                    run.pass(
                        t,
                        format!("refused: HTTP {} {}", response.status, clip(&text)),
                        page_detail(&response),
                    );
                }
            }
        }
    }
}

/// Navigates from `url` as a browser would, following redirects inside the AS, until the client's
/// redirect URI (not requested: where the authorization response ends) or a page.
async fn follow(
    browser: &mut Browser,
    mut url: String,
    redirect_uri: &str,
) -> Result<Landing, FlowError> {
    let mut last = None;
    for _ in 0..MAX_HOPS {
        if is_redirect_to(&url, redirect_uri) {
            return Ok(Landing::Callback(url));
        }
        let response = browser.get(&url).await?;
        match redirect_target(&response) {
            Some(next) => {
                url = next;
                last = Some(response);
            }
            None => {
                return Ok(Landing::Page {
                    url,
                    response: Box::new(response),
                });
            }
        }
    }
    let exchange = last.map_or_else(|| crate::flow::Exchange::new("GET", &url), |r| r.exchange);
    Err(FlowError::Malformed {
        reason: format!("more than {MAX_HOPS} redirects"),
        exchange: Box::new(exchange),
    })
}

fn fail_transport(run: &mut Run<'_>, t: StepTimer, err: &FlowError, url: &str) {
    run.fail(t, err.to_string(), err.detail());
    run.finding(as_unreachable(err, url, var::DEV_PUBLIC_URL));
}

fn skip(run: &mut Run<'_>, names: &[&str], why: &str) {
    for name in names {
        let t = run.start(name);
        run.skip(t, why);
    }
}

/// A page's exchange for a step detail.
fn page_detail(response: &Response) -> Value {
    json!({"exchange": response.exchange.to_json()})
}

/// A URL without its query (what the summary shows of a page).
fn short(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

/// At most 200 characters of a page's text.
fn clip(text: &str) -> String {
    if text.chars().count() <= 200 {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(200).collect::<String>())
    }
}

/// The redirect with its `code` value hidden (a code is a short-lived credential).
pub fn redact_code(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "code" {
                        "<code>".to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            u.query_pairs_mut().clear().extend_pairs(pairs);
            u.into()
        }
        Err(_) => url.to_owned(),
    }
}

/// The loopback redirect URI for `port`.
pub fn loopback_redirect_uri(port: u16) -> String {
    format!("http://127.0.0.1:{port}{CALLBACK_PATH}")
}
