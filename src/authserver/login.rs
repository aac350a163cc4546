//! `GET /login`, `POST /login`, `POST /logout`, as upstream: the form's CSRF token is bound to a
//! pre-session nonce cookie (so a cross-site POST, which cannot carry the cookie under
//! `SameSite=Lax`, is refused); any refused submission — bad form, bad CSRF, bad credentials —
//! re-renders the form with `422`; success sets the session cookie and `303`s to the form's
//! `redirect` when it is a path on this server, else to `/`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::authorize::see_other;
use super::pages::{self, LoginForm};
use super::session::{LOGIN_NONCE_COOKIE, LOGIN_NONCE_MAX_AGE, SESSION_COOKIE, SESSION_MAX_AGE};
use super::{AppState, form, session, users};

/// The largest login form read (upstream: 64 KiB).
const MAX_FORM_BYTES: usize = 64 * 1024;
const INVALID_REQUEST: &str = "Invalid request. Please try again.";
const BAD_CREDENTIALS: &str = "Invalid email or password";

/// The nonce this browser holds (when this server minted it), or a fresh cookie to set.
fn nonce_for(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    if let Some(value) = session::cookie(headers, LOGIN_NONCE_COOKIE)
        && let Some(nonce) = state.session.login_nonce(value)
    {
        return (nonce.to_owned(), None);
    }
    let cookie = state.session.new_login_nonce();
    let nonce = cookie.split_once('|').map_or("", |(n, _)| n).to_owned();
    (nonce, Some(cookie))
}

fn render(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    redirect: &str,
    error: Option<&str>,
) -> Response {
    let (nonce, new_cookie) = nonce_for(state, headers);
    let csrf = state.session.csrf_token(&nonce);
    let mut response = pages::login(
        status,
        &LoginForm {
            csrf_token: &csrf,
            redirect,
            error,
        },
    );
    if let Some(cookie) = new_cookie {
        response.headers_mut().append(
            header::SET_COOKIE,
            state
                .session
                .set_cookie(LOGIN_NONCE_COOKIE, &cookie, LOGIN_NONCE_MAX_AGE),
        );
    }
    response
}

/// `GET /login?redirect=<path>`.
pub async fn show(State(state): State<AppState>, request: Request) -> Response {
    let mut pairs = Vec::new();
    let _ = form::parse_query(request.uri().query().unwrap_or(""), &mut pairs);
    let redirect = pairs
        .iter()
        .find(|(k, _)| k == "redirect")
        .map_or("", |(_, v)| v.as_str());
    render(&state, request.headers(), StatusCode::OK, redirect, None)
}

/// Upstream's `SafeRedirect`: a path on this server (not `//host` or `/\host`), else `fallback`.
pub fn safe_redirect<'a>(target: &'a str, fallback: &'a str) -> &'a str {
    let local = target.starts_with('/')
        && !target.starts_with("//")
        && !target.starts_with("/\\")
        && !target.contains(['\r', '\n']);
    if local { target } else { fallback }
}

/// `POST /login`.
pub async fn submit(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let Ok(form) = form::read(headers, None, body, MAX_FORM_BYTES).await else {
        return render(
            &state,
            headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
            Some("Invalid form data"),
        );
    };
    let redirect = form.get("redirect").unwrap_or("").to_owned();
    let refuse = |why: &str| {
        render(
            &state,
            headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            &redirect,
            Some(why),
        )
    };
    let nonce = session::cookie(headers, LOGIN_NONCE_COOKIE)
        .and_then(|value| state.session.login_nonce(value));
    let csrf_ok = nonce.is_some_and(|nonce| {
        state
            .session
            .csrf_valid(nonce, form.get("csrf_token").unwrap_or(""))
    });
    if !csrf_ok {
        return refuse(INVALID_REQUEST);
    }
    let email = form.get("email").unwrap_or("");
    let password = form.get("password").unwrap_or("");
    let Some(user) = state
        .store
        .read(|d| users::authenticate(d, email, password))
    else {
        return refuse(BAD_CREDENTIALS);
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut response = see_other(safe_redirect(&redirect, "/"));
    response.headers_mut().append(
        header::SET_COOKIE,
        state.session.set_cookie(
            SESSION_COOKIE,
            &state.session.session_value(&user.id, now),
            SESSION_MAX_AGE,
        ),
    );
    response
}

/// `POST /logout`: ends the session and burns the login nonce, then back to `/login`.
pub async fn logout(State(state): State<AppState>, _body: Body) -> Response {
    let mut response = see_other("/login");
    for name in [SESSION_COOKIE, LOGIN_NONCE_COOKIE] {
        response
            .headers_mut()
            .append(header::SET_COOKIE, state.session.clear_cookie(name));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(
            safe_redirect("/oauth/authorize?x=1", "/"),
            "/oauth/authorize?x=1"
        );
        for bad in [
            "//evil.example/x",
            "/\\evil",
            "https://evil.example",
            "",
            "x",
        ] {
            assert_eq!(safe_redirect(bad, "/"), "/", "{bad}");
        }
    }
}
