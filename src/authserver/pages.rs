//! The HTML the interactive flow shows a browser: the login form, the consent form and the error
//! page. Field names follow upstream's templates (login: `email`, `password`, hidden `csrf_token`
//! and `redirect`; consent: hidden `session_id` and `csrf_token`, checked `scopes` boxes, a
//! `remember` box, and two submit buttons `action=deny` / `action=allow`), so whatever fills the
//! real server's forms fills these. Every interpolated value is HTML-escaped.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The pages' own policy: the common one plus inline styles (the pages carry a small `<style>`).
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/// Escapes text for an HTML element or a double-quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f8fafc;color:#0f172a;\
display:flex;justify-content:center;padding:48px 16px}\
.card{background:#fff;border:1px solid #e2e8f0;border-radius:12px;padding:32px;max-width:420px;width:100%}\
h1{font-size:1.3em;margin:0 0 16px}label{display:block;margin:12px 0 4px;font-size:.9em}\
input[type=email],input[type=password]{width:100%;padding:8px;box-sizing:border-box}\
button{margin-top:16px;padding:10px 18px}.error{color:#b91c1c;margin:8px 0}\
.scopes{list-style:none;padding:0}.scopes li{margin:6px 0}code{font-size:.9em}";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} — Authplane</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <div class=\"card\">\n{body}\n</div>\n</body>\n</html>\n",
        title = escape(title)
    );
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_CSP),
            ),
        ],
        html,
    )
        .into_response()
}

/// The error page (upstream's `WriteErrorPage`: a status, a title and a sentence).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1>\n<p class=\"error\">{}</p>",
        escape(title),
        escape(message)
    );
    let mut response = page(status, title, &body);
    response
        .extensions_mut()
        .insert(super::problem::Logged(format!("{title}: {message}")));
    response
}

/// What the login form shows.
pub struct LoginForm<'a> {
    pub csrf_token: &'a str,
    pub redirect: &'a str,
    pub error: Option<&'a str>,
}

/// The login page (`GET /login`, and re-rendered with an error on a refused `POST /login`).
pub fn login(status: StatusCode, form: &LoginForm<'_>) -> Response {
    let error = form
        .error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in</h1>\n{error}<form method=\"POST\" action=\"/login\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\n\
         <input type=\"hidden\" name=\"redirect\" value=\"{redirect}\">\n\
         <label for=\"email\">Email</label>\n\
         <input type=\"email\" id=\"email\" name=\"email\" required autocomplete=\"username\">\n\
         <label for=\"password\">Password</label>\n\
         <input type=\"password\" id=\"password\" name=\"password\" required \
         autocomplete=\"current-password\">\n\
         <button type=\"submit\">Sign in</button>\n</form>",
        csrf = escape(form.csrf_token),
        redirect = escape(form.redirect),
    );
    let mut response = page(status, "Sign in", &body);
    if let Some(e) = form.error {
        response
            .extensions_mut()
            .insert(super::problem::Logged(format!("login refused: {e}")));
    }
    response
}

/// One scope on the consent page.
pub struct ScopeItem<'a> {
    pub name: &'a str,
    pub description: &'a str,
}

/// What the consent form shows.
pub struct ConsentForm<'a> {
    pub session_id: &'a str,
    pub csrf_token: &'a str,
    pub client_name: &'a str,
    pub resource: &'a str,
    pub resource_name: &'a str,
    pub scopes: &'a [ScopeItem<'a>],
}

/// The consent page (`GET /consent`).
pub fn consent(form: &ConsentForm<'_>) -> Response {
    let mut scopes = String::new();
    for s in form.scopes {
        let name = escape(s.name);
        let description = if s.description.is_empty() {
            String::new()
        } else {
            format!(" — {}", escape(s.description))
        };
        let _ = writeln!(
            scopes,
            "<li><input type=\"checkbox\" name=\"scopes\" value=\"{name}\" id=\"scope-{name}\" \
             checked> <label for=\"scope-{name}\" style=\"display:inline\"><code>{name}</code>\
             {description}</label></li>"
        );
    }
    let target = if form.resource_name.is_empty() {
        escape(form.resource)
    } else {
        format!(
            "{} (<code>{}</code>)",
            escape(form.resource_name),
            escape(form.resource)
        )
    };
    let body = format!(
        "<h1><span class=\"client\">{client}</span> wants permission to access {target}</h1>\n\
         <form method=\"POST\" action=\"/consent\">\n\
         <input type=\"hidden\" name=\"session_id\" value=\"{session}\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\n\
         <p>Permissions requested</p>\n<ul class=\"scopes\">\n{scopes}</ul>\n\
         <label><input type=\"checkbox\" name=\"remember\"> Remember this decision</label>\n\
         <button type=\"submit\" name=\"action\" value=\"deny\">Deny</button>\n\
         <button type=\"submit\" name=\"action\" value=\"allow\">Allow access</button>\n</form>",
        client = escape(form.client_name),
        session = escape(form.session_id),
        csrf = escape(form.csrf_token),
    );
    page(StatusCode::OK, "Authorize", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
