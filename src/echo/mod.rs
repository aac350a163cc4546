//! The embedded echo MCP server: rmcp's streamable-HTTP service behind an authplane-sdk bearer
//! check, plus the RFC 9728 Protected Resource Metadata routes.
//!
//! Owns the server's whole lifecycle: [`EchoServer::start`] binds the port, discovers the
//! authorization server (issuer equality is the SDK's check), primes the JWKS and builds the
//! verifier, so every configuration or environment problem surfaces before the server answers
//! anything; [`EchoServer::serve`] then answers until its shutdown future completes. It never
//! prints: rejections are sent on a channel ([`EchoServer::take_rejections`]) for the caller to log.
//!
//! Both MCP protocol eras are served on the same path by rmcp's default configuration: the session
//! era (`initialize` → `Mcp-Session-Id`, protocol versions 2024-11-05 … 2025-11-25) and
//! 2026-07-28 stateless requests (`MCP-Protocol-Version: 2026-07-28` + `params._meta`), which rmcp
//! routes statelessly even while legacy session mode is on.

pub mod auth;
pub mod revocation;
pub mod tool;
pub mod verified;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use authplane_sdk::{
    AuthplaneClient, AuthplaneError, FetchSettings, InboundDPoPOptions, ResourceOptions,
    RevocationConfig,
};
use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

pub use crate::config::InboundDpop;
pub use auth::Rejection;
pub use tool::{EchoServer as EchoTool, SERVER_NAME};

/// The path prefix of RFC 9728 metadata documents.
pub const PRM_ROOT: &str = "/.well-known/oauth-protected-resource";

/// How long open SSE streams get to finish after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything the echo server needs, already resolved (see `commands::serve_echo`).
#[derive(Debug, Clone)]
pub struct EchoConfig {
    /// Where the SDK discovers metadata (`AUTHPLANE_ISSUER`); must equal the AS's `issuer`.
    pub issuer: String,
    /// The resource identifier: the expected `aud`, and the URL whose path is served.
    pub audience: String,
    /// Scopes every token must carry (all of them).
    pub scopes: Vec<String>,
    /// Relax the SDK's fetch policy (http, loopback, private networks).
    pub dev_mode: bool,
    /// The socket address to listen on.
    pub bind: SocketAddr,
    /// `Host` header values accepted besides localhost / 127.0.0.1 / ::1 (DNS-rebinding guard).
    pub allowed_hosts: Vec<String>,
    /// Whether DPoP-bound tokens are accepted (`AUTHPLANE_DEV_ECHO_DPOP`).
    pub dpop: InboundDpop,
    /// Check every token for revocation through the AS's introspection endpoint with these
    /// credentials (`AUTHPLANE_DEV_ECHO_REVOCATION`); `None` trusts a valid signature alone.
    pub revocation: Option<IntrospectionCredentials>,
}

/// The confidential client the echo server introspects with: the issuing client or, as `up`
/// registers it, a runtime client of the resource (authserver answers nobody else).
#[derive(Clone)]
pub struct IntrospectionCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for IntrospectionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The verifier's options: authplane-sdk's `RevocationConfig`, fail closed (an AS that cannot
/// answer the introspection call means no request is let through), when revocation checking is on.
/// The inbound DPoP mode is the SDK's `with_inbound_dpop`.
fn resource_options(config: &EchoConfig) -> ResourceOptions {
    let mut options = match config.dpop {
        InboundDpop::Off => ResourceOptions::default(),
        InboundDpop::Allowed => {
            ResourceOptions::default().with_inbound_dpop(InboundDPoPOptions::default())
        }
        InboundDpop::Required => {
            ResourceOptions::default().with_inbound_dpop(InboundDPoPOptions::required())
        }
    };
    options.revocation = config.revocation.as_ref().map(|c| RevocationConfig {
        client_id: c.client_id.clone(),
        client_secret: c.client_secret.clone(),
        fail_open: false,
    });
    options
}

/// Why the echo server could not start. Each variant carries the values a user needs.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("port {port} is already in use on {address}")]
    PortInUse { port: u16, address: SocketAddr },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the audience {audience:?} is not a usable resource URL: {reason}")]
    InvalidAudience { audience: String, reason: String },
    #[error(
        "the authorization server announces issuer {discovered:?}, but the configured issuer is {configured:?} ({message})"
    )]
    IssuerMismatch {
        configured: String,
        discovered: String,
        message: String,
    },
    #[error("the SDK refuses to fetch from {issuer:?}: {message}")]
    FetchPolicy { issuer: String, message: String },
    #[error("cannot discover the authorization server at {issuer:?}: {message}")]
    Unreachable { issuer: String, message: String },
    #[error("cannot fetch the signing keys (JWKS) of {issuer:?}: {message}")]
    JwksUnavailable { issuer: String, message: String },
}

/// What a started server answers on, for the ready line.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The address actually bound.
    pub address: SocketAddr,
    /// `http://<address><mcp path>`: where to send MCP requests.
    pub mcp_url: String,
    /// The Protected Resource Metadata URL clients are pointed at.
    pub resource_metadata_url: String,
    pub audience: String,
    /// The issuer as the SDK normalised it.
    pub issuer: String,
    pub scopes: Vec<String>,
    pub dev_mode: bool,
    pub dpop: InboundDpop,
    /// Whether every token is checked for revocation (introspection).
    pub revocation: bool,
}

/// A started echo server: port bound, verifier built, not yet answering.
pub struct EchoServer {
    listener: TcpListener,
    router: Router,
    client: AuthplaneClient,
    cancel: CancellationToken,
    rejections: Option<UnboundedReceiver<Rejection>>,
    ready: Ready,
}

impl EchoServer {
    /// Binds `config.bind`, discovers the AS, primes the JWKS and builds the verifier.
    pub async fn start(config: EchoConfig) -> Result<EchoServer, StartError> {
        let audience_url =
            url::Url::parse(&config.audience).map_err(|e| StartError::InvalidAudience {
                audience: config.audience.clone(),
                reason: e.to_string(),
            })?;
        let mcp_path = audience_url.path().to_owned();

        let listener = TcpListener::bind(config.bind).await.map_err(|source| {
            if source.kind() == std::io::ErrorKind::AddrInUse {
                StartError::PortInUse {
                    port: config.bind.port(),
                    address: config.bind,
                }
            } else {
                StartError::Bind {
                    address: config.bind,
                    source,
                }
            }
        })?;
        let address = listener.local_addr().map_err(|source| StartError::Bind {
            address: config.bind,
            source,
        })?;

        let client = AuthplaneClient::builder(config.issuer.clone())
            .with_fetch_settings(FetchSettings::from_dev_mode(config.dev_mode))
            .build()
            .await
            .map_err(|e| classify_discovery_error(&config.issuer, &e))?;
        // The SDK fetches the JWKS lazily; fetching it now makes an AS without usable keys a
        // startup failure instead of a 401 on the first request.
        if let Err(e) = client.jwks_cache().get(false).await {
            client.aclose().await;
            return Err(StartError::JwksUnavailable {
                issuer: config.issuer.clone(),
                message: e.to_string(),
            });
        }
        let verifier = match client
            .resource_with_options(&config.audience, &config.scopes, resource_options(&config))
            .await
        {
            Ok(v) => v,
            Err(e) => {
                client.aclose().await;
                return Err(StartError::InvalidAudience {
                    audience: config.audience.clone(),
                    reason: e.to_string(),
                });
            }
        };

        let (tx, rx) = unbounded_channel();
        let dpop_scheme =
            (config.dpop != InboundDpop::Off).then(|| audience_url.scheme().to_owned());
        // With revocation checking on, every request meets the SDK (and the introspection call):
        // remembering accepted tokens would let a revoked one through until the entry expired.
        let remember = config.revocation.is_none();
        let guard = Arc::new(auth::Guard::new(
            verifier,
            config.scopes.clone(),
            remember,
            Some(tx),
            dpop_scheme,
        ));
        let resource_metadata_url = guard.resource_metadata_url().to_owned();

        let cancel = CancellationToken::new();
        let mut allowed_hosts: Vec<String> =
            vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        // Clients dial the audience URL, so its host must pass rmcp's Host check too.
        if let Some(host) = audience_url.host_str() {
            allowed_hosts.push(
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
            );
        }
        allowed_hosts.extend(config.allowed_hosts.iter().cloned());
        allowed_hosts.sort_unstable();
        allowed_hosts.dedup();
        let mcp_config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(allowed_hosts)
            .with_cancellation_token(cancel.child_token());
        let mcp = StreamableHttpService::new(
            // One handler built up front and cloned per session (or per stateless request):
            // cloning shares the tool table instead of rebuilding it on every request.
            {
                let handler = tool::EchoServer::new();
                move || Ok(handler.clone())
            },
            Arc::new(LocalSessionManager::default()),
            mcp_config,
        );
        let guarded = ServiceBuilder::new()
            .layer(from_fn_with_state(guard.clone(), auth::require_token))
            .service(mcp);

        let prm_path = format!("{PRM_ROOT}{}", mcp_path.trim_end_matches('/'));
        let mut router = Router::new().route(PRM_ROOT, get(auth::protected_resource_metadata));
        if prm_path != PRM_ROOT {
            router = router.route(&prm_path, get(auth::protected_resource_metadata));
        }
        let router = router.with_state(guard).route_service(&mcp_path, guarded);

        let ready = Ready {
            address,
            mcp_url: format!("http://{address}{mcp_path}"),
            resource_metadata_url,
            audience: config.audience,
            issuer: client.issuer().to_owned(),
            scopes: config.scopes,
            dev_mode: config.dev_mode,
            dpop: config.dpop,
            revocation: config.revocation.is_some(),
        };
        Ok(EchoServer {
            listener,
            router,
            client,
            cancel,
            rejections: Some(rx),
            ready,
        })
    }

    /// Where the server answers and what it checks.
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// The stream of rejected requests (taken once; later calls return `None`).
    pub fn take_rejections(&mut self) -> Option<UnboundedReceiver<Rejection>> {
        self.rejections.take()
    }

    /// Answers requests until `shutdown` completes, then ends MCP sessions, gives open streams a
    /// few seconds, and stops the SDK's background refresh tasks.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let cancel = self.cancel.clone();
        let stopped = cancel.clone();
        // rmcp writes an SSE answer as several small frames; without TCP_NODELAY, Nagle's
        // algorithm holds the last one until the client's delayed ACK (~40 ms per request).
        let listener = self.listener.tap_io(|tcp| {
            // Only a latency optimisation: a socket that refuses it still works.
            let _ = tcp.set_nodelay(true);
        });
        let server = axum::serve(listener, self.router).with_graceful_shutdown(async move {
            shutdown.await;
            // Ends rmcp sessions and their long-lived SSE streams so graceful shutdown can finish.
            cancel.cancel();
        });
        let result = tokio::select! {
            result = server => result,
            () = async {
                stopped.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => Ok(()),
        };
        self.client.aclose().await;
        result
    }
}

fn classify_discovery_error(issuer: &str, err: &AuthplaneError) -> StartError {
    let message = err.to_string();
    if message.contains("issuer mismatch") {
        return StartError::IssuerMismatch {
            configured: issuer.to_owned(),
            discovered: discovered_issuer(&message).unwrap_or_else(|| "(see message)".to_owned()),
            message,
        };
    }
    if message.contains("must use HTTPS") || message.contains("is blocked by") {
        return StartError::FetchPolicy {
            issuer: issuer.to_owned(),
            message,
        };
    }
    StartError::Unreachable {
        issuer: issuer.to_owned(),
        message,
    }
}

/// The advertised issuer in the SDK's mismatch message (`… expected "a", got "b"`; older wording
/// `… configured "a", discovered "b"`).
fn discovered_issuer(message: &str) -> Option<String> {
    let start = message
        .rfind("got \"")
        .map(|i| i + 4)
        .or_else(|| message.rfind("discovered \"").map(|i| i + 11))?;
    let quoted = &message[start..];
    serde_json::Deserializer::from_str(quoted)
        .into_iter::<String>()
        .next()
        .and_then(Result::ok)
}

/// True when `issuer`'s host is loopback (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`): the
/// default for dev mode.
pub fn is_loopback_issuer(issuer: &str) -> bool {
    match url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_issuers_are_recognised() {
        for issuer in [
            "http://localhost:9000",
            "http://LOCALHOST",
            "http://auth.localhost:1",
            "http://127.0.0.1:9000",
            "http://127.8.9.1",
            "http://[::1]:9000",
        ] {
            assert!(is_loopback_issuer(issuer), "{issuer}");
        }
        for issuer in [
            "https://auth.example.com",
            "http://authserver:9000",
            "http://10.0.0.1",
            "nonsense",
        ] {
            assert!(!is_loopback_issuer(issuer), "{issuer}");
        }
    }

    #[test]
    fn the_discovered_issuer_is_read_from_either_sdk_wording() {
        assert_eq!(
            discovered_issuer(
                r#"AS metadata issuer mismatch: expected "http://a:1", got "http://b:2""#
            ),
            Some("http://b:2".to_owned())
        );
        assert_eq!(
            discovered_issuer(r#"issuer mismatch: configured "http://a", discovered "http://c""#),
            Some("http://c".to_owned())
        );
        assert_eq!(discovered_issuer("something else"), None);
    }
}
