"""What tests/python/sdk_oauth_flow.py and auth_pages_check.py share: a real headless Chromium
(Debian's `chromium` + `chromium-driver`, driven by Selenium), the user's side of the login and
consent pages as a person would use them, and the loopback redirect listener a native client
runs (RFC 8252 §7.3) to catch the authorization response.

Nothing here knows the embedded AS's internals: pages are found by what a browser sees (a form,
its inputs, its submit buttons), so the same code would drive the real authserver's pages.
"""

from __future__ import annotations

import http.server
import json
import queue
import re
import sys
import threading
from urllib.parse import parse_qs, urlparse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

# How long one page may take to appear: generous, a loaded CI machine is slow, and nothing
# waits this long when the page is there.
PAGE_TIMEOUT = 20

APPROVE = re.compile(r"allow|approve|authori[sz]e|accept|grant", re.I)
DENY = re.compile(r"deny|reject|cancel|decline", re.I)


def log(message: str) -> None:
    """Progress on stderr (the test shows it when it fails); stdout carries only the result."""
    print(message, file=sys.stderr, flush=True)


def start_browser(chromium: str, chromedriver: str, profile_dir: str) -> WebDriver:
    """Headless Chromium with a throwaway profile. `--no-sandbox` because CI runs as root, where
    Chromium refuses its sandbox; the pages come from our own loopback servers."""
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--window-size=1024,900",
        f"--user-data-dir={profile_dir}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    return driver


def page_status(driver: WebDriver) -> int:
    """The HTTP status of the document the browser shows (Navigation Timing's responseStatus),
    which a WebDriver does not expose otherwise."""
    return int(
        driver.execute_script(
            "const n = performance.getEntriesByType('navigation');"
            "return n.length ? n[0].responseStatus : 0;"
        )
    )


def path_of(driver: WebDriver) -> str:
    return urlparse(driver.current_url).path


def wait_for_form(driver: WebDriver, path: str) -> WebElement:
    """Waits until the browser shows a page with a form POSTing to `path` (after whatever
    redirects lead there) and returns that form."""
    try:
        WebDriverWait(driver, PAGE_TIMEOUT).until(lambda d: _form(d, path) is not None)
    except Exception as e:  # noqa: BLE001 - re-raised with what the browser shows instead
        raise AssertionError(
            f"expected a form POSTing to {path}; the browser is at {driver.current_url} "
            f"(HTTP {page_status(driver)}):\n{visible_text(driver)[:800]}"
        ) from e
    return form_posting_to(driver, path)


def visible_text(driver: WebDriver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def wait_for_any_form(driver: WebDriver, *paths: str) -> str:
    """Waits until the page has a form POSTing to one of `paths` and returns that path: the
    login page, or straight the consent page when the browser already has a session."""
    found: list[str] = []

    def any_form(d: WebDriver) -> bool:
        found[:] = [p for p in paths if _form(d, p) is not None]
        return bool(found)

    try:
        WebDriverWait(driver, PAGE_TIMEOUT).until(any_form)
    except Exception as e:  # noqa: BLE001 - re-raised with what the browser shows instead
        raise AssertionError(
            f"expected a form POSTing to one of {paths}; the browser is at {driver.current_url} "
            f"(HTTP {page_status(driver)}):\n{visible_text(driver)[:800]}"
        ) from e
    return found[0]


def _form(driver: WebDriver, path: str) -> WebElement | None:
    # The attributes, resolved as the browser would submit: not the DOM's form.action and
    # form.method properties, which a control named "action" (a consent button) shadows.
    for form in driver.find_elements(By.TAG_NAME, "form"):
        action, method = driver.execute_script(
            "const f = arguments[0];"
            "return [new URL(f.getAttribute('action') || '', document.baseURI).pathname,"
            "        (f.getAttribute('method') || 'get').toLowerCase()];",
            form,
        )
        if action == path and method == "post":
            return form
    return None


def form_posting_to(driver: WebDriver, path: str) -> WebElement:
    """The page's form that POSTs to `path`; fails naming the forms the page has instead."""
    form = _form(driver, path)
    if form is None:
        seen = [
            (f.get_attribute("method"), f.get_attribute("action"))
            for f in driver.find_elements(By.TAG_NAME, "form")
        ]
        raise AssertionError(f"no form POSTing to {path} on {driver.current_url}; forms: {seen}")
    return form


def field(form: WebElement, name: str) -> WebElement:
    found = form.find_elements(By.NAME, name)
    assert found, f"the form has no input named {name!r}"
    return found[0]


def label_text(driver: WebDriver, element: WebElement) -> str:
    """The text of the <label> that names `element` (for=id, or wrapping it): what a screen
    reader reads and what a click on the label focuses."""
    return str(
        driver.execute_script(
            "const e = arguments[0];"
            "return Array.from(e.labels || []).map(l => l.innerText.trim()).join(' ');",
            element,
        )
    )


def submit_buttons(form: WebElement) -> list[WebElement]:
    return form.find_elements(
        By.CSS_SELECTOR, "button:not([type]), button[type=submit], input[type=submit]"
    )


def button_matching(form: WebElement, pattern: re.Pattern[str]) -> WebElement:
    """The submit button whose value, name or caption matches `pattern` (approve or deny)."""
    buttons = submit_buttons(form)
    for button in buttons:
        words = " ".join(
            filter(None, [button.get_attribute("value"), button.get_attribute("name"), button.text])
        )
        if pattern.search(words):
            return button
    seen = [(b.get_attribute("name"), b.get_attribute("value"), b.text) for b in buttons]
    raise AssertionError(f"no submit button matching {pattern.pattern!r}; buttons: {seen}")


def remove_input(driver: WebDriver, form: WebElement, name: str) -> None:
    """Removes the form's input called `name` from the DOM, as a forged cross-site form would
    lack it."""
    driver.execute_script("arguments[0].remove();", field(form, name))


def set_input(driver: WebDriver, form: WebElement, name: str, value: str) -> None:
    driver.execute_script("arguments[0].value = arguments[1];", field(form, name), value)


def fill_login(driver: WebDriver, email: str, password: str) -> WebElement:
    """Types the credentials into the login form (as a person would: into the visible inputs)
    and returns the form, unsent."""
    form = wait_for_form(driver, "/login")
    for name, value in (("email", email), ("password", password)):
        box = field(form, name)
        box.clear()
        box.send_keys(value)
    return form


def submit(driver: WebDriver, button: WebElement) -> None:
    """Clicks a submit button and waits for the next document to load."""
    old = driver.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(driver, PAGE_TIMEOUT).until(lambda d: _gone(old))
    WebDriverWait(driver, PAGE_TIMEOUT).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def _gone(element: WebElement) -> bool:
    try:
        element.is_enabled()
        return False
    except Exception:  # noqa: BLE001 - stale: the page it belonged to was replaced
        return True


def sign_in(driver: WebDriver, email: str, password: str) -> None:
    """Logs in on the login page the browser shows."""
    form = fill_login(driver, email, password)
    submit(driver, submit_buttons(form)[0])


def decide(driver: WebDriver, pattern: re.Pattern[str]) -> None:
    """Clicks approve (APPROVE) or deny (DENY) on the consent page the browser shows."""
    form = wait_for_form(driver, "/consent")
    submit(driver, button_matching(form, pattern))


class Callback:
    """The loopback redirect listener: an HTTP server on 127.0.0.1 on a port the kernel picks,
    answering `/callback` with a small page and queueing the query parameters it got."""

    def __init__(self) -> None:
        self._received: queue.Queue[dict[str, str]] = queue.Queue()
        received = self._received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                url = urlparse(self.path)
                if url.path != "/callback":
                    self.send_error(404)
                    return
                received.put({k: v[0] for k, v in parse_qs(url.query).items()})
                body = b"<!DOCTYPE html><title>Done</title><p>You can close this window.</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self._server.server_port}/callback"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait(self) -> dict[str, str]:
        """The next authorization response's parameters; fails after PAGE_TIMEOUT."""
        try:
            return self._received.get(timeout=PAGE_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"nothing arrived at {self.redirect_uri}") from None

    def nothing_arrived(self) -> bool:
        return self._received.empty()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def emit(result: dict[str, object]) -> None:
    """The script's result: one JSON object on stdout, read by the Rust test."""
    print(json.dumps(result), flush=True)
