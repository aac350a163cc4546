"""The AS's login and consent pages, checked in a real headless Chromium the way a person uses
them: they render as forms with labelled inputs, a form posted without its CSRF token (or with
a forged one) is refused, a wrong password is refused, and the right one leads on to consent,
whose deny and approve buttons send the browser back to the client's redirect URI.

The client is registered with plain RFC 7591 dynamic registration and the authorization request
is built by hand (PKCE S256, `resource`, `state`), so every page is reached as any client would
reach it. One browser session for all of it. Started by tests/oauth_clients.rs with one JSON
object on stdin:

    {"issuer", "mcp_url", "scope", "email", "password", "chromium", "chromedriver",
     "profile_dir", "screenshots"?}

Prints one JSON object (what each check saw) and exits non-zero with the reason on stderr when a
check fails. With "screenshots" set to a directory, saves a PNG of each page there (for a person
to look at while changing the pages; the test does not set it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sys
from urllib.parse import urlencode, urlparse

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from oauth_browser import (
    APPROVE,
    DENY,
    Callback,
    button_matching,
    emit,
    field,
    fill_login,
    form_posting_to,
    label_text,
    log,
    page_status,
    path_of,
    remove_input,
    set_input,
    start_browser,
    submit,
    submit_buttons,
    visible_text,
    wait_for_form,
)


def register(issuer: str, redirect_uri: str) -> tuple[dict[str, object], str]:
    """The AS metadata and a public client registered for `redirect_uri`."""
    meta = httpx.get(f"{issuer}/.well-known/oauth-authorization-server").json()
    reply = httpx.post(
        meta["registration_endpoint"],
        json={
            "client_name": "Pages check (authplane-dev test)",
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
    )
    assert reply.status_code == 201, f"registration: {reply.status_code} {reply.text}"
    return meta, reply.json()["client_id"]


class Authorization:
    """One authorization request (PKCE S256) of the registered client."""

    def __init__(self, meta: dict[str, object], client_id: str, cfg: dict[str, str], redirect: str):
        self.verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest())
            .decode()
            .rstrip("=")
        )
        self.state = secrets.token_urlsafe(16)
        self.url = f"{meta['authorization_endpoint']}?" + urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "resource": cfg["mcp_url"],
                "scope": cfg["scope"],
                "state": self.state,
            }
        )


class Pages:
    def __init__(self, driver: WebDriver, cfg: dict[str, str]):
        self.driver = driver
        self.cfg = cfg
        self.seen: dict[str, object] = {}
        self.shots = cfg.get("screenshots")

    def shot(self, name: str) -> None:
        if self.shots:
            os.makedirs(self.shots, exist_ok=True)
            self.driver.save_screenshot(os.path.join(self.shots, f"{name}.png"))

    def check_login_page(self) -> None:
        """The login page as a browser renders it: a titled HTML page, one POST form to /login
        with labelled email and password inputs, the hidden CSRF token and return address, and a
        visible submit button."""
        d = self.driver
        form = wait_for_form(d, "/login")
        assert path_of(d) == "/login", f"the login page is at {d.current_url}"
        assert page_status(d) == 200, f"GET /login answered {page_status(d)}"
        assert d.title.strip(), "the login page has no <title>"
        email, password = field(form, "email"), field(form, "password")
        assert email.is_displayed() and password.is_displayed(), "email/password not visible"
        assert password.get_attribute("type") == "password", "the password input is not masked"
        assert email.get_attribute("type") in ("email", "text"), email.get_attribute("type")
        labels = {"email": label_text(d, email), "password": label_text(d, password)}
        assert all(labels.values()), f"inputs without a <label>: {labels}"
        csrf = field(form, "csrf_token")
        assert csrf.get_attribute("type") == "hidden" and len(csrf.get_attribute("value") or "") >= 16
        redirect = field(form, "redirect").get_attribute("value") or ""
        assert redirect.startswith("/oauth/authorize?"), f"the form returns to {redirect!r}"
        buttons = [b for b in submit_buttons(form) if b.is_displayed()]
        assert buttons, "no visible submit button on the login page"
        self.seen["login"] = {
            "title": d.title,
            "labels": labels,
            "button": buttons[0].text or buttons[0].get_attribute("value"),
            "redirect": redirect,
        }
        self.shot("login")

    def refused_login(self, how: str, *, csrf: str | None, password: str) -> None:
        """Posts the login form with the CSRF token removed (csrf=None), replaced (csrf=value) or
        intact (csrf="keep"), and expects it refused: the login page again, an error shown, no
        session (the next authorization request lands on /login, not /consent)."""
        d = self.driver
        form = fill_login(d, self.cfg["email"], password)
        if csrf is None:
            remove_input(d, form, "csrf_token")
        elif csrf != "keep":
            set_input(d, form, "csrf_token", csrf)
        submit(d, submit_buttons(form)[0])
        status = page_status(d)
        assert status in (403, 422), f"login {how}: answered {status}, not a refusal"
        assert path_of(d) == "/login", f"login {how}: the browser went on to {d.current_url}"
        message = self.error_text()
        assert message, f"login {how}: no error shown:\n{visible_text(d)[:500]}"
        self.seen[f"login {how}"] = {"status": status, "error": message}
        self.shot(f"login-{how.replace(' ', '-')}")

    def error_text(self) -> str:
        """The error the page shows: an element marked as an error or alert."""
        for el in self.driver.find_elements(
            By.CSS_SELECTOR, "[role=alert], .error, .alert, .message, #error"
        ):
            if el.is_displayed() and el.text.strip():
                return el.text.strip()
        return ""

    def check_consent_page(self) -> None:
        """The consent page: one POST form to /consent with the CSRF token, the requested scope
        named, the client named, and two submit buttons that tell approve from deny."""
        d = self.driver
        form = wait_for_form(d, "/consent")
        assert page_status(d) == 200, f"the consent page answered {page_status(d)}"
        assert d.title.strip(), "the consent page has no <title>"
        csrf = field(form, "csrf_token")
        assert csrf.get_attribute("type") == "hidden" and len(csrf.get_attribute("value") or "") >= 16
        text = visible_text(d)
        assert self.cfg["scope"] in text, f"the scope is not shown:\n{text}"
        assert "Pages check" in text, f"the client is not named:\n{text}"
        approve, deny = button_matching(form, APPROVE), button_matching(form, DENY)
        assert approve != deny and approve.is_displayed() and deny.is_displayed()
        self.seen["consent"] = {
            "title": d.title,
            "approve": approve.text,
            "deny": deny.text,
        }
        self.shot("consent")

    def refused_consent(self, callback: Callback, how: str, *, csrf: str | None) -> None:
        """Approve with the CSRF token removed (csrf=None) or replaced: refused, and nothing
        reaches the client."""
        d = self.driver
        form = wait_for_form(d, "/consent")
        if csrf is None:
            remove_input(d, form, "csrf_token")
        else:
            set_input(d, form, "csrf_token", csrf)
        submit(d, button_matching(form, APPROVE))
        status = page_status(d)
        assert 400 <= status < 500, f"consent {how}: answered {status}"
        assert callback.nothing_arrived(), f"consent {how} reached the client"
        assert path_of(d) != "/callback", d.current_url
        self.seen[f"consent {how}"] = {"status": status, "page": visible_text(d)[:200]}
        self.shot(f"consent-{how.replace(' ', '-')}")


def run(cfg: dict[str, str]) -> dict[str, object]:
    callback = Callback()
    meta, client_id = register(cfg["issuer"], callback.redirect_uri)
    driver = start_browser(cfg["chromium"], cfg["chromedriver"], cfg["profile_dir"])
    pages = Pages(driver, cfg)
    try:
        first = Authorization(meta, client_id, cfg, callback.redirect_uri)
        log("login page")
        driver.get(first.url)
        pages.check_login_page()
        pages.refused_login("without csrf_token", csrf=None, password=cfg["password"])
        pages.refused_login("with a forged csrf_token", csrf="forged" + "0" * 40, password=cfg["password"])
        pages.refused_login("with a wrong password", csrf="keep", password=cfg["password"] + "x")
        # None of those logged in: the authorization request still asks for a login.
        driver.get(first.url)
        wait_for_form(driver, "/login")
        log("the login form, filled in right")
        form = fill_login(driver, cfg["email"], cfg["password"])
        submit(driver, submit_buttons(form)[0])
        pages.check_consent_page()
        pages.refused_consent(callback, "without csrf_token", csrf=None)
        driver.get(first.url)
        pages.refused_consent(callback, "with a forged csrf_token", csrf="forged" + "0" * 40)

        log("deny")
        denied = Authorization(meta, client_id, cfg, callback.redirect_uri)
        driver.get(denied.url)
        submit(driver, button_matching(wait_for_form(driver, "/consent"), DENY))
        answer = callback.wait()
        assert answer.get("error") == "access_denied", f"deny answered {answer}"
        assert answer.get("state") == denied.state and answer.get("iss") == cfg["issuer"], answer
        assert "code" not in answer, answer
        pages.seen["deny"] = sorted(answer)

        log("approve")
        approved = Authorization(meta, client_id, cfg, callback.redirect_uri)
        driver.get(approved.url)
        submit(driver, button_matching(wait_for_form(driver, "/consent"), APPROVE))
        answer = callback.wait()
        assert answer.get("code") and answer.get("state") == approved.state, answer
        assert answer.get("iss") == cfg["issuer"], answer
        assert path_of(driver) == "/callback", driver.current_url
        pages.seen["approve"] = sorted(answer)

        # The code the form produced is a real one: it buys a token (PKCE verifier included).
        token = httpx.post(
            str(meta["token_endpoint"]),
            data={
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": callback.redirect_uri,
                "code_verifier": approved.verifier,
                "client_id": client_id,
                "resource": cfg["mcp_url"],
            },
        )
        assert token.status_code == 200, f"code exchange: {token.status_code} {token.text}"
        pages.seen["token"] = sorted(token.json())
    finally:
        driver.quit()
        callback.close()
    pages.seen["client_id"] = client_id
    return pages.seen


def main() -> None:
    cfg = json.load(sys.stdin)
    emit(run(cfg))


if __name__ == "__main__":
    main()
