//! Test helper for the interactive flow: a minimal "browser" (cookies, no automatic redirects),
//! the forms on the AS's pages read as a browser reads them, PKCE, and the whole
//! register → authorize → login → consent → code path as one call.

use std::collections::BTreeMap;
use std::sync::Mutex;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The dev user every interactive test signs in as.
pub const EMAIL: &str = "dev@localhost.test";
pub const PASSWORD: &str = "dev-user-password-0123456789";
/// The redirect URI the tests register (a loopback listener nobody runs: only its query is read).
pub const REDIRECT: &str = "http://127.0.0.1:53682/callback";

/// Environment that makes `serve authserver` create the dev user.
pub fn dev_user_env() -> [(&'static str, &'static str); 2] {
    [
        ("AUTHPLANE_DEV_USER_EMAIL", EMAIL),
        ("AUTHPLANE_DEV_USER_PASSWORD", PASSWORD),
    ]
}

/// A cookie-keeping HTTP client that does not follow redirects.
pub struct Browser {
    http: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl Default for Browser {
    fn default() -> Self {
        Browser::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    fn cookie_header(&self) -> String {
        let jar = self.cookies.lock().unwrap();
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn remember(&self, response: &reqwest::Response) {
        let mut jar = self.cookies.lock().unwrap();
        for v in response.headers().get_all("set-cookie") {
            let text = v.to_str().unwrap_or("");
            let first = text.split(';').next().unwrap_or("");
            if let Some((k, v)) = first.split_once('=') {
                let expired = text.contains("Max-Age=0");
                if v.is_empty() || expired {
                    jar.remove(k.trim());
                } else {
                    jar.insert(k.trim().to_owned(), v.to_owned());
                }
            }
        }
    }

    /// Forgets one cookie (to play a browser that never had it).
    pub fn drop_cookie(&self, name: &str) {
        self.cookies.lock().unwrap().remove(name);
    }

    /// The cookie's current value.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        let r = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.remember(&r);
        r
    }

    pub async fn post_form(&self, url: &str, form: &[(String, String)]) -> reqwest::Response {
        let r = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.remember(&r);
        r
    }
}

/// The `Location` of a redirect, resolved against `base`.
pub fn location(response: &reqwest::Response, base: &str) -> String {
    let raw = response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on {}", response.status()))
        .to_str()
        .unwrap();
    url::Url::parse(base)
        .unwrap()
        .join(raw)
        .unwrap()
        .to_string()
}

/// A query parameter of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// The successful controls of the page's form as a browser submits them: hidden inputs, checked
/// checkboxes, and the chosen submit button's `name=value` (`button`: `(name, value)`).
pub fn form_fields(html: &str, button: Option<(&str, &str)>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for piece in html.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap_or(piece.len())];
        let kind = attribute(tag, "type").unwrap_or_default();
        let (Some(name), value) = (attribute(tag, "name"), attribute(tag, "value")) else {
            continue;
        };
        let include = match kind.as_str() {
            "hidden" => true,
            "checkbox" => tag.contains(" checked"),
            _ => false,
        };
        if include {
            out.push((name, value.unwrap_or_else(|| "on".to_owned())));
        }
    }
    if let Some((name, value)) = button {
        out.push((name.to_owned(), value.to_owned()));
    }
    out
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = format!(
        "verifier-{}-0123456789abcdefghijklmnopqrstuvwxyz",
        rand_suffix()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Registers a public client (DCR) with `redirect`; returns its `client_id`.
pub async fn register_public_client(public_url: &str, redirect: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{public_url}/oauth/register"))
        .json(&json!({"client_name": "test app", "redirect_uris": [redirect]}))
        .send()
        .await
        .expect("POST /oauth/register");
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    body["client_id"].as_str().unwrap().to_owned()
}

/// The authorize URL for `client_id` with PKCE `challenge`, `resource`, `scope` and `state`.
pub fn authorize_url(
    public_url: &str,
    client_id: &str,
    challenge: &str,
    resource: &str,
    scope: &str,
) -> String {
    let mut u = url::Url::parse(&format!("{public_url}/oauth/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", resource)
        .append_pair("scope", scope)
        .append_pair("state", "st-123");
    u.to_string()
}

/// Follows an authorize URL through login (as the dev user) and consent (`button` on the consent
/// form); returns the final redirect to the client.
pub async fn walk(browser: &Browser, public_url: &str, authorize: &str, button: &str) -> String {
    let mut url = authorize.to_owned();
    for _ in 0..8 {
        if !url.starts_with(public_url) {
            return url;
        }
        let r = browser.get(&url).await;
        if r.status().is_redirection() {
            url = location(&r, public_url);
            continue;
        }
        let status = r.status();
        let html = r.text().await.unwrap();
        assert_eq!(status, 200, "{url}: {html}");
        let (action, fields) = if html.contains("action=\"/login\"") {
            let mut f = form_fields(&html, None);
            f.push(("email".into(), EMAIL.into()));
            f.push(("password".into(), PASSWORD.into()));
            ("/login", f)
        } else {
            ("/consent", form_fields(&html, Some(("action", button))))
        };
        let r = browser
            .post_form(&format!("{public_url}{action}"), &fields)
            .await;
        assert_eq!(r.status(), 303, "{action}: {}", r.text().await.unwrap());
        url = location(&r, public_url);
    }
    panic!("too many redirects from {authorize}");
}

/// `POST /oauth/token` with a form (public client: no authentication header).
pub async fn token(public_url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{public_url}/oauth/token"))
        .form(form)
        .send()
        .await
        .expect("POST /oauth/token");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Exchanges `code` (issued for `REDIRECT`) as the public client `client_id` with its PKCE verifier.
pub async fn exchange_code(
    public_url: &str,
    code: &str,
    client_id: &str,
    verifier: &str,
) -> (u16, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id),
        ("code_verifier", verifier),
    ];
    token(public_url, &form).await
}

/// Presents `refresh_token` as the public client `client_id`.
pub async fn refresh(public_url: &str, refresh_token: &str, client_id: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client_id),
    ];
    token(public_url, &form).await
}
