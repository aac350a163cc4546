//! The local stack's interactive OAuth, proven with clients nobody here wrote: the official MCP
//! Python SDK's OAuth client (PyPI `mcp`, `OAuthClientProvider`) goes through the whole flow
//! against `up`'s embedded AS and echo server, with the login and consent pages filled in a real
//! headless Chromium (Debian's `chromium` + `chromium-driver`, driven by Selenium); and the pages
//! themselves are checked in that browser.
//!
//! The Python sides are tests/python/sdk_oauth_flow.py and tests/python/auth_pages_check.py, run
//! from the venv `scripts/python-venv.sh` builds. `.ci/run` installs the browser and sets
//! AUTHPLANE_DEV_REQUIRE_BROWSER=1, so these fail rather than skip there. Each script runs in its
//! own process group (with the browser it starts), killed when the test ends, even on failure.

mod support_stack;

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support_stack::skip::{REQUIRE_BROWSER, REQUIRE_PYTHON, skip};
use support_stack::{Stack, python, str_of, wait_until};

/// How long one script may run: a browser session and a few pages take seconds; this only
/// bounds a hang.
const SCRIPT_DEADLINE: Duration = Duration::from_mins(3);

/// What the browser tests need: the venv's python (with `mcp` and `selenium`), Chromium and its
/// driver.
struct Browser {
    python: PathBuf,
    chromium: PathBuf,
    chromedriver: PathBuf,
}

/// The venv's python (`AUTHPLANE_DEV_PYTHON`, else `target/python-venv/bin/python`) and the
/// browser, when all are there; None after a loud skip.
fn browser() -> Option<Browser> {
    let python = std::env::var_os("AUTHPLANE_DEV_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python-venv/bin/python"),
        PathBuf::from,
    );
    let usable = Command::new(&python)
        .args(["-c", "import mcp.client.auth, selenium"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        let reason = format!(
            "no Python with mcp and selenium at {} (run scripts/python-venv.sh)",
            python.display()
        );
        // Either switch forbids this skip: the venv is the Python tests' and the browser tests'.
        let python_required = std::env::var(REQUIRE_PYTHON).as_deref() == Ok("1");
        skip(
            if python_required {
                REQUIRE_PYTHON
            } else {
                REQUIRE_BROWSER
            },
            &reason,
        );
        return None;
    }
    let (Some(chromium), Some(chromedriver)) = (
        on_path(&["chromium", "chromium-browser"]),
        on_path(&["chromedriver"]),
    ) else {
        skip(
            REQUIRE_BROWSER,
            "no chromium and chromedriver on PATH (Debian: apt-get install chromium chromium-driver)",
        );
        return None;
    };
    Some(Browser {
        python,
        chromium,
        chromedriver,
    })
}

/// The first of `names` found as an executable file on PATH.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A script's process group (python, chromedriver, Chromium): SIGKILLed on drop, so a failed or
/// hung test leaves no browser behind.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // ESRCH when everything already exited: nothing to do.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.0.wait();
    }
}

/// Runs tests/python/`script` with `config` as JSON on stdin and returns the JSON object it
/// prints; panics with its stderr when it fails, prints something else or runs too long.
fn run_script(browser: &Browser, stack: &Stack, script: &str, mut config: Value) -> Value {
    config["chromium"] = json!(browser.chromium);
    config["chromedriver"] = json!(browser.chromedriver);
    config["profile_dir"] = json!(stack.path(&format!("{script}.profile")));
    let out_path = stack.path(&format!("{script}.out"));
    let log_path = stack.path(&format!("{script}.log"));
    let mut child = Group(
        Command::new(&browser.python)
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/python")
                    .join(script),
            )
            .current_dir(stack.dir.path())
            .env("HOME", stack.dir.path())
            .env("PYTHONUNBUFFERED", "1")
            // No __pycache__ beside the scripts in the source tree.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    {
        let mut stdin = child.0.stdin.take().unwrap();
        stdin.write_all(config.to_string().as_bytes()).unwrap();
    }
    let ended = wait_until(SCRIPT_DEADLINE, || child.0.try_wait().unwrap().is_some());
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        ended,
        "{script} still running after {SCRIPT_DEADLINE:?}:\n{}",
        log()
    );
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{script} failed ({status}):\n{}", log());
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{script}: stdout is not one JSON object ({e}):\n{stdout}\n{}",
            log()
        )
    })
}

/// The value of `name` in the stack's `.env` (`up` writes the dev user's credentials there).
fn env_file_value(stack: &Stack, name: &str) -> String {
    let text = std::fs::read_to_string(stack.path(".env")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in .env:\n{text}"))
        .trim_matches('"')
        .to_owned()
}

/// GET `path` on the stack's admin listener with the admin key of its `.env`: (status, body).
fn admin_get(stack: &Stack, path: &str) -> (u16, Value) {
    let key = env_file_value(stack, "AUTHPLANE_ADMIN_API_KEY");
    let url = format!("http://localhost:{}{path}", stack.ports.admin);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let reply = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap_or(Value::Null))
    })
}

/// A stack brought `up` (embedded AS + echo server), and the config every script needs.
fn stack_up() -> (Stack, Value) {
    let stack = Stack::new();
    // User access tokens that expire two seconds after they are issued: the SDK refreshes when
    // its token's expires_in has passed, so the refresh is the real one, not a forced one.
    stack.set_in_env_file("AUTHPLANE_DCR_DEFAULT_TOKEN_EXPIRY", "2s");
    // `up` creates the dev user and appends its credentials to .env: the browser logs in
    // with what a newcomer finds there.
    let (code, doc) = stack.json(&["up"]);
    assert_eq!(code, 0, "{doc:#}");
    // The README's path: `verify` registers the echo server's resource on the AS (which `up`
    // alone does not), so the authorization request's `resource` is one the AS knows.
    let (code, doc) = stack.json(&["verify", "--no-probes"]);
    assert_eq!(code, 0, "{doc:#}");
    let config = json!({
        "issuer": format!("http://localhost:{}", stack.ports.public),
        "mcp_url": format!("http://localhost:{}/mcp", stack.ports.echo),
        "scope": "mcp:echo",
        "email": env_file_value(&stack, "AUTHPLANE_DEV_USER_EMAIL"),
        "password": env_file_value(&stack, "AUTHPLANE_DEV_USER_PASSWORD"),
    });
    (stack, config)
}

/// The trail entries (the SDK's HTTP exchanges, in order) as `METHOD path status [grant]`.
fn trail(doc: &Value) -> Vec<String> {
    doc["trail"]
        .as_array()
        .unwrap_or_else(|| panic!("no trail in {doc:#}"))
        .iter()
        .map(|e| {
            let url = str_of(e, "url");
            let path = url.find("://").map_or(url, |i| {
                let rest = &url[i + 3..];
                rest.find('/').map_or("/", |j| &rest[j..])
            });
            format!(
                "{} {} {} {}",
                str_of(e, "method"),
                path,
                e["status"],
                str_of(e, "grant_type")
            )
            .trim_end()
            .to_owned()
        })
        .collect()
}

/// The index of the first trail entry starting with `prefix`, after `from`; panics naming the
/// trail when there is none.
fn position(trail: &[String], from: usize, prefix: &str) -> usize {
    let found = trail[from..].iter().position(|e| e.starts_with(prefix));
    from + found
        .unwrap_or_else(|| panic!("no {prefix:?} after entry {from} in the trail:\n{trail:#?}"))
}

#[test]
fn the_official_mcp_python_sdk_registers_logs_in_calls_the_tool_and_refreshes() {
    let Some(browser) = browser() else { return };
    let (stack, config) = stack_up();
    let doc = run_script(&browser, &stack, "sdk_oauth_flow.py", config.clone());
    assert_whole_flow(&stack, &config, &doc);
}

#[test]
fn the_official_mcp_python_sdk_reaches_a_fastmcp_server_behind_the_embedded_as() {
    // Client and server both written elsewhere: the seed's kind of server (FastMCP with
    // Authplane's adapter, which verifies the user tokens with the Python SDK) in front, the
    // embedded AS behind, the MCP SDK's OAuth client finding its way through.
    let Some(browser) = browser() else { return };
    let (stack, mut config) = stack_up();
    let server = python::start(&browser.python, "seed_server.py", &stack);
    // As for the echo server, verify registers the server's resource on the AS.
    let (code, doc) = stack.json(&["verify", "--mcp-url", &server.url, "--no-probes"]);
    assert_eq!(code, 0, "{doc:#}");
    config["mcp_url"] = json!(server.url);
    let doc = run_script(&browser, &stack, "sdk_oauth_flow.py", config.clone());
    assert_whole_flow(&stack, &config, &doc);
}

/// Everything sdk_oauth_flow.py reports about one run against `config["mcp_url"]`, checked: the
/// SDK's HTTP exchanges in order, one trip through the browser, the registered client on the
/// admin API, the tool's answers and the tokens (rotated, one user, client and audience).
fn assert_whole_flow(stack: &Stack, config: &Value, doc: &Value) {
    let trail = trail(doc);

    // The spec's discovery and registration, in order, by the SDK itself: the unauthenticated
    // request's 401, Protected Resource Metadata, AS metadata, dynamic registration, then the
    // code exchange and the same request again with the token.
    let unauthorized = position(&trail, 0, "POST /mcp 401");
    let prm = position(
        &trail,
        unauthorized,
        "GET /.well-known/oauth-protected-resource",
    );
    assert!(trail[prm].ends_with(" 200"), "{trail:#?}");
    let asm = position(&trail, prm, "GET /.well-known/oauth-authorization-server");
    assert!(trail[asm].ends_with(" 200"), "{trail:#?}");
    let registered = position(&trail, asm, "POST /oauth/register 201");
    let exchanged = position(
        &trail,
        registered,
        "POST /oauth/token 200 authorization_code",
    );
    let retried = position(&trail, exchanged, "POST /mcp 200");
    let refreshed = position(&trail, retried, "POST /oauth/token 200 refresh_token");
    position(&trail, refreshed, "POST /mcp 200");
    // One login and consent: the refresh needed no second trip through the browser, and no MCP
    // request after the first was refused.
    assert_eq!(doc["authorizations"], 1, "{doc:#}");
    assert_eq!(
        trail.iter().filter(|e| e.contains(" 401")).count(),
        1,
        "{trail:#?}"
    );
    // The authorization request carried what the 2025-06-18 spec requires of it: PKCE S256 and
    // the echo server's resource, taken from its Protected Resource Metadata.
    let request = doc["authorization_requests"][0]
        .as_str()
        .unwrap_or_default();
    let resource = config["mcp_url"]
        .as_str()
        .unwrap()
        .replace(':', "%3A")
        .replace('/', "%2F");
    for param in [
        "code_challenge_method=S256".to_owned(),
        format!("resource={resource}&"),
    ] {
        assert!(request.contains(&param), "{param} missing from {request}");
    }
    assert_eq!(
        doc["authorization_responses"][0],
        json!(["code", "iss", "state"]),
        "{doc:#}"
    );

    // The echo tool answered both calls, before and after the refresh.
    assert_eq!(
        doc["echoed"],
        json!(["first call", "after refresh"]),
        "{doc:#}"
    );

    // The AS knows the client the SDK registered: a public client for the loopback callback.
    let client = &doc["client"];
    let client_id = str_of(client, "client_id");
    assert!(!client_id.is_empty(), "{doc:#}");
    assert_eq!(client["token_endpoint_auth_method"], "none", "{doc:#}");
    assert_eq!(client["client_secret_issued"], false, "{doc:#}");
    let (status, stored) = admin_get(stack, &format!("/admin/clients/{client_id}"));
    assert_eq!(status, 200, "{stored:#}");
    assert_eq!(stored["name"], client["client_name"], "{stored:#}");
    assert_eq!(
        stored["redirect_uris"],
        json!([client["redirect_uri"]]),
        "{stored:#}"
    );

    // A token set from the code exchange and one from each refresh (one, unless a slow machine
    // let the two-second token expire before the first call too): every token new, the same
    // user, client and audience throughout.
    let tokens = doc["tokens"].as_array().unwrap();
    assert!(tokens.len() >= 2, "{doc:#}");
    let before = &tokens[0];
    for kind in ["access", "refresh"] {
        let mut seen: Vec<&str> = tokens.iter().map(|t| str_of(t, kind)).collect();
        assert!(
            seen.iter().all(|t| !t.is_empty()),
            "a {kind} token missing: {doc:#}"
        );
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), tokens.len(), "a {kind} token reused: {doc:#}");
    }
    // The refresh came from the SDK noticing its token's expires_in had passed.
    assert_eq!(before["expires_in"], 2, "{doc:#}");
    assert!(str_of(doc, "refresh").starts_with("waited out"), "{doc:#}");
    for t in tokens {
        let claims = &t["claims"];
        assert_eq!(claims["client_id"], client_id, "{t:#}");
        assert_eq!(claims["aud"], json!([config["mcp_url"]]), "{t:#}");
        assert_eq!(claims["iss"], config["issuer"], "{t:#}");
        assert_eq!(claims["scope"], "mcp:echo", "{t:#}");
        assert_eq!(claims["sub"], before["claims"]["sub"], "{t:#}");
    }
    // `sub` is the dev user the browser logged in as.
    let (status, users) = admin_get(stack, "/admin/users");
    assert_eq!(status, 200, "{users:#}");
    let dev = users
        .as_array()
        .unwrap_or_else(|| panic!("{users:#}"))
        .iter()
        .find(|u| u["email"] == config["email"])
        .unwrap_or_else(|| panic!("no dev user in {users:#}"));
    assert_eq!(before["claims"]["sub"], dev["id"], "{users:#}");
}

#[test]
fn the_login_and_consent_pages_work_in_a_browser_and_refuse_forged_posts() {
    let Some(browser) = browser() else { return };
    let (stack, mut config) = stack_up();
    // A person changing the pages can look at them: screenshots go where this names (kept
    // out of the repository).
    if let Some(dir) = std::env::var_os("AUTHPLANE_DEV_TEST_SCREENSHOTS") {
        config["screenshots"] = json!(std::path::absolute(dir).unwrap());
    }
    let doc = run_script(&browser, &stack, "auth_pages_check.py", config.clone());

    // Login: a labelled email and password form, re-shown with an error (and no session) when
    // the CSRF token is missing or forged or the password is wrong.
    let login = &doc["login"];
    assert!(!str_of(&login["labels"], "email").is_empty(), "{doc:#}");
    assert!(!str_of(&login["labels"], "password").is_empty(), "{doc:#}");
    for how in [
        "login without csrf_token",
        "login with a forged csrf_token",
        "login with a wrong password",
    ] {
        let status = doc[how]["status"].as_u64().unwrap_or_default();
        assert!(status == 403 || status == 422, "{how}: {doc:#}");
        assert!(!str_of(&doc[how], "error").is_empty(), "{how}: {doc:#}");
    }
    // Consent: approve without the CSRF token or with a forged one is refused; deny and
    // approve reach the client.
    for how in [
        "consent without csrf_token",
        "consent with a forged csrf_token",
    ] {
        let status = doc[how]["status"].as_u64().unwrap_or_default();
        assert!((400..500).contains(&status), "{how}: {doc:#}");
    }
    let deny = doc["deny"].as_array().unwrap();
    for param in ["error", "iss", "state"] {
        assert!(deny.contains(&json!(param)), "{param}: {doc:#}");
    }
    assert!(!deny.contains(&json!("code")), "{doc:#}");
    assert_eq!(doc["approve"], json!(["code", "iss", "state"]), "{doc:#}");
    // The approved code bought a token.
    let token = doc["token"].as_array().unwrap();
    assert!(token.contains(&json!("access_token")), "{doc:#}");
    // The registration the check made is on the AS.
    let (status, stored) = admin_get(
        &stack,
        &format!("/admin/clients/{}", str_of(&doc, "client_id")),
    );
    assert_eq!(status, 200, "{stored:#}");
}
