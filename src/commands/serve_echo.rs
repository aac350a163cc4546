//! `serve echo`: run the embedded echo MCP server in the foreground until Ctrl-C or SIGTERM.
//!
//! Resolves the echo configuration from the settings (issuer, audience, port, scopes, dev mode),
//! turns every startup failure into a what / why / how-to-fix error with the right exit code
//! (configuration 2, environment 3), prints one ready line, and logs each rejected request on
//! stderr. The server itself lives in [`crate::echo`].

use std::net::{Ipv4Addr, SocketAddr};

use serde_json::json;

use crate::cli::ServeEchoArgs;
use crate::commands::Context;
use crate::config::{Settings, var};
use crate::echo::{
    EchoConfig, EchoServer, InboundDpop, StartError, is_loopback_issuer, revocation,
};
use crate::exit::{ConfigError, EnvError};
use crate::report::Outcome;

/// Runs the command.
pub async fn run(args: &ServeEchoArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    let config = echo_config(args, &ctx.settings)?;
    let mut run = ctx.reporter.run("serve echo");
    let timer = run.start("start echo server");
    let mut server = EchoServer::start(config.clone())
        .await
        .map_err(|e| explain(e, &config))?;
    let ready = server.ready().clone();
    let scopes = ready.scopes.join(" ");
    let summary = format!(
        "echo: listening on {}, audience {}, issuer {}, scopes {}{}{}{}",
        ready.mcp_url,
        ready.audience,
        ready.issuer,
        scopes,
        if ready.dev_mode { " (dev mode)" } else { "" },
        match ready.dpop {
            InboundDpop::Off => "",
            InboundDpop::Allowed => ", DPoP allowed",
            InboundDpop::Required => ", DPoP required",
        },
        if ready.revocation {
            ", revocation checked by introspection"
        } else {
            ""
        }
    );
    run.pass(
        timer,
        "",
        json!({
            "mcp_url": ready.mcp_url,
            "resource_metadata_url": ready.resource_metadata_url,
            "audience": ready.audience,
            "issuer": ready.issuer,
            "scopes": ready.scopes,
            "dev_mode": ready.dev_mode,
            "dpop": ready.dpop.as_str(),
            "revocation": ready.revocation,
        }),
    );
    if !ctx.reporter.json() {
        ctx.reporter.line(&summary);
    }
    if let Some(warning) = port_mismatch(&ready.audience, ready.address.port()) {
        ctx.reporter.note(&warning);
    }

    let mut rejections = server.take_rejections();
    let serve = server.serve(shutdown_signal());
    tokio::pin!(serve);
    let result = loop {
        tokio::select! {
            result = &mut serve => break result,
            Some(r) = async {
                match rejections.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                ctx.reporter.note(&format!("echo: {} {} — {}", r.status, r.request, r.reason));
            }
        }
    };
    result.map_err(|e| anyhow::anyhow!("the echo server stopped with an error: {e}"))?;
    ctx.reporter.note("echo: stopped");
    Ok(run.finish())
}

/// The echo configuration from the settings and the `serve echo` flags.
fn echo_config(args: &ServeEchoArgs, settings: &Settings) -> Result<EchoConfig, ConfigError> {
    let dev_mode = match args.dev_mode {
        Some(flag) => flag,
        None => match settings.vars.non_empty(var::DEV_MODE) {
            Some(value) => parse_bool(value).ok_or_else(|| ConfigError::InvalidValue {
                name: var::DEV_MODE.into(),
                value: value.into(),
                reason: "it must be true/1/yes or false/0/no".into(),
                fix: format!(
                    "set {}=true (or remove it: dev mode is on by default for a localhost issuer)",
                    var::DEV_MODE
                ),
            })?,
            None => is_loopback_issuer(&settings.sdk_issuer),
        },
    };
    if settings.scopes.is_empty() {
        return Err(ConfigError::InvalidValue {
            name: var::SCOPES.into(),
            value: String::new(),
            reason: "the echo server needs at least one scope to require".into(),
            fix: format!("set {}=mcp:echo", var::SCOPES),
        });
    }
    let revocation = if settings.echo_revocation {
        let file = revocation::path(&settings.run_dir);
        let how = format!(
            "run `authplane-dev up` (it registers the echo server's introspection client), or unset \
             {}",
            var::DEV_ECHO_REVOCATION
        );
        match revocation::load(&settings.run_dir) {
            Ok(Some(stored)) => Some(stored.credentials()),
            Ok(None) => {
                return Err(ConfigError::Invalid(format!(
                    "{} is on but {} does not exist. Why: checking revocation means introspecting \
                     every token, which the authorization server answers only for a registered \
                     client (the issuing client or a runtime client of the resource). Fix: {how}",
                    var::DEV_ECHO_REVOCATION,
                    file.display()
                )));
            }
            Err(e) => {
                return Err(ConfigError::Invalid(format!(
                    "{} is on but the echo server's introspection client cannot be read: {e:#}. \
                     Fix: delete {} and {how}",
                    var::DEV_ECHO_REVOCATION,
                    file.display()
                )));
            }
        }
    } else {
        None
    };
    Ok(EchoConfig {
        issuer: settings.sdk_issuer.clone(),
        audience: settings.audience(),
        scopes: settings.scopes.clone(),
        dev_mode,
        bind: args
            .bind
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, settings.port))),
        allowed_hosts: args.allowed_host.clone(),
        dpop: settings.echo_dpop,
        revocation,
    })
}

/// A warning when the audience names a loopback host on another port than the one bound: clients
/// that dial the audience URL would not reach this server. Not an error (a proxy may sit between).
fn port_mismatch(audience: &str, bound: u16) -> Option<String> {
    let url = url::Url::parse(audience).ok()?;
    let port = url.port_or_known_default()?;
    (is_loopback_issuer(audience) && port != bound).then(|| {
        format!(
            "echo: warning: the audience {audience} names port {port} but the server listens on {bound}; \
             set {}= and {}= to the same port unless a proxy forwards between them",
            var::PORT,
            var::BASE_URL
        )
    })
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Turns a startup failure into the typed error that picks the exit code, saying what happened,
/// why and how to fix it.
fn explain(err: StartError, config: &EchoConfig) -> anyhow::Error {
    match err {
        StartError::PortInUse { port, address } => EnvError::explained(
            format!("port {port} is already in use ({address})"),
            "The echo server listens on PORT and something else holds it (an earlier `serve echo` or `up`?)",
            format!("stop that process (`authplane-dev clean`), or set {}= to a free port and update {} to match", var::PORT, var::BASE_URL),
        )
        .into(),
        StartError::Bind { address, source } => EnvError::explained(
            format!("cannot listen on {address}: {source}"),
            "The operating system refused the socket",
            format!("set {}= to another port", var::PORT),
        )
        .into(),
        StartError::InvalidAudience { audience, reason } => ConfigError::Invalid(format!(
            "the echo server's audience {audience:?} (built from {} + {}) is not a usable resource URL: {reason}. Fix: set {}=http://localhost:{} and {}=/mcp",
            var::BASE_URL, var::MCP_PATH, var::BASE_URL, config.bind.port(), var::MCP_PATH
        ))
        .into(),
        StartError::IssuerMismatch { configured, discovered, message } => ConfigError::Invalid(format!(
            "issuer mismatch: {} is {configured:?} but the authorization server's metadata announces issuer {discovered:?}. \
             Why: the SDK requires them to be byte-equal (trailing slash, localhost vs 127.0.0.1 and port all matter) and refuses to start otherwise (SDK: {message}). \
             Fix: set {}={discovered:?} — or, if the AS is the one that is wrong, set AUTHPLANE_SERVER_ISSUER={configured:?} and restart it",
            var::ISSUER, var::ISSUER
        ))
        .into(),
        StartError::FetchPolicy { issuer, message } => ConfigError::Invalid(format!(
            "the SDK refuses to contact the issuer {issuer:?}: {message}. Why: outside dev mode authplane-sdk only fetches https URLs on public addresses{}. \
             Fix: pass --dev-mode or set {}=true for a local authorization server, or use an https issuer",
            if config.dev_mode { "" } else { " (dev mode is off)" },
            var::DEV_MODE
        ))
        .into(),
        StartError::Unreachable { issuer, message } => EnvError::explained(
            format!("cannot reach the authorization server at {issuer}: {message}"),
            format!("The echo server discovers {issuer}/.well-known/oauth-authorization-server at startup (from {}) and cannot verify tokens without it", var::ISSUER),
            format!("start the AS (`authplane-dev up` or `authplane-dev serve authserver`) and check that {} points at it", var::ISSUER),
        )
        .into(),
        StartError::JwksUnavailable { issuer, message } => EnvError::explained(
            format!("the authorization server at {issuer} answered discovery but its signing keys (JWKS) could not be fetched: {message}"),
            "The echo server needs the AS's public keys to verify tokens",
            "check the AS log (`authplane-dev logs authserver`) and that its jwks_uri is reachable from this machine",
        )
        .into(),
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        // If the handler cannot be installed, only SIGTERM stops the server.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = crate::stack::platform::terminated() => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_audience_on_another_port_is_flagged() {
        assert!(port_mismatch("http://localhost:8080/mcp", 8081).is_some());
        assert!(port_mismatch("http://localhost:8080/mcp", 8080).is_none());
        assert!(port_mismatch("https://mcp.example.com/mcp", 8080).is_none());
    }

    #[test]
    fn dev_mode_values() {
        assert_eq!(parse_bool("YES"), Some(true));
        assert_eq!(parse_bool("1"), Some(true));
        assert_eq!(parse_bool("false"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}
