//! Security guarantees, checked on the real binary and its real servers (issue #7):
//!
//! - `.env` and every state file under the run directory (pid files, logs, `client.json`, the
//!   embedded AS's `state.json` and `keys/*`) are mode 0600 and every directory there 0700 — also
//!   when the user created the run directory or a log file with a looser mode beforehand;
//! - no secret (admin key, session secret, client secret) and no full access token appears in the
//!   output of any verb, human or `--json`, in the servers' log files or on their command lines —
//!   except the token `token` prints by design; `--show-secrets` does reveal what was redacted;
//! - the embedded servers listen on loopback only (read from `/proc/net/tcp` and `tcp6`);
//! - the admin API accepts exactly `Bearer <key>`: a key differing in one character, a prefix,
//!   the key plus a character, and every other scheme or casing are refused. (The 401 body and
//!   challenge shapes are asserted in tests/authserver.rs; the in-process fuzz test
//!   `authserver::fuzz::admin_key_check_accepts_only_the_exact_bearer_key` mutates the key at
//!   random.)

mod support_stack;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use serde_json::Value;
use support_stack::leaks::{Seen, assert_nothing_leaks, both_modes, jwts, secrets};
use support_stack::{Stack, mode};

/// Every directory under `dir` (and `dir` itself) is 0700 and every file 0600.
fn assert_private_tree(dir: &Path) {
    let meta = std::fs::symlink_metadata(dir).unwrap();
    assert!(meta.is_dir(), "{}", dir.display());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o700,
        "{} is not 0700",
        dir.display()
    );
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            assert_private_tree(&path);
        } else {
            assert_eq!(
                meta.permissions().mode() & 0o777,
                0o600,
                "{} is not 0600",
                path.display()
            );
        }
    }
}

/// The servers' log files and command lines, as further outputs to check.
fn server_outputs(stack: &Stack, seen: &mut Vec<Seen>) {
    for name in ["authserver", "echo"] {
        let log = std::fs::read_to_string(stack.path(&format!(".run/{name}.log"))).unwrap();
        assert!(!log.is_empty(), "{name}.log is empty");
        seen.push(Seen {
            what: format!("{name}.log"),
            text: log,
        });
        // Command lines are readable by every user of the machine (`ps`).
        let pid = stack.pid(name).unwrap();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        seen.push(Seen {
            what: format!("{name} command line"),
            text: String::from_utf8_lossy(&cmdline).replace('\0', " "),
        });
    }
}

#[test]
fn state_files_are_private_and_no_secret_reaches_any_output() {
    // No `.env`: `up` writes it (ports come through the process environment).
    let stack = Stack::without_env_file();
    // A run directory and a log file the user made with loose modes are tightened.
    std::fs::create_dir(stack.path(".run")).unwrap();
    std::fs::set_permissions(stack.path(".run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(stack.path(".run/echo.log"), "an old line\n").unwrap();
    std::fs::set_permissions(
        stack.path(".run/echo.log"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let mut seen = Vec::new();
    let out = stack.run(&["up", "--wait-timeout", "60"]);
    assert!(out.status.success(), "{out:?}");
    seen.push(Seen {
        what: "up".into(),
        text: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    });
    assert_eq!(mode(&stack.path(".env")), 0o600);
    assert_private_tree(&stack.path(".run"));

    both_modes(&stack, &["up"], 0, &mut seen);
    both_modes(&stack, &["verify", "--wait-timeout", "60"], 0, &mut seen);
    assert_private_tree(&stack.path(".run"));
    assert!(stack.path(".run/client.json").is_file());
    assert!(stack.path(".run/authserver/state.json").is_file());
    assert!(stack.path(".run/authserver/keys/current.pem").is_file());
    both_modes(&stack, &["doctor"], 0, &mut seen);
    both_modes(&stack, &["status"], 0, &mut seen);
    both_modes(&stack, &["logs"], 0, &mut seen);

    // `token` prints the token (and nothing else) on stdout, by design.
    let out = stack.run(&["token"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim_end().to_owned();
    assert_eq!(jwts(&stdout), std::slice::from_ref(&token));
    seen.push(Seen {
        what: "token stderr".into(),
        text: String::from_utf8_lossy(&out.stderr).into_owned(),
    });
    // Under --json only the `access_token` member holds it.
    let (code, mut doc) = stack.json(&["token"]);
    assert_eq!(code, 0, "{doc:#}");
    let json_token = doc.as_object_mut().unwrap().remove("access_token").unwrap();
    assert_eq!(jwts(json_token.as_str().unwrap()).len(), 1);
    seen.push(Seen {
        what: "token --json without access_token".into(),
        text: doc.to_string(),
    });

    // inspect decodes the token it is given but does not echo it back.
    both_modes(&stack, &["inspect", &token], 0, &mut seen);

    // A failing MCP step records its exchange, Authorization header included: redacted...
    // (a tool call the echo server refuses: `text` must be a string)
    let failing = [
        "verify",
        "--no-probes",
        "--tool",
        "echo",
        "--args",
        r#"{"text":5}"#,
    ];
    both_modes(&stack, &failing, 1, &mut seen);
    let (_, doc) = stack.json(&failing);
    assert!(doc.to_string().contains("Bearer [redacted]"), "{doc:#}");
    // ... and shown in full under --show-secrets, as documented.
    let mut shown = vec!["--show-secrets"];
    shown.extend_from_slice(&failing);
    let (code, doc) = stack.json(&shown);
    assert_eq!(code, 1, "{doc:#}");
    let revealed = jwts(&doc.to_string());
    assert!(
        !revealed.is_empty(),
        "--show-secrets showed no token: {doc:#}"
    );
    assert!(!doc.to_string().contains("[redacted]"), "{doc:#}");

    // Credentials sent the wrong way to the echo server are refused without being repeated in
    // its log or its challenge: a bare token, the client secret under another scheme.
    let client_secret = secrets(&stack)
        .into_iter()
        .find(|(name, _)| name == "client_secret")
        .unwrap()
        .1;
    let mcp = format!("http://localhost:{}/mcp", stack.ports.echo);
    for authorization in [
        token.clone(),
        format!("{token} x"),
        format!("Basic {client_secret}"),
        client_secret.clone(),
    ] {
        let (status, challenge) = post(&mcp, &authorization);
        assert_eq!(status, 401);
        seen.push(Seen {
            what: "echo challenge".into(),
            text: challenge,
        });
    }

    server_outputs(&stack, &mut seen);
    assert_private_tree(&stack.path(".run"));
    assert_nothing_leaks(&stack, &seen);

    // clean says nothing secret either, and leaves the kept state private.
    let mut seen = Vec::new();
    both_modes(&stack, &["clean"], 0, &mut seen);
    assert_nothing_leaks(&stack, &seen);
    assert_private_tree(&stack.path(".run"));
    assert_eq!(mode(&stack.path(".env")), 0o600);
}

/// POSTs an empty MCP request with `authorization`; returns the status and `WWW-Authenticate`.
fn post(url: &str, authorization: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(url)
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body("{}")
            .send()
            .await
            .unwrap();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        (response.status().as_u16(), challenge)
    })
}

/// `(local IPv4/IPv6 address in /proc's hex form, port)` of every listening TCP socket.
fn listening_sockets() -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // fields[1] = local "ADDR:PORT", fields[3] = state (0A = LISTEN).
            if fields.len() < 4 || fields[3] != "0A" {
                continue;
            }
            let (addr, port) = fields[1].split_once(':').unwrap();
            out.push((addr.to_owned(), u16::from_str_radix(port, 16).unwrap()));
        }
    }
    out
}

#[test]
fn embedded_servers_listen_on_loopback_only() {
    let stack = Stack::new();
    let out = stack.run(&["up", "--wait-timeout", "60"]);
    assert!(out.status.success(), "{out:?}");
    let sockets = listening_sockets();
    // 127.0.0.1 and ::1 as /proc writes them (host byte order per 32-bit word).
    let loopback = ["0100007F", "00000000000000000000000001000000"];
    for port in [stack.ports.public, stack.ports.admin, stack.ports.echo] {
        let bound: Vec<&String> = sockets
            .iter()
            .filter(|(_, p)| *p == port)
            .map(|(a, _)| a)
            .collect();
        assert!(!bound.is_empty(), "nothing listens on {port}: {sockets:?}");
        for addr in bound {
            assert!(
                loopback.contains(&addr.as_str()),
                "port {port} is bound to {addr}, not loopback"
            );
        }
    }
}

#[test]
fn the_admin_api_accepts_exactly_the_bearer_key() {
    let stack = Stack::new();
    let out = stack.run(&["up", "--wait-timeout", "60"]);
    assert!(out.status.success(), "{out:?}");
    let key = secrets(&stack)
        .into_iter()
        .find(|(k, _)| k == "AUTHPLANE_ADMIN_API_KEY")
        .unwrap()
        .1;
    let url = format!("http://127.0.0.1:{}/admin/auth/verify", stack.ports.admin);
    let chars: Vec<char> = key.chars().collect();
    let flip = |i: usize| {
        let mut k = chars.clone();
        k[i] = if k[i] == 'x' { 'y' } else { 'x' };
        k.into_iter().collect::<String>()
    };
    let middle = chars.len() / 2;
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{key}"))
    };
    // (Authorization header, expected status, expected error_description)
    let cases: Vec<(Option<String>, u16, &str)> = vec![
        (Some(format!("Bearer {key}")), 200, ""),
        (Some(format!("Bearer {}", flip(0))), 401, "invalid API key"),
        (
            Some(format!("Bearer {}", flip(middle))),
            401,
            "invalid API key",
        ),
        (
            Some(format!("Bearer {}", flip(chars.len() - 1))),
            401,
            "invalid API key",
        ),
        (
            Some(format!("Bearer {}", &key[..key.len() - 1])),
            401,
            "invalid API key",
        ),
        (
            Some(format!("Bearer {}", &key[..1])),
            401,
            "invalid API key",
        ),
        (Some(format!("Bearer {key}x")), 401, "invalid API key"),
        (Some(format!("Bearer  {key}")), 401, "invalid API key"),
        (Some(key.clone()), 401, "missing API key"),
        (Some(format!("bearer {key}")), 401, "missing API key"),
        (Some(format!("BEARER {key}")), 401, "missing API key"),
        (Some(format!("Basic {key}")), 401, "missing API key"),
        (Some(format!("Basic {basic}")), 401, "missing API key"),
        (Some(format!("Token {key}")), 401, "missing API key"),
        (Some("Bearer ".to_owned()), 401, "missing API key"),
        (None, 401, "missing API key"),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        for (auth, status, description) in cases {
            let mut request = http.post(&url);
            if let Some(a) = &auth {
                request = request.header("authorization", a);
            }
            let response = request.send().await.unwrap();
            let got = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            // Never the key itself in the label of a failure: only its shape.
            let label = auth.as_deref().map(|a| a.replace(&key, "<key>"));
            assert_eq!(got, status, "{label:?}: {body}");
            if status == 401 {
                assert_eq!(body["error"], "unauthorized", "{label:?}: {body}");
                assert_eq!(body["error_description"], description, "{label:?}: {body}");
            } else {
                assert_eq!(body["valid"], true, "{body}");
            }
        }
        // The key in the query string is not a credential.
        let response = http
            .post(format!("{url}?api_key={key}&access_token={key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
    });
}
