//! Servers started with stale settings: each managed component records what it was started with
//! (`.run/<component>.started.json`), and `up` / `verify` / `token` restart exactly the component
//! whose inputs changed, saying which values did. Real binary, real servers on free ports.

mod support_stack;

use support_stack::{Stack, listening, step, str_of};

fn up(stack: &Stack) -> (u32, u32) {
    let (code, doc) = stack.json(&["up"]);
    assert_eq!(code, 0, "{doc:#}");
    (stack.pid("authserver").unwrap(), stack.pid("echo").unwrap())
}

#[test]
fn a_changed_scope_restarts_only_the_echo_server_and_verify_passes() {
    let stack = Stack::new();
    let (as_pid, echo_pid) = up(&stack);
    assert!(stack.path(".run/echo.started.json").exists());
    stack.set_in_env_file("AUTHPLANE_SCOPES", "mcp:read");
    // The registered resource still declares the old scope: --fix re-registers it.
    let (code, doc) = stack.json(&["verify", "--fix"]);
    assert_eq!(code, 0, "{doc:#}");
    let echo = step(&doc, "echo MCP server");
    assert!(
        str_of(echo, "summary").contains("restarted")
            && str_of(echo, "summary").contains("AUTHPLANE_SCOPES mcp:echo → mcp:read"),
        "{echo:#}"
    );
    assert_eq!(
        stack.pid("authserver"),
        Some(as_pid),
        "the AS was restarted"
    );
    assert_ne!(
        stack.pid("echo"),
        Some(echo_pid),
        "the echo server kept running"
    );
    assert!(
        !support_stack::alive(echo_pid),
        "the old echo server still runs"
    );
    // Nothing changed since: the next run restarts nothing.
    let (code, again) = stack.json(&["verify"]);
    assert_eq!(code, 0, "{again:#}");
    assert!(
        str_of(step(&again, "echo MCP server"), "summary").starts_with("already running"),
        "{again:#}"
    );
}

#[test]
fn a_moved_echo_port_restarts_it_on_the_new_port() {
    let stack = Stack::new();
    let (as_pid, echo_pid) = up(&stack);
    let old = stack.ports.echo;
    let new = support_stack::free_port();
    stack.set_in_env_file("PORT", &new.to_string());
    stack.set_in_env_file("AUTHPLANE_BASE_URL", &format!("http://localhost:{new}"));
    let (code, doc) = stack.json(&["verify", "--fix"]);
    assert_eq!(code, 0, "{doc:#}");
    let summary = str_of(step(&doc, "echo MCP server"), "summary").to_owned();
    assert!(
        summary.contains(&format!("PORT {old} → {new}")),
        "{summary}"
    );
    assert_eq!(stack.pid("authserver"), Some(as_pid));
    assert_ne!(stack.pid("echo"), Some(echo_pid));
    assert!(listening(new));
    assert!(
        !listening(old),
        "the old echo server still listens on {old}"
    );
}

#[test]
fn a_moved_as_port_restarts_the_as_and_the_echo_server_that_cached_it() {
    let stack = Stack::new();
    let (as_pid, echo_pid) = up(&stack);
    let old = stack.ports.public;
    let new = support_stack::free_port();
    stack.set_in_env_file("AUTHPLANE_SERVER_ADDRESS", &format!(":{new}"));
    stack.set_in_env_file(
        "AUTHPLANE_SERVER_ISSUER",
        &format!("http://localhost:{new}"),
    );
    stack.set_in_env_file("AUTHPLANE_ISSUER", &format!("http://localhost:{new}"));
    let (code, doc) = stack.json(&["verify"]);
    assert_eq!(code, 0, "{doc:#}");
    let summary = str_of(step(&doc, "authorization server"), "summary").to_owned();
    assert!(
        summary.contains(&format!("AUTHPLANE_SERVER_ADDRESS :{old} → :{new}")),
        "{summary}"
    );
    assert_ne!(stack.pid("authserver"), Some(as_pid));
    assert_ne!(stack.pid("echo"), Some(echo_pid));
    assert!(!listening(old), "the old AS still listens on {old}");
}

#[test]
fn doctor_reports_a_stale_component_without_restarting_it() {
    let stack = Stack::new();
    let (_, echo_pid) = up(&stack);
    stack.set_in_env_file("AUTHPLANE_SCOPES", "mcp:read");
    let (code, doc) = stack.json(&["doctor", "--offline"]);
    assert_eq!(code, 0, "a stale component is a warning: {doc:#}");
    let f = support_stack::finding(&doc, "stale_component");
    assert_eq!(f["severity"], "warning");
    assert!(
        str_of(f, "message").contains("AUTHPLANE_SCOPES mcp:echo → mcp:read"),
        "{f:#}"
    );
    assert_eq!(
        stack.pid("echo"),
        Some(echo_pid),
        "doctor restarted the echo server"
    );
}

#[test]
fn status_warns_about_a_stale_component_and_still_exits_0() {
    let stack = Stack::new();
    up(&stack);
    stack.set_in_env_file("AUTHPLANE_SCOPES", "mcp:read");
    let (code, doc) = stack.json(&["status"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(step(&doc, "echo MCP server")["status"], "warn", "{doc:#}");
    assert_eq!(
        support_stack::finding(&doc, "stale_component")["severity"],
        "warning"
    );
}
