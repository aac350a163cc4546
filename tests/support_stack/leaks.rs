//! Looking for secrets in what the binary printed: the secrets a stack holds, full JWTs in text,
//! and a runner that records a verb's output in human and `--json` mode (tests/security.rs for the
//! embedded backend, tests/docker.rs for the container).

use serde_json::Value;

use super::Stack;

/// The secrets a stack holds: the two from the `.env` `up` wrote and, once `verify` or `token`
/// ran, the client secret from `client.json`.
pub fn secrets(stack: &Stack) -> Vec<(String, String)> {
    let env = std::fs::read_to_string(stack.path(".env")).unwrap();
    let mut out: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| *k == "AUTHPLANE_ADMIN_API_KEY" || *k == "AUTHPLANE_SESSION_SECRET")
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(out.len(), 2, "{env}");
    if let Ok(text) = std::fs::read_to_string(stack.path(".run/client.json")) {
        let client: Value = serde_json::from_str(&text).unwrap();
        out.push((
            "client_secret".to_owned(),
            client["client_secret"].as_str().unwrap().to_owned(),
        ));
    }
    for (name, value) in &out {
        assert!(value.len() >= 16, "{name} is too short to search for");
    }
    out
}

/// Every full JWT (three non-empty base64url parts, header and claims JSON) in `text`.
pub fn jwts(text: &str) -> Vec<String> {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("eyJ") {
        let candidate: String = rest[start..]
            .chars()
            .take_while(|c| is_b64(*c) || *c == '.')
            .collect();
        let parts: Vec<&str> = candidate.split('.').collect();
        if parts.len() >= 3
            && parts[..3].iter().all(|p| !p.is_empty())
            && parts[1].starts_with("eyJ")
        {
            found.push(parts[..3].join("."));
        }
        rest = &rest[start + candidate.len().max(3)..];
    }
    found
}

/// One output to check: where it came from and what it said.
pub struct Seen {
    pub what: String,
    pub text: String,
}

/// Runs `args` in human mode and under `--json`; both must succeed with `want` (an exit code).
pub fn both_modes(stack: &Stack, args: &[&str], want: i32, seen: &mut Vec<Seen>) {
    let out = stack.run(args);
    assert_eq!(out.status.code(), Some(want), "{args:?}: {out:?}");
    seen.push(Seen {
        what: format!("{args:?} stdout+stderr"),
        text: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    });
    let mut json = vec!["--json"];
    json.extend_from_slice(args);
    let out = stack.run(&json);
    assert_eq!(out.status.code(), Some(want), "{json:?}: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let _: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{json:?}: stdout is not one JSON object ({e}): {stdout}"));
    seen.push(Seen {
        what: format!("{json:?} stdout+stderr"),
        text: stdout + &String::from_utf8_lossy(&out.stderr),
    });
}

/// Asserts that no secret and no full token is in any of `seen`.
pub fn assert_nothing_leaks(stack: &Stack, seen: &[Seen]) {
    let secrets = secrets(stack);
    for s in seen {
        for (name, value) in &secrets {
            assert!(
                !s.text.contains(value.as_str()),
                "{name} leaked in {}:\n{}",
                s.what,
                s.text
            );
        }
        let tokens = jwts(&s.text);
        assert!(
            tokens.is_empty(),
            "a full token leaked in {}:\n{}",
            s.what,
            s.text
        );
    }
}
