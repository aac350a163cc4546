//! `verify --mcp-url` against MCP servers nobody here wrote: the seed's kind of server, FastMCP
//! with Authplane's FastMCP adapter (PyPI `fastmcp`, `authplane-fastmcp`), behind the embedded AS.
//! The servers are tests/python/*.py, run from the venv `scripts/python-venv.sh` builds (`.ci/run`
//! builds it and sets AUTHPLANE_DEV_REQUIRE_PYTHON=1, so these fail rather than skip there). Each
//! server is started on a free port by the test and killed when it ends, even on failure.

mod support_stack;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support_stack::python::start;
use support_stack::skip::{REQUIRE_PYTHON, skip};
use support_stack::{Stack, codes, finding, step, str_of};

/// The venv's python (`AUTHPLANE_DEV_PYTHON`, else `target/python-venv/bin/python`), when it has
/// both packages; None after a loud skip.
fn python() -> Option<PathBuf> {
    let path = std::env::var_os("AUTHPLANE_DEV_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python-venv/bin/python"),
        PathBuf::from,
    );
    let usable = Command::new(&path)
        .args(["-c", "import fastmcp, authplane_fastmcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if usable {
        Some(path)
    } else {
        skip(
            REQUIRE_PYTHON,
            &format!(
                "no Python with fastmcp and authplane-fastmcp at {} (run scripts/python-venv.sh)",
                path.display()
            ),
        );
        None
    }
}

#[test]
fn the_seed_example_passes_with_scope_not_enforced() {
    let Some(python) = python() else { return };
    let stack = Stack::new();
    let server = start(&python, "seed_server.py", &stack);

    let (code, doc) = stack.json(&["verify", "--mcp-url", &server.url]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["ok"], true, "{doc:#}");
    // PRM first: found through the 401, the scope taken from scopes_supported.
    let metadata = str_of(step(&doc, "MCP metadata"), "summary");
    assert!(metadata.contains("401's resource_metadata"), "{doc:#}");
    assert!(
        metadata.contains("\"mcp:echo\" from scopes_supported"),
        "{doc:#}"
    );
    assert!(str_of(step(&doc, "tools/list"), "summary").contains("1 tool: echo"));
    assert_eq!(step(&doc, "tools/call echo")["ok"], true, "{doc:#}");
    // The scope is advertised, but the tool does not require it.
    let f = finding(&doc, "scope_not_enforced");
    assert_eq!(f["severity"], "warning", "{doc:#}");
    assert_eq!(codes(&doc), ["scope_not_enforced"], "{doc:#}");
    assert_eq!(
        step(&doc, "probe: token for another resource")["status"],
        "pass"
    );

    // --protocol auto: FastMCP refuses a stateless request, so the session era follows.
    let (code, doc) = stack.json(&[
        "verify",
        "--mcp-url",
        &server.url,
        "--protocol",
        "auto",
        "--no-probes",
    ]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["protocol_era"], "session", "{doc:#}");

    // A scope named that the server does not advertise: a warning, the run goes on (--fix adds
    // the scope to the resource registered with mcp:echo).
    let (code, doc) = stack.json(&[
        "verify",
        "--mcp-url",
        &server.url,
        "--scope",
        "mcp:admin",
        "--fix",
        "--no-probes",
    ]);
    assert_eq!(code, 0, "{doc:#}");
    let f = finding(&doc, "scope_mismatch");
    assert_eq!(f["severity"], "warning", "{doc:#}");
    assert_eq!(f["expected"], "mcp:echo", "{doc:#}");
}

#[test]
fn a_server_without_echo_passes_through_tools_list_and_tool() {
    let Some(python) = python() else { return };
    let mut stack = Stack::new();
    let server = start(&python, "forecast_server.py", &stack);

    // Neither echo nor --tool: the authorised tools/list is the round trip; the tool needs the
    // scope, so the missing-scope probe finds it hidden.
    let (code, doc) = stack.json(&["verify", "--mcp-url", &server.url]);
    assert_eq!(code, 0, "{doc:#}");
    let list = str_of(step(&doc, "tools/list"), "summary");
    assert!(list.contains("1 tool: forecast"), "{doc:#}");
    assert!(list.contains("round trip"), "{doc:#}");
    assert!(codes(&doc).is_empty(), "{doc:#}");
    assert!(
        str_of(
            step(&doc, "probe: token without the required scope"),
            "summary"
        )
        .contains("hidden"),
        "{doc:#}"
    );

    // `token` for that server mints what verify mints: its resource, its scopes_supported.
    stack
        .env
        .push(("AUTHPLANE_DEV_MCP_URL".to_owned(), server.url.clone()));
    let (code, doc) = stack.json(&["token"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["scope"], "forecast:read", "{doc:#}");
    assert_eq!(doc["aud"][0], server.url.as_str(), "{doc:#}");

    // --tool with arguments the schema accepts: the tool answers.
    let (code, doc) = stack.json(&[
        "verify",
        "--mcp-url",
        &server.url,
        "--tool",
        "forecast",
        "--args",
        r#"{"city":"Paris","days":2}"#,
    ]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        str_of(step(&doc, "tools/call forecast"), "summary").contains("Paris: sunny for 2"),
        "{doc:#}"
    );

    // Without the required argument: named before any call.
    let (code, doc) = stack.json(&[
        "verify",
        "--mcp-url",
        &server.url,
        "--tool",
        "forecast",
        "--no-probes",
    ]);
    assert_eq!(code, 1, "{doc:#}");
    let f = finding(&doc, "mcp_handshake_failed");
    assert!(str_of(f, "message").contains("city"), "{doc:#}");
    assert!(str_of(f, "fix").contains("--args"), "{doc:#}");
}
