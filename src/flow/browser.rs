//! The headless user agent of `verify --flow auth-code`: it walks the AS's login and consent
//! pages as a browser would — keeps the cookies each origin sets (the login nonce, the session),
//! sends them back to that origin, reads the page's form ([`super::html_form`]) and posts it with
//! the button a user would press. Redirects are never followed silently: every `Location` is an
//! answer the caller looks at (a redirect to the client's redirect URI is where the flow ends).

use crate::flow::html_form::{self, Form};
use crate::flow::{Exchange, FlowError, Response, send};

/// A cookie as a browser keeps it: which origin set it, its name and value.
#[derive(Debug, Clone)]
struct Cookie {
    origin: String,
    name: String,
    value: String,
}

/// A user agent with a cookie jar; one per authorization.
pub struct Browser {
    http: reqwest::Client,
    jar: Vec<Cookie>,
}

impl Browser {
    /// A browser with an empty jar, sending through `http` (redirects off, as every flow client).
    pub fn new(http: reqwest::Client) -> Browser {
        Browser {
            http,
            jar: Vec::new(),
        }
    }

    /// `GET url` with this origin's cookies; keeps what the answer sets.
    pub async fn get(&mut self, url: &str) -> Result<Response, FlowError> {
        let mut response = self.get_once(url).await?;
        if let Some(wait) = short_retry_after(&response) {
            // The AS's rate limit (authserver: 100 requests/s per IP) answers 429 with
            // `Retry-After: 1`; a browser user would reload once, so the flow waits and retries
            // once rather than reporting the limit as the AS refusing the flow.
            tokio::time::sleep(wait).await;
            response = self.get_once(url).await?;
        }
        Ok(response)
    }

    async fn get_once(&mut self, url: &str) -> Result<Response, FlowError> {
        let mut request = self.http.get(url).header("Accept", "text/html");
        if let Some(cookies) = self.cookie_header(url) {
            request = request.header("Cookie", cookies);
        }
        let response = send(request, Exchange::new("GET", url)).await?;
        self.keep(url, &response.set_cookies);
        Ok(response)
    }

    /// Posts `pairs` (form-encoded) to `url` with this origin's cookies; `shown` is the body as
    /// the exchange records it (with the password replaced).
    pub async fn post_form(
        &mut self,
        url: &str,
        pairs: &[(String, String)],
        shown: String,
    ) -> Result<Response, FlowError> {
        let mut retried = false;
        loop {
            let mut request = self.http.post(url).form(pairs);
            if let Some(cookies) = self.cookie_header(url) {
                request = request.header("Cookie", cookies);
            }
            let exchange = Exchange::new("POST", url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(shown.clone());
            let response = send(request, exchange).await?;
            self.keep(url, &response.set_cookies);
            // A rate-limited POST was not acted on (the limit comes before the handler), so it
            // is sent again once, as for GET.
            match short_retry_after(&response) {
                Some(wait) if !retried => {
                    retried = true;
                    tokio::time::sleep(wait).await;
                }
                _ => return Ok(response),
            }
        }
    }

    /// Submits `form` of the page at `page_url` (its action resolved against the page) with
    /// `pairs`; `secret_fields` are shown as `<field>` in the recorded body.
    pub async fn submit(
        &mut self,
        page_url: &str,
        form: &Form,
        pairs: &[(String, String)],
        secret_fields: &[&str],
    ) -> Result<Response, FlowError> {
        let action = resolve(page_url, &form.action);
        let shown = pairs
            .iter()
            .map(|(k, v)| {
                if secret_fields.contains(&k.as_str()) {
                    format!("{k}=<{k}>")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        if form.method == "post" {
            self.post_form(&action, pairs, shown).await
        } else {
            let mut url = url::Url::parse(&action).map_err(|e| FlowError::Unreachable {
                url: action.clone(),
                reason: format!("the form's action is not a URL: {e}"),
                exchange: Box::new(Exchange::new("GET", &action)),
            })?;
            url.query_pairs_mut().extend_pairs(pairs);
            self.get(url.as_str()).await
        }
    }

    /// The names of the cookies kept for `url`'s origin (for step details; values stay private).
    pub fn cookie_names(&self, url: &str) -> Vec<String> {
        let origin = origin(url);
        self.jar
            .iter()
            .filter(|c| c.origin == origin)
            .map(|c| c.name.clone())
            .collect()
    }

    fn cookie_header(&self, url: &str) -> Option<String> {
        let origin = origin(url);
        let pairs: Vec<String> = self
            .jar
            .iter()
            .filter(|c| c.origin == origin)
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    fn keep(&mut self, url: &str, set_cookies: &[String]) {
        let origin = origin(url);
        for line in set_cookies {
            let mut parts = line.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
            // `Max-Age=0` (or negative) and an empty value delete the cookie, as browsers do.
            let deleted = value.is_empty()
                || parts.any(|attr| {
                    attr.trim()
                        .to_ascii_lowercase()
                        .strip_prefix("max-age=")
                        .is_some_and(|age| age.trim().starts_with('-') || age.trim() == "0")
                });
            self.jar.retain(|c| !(c.origin == origin && c.name == name));
            if !deleted {
                self.jar.push(Cookie {
                    origin: origin.clone(),
                    name,
                    value,
                });
            }
        }
    }
}

/// For a 429 answer with `Retry-After` of at most 2 seconds, how long to wait before retrying.
fn short_retry_after(response: &Response) -> Option<std::time::Duration> {
    if response.status != 429 {
        return None;
    }
    let secs: u64 = response
        .exchange
        .response_header("retry-after")?
        .trim()
        .parse()
        .ok()?;
    (secs <= 2).then(|| std::time::Duration::from_secs(secs))
}

/// The origin of `url` (scheme, host, port), the cookie jar's key.
fn origin(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| url.to_owned(), |u| u.origin().ascii_serialization())
}

/// `reference` resolved against `base` as a browser resolves a link or a `Location`.
pub fn resolve(base: &str, reference: &str) -> String {
    url::Url::parse(base)
        .and_then(|b| b.join(reference))
        .map_or_else(|_| reference.to_owned(), String::from)
}

/// The absolute target of a redirect answer (3xx with `Location`), else None.
pub fn redirect_target(response: &Response) -> Option<String> {
    if !(300..400).contains(&response.status) {
        return None;
    }
    response
        .exchange
        .response_header("location")
        .map(|l| resolve(&response.exchange.url, l))
}

/// The forms of an HTML answer.
pub fn page_forms(response: &Response) -> Vec<Form> {
    html_form::forms(&response.body)
}

/// The visible text of an HTML page, squeezed to one line (an error page's message).
pub fn page_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    // Drop the head (title, styles) so the message comes first.
    if let Some(i) = rest.to_ascii_lowercase().find("<body") {
        rest = &rest[i..];
    }
    let mut in_tag = false;
    let mut skip = false;
    let mut tag = String::new();
    for c in rest.chars() {
        match c {
            '<' => {
                in_tag = true;
                tag.clear();
            }
            '>' => {
                in_tag = false;
                let t = tag.to_ascii_lowercase();
                if t.starts_with("style") || t.starts_with("script") {
                    skip = true;
                } else if t.starts_with("/style") || t.starts_with("/script") {
                    skip = false;
                }
                text.push(' ');
            }
            c if in_tag => tag.push(c),
            c if !skip => text.push(c),
            _ => {}
        }
    }
    let squeezed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    html_form::decode_entities(&squeezed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;
    use axum::response::IntoResponse;

    #[tokio::test]
    async fn cookies_go_back_to_the_origin_that_set_them_and_max_age_0_deletes() {
        let router = axum::Router::new()
            .route(
                "/set",
                axum::routing::get(|| async {
                    (
                        axum::response::AppendHeaders([
                            ("set-cookie", "a=1; Path=/; HttpOnly"),
                            ("set-cookie", "b=2; Path=/"),
                        ]),
                        "ok",
                    )
                }),
            )
            .route(
                "/drop",
                axum::routing::get(|| async { ([("set-cookie", "b=; Max-Age=0")], "ok") }),
            )
            .route(
                "/echo",
                axum::routing::get(|h: HeaderMap| async move {
                    h.get("cookie")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default()
                        .into_response()
                }),
            );
        let base = crate::flow::mock::serve(router).await;
        let mut browser = Browser::new(crate::flow::http_client().unwrap());
        browser.get(&format!("{base}/set")).await.unwrap();
        let echoed = browser.get(&format!("{base}/echo")).await.unwrap();
        assert_eq!(echoed.body, "a=1; b=2");
        browser.get(&format!("{base}/drop")).await.unwrap();
        assert_eq!(browser.cookie_names(&base), ["a"]);
        // Another origin (localhost vs 127.0.0.1) gets none of them.
        let other = base.replace("127.0.0.1", "localhost");
        assert_eq!(
            browser.get(&format!("{other}/echo")).await.unwrap().body,
            ""
        );
    }

    /// A server that rate-limits the first request of each path: the real AS does so only under
    /// load (100 requests/s per IP), which a unit test should not generate.
    #[tokio::test]
    async fn a_short_retry_after_is_waited_once() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let router = axum::Router::new().route(
            "/page",
            axum::routing::get(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        (
                            axum::http::StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", "1")],
                            "slow down",
                        )
                            .into_response()
                    } else {
                        "the page".into_response()
                    }
                }
            }),
        );
        let base = crate::flow::mock::serve(router).await;
        let mut browser = Browser::new(crate::flow::http_client().unwrap());
        let page = browser.get(&format!("{base}/page")).await.unwrap();
        assert_eq!((page.status, page.body.as_str()), (200, "the page"));
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn locations_resolve_against_the_request() {
        assert_eq!(
            resolve("http://h:1/oauth/authorize?x=1", "/login?redirect=%2Fa"),
            "http://h:1/login?redirect=%2Fa"
        );
        assert_eq!(
            resolve("http://h:1/a", "http://127.0.0.1:5/cb?code=x"),
            "http://127.0.0.1:5/cb?code=x"
        );
        assert_eq!(
            page_text(
                "<html><head><title>T</title><style>p{}</style></head><body><h1>Invalid Redirect URI</h1><p>The redirect_uri does not match&#46;</p></body></html>"
            ),
            "Invalid Redirect URI The redirect_uri does not match."
        );
    }
}
