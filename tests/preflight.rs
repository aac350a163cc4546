//! Check before acting: every verb that starts, registers, mints or waits (`up`, `verify`,
//! `token`) runs the configuration rules doctor reports first, and a configuration error stops it
//! with exit 2 and doctor's finding — before any process, container, listener, pid file or admin
//! API call. Each test here is one mistake a newcomer makes, run on the real binary with
//! `--wait-timeout 600`: a verb that waited for a server instead of checking first would hang the
//! test rather than pass it.
//!
//! Also here: the `.env` the tool writes or completes (complete first file, appended secrets, the
//! user's lines kept), and input errors that say where (line numbers, did-you-mean, a named
//! `--env-file` that does not exist).

mod support_stack;

use std::path::Path;

use serde_json::Value;
use support_stack::{Stack, codes, finding, listening, mode, step, str_of};

/// Asserts the refused run left nothing behind: no pid file, no log, nothing listening on the
/// stack's ports.
fn assert_nothing_started(stack: &Stack) {
    for name in ["authserver", "echo"] {
        assert!(
            !stack.path(&format!(".run/{name}.pid")).exists(),
            "{name}.pid written by a refused run"
        );
        assert!(
            !stack.path(&format!(".run/{name}.log")).exists(),
            "{name}.log written by a refused run"
        );
    }
    for port in [stack.ports.public, stack.ports.admin, stack.ports.echo] {
        assert!(
            !listening(port),
            "something listens on {port} after a refused run"
        );
    }
}

/// Runs `verb --json --wait-timeout 600` (or without the timeout flag for `token`) and asserts
/// the refusal: exit 2, `ok: false`, a failed `configuration` step, and `code` among the findings.
fn assert_refused(stack: &Stack, verb: &str, code: &str) -> Value {
    let args: Vec<&str> = match verb {
        "token" => vec!["token"],
        other => vec![other, "--wait-timeout", "600"],
    };
    let (exit, doc) = stack.json(&args);
    assert_eq!(exit, 2, "{verb} should refuse with exit 2: {doc:#}");
    assert_eq!(doc["ok"], false, "{doc:#}");
    assert_eq!(doc["exit_code"], 2, "{doc:#}");
    let configuration = step(&doc, "configuration");
    assert_eq!(configuration["status"], "fail", "{doc:#}");
    assert_eq!(configuration["id"], "configuration", "{doc:#}");
    assert!(
        codes(&doc).iter().any(|c| c == code),
        "{verb}: expected {code} in {:?}: {doc:#}",
        codes(&doc)
    );
    // The configuration step is the last one: nothing after it ran.
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps.last().unwrap()["id"], "configuration", "{doc:#}");
    assert_nothing_started(stack);
    doc
}

/// doctor --offline reports the same finding (the rules are shared, not copied).
fn assert_doctor_agrees(stack: &Stack, code: &str) {
    let (_, doc) = stack.json(&["doctor", "--offline"]);
    assert!(
        codes(&doc).iter().any(|c| c == code),
        "doctor --offline should report {code}: {doc:#}"
    );
}

#[test]
fn port_not_the_base_url_port_is_refused_before_anything_starts() {
    let stack = Stack::new();
    let other = support_stack::free_port();
    stack.set_in_env_file("PORT", &other.to_string());
    for verb in ["verify", "up", "token"] {
        let doc = assert_refused(&stack, verb, "audience_mismatch");
        let f = finding(&doc, "audience_mismatch");
        assert_eq!(str_of(f, "expected"), other.to_string(), "{f:#}");
        assert_eq!(str_of(f, "actual"), stack.ports.echo.to_string(), "{f:#}");
        assert!(
            str_of(f, "fix").contains("AUTHPLANE_DEV_BEHIND_PROXY"),
            "{f:#}"
        );
    }
    assert_doctor_agrees(&stack, "audience_mismatch");
}

#[test]
fn an_sdk_issuer_on_another_host_is_refused_as_issuer_mismatch() {
    let stack = Stack::new();
    let p = stack.ports.public;
    stack.set_in_env_file("AUTHPLANE_ISSUER", &format!("http://127.0.0.1:{p}"));
    let doc = assert_refused(&stack, "verify", "issuer_mismatch");
    let f = finding(&doc, "issuer_mismatch");
    assert!(str_of(f, "differs").contains("host"), "{f:#}");
    assert_doctor_agrees(&stack, "issuer_mismatch");
}

#[test]
fn a_listen_port_other_than_the_issuer_port_is_refused() {
    let stack = Stack::new();
    let other = support_stack::free_port();
    stack.set_in_env_file("AUTHPLANE_SERVER_ADDRESS", &format!(":{other}"));
    let doc = assert_refused(&stack, "up", "config_invalid");
    let f = finding(&doc, "config_invalid");
    assert!(
        str_of(f, "message").contains(&format!("AUTHPLANE_SERVER_ADDRESS=:{other}")),
        "{f:#}"
    );
    assert!(!listening(other), "the AS was started on {other}");
    assert_doctor_agrees(&stack, "config_invalid");
}

#[test]
fn an_issuer_with_a_trailing_slash_is_refused_as_issuer_mismatch() {
    let stack = Stack::new();
    let p = stack.ports.public;
    stack.set_in_env_file("AUTHPLANE_SERVER_ISSUER", &format!("http://localhost:{p}/"));
    stack.set_in_env_file("AUTHPLANE_ISSUER", &format!("http://localhost:{p}/"));
    let doc = assert_refused(&stack, "verify", "issuer_mismatch");
    assert_eq!(
        str_of(finding(&doc, "issuer_mismatch"), "differs"),
        "trailing slash"
    );
    let (exit, doctor) = stack.json(&["doctor", "--offline"]);
    assert_eq!(exit, 1, "{doctor:#}");
    assert_eq!(finding(&doctor, "issuer_mismatch")["severity"], "error");
}

/// Sets the seed's all-in-containers issuer (`http://authserver:PORT` on both sides), with the
/// CLI reaching the AS on this machine through the public URL and secure cookies on.
fn use_network_issuer(stack: &Stack) -> String {
    let p = stack.ports.public;
    let network = format!("http://authserver:{p}");
    stack.set_in_env_file("AUTHPLANE_SERVER_ISSUER", &network);
    stack.set_in_env_file("AUTHPLANE_ISSUER", &network);
    stack.set_in_env_file("AUTHPLANE_DEV_PUBLIC_URL", &format!("http://localhost:{p}"));
    stack.set_in_env_file("AUTHPLANE_SESSION_SECURE", "true");
    network
}

/// Declares the MCP server a container of the user's own on the AS's network, dialled through a
/// published port (not the echo server), with the AS in Docker.
fn use_containers_topology(stack: &Stack) {
    stack.set_in_env_file("AUTHPLANE_DEV_TOPOLOGY", "containers");
    stack.set_in_env_file("AUTHPLANE_DEV_AS", "docker");
    let own = support_stack::free_port();
    stack.set_in_env_file(
        "AUTHPLANE_DEV_MCP_URL",
        &format!("http://localhost:{own}/mcp"),
    );
}

#[test]
fn a_network_only_issuer_for_a_server_on_this_machine_is_refused_as_issuer_mismatch() {
    let stack = Stack::new();
    let network = use_network_issuer(&stack);
    let local = format!("http://localhost:{}", stack.ports.public);
    for verb in ["verify", "up", "token"] {
        let doc = assert_refused(&stack, verb, "issuer_mismatch");
        let f = finding(&doc, "issuer_mismatch");
        assert!(
            str_of(f, "message").contains("AUTHPLANE_DEV_TOPOLOGY=host"),
            "{f:#}"
        );
        assert_eq!(str_of(f, "expected"), local, "{f:#}");
        assert_eq!(str_of(f, "actual"), network, "{f:#}");
        // Both valid choices are named.
        let fix = str_of(f, "fix");
        assert!(
            fix.contains(&format!("both {local}")) && fix.contains(&format!("both {network}")),
            "{f:#}"
        );
    }
    assert_doctor_agrees(&stack, "issuer_mismatch");
    // The CLI on this machine cannot use the network name either.
    stack.set_in_env_file("AUTHPLANE_DEV_PUBLIC_URL", &network);
    let doc = assert_refused(&stack, "verify", "config_invalid");
    assert!(
        str_of(finding(&doc, "config_invalid"), "fix")
            .contains(&format!("AUTHPLANE_DEV_PUBLIC_URL={local}")),
        "{doc:#}"
    );
}

#[test]
fn localhost_for_a_server_in_a_container_is_refused_as_issuer_mismatch() {
    let stack = Stack::new();
    use_containers_topology(&stack);
    // The stack's issuer is http://localhost:PORT on both sides: right on the host, wrong here.
    let doc = assert_refused(&stack, "verify", "issuer_mismatch");
    let f = finding(&doc, "issuer_mismatch");
    assert!(
        str_of(f, "message").contains("AUTHPLANE_DEV_TOPOLOGY=containers"),
        "{f:#}"
    );
    assert_eq!(
        str_of(f, "expected"),
        format!("http://authserver:{}", stack.ports.public),
        "{f:#}"
    );
    assert_doctor_agrees(&stack, "issuer_mismatch");
    // With the network name on both sides the topology rule is satisfied.
    use_network_issuer(&stack);
    let (_, doctor) = stack.json(&["doctor", "--offline"]);
    assert!(
        !codes(&doctor).iter().any(|c| c == "issuer_mismatch"),
        "{doctor:#}"
    );
    // The echo server authplane-dev starts in its own container cannot check revocation: its
    // introspection client lives in this machine's run directory.
    stack.set_in_env_file(
        "AUTHPLANE_DEV_MCP_URL",
        &format!("http://localhost:{}/mcp", stack.ports.echo),
    );
    stack.set_in_env_file("AUTHPLANE_DEV_ECHO_REVOCATION", "true");
    let doc = assert_refused(&stack, "up", "config_invalid");
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| str_of(f, "fix").contains("unset AUTHPLANE_DEV_ECHO_REVOCATION")),
        "{doc:#}"
    );
}

#[test]
fn a_non_localhost_issuer_without_secure_cookies_is_refused_before_anything_starts() {
    let stack = Stack::new();
    use_network_issuer(&stack);
    use_containers_topology(&stack);
    stack.set_in_env_file("AUTHPLANE_SESSION_SECURE", "false");
    for verb in ["verify", "up", "token"] {
        let doc = assert_refused(&stack, verb, "config_invalid");
        let f = finding(&doc, "config_invalid");
        assert!(
            str_of(f, "fix").contains("AUTHPLANE_SESSION_SECURE=true"),
            "{f:#}"
        );
        assert_eq!(str_of(f, "actual"), "false", "{f:#}");
    }
    assert_doctor_agrees(&stack, "config_invalid");
    // The embedded AS on this machine refuses the same issuer too: the rule holds for it.
    stack.set_in_env_file("AUTHPLANE_DEV_TOPOLOGY", "host");
    stack.set_in_env_file("AUTHPLANE_DEV_AS", "embedded");
    stack.set_in_env_file("AUTHPLANE_SERVER_ISSUER", "https://auth.example");
    stack.set_in_env_file("AUTHPLANE_ISSUER", "https://auth.example");
    let doc = assert_refused(&stack, "up", "config_invalid");
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| str_of(f, "fix").contains("AUTHPLANE_SESSION_SECURE=true")),
        "{doc:#}"
    );
}

#[test]
fn an_unknown_topology_is_a_clear_configuration_error() {
    let stack = Stack::new();
    stack.set_in_env_file("AUTHPLANE_DEV_TOPOLOGY", "kubernetes");
    let out = stack.run(&["doctor", "--offline"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("AUTHPLANE_DEV_TOPOLOGY=\"kubernetes\" is not valid")
            && stderr.contains("or containers"),
        "{stderr}"
    );
}

#[test]
fn a_requested_scope_the_server_does_not_require_is_a_scope_mismatch_not_drift() {
    let stack = Stack::new();
    stack.set_in_env_file("AUTHPLANE_DEV_SCOPE", "mcp:echos");
    let doc = assert_refused(&stack, "verify", "scope_mismatch");
    assert!(
        !codes(&doc).iter().any(|c| c == "resource_drift"),
        "{doc:#}"
    );
    // Following the old advice (--fix) changes nothing either: it is refused the same way.
    let (exit, fixed) = stack.json(&["verify", "--fix", "--wait-timeout", "600"]);
    assert_eq!(exit, 2, "{fixed:#}");
    assert_nothing_started(&stack);
}

#[test]
fn two_components_on_one_port_are_refused() {
    let stack = Stack::new();
    let p = stack.ports.public;
    stack.set_in_env_file("PORT", &p.to_string());
    stack.set_in_env_file("AUTHPLANE_BASE_URL", &format!("http://localhost:{p}"));
    let doc = assert_refused(&stack, "verify", "config_invalid");
    assert!(
        str_of(finding(&doc, "config_invalid"), "message")
            .contains("AUTHPLANE_SERVER_ADDRESS and PORT"),
        "{doc:#}"
    );
}

#[test]
fn the_human_refusal_shows_doctors_finding_block_and_exit_2() {
    let stack = Stack::new();
    let other = support_stack::free_port();
    stack.set_in_env_file("PORT", &other.to_string());
    let out = stack.run(&["verify", "--wait-timeout", "600"]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("✗ configuration"), "{stdout}");
    assert!(stdout.contains("nothing was started"), "{stdout}");
    assert!(stdout.contains("✗ audience_mismatch"), "{stdout}");
    assert!(stdout.contains("how to fix:"), "{stdout}");
    // The summary counts what was shown: one failed step, one error.
    assert!(
        stdout
            .contains("FAILED: 0 passed, 0 warned, 1 failed, 0 skipped; 1 error(s), 0 warning(s)"),
        "{stdout}"
    );
    assert_nothing_started(&stack);
}

#[test]
fn a_hand_written_env_that_only_moves_the_ports_verifies_first_time() {
    let stack = Stack::without_env_file();
    let p = stack.ports;
    let mut stack = stack;
    stack.env = vec![("AUTHPLANE_DEV_AS".to_owned(), "embedded".to_owned())];
    let hand_written = format!(
        "# my ports\nAUTHPLANE_SERVER_ADDRESS=:{}\nAUTHPLANE_ADMIN_ADDRESS=:{}\nPORT={}",
        p.public, p.admin, p.echo
    );
    let env_file = stack.path(".env");
    std::fs::write(&env_file, &hand_written).unwrap();
    let (exit, doc) = stack.json(&["verify"]);
    assert_eq!(exit, 0, "{doc:#}");
    assert_eq!(doc["ok"], true);
    // The secrets were appended under a comment; the user's lines are untouched and first.
    let text = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        text.starts_with(&format!("{hand_written}\n# Added by authplane-dev")),
        "{text}"
    );
    assert!(text.contains("\nAUTHPLANE_ADMIN_API_KEY="), "{text}");
    assert!(text.contains("\nAUTHPLANE_SESSION_SECRET="), "{text}");
    assert_eq!(mode(&env_file), 0o600);
    assert!(
        str_of(step(&doc, ".env"), "summary").contains("appended"),
        "{doc:#}"
    );
    // A second run changes nothing in the file.
    let (exit, again) = stack.json(&["verify"]);
    assert_eq!(exit, 0, "{again:#}");
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), text);
}

#[test]
fn exported_ports_are_written_to_env_so_a_later_shell_finds_the_stack() {
    let mut stack = Stack::without_env_file();
    let (exit, doc) = stack.json(&["up"]);
    assert_eq!(exit, 0, "{doc:#}");
    let text = std::fs::read_to_string(stack.path(".env")).unwrap();
    assert!(text.starts_with("# Written by authplane-dev"), "{text}");
    for expected in [
        format!("AUTHPLANE_SERVER_ADDRESS=:{}", stack.ports.public),
        format!("AUTHPLANE_ADMIN_ADDRESS=:{}", stack.ports.admin),
        format!("PORT={}", stack.ports.echo),
        format!("AUTHPLANE_BASE_URL=http://localhost:{}", stack.ports.echo),
        format!(
            "AUTHPLANE_SERVER_ISSUER=http://localhost:{}",
            stack.ports.public
        ),
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "{expected} missing:\n{text}"
        );
    }
    // A new shell: none of the exports.
    stack.env.clear();
    let (exit, status) = stack.json(&["status"]);
    assert_eq!(exit, 0, "{status:#}");
    assert_eq!(status["ok"], true, "{status:#}");
    let (exit, verify) = stack.json(&["verify"]);
    assert_eq!(exit, 0, "{verify:#}");
}

#[test]
fn a_misspelt_variable_is_a_warning_with_the_closest_name() {
    let stack = Stack::new();
    stack.set_in_env_file("AUTHPLANE_ISUER", "http://localhost:1");
    let (exit, doc) = stack.json(&["doctor", "--offline"]);
    assert_eq!(exit, 0, "a warning never fails a run: {doc:#}");
    let f = finding(&doc, "unknown_variable");
    assert_eq!(f["severity"], "warning");
    assert!(
        str_of(f, "message").contains("did you mean AUTHPLANE_ISSUER?"),
        "{f:#}"
    );
}

#[test]
fn the_test_suites_own_switches_are_not_unknown_variables() {
    // .ci/run exports these and then runs the README's `verify` in the same shell.
    let stack = Stack::new();
    let out = stack
        .command(&["--json", "doctor", "--offline"])
        .env("AUTHPLANE_DEV_REQUIRE_DOCKER", "1")
        .env("AUTHPLANE_DEV_REQUIRE_PYTHON", "1")
        .env("AUTHPLANE_DEV_REQUIRE_BROWSER", "1")
        .env("AUTHPLANE_DEV_REQUIRE_DOKCER", "1")
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let unknown: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "unknown_variable")
        .map(|f| str_of(f, "message").to_owned())
        .collect();
    assert_eq!(unknown.len(), 1, "{unknown:#?}");
    assert!(
        unknown[0].contains("AUTHPLANE_DEV_REQUIRE_DOKCER"),
        "{unknown:#?}"
    );
}

#[test]
fn an_unparsable_env_line_is_named_by_file_and_line_number() {
    let stack = Stack::new();
    let path = stack.path(".env");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("this line is not valid\n");
    let line = text.lines().count();
    std::fs::write(&path, text).unwrap();
    for verb in ["verify", "status", "doctor"] {
        let out = stack.run(&[verb]);
        assert_eq!(out.status.code(), Some(2), "{verb}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The file as the user named it (the default, relative), then the line number.
        assert!(
            stderr.contains(&format!("cannot read .env: line {line} (")),
            "{verb}: {stderr}"
        );
    }
    assert_nothing_started(&stack);
}

#[test]
fn a_named_env_file_that_does_not_exist_is_exit_2_for_every_verb() {
    let stack = Stack::new();
    let missing = Path::new("/nonexistent-dir/.env");
    for verb in ["status", "verify", "doctor", "token", "up", "logs", "clean"] {
        let out = stack.run(&["--env-file", missing.to_str().unwrap(), verb]);
        assert_eq!(out.status.code(), Some(2), "{verb}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("/nonexistent-dir/.env does not exist"),
            "{verb}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{verb}: {:?}", out.stdout);
    }
    assert_nothing_started(&stack);
}

#[test]
fn token_refused_by_the_configuration_prints_nothing_on_stdout() {
    let stack = Stack::new();
    stack.set_in_env_file("AUTHPLANE_DEV_SCOPE", "mcp:echos");
    let out = stack.run(&["token"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("scope_mismatch"));
    assert_nothing_started(&stack);
}

#[test]
fn init_moves_all_three_ports_in_one_command_and_never_overwrites() {
    let mut stack = Stack::without_env_file();
    stack.env = vec![("AUTHPLANE_DEV_AS".to_owned(), "embedded".to_owned())];
    let p = stack.ports;
    let ports = format!("{},{},{}", p.public, p.admin, p.echo);
    let (exit, doc) = stack.json(&["init", "--ports", &ports]);
    assert_eq!(exit, 0, "{doc:#}");
    let env_file = stack.path(".env");
    let text = std::fs::read_to_string(&env_file).unwrap();
    assert_eq!(mode(&env_file), 0o600);
    assert!(
        text.lines()
            .any(|l| l == format!("AUTHPLANE_SERVER_ISSUER=http://localhost:{}", p.public)),
        "{text}"
    );
    let (exit, verify) = stack.json(&["verify"]);
    assert_eq!(exit, 0, "{verify:#}");
    // A second init refuses and leaves the file as it was.
    let out = stack.run(&["init", "--ports", "9100,9101,8180"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never overwrites"));
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), text);
    // Two equal ports are refused before anything is written.
    let fresh = Stack::without_env_file();
    let (exit, doc) = fresh.json(&["init", "--ports", "9100,9100,8180"]);
    assert_eq!(exit, 2, "{doc:#}");
    assert_eq!(codes(&doc), ["config_invalid"]);
    assert!(!fresh.path(".env").exists());
}
