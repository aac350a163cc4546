//! `verify --dpop` against the real binary and a real embedded stack (AS + echo server with
//! authplane-sdk's inbound DPoP) on free ports: the bound token, a fresh proof per MCP request in
//! both protocol eras, the two DPoP probes refused for real by the echo server, and
//! `dpop_not_bound` produced by a real AS with DPoP off. (`dpop_not_enforced`, a server that
//! ignores the binding, needs a server no one here ships: src/steps/dpop.rs builds one.)

mod support_stack;

use serde_json::Value;
use support_stack::{Stack, codes, finding, step};

fn verify(stack: &Stack, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["verify", "--wait-timeout", "60"];
    args.extend_from_slice(extra);
    stack.json(&args)
}

/// The request headers a step's exchange recorded, as `name: value` lines.
fn sent_headers(step: &Value) -> String {
    step["detail"]["exchange"]["request_headers"]
        .as_array()
        .map(|hs| {
            hs.iter()
                .map(|h| format!("{}: {}", h[0].as_str().unwrap(), h[1].as_str().unwrap()))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[test]
fn verify_dpop_passes_end_to_end_and_the_echo_server_refuses_both_probes() {
    let stack = Stack::new();
    let (code, doc) = verify(&stack, &["--dpop"]);
    assert_eq!(code, 0, "{doc:#}");
    for name in [
        "mint token",
        "check token",
        "DPoP binding",
        "MCP initialize",
        "notifications/initialized",
        "tools/call echo",
        "probe: no token",
        "probe: token for another resource",
        "probe: token without the required scope",
        "probe: DPoP-bound token sent as Bearer",
        "probe: DPoP proof for another URL",
    ] {
        assert_eq!(step(&doc, name)["status"], "pass", "{name}: {doc:#}");
    }
    assert!(
        step(&doc, "mint token")["summary"]
            .as_str()
            .unwrap()
            .starts_with("DPoP token"),
        "{doc:#}"
    );
    // The echo server (inbound DPoP on) takes a bound token only as `DPoP` with a valid, unspent
    // proof for this request, so the round trip passing means every request carried a fresh one.
    // The probes were refused by the server's DPoP checks, not for some other reason.
    let as_bearer = step(&doc, "probe: DPoP-bound token sent as Bearer");
    assert!(
        sent_headers(as_bearer).contains("Authorization: Bearer "),
        "{as_bearer:#}"
    );
    let challenge = as_bearer["detail"]["exchange"]["response_headers"].to_string();
    assert!(challenge.contains("DPoP"), "{challenge}");
    let other = step(&doc, "probe: DPoP proof for another URL");
    let sent = sent_headers(other);
    assert!(sent.contains("Authorization: DPoP "), "{sent}");
    assert!(sent.contains("/authplane-dev-other-htu>"), "{sent}");
    let challenge = other["detail"]["exchange"]["response_headers"].to_string();
    assert!(challenge.contains("htu mismatch"), "{challenge}");

    // The stateless era: one request, a fresh proof.
    let (code, doc) = verify(&stack, &["--dpop", "--protocol", "stateless"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        step(&doc, "probe: DPoP proof for another URL")["status"],
        "pass"
    );

    // Without --dpop the echo server is back to Bearer only, and verify passes as before.
    let (code, doc) = verify(&stack, &["--no-probes"]);
    assert_eq!(code, 0, "{doc:#}");
    let names: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"DPoP binding"), "{names:?}");
}

#[test]
fn an_as_that_ignores_the_proof_is_dpop_not_bound_and_a_dpop_only_echo_refuses_bearer() {
    let stack = Stack::new();
    stack.set_in_env_file("AUTHPLANE_DPOP_ENABLED", "false");
    let (code, doc) = verify(&stack, &["--dpop"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(codes(&doc), ["dpop_not_bound"], "{doc:#}");
    let f = finding(&doc, "dpop_not_bound");
    assert!(
        f["actual"]
            .as_str()
            .unwrap()
            .starts_with("token_type Bearer,"),
        "{f:#}"
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("AUTHPLANE_DPOP_ENABLED")
    );
    assert_eq!(step(&doc, "DPoP binding")["status"], "fail");
    assert_eq!(step(&doc, "MCP initialize")["status"], "skip", "{doc:#}");

    // DPoP back on, and an echo server that takes DPoP-bound tokens only: a Bearer token is
    // refused (the SDK's Mode 1), a DPoP-bound one with its proofs passes.
    stack.set_in_env_file("AUTHPLANE_DPOP_ENABLED", "true");
    stack.set_in_env_file("AUTHPLANE_DEV_ECHO_DPOP", "required");
    let (code, doc) = verify(&stack, &["--no-probes"]);
    assert_eq!(code, 1, "{doc:#}");
    assert!(
        codes(&doc).contains(&"token_rejected".to_owned()),
        "{doc:#}"
    );
    let (code, doc) = verify(&stack, &["--dpop"]);
    assert_eq!(code, 0, "{doc:#}");

    // A value the setting does not know stops before anything happens.
    stack.set_in_env_file("AUTHPLANE_DEV_ECHO_DPOP", "sometimes");
    let (code, doc) = verify(&stack, &[]);
    assert_eq!(code, 2, "{doc:#}");
    assert!(
        doc.to_string().contains("AUTHPLANE_DEV_ECHO_DPOP"),
        "{doc:#}"
    );
}
