//! `verify --flow auth-code` against the real binary and a real embedded stack (the AS with its
//! dynamic registration, login and consent pages; the echo server with authplane-sdk) on free
//! ports: the whole interactive flow headless, each wrong request it can make on purpose answered
//! by the real AS with its finding, a wrong password, the `--browser` mode driven by a stand-in
//! browser, and the flags of the other flow refused before anything starts. (The faults no real
//! server here has — a made-up state or iss, refresh tokens that never rotate, an AS that skips
//! PKCE — are produced in `src/steps/authcode_tokens.rs` by a test AS built for them.)

mod support_stack;

use serde_json::Value;
use support_stack::{Stack, codes, finding, step};

const EMAIL: &str = "dev@localhost.test";

/// A stack whose `.env` names the dev user, as a user (or `up`) writes it.
fn stack_with_user() -> (Stack, String) {
    let stack = Stack::new();
    let password = authplane_dev::config::generate_secret(24);
    stack.set_in_env_file("AUTHPLANE_DEV_USER_EMAIL", EMAIL);
    stack.set_in_env_file("AUTHPLANE_DEV_USER_PASSWORD", &password);
    (stack, password)
}

fn verify(stack: &Stack, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["verify", "--flow", "auth-code", "--wait-timeout", "60"];
    args.extend_from_slice(extra);
    stack.json(&args)
}

fn statuses(doc: &Value) -> Vec<(String, String)> {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_interactive_flow_passes_end_to_end_and_shows_each_step() {
    let (stack, password) = stack_with_user();
    let (code, doc) = verify(&stack, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["flow"], "auth-code");
    let flow_steps: Vec<(String, String)> = statuses(&doc)
        .into_iter()
        .skip_while(|(id, _)| id != "mcp_metadata")
        .collect();
    let want = [
        "mcp_metadata",
        "as_discovery",
        "authorization_endpoints",
        "resource_uri",
        "resource",
        "client_registration",
        "authorize",
        "login",
        "consent",
        "authorization_response",
        "code_exchange",
        "check_token",
        "mcp_initialize",
        "notifications_initialized",
        "tools_list",
        "tools_call_echo",
        "refresh",
        "mcp_call_refreshed_token",
        "refresh_token_replay",
        "probe_authorize_without_pkce",
    ];
    assert_eq!(
        flow_steps,
        want.map(|id| (id.to_owned(), "pass".to_owned())),
        "{doc:#}"
    );
    // What the real AS answered at each point.
    let login = step(&doc, "login")["summary"].as_str().unwrap();
    assert!(
        login.contains(EMAIL) && login.contains("authserver_session"),
        "{login}"
    );
    assert!(
        step(&doc, "consent")["summary"]
            .as_str()
            .unwrap()
            .contains("action=allow"),
        "{doc:#}"
    );
    let exchange = step(&doc, "code exchange");
    assert_eq!(exchange["detail"]["refresh_token"], true);
    let sub = exchange["detail"]["sub"].as_str().unwrap();
    let client = step(&doc, "client registration")["detail"]["response"]["client_id"]
        .as_str()
        .unwrap();
    assert!(!sub.is_empty() && sub != client, "a user token: sub {sub}");
    assert!(
        step(&doc, "refresh token replay")["summary"]
            .as_str()
            .unwrap()
            .starts_with("refused: invalid_grant"),
        "{doc:#}"
    );
    assert!(
        step(&doc, "probe: authorize without PKCE")["summary"]
            .as_str()
            .unwrap()
            .starts_with("refused:"),
        "{doc:#}"
    );
    // No password, code or cookie value reaches the output.
    let text = doc.to_string();
    assert!(!text.contains(&password), "the password leaked");
    let redirect = step(&doc, "consent")["detail"]["redirect"]
        .as_str()
        .unwrap();
    assert!(redirect.contains("code=%3Ccode%3E"), "{redirect}");

    // The same in human form: one line per step.
    let out = stack.run(&["verify", "--flow", "auth-code"]);
    let human = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{human}");
    for line in [
        "✓ client registration",
        "✓ login",
        "✓ consent",
        "✓ refresh token replay",
    ] {
        assert!(human.contains(line), "{line}:\n{human}");
    }
    assert!(!human.contains(&password));
}

#[test]
fn each_wrong_request_gets_the_real_answer_and_its_finding() {
    let (stack, _) = stack_with_user();
    for (flags, want, failed) in [
        (&["--omit", "pkce"][..], "pkce_missing", "authorize"),
        (&["--omit", "resource"], "resource_missing", "authorize"),
        (&["--consent", "deny"], "consent_denied", "consent"),
        (
            &["--redirect-uri", "http://app.example/callback"],
            "redirect_uri_rejected",
            "client registration",
        ),
    ] {
        let (code, doc) = verify(&stack, flags);
        assert_eq!(code, 1, "{flags:?}: {doc:#}");
        assert_eq!(codes(&doc), [want], "{flags:?}: {doc:#}");
        assert_eq!(step(&doc, failed)["status"], "fail", "{flags:?}: {doc:#}");
        assert_eq!(step(&doc, "code exchange")["status"], "skip", "{doc:#}");
        assert!(!finding(&doc, want)["fix"].as_str().unwrap().is_empty());
    }
    // An AS that allows no dynamic registration (AUTHPLANE_DCR_MODE=admin_only): the flow stops
    // at the registration with the AS's words.
    stack.set_in_env_file("AUTHPLANE_DCR_MODE", "admin_only");
    let (code, doc) = verify(&stack, &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(codes(&doc), ["authorization_failed"], "{doc:#}");
    assert!(
        finding(&doc, "authorization_failed")["message"]
            .as_str()
            .unwrap()
            .contains("registration is disabled"),
        "{doc:#}"
    );
    assert_eq!(step(&doc, "client registration")["status"], "fail");
    stack.set_in_env_file("AUTHPLANE_DCR_MODE", "open");
    // The AS's own words are in the finding.
    let (_, doc) = verify(&stack, &["--omit", "pkce"]);
    let message = finding(&doc, "pkce_missing")["message"].as_str().unwrap();
    assert!(message.contains("code_challenge"), "{message}");
    // An https redirect URI of the user's client is accepted: the run passes.
    let (code, doc) = verify(
        &stack,
        &[
            "--redirect-uri",
            "https://app.example/callback",
            "--no-probes",
        ],
    );
    assert_eq!(code, 0, "{doc:#}");
}

/// Starts `serve authserver` in another directory with the stack's `.env`, as a user's own AS in
/// another terminal: authplane-dev uses it as it is (external) and never restarts it.
fn start_external_as(stack: &Stack, elsewhere: &std::path::Path) -> support_stack::KillOnDrop {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_authplane-dev"))
        .current_dir(elsewhere)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .arg("--env-file")
        .arg(stack.path(".env"))
        .args(["serve", "authserver"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let port = stack.ports.public;
    assert!(
        support_stack::wait_until(std::time::Duration::from_secs(30), || {
            support_stack::listening(port)
        }),
        "the external AS did not listen on {port}"
    );
    support_stack::KillOnDrop(child)
}

#[test]
fn a_password_the_as_does_not_know_is_login_failed() {
    let (stack, _) = stack_with_user();
    // The AS runs elsewhere with the dev user of the .env as it was (backend auto: external).
    let path = stack.path(".env");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with("AUTHPLANE_DEV_AS="))
        .flat_map(|l| [l, "\n"])
        .collect();
    std::fs::write(&path, kept).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let _external = start_external_as(&stack, elsewhere.path());
    // Then the password in this directory's .env changes; that AS still has the old one.
    stack.set_in_env_file("AUTHPLANE_DEV_USER_PASSWORD", "not-the-password-at-all");
    let (code, doc) = verify(&stack, &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(step(&doc, "backend")["detail"]["backend"], "external");
    assert_eq!(codes(&doc), ["login_failed"], "{doc:#}");
    let f = finding(&doc, "login_failed");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("Invalid email or password"),
        "{f:#}"
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("AUTHPLANE_DEV_USER_PASSWORD")
    );
    assert_eq!(step(&doc, "consent")["status"], "skip");
    assert!(!doc.to_string().contains("not-the-password-at-all"));
}

/// A stand-in for the user's browser: `verify --browser` runs `$BROWSER <url>`, and a real
/// browser cannot run here, so this Python script (standard library only) does what the user
/// would: follows the redirects with a cookie jar, reads the login form and fills it with the dev
/// user from `.env`, presses "Allow access" on the consent form, and follows the AS's last redirect
/// to authplane-dev's loopback listener.
const FAKE_BROWSER: &str = r##"#!/usr/bin/env python3
import http.cookiejar, html.parser, sys, urllib.parse, urllib.request

class Forms(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.forms = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": [], "buttons": []})
        elif tag == "input" and self.forms:
            kind = a.get("type", "text")
            if kind == "checkbox" and "checked" not in a:
                return
            if a.get("name"):
                self.forms[-1]["fields"].append([a["name"], a.get("value", "")])
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))

env = dict(l.strip().split("=", 1) for l in open(".env") if "=" in l and not l.startswith("#"))
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
page = opener.open(sys.argv[1])
for _ in range(3):
    url = page.geturl()
    if url.startswith("http://127.0.0.1") and "/callback" in url:
        break
    parser = Forms(); parser.feed(page.read().decode()); form = parser.forms[0]
    fields = form["fields"]
    for f in fields:
        if f[0] == "email": f[1] = env["AUTHPLANE_DEV_USER_EMAIL"]
        if f[0] == "password": f[1] = env["AUTHPLANE_DEV_USER_PASSWORD"]
    fields += [b for b in form["buttons"] if b[1] == "allow"]
    data = urllib.parse.urlencode([tuple(f) for f in fields]).encode()
    page = opener.open(urllib.parse.urljoin(url, form["action"]), data)
"##;

#[test]
fn the_browser_mode_waits_on_the_loopback_listener_for_what_the_browser_does() {
    let (mut stack, _) = stack_with_user();
    let script = stack.path("fake-browser.py");
    std::fs::write(&script, FAKE_BROWSER).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    stack
        .env
        .push(("BROWSER".into(), script.display().to_string()));
    let (code, doc) = verify(&stack, &["--browser"]);
    assert_eq!(code, 0, "{doc:#}");
    let browser = step(&doc, "browser");
    assert_eq!(browser["status"], "pass", "{doc:#}");
    assert!(
        browser["detail"]["opened_with"]
            .as_str()
            .unwrap()
            .contains("fake-browser.py"),
        "{browser:#}"
    );
    let ids: Vec<String> = statuses(&doc).into_iter().map(|(id, _)| id).collect();
    assert!(!ids.iter().any(|id| id == "login"), "{ids:?}");
    for name in [
        "authorization response",
        "code exchange",
        "refresh token replay",
    ] {
        assert_eq!(step(&doc, name)["status"], "pass", "{name}: {doc:#}");
    }
    // The session is the browser's: the PKCE probe is not run with it.
    assert_eq!(
        step(&doc, "probe: authorize without PKCE")["status"],
        "skip"
    );
}

#[test]
fn flags_of_the_other_flow_are_a_usage_error_before_anything_starts() {
    let (stack, _) = stack_with_user();
    for args in [
        &["verify", "--browser"][..],
        &["verify", "--omit", "pkce"],
        &["verify", "--consent", "deny"],
        &["verify", "--flow", "auth-code", "--dpop"],
        &[
            "verify",
            "--flow",
            "auth-code",
            "--redirect-uri",
            "not a url",
        ],
        &[
            "verify",
            "--flow",
            "auth-code",
            "--browser",
            "--consent",
            "deny",
        ],
    ] {
        let (code, doc) = stack.json(args);
        assert_eq!(code, 2, "{args:?}: {doc:#}");
        assert_eq!(doc["ok"], false);
        assert!(stack.pid("authserver").is_none(), "{args:?} started the AS");
    }
    // Headless without the dev user's password (an empty value in the environment beats the one
    // `.env` gets): refused before anything starts.
    let mut bare = Stack::new();
    bare.env
        .push(("AUTHPLANE_DEV_USER_PASSWORD".into(), String::new()));
    let (code, doc) = verify(&bare, &[]);
    assert_eq!(code, 2, "{doc:#}");
    assert_eq!(codes(&doc), ["config_invalid"], "{doc:#}");
    let fix = finding(&doc, "config_invalid")["fix"].as_str().unwrap();
    assert!(fix.contains("AUTHPLANE_DEV_USER_PASSWORD"), "{fix}");
    assert!(bare.pid("authserver").is_none());
    // A configuration error answers with doctor's finding before anything starts.
    stack.set_in_env_file("PORT", "1");
    let (code, doc) = verify(&stack, &[]);
    assert_eq!(code, 2, "{doc:#}");
    assert!(!codes(&doc).is_empty(), "{doc:#}");
    assert!(stack.pid("authserver").is_none());
}
