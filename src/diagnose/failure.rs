//! Findings for a request that failed: an AS or MCP server that does not answer, an AS that fails
//! (5xx), a refused admin key, a token endpoint error, an MCP server's refusal.
//!
//! Pure functions from the error (or reply) and the settings to a [`Finding`]; they send nothing
//! and record nothing — the steps that made the request record the step and the finding.

use crate::config::{Settings, var};
use crate::diagnose::{Code, Finding};
use crate::flow::FlowError;
use crate::flow::mcp::{McpReply, STATELESS_PROTOCOL_VERSION};

/// The admin_key_rejected finding for an admin key the admin API refuses (HTTP `status`, its
/// own `description`), naming the `.env` that holds the key the AS should have been started with.
pub fn admin_key_rejected(settings: &Settings, status: u16, description: &str) -> Finding {
    Finding::error(
        Code::AdminKeyRejected,
        format!(
            "the admin API at {} rejected the admin key: {description}",
            settings.admin_url
        ),
        format!(
            "set {key} to the key the AS was started with. An AS authplane-dev started reads it from {env} \
             (`authplane-dev clean && authplane-dev up` restarts one running with an old key); an AS started \
             elsewhere has it in its own environment: for a container, `docker inspect CONTAINER --format \
             '{{{{range .Config.Env}}}}{{{{println .}}}}{{{{end}}}}' | grep {key}`; for `make run` or \
             `authplane-dev serve authserver`, the .env of the directory it was started in",
            key = var::ADMIN_API_KEY,
            env = settings.env_file.display()
        ),
    )
    .why("every admin call carries Authorization: Bearer <AUTHPLANE_ADMIN_API_KEY>, compared by the AS in constant time")
    .compare("HTTP 2xx with the configured admin key", format!("HTTP {status}: {description}"))
}

/// The as_server_error finding for an AS answer with a 5xx status (None for anything else): the
/// AS itself failed, so the request and the AS's own words (problem+json `detail` or OAuth
/// `error_description`) are shown, and its log holds the cause.
pub fn as_server_error(err: &FlowError) -> Option<Finding> {
    let FlowError::Status {
        status,
        message,
        exchange,
        ..
    } = err
    else {
        return None;
    };
    if *status < 500 {
        return None;
    }
    let request = format!("{} {}", exchange.method, exchange.url);
    Some(
        Finding::error(
            Code::AsServerError,
            format!("the authorization server failed: {request} answered HTTP {status}: {message}"),
            "read the cause in the AS's log (`authplane-dev logs authserver`, or `docker logs \
             <container>` with the Docker backend) and fix it — for the embedded AS usually its \
             state directory (.run/authserver/: disk full, read-only, or a file replaced by \
             something else); `authplane-dev clean && authplane-dev up` restarts it, \
             `authplane-dev clean --all` starts afresh (registrations are lost)",
        )
        .why("a 5xx is the server's own failure, not a refusal of what was asked; the AS does not tell the client why, its log does")
        .compare(format!("{request} answering 2xx or a 4xx refusal"), format!("HTTP {status}: {message}")),
    )
}

/// The as_unreachable finding for an AS at `url` that did not answer as expected (or the
/// as_server_error finding when it answered 5xx); `variable` names the setting that points there.
pub fn as_unreachable(err: &FlowError, url: &str, variable: &str) -> Finding {
    if let Some(f) = as_server_error(err) {
        return f;
    }
    let reason = match err {
        FlowError::Unreachable { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    Finding::error(
        Code::AsUnreachable,
        format!("the authorization server at {url} did not answer as expected: {reason}"),
        format!(
            "start the stack with `authplane-dev up` (check `authplane-dev status` / `authplane-dev logs authserver`), or set {variable} to where the AS listens"
        ),
    )
    .why("every step of the flow starts at the AS")
    .compare(format!("{url} answering"), reason)
}

/// Maps a token endpoint failure to a finding, by the OAuth `error` code; `scope` and `resource`
/// are what the request asked for.
pub fn token_failure(
    err: &FlowError,
    settings: &Settings,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Finding {
    if let Some(f) = as_server_error(err) {
        return f;
    }
    let FlowError::Status {
        status,
        code,
        message,
        ..
    } = err
    else {
        return as_unreachable(err, &settings.public_url, var::DEV_PUBLIC_URL);
    };
    let actual = format!(
        "HTTP {status} {}: {message}",
        code.as_deref().unwrap_or("(no error code)")
    );
    match code.as_deref() {
        Some("invalid_target") => Finding::error(
            Code::ResourceDrift,
            format!(
                "the AS has no resource registered with URI {}",
                resource.unwrap_or("(none)")
            ),
            format!(
                "run `authplane-dev verify --fix` to register/patch resource {}, or set {} (or `token --resource`) to a registered URI",
                settings.resource_slug,
                var::DEV_RESOURCE_URI
            ),
        )
        .why("the AS matches resource= against registered URIs byte for byte")
        .compare(resource.unwrap_or("(none)"), actual),
        Some("invalid_scope") => Finding::error(
            Code::ScopeMismatch,
            format!("the AS refused scope {:?}: {message}", scope.unwrap_or("")),
            format!(
                "declare it on resource {slug}: `{var}={scope} authplane-dev verify --fix` adds {var} to the resource's scopes (the client is re-created with a ceiling that holds it)",
                slug = settings.resource_slug,
                var = var::DEV_SCOPE,
                scope = scope.unwrap_or("<scope>"),
            ),
        )
        .why("a requested scope must be in the client's ceiling and declared by the resource")
        .compare(scope.unwrap_or("").to_owned(), actual),
        Some("invalid_client" | "unauthorized_client" | "unsupported_grant_type") => Finding::error(
            Code::ClientGrantMissing,
            format!("the AS refused the client: {message}"),
            "delete <run-dir>/client.json and re-run (a fresh client is created); if the message names client_credentials, set AUTHPLANE_CLIENT_CREDENTIALS_ENABLED=true for the AS",
        )
        .why("client_credentials needs an active confidential client holding that grant, on an AS with the grant enabled")
        .compare("HTTP 200 with an access token", actual),
        _ => Finding::error(
            Code::TokenRejected,
            format!("the token endpoint refused the request: {message}"),
            "read the AS log (`authplane-dev logs authserver`) for the cause",
        )
        .compare("HTTP 200 with an access token", actual),
    }
}

/// The mcp_unreachable finding for an MCP server at `url` that did not answer.
pub fn mcp_unreachable(err: &FlowError, url: &str) -> Finding {
    let reason = match err {
        FlowError::Unreachable { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    Finding::error(
        Code::McpUnreachable,
        format!("the MCP server at {url} did not answer: {reason}"),
        format!(
            "start it with `authplane-dev up` (embedded echo) or start your server; check --mcp-url / {}",
            var::DEV_MCP_URL
        ),
    )
    .compare(format!("{url} answering"), reason)
}

/// What an MCP server said was wrong: the `error_description` of its bearer challenge, else the
/// message in its body.
pub fn mcp_error_description(reply: &McpReply) -> String {
    reply
        .bearer_challenge()
        .and_then(|c| c.param("error_description"))
        .map_or_else(
            || crate::flow::error_message(&reply.exchange.body_excerpt),
            str::to_owned,
        )
}

/// The finding for an MCP step (`what`: "initialize", "tools/call echo", …) the server did not
/// answer with the expected result, chosen by the status; `text` is the echo text sent, if any.
pub fn mcp_refused(reply: &McpReply, what: &str, text: &str) -> Finding {
    let description = mcp_error_description(reply);
    let status = reply.status;
    let actual = format!("HTTP {status}: {description}");
    match status {
        401 => Finding::error(
            Code::TokenRejected,
            format!("the MCP server refused the token on {what}: {description}"),
            "the token passed every local check, so compare what the server verifies with: its issuer (AUTHPLANE_ISSUER) must be the AS it fetched keys from, and restart the server if the AS was restarted with a new key; `authplane-dev inspect <token>` shows the claims",
        )
        .why("the server verifies signature (JWKS of its issuer), iss, aud, typ and expiry and answers 401 invalid_token for any failure")
        .compare("HTTP 200", actual),
        403 if description.contains("Host") => Finding::error(
            Code::McpHandshakeFailed,
            format!("the MCP server refused the Host header on {what}: {description}"),
            "dial the server as localhost or 127.0.0.1, or allow the host on the server (serve echo --allowed-host)",
        )
        .why("rmcp's DNS-rebinding guard accepts only loopback Host headers by default")
        .compare("HTTP 200", actual),
        403 => Finding::error(
            Code::ScopeMismatch,
            format!("the MCP server refused the token's scope on {what}: {description}"),
            format!(
                "make {} name every scope the server requires ({}) and re-run `authplane-dev verify --fix`",
                var::DEV_SCOPE,
                var::SCOPES
            ),
        )
        .why("the server requires scopes the token does not carry (403 insufficient_scope)")
        .compare("HTTP 200", actual),
        301 | 302 | 307 | 308 => Finding::error(
            Code::McpHandshakeFailed,
            format!(
                "the MCP server redirects {what} to {}",
                reply.exchange.response_header("location").unwrap_or("(no Location)")
            ),
            format!(
                "dial the exact URL the server serves (a trailing slash is a different path): set {} or AUTHPLANE_MCP_PATH",
                var::DEV_MCP_URL
            ),
        )
        .why("MCP clients must not follow redirects of a POST silently; the resource URL must be exact")
        .compare("HTTP 200", actual),
        400 if what.contains("stateless") => Finding::error(
            Code::McpHandshakeFailed,
            format!("the MCP server does not accept {STATELESS_PROTOCOL_VERSION} stateless requests: {description}"),
            "use `--protocol legacy` (or `--protocol auto`) for session-era servers",
        )
        .compare("HTTP 200", actual),
        200 => Finding::error(
            Code::McpHandshakeFailed,
            format!(
                "{what} returned HTTP 200 but not the expected result{}",
                if text.is_empty() { String::new() } else { format!(" (the text {text:?} did not come back)") }
            ),
            "check the MCP server's log; the echo tool must return its `text` argument",
        )
        .compare(
            if text.is_empty() { "a JSON-RPC result".to_owned() } else { format!("a result containing {text:?}") },
            reply.exchange.body_excerpt.clone(),
        ),
        _ => Finding::error(
            Code::McpHandshakeFailed,
            format!("{what} failed with HTTP {status}: {description}"),
            "check the MCP server's log (`authplane-dev logs echo`); 406 means the Accept header, 415 the Content-Type, 404 an unknown session or path",
        )
        .compare("HTTP 200", actual),
    }
}
