//! The embedded authorization server, wire-compatible with authserver 0.2.2 on every path the
//! verify flow and an interactive MCP client touch: RFC 8414 metadata, JWKS, health, dynamic
//! registration, the authorization code flow with its login and consent pages, the
//! `client_credentials`, `authorization_code` and `refresh_token` grants, and the admin API. This module (with its children) is the only
//! place that serves the AS protocol; it never prints — callers report the bound addresses.
//!
//! State: one [`Shared`] per server (configuration, signing key, registrations, rate limiter),
//! shared by the public and the admin listener. Children, one job each: `config` (variables and
//! startup rules), `keys` (one signing key, random ids), `keyring` (current and previous key,
//! rotation), `store` (registrations on disk), `wellknown` (metadata, JWKS, health), `oauth`
//! (token endpoint), `access_token` (the server's own token verifier), `client_auth` (client
//! credentials on the form endpoints), `introspect` and `revoke` (RFC 7662 / 7009), `admin` (admin API),
//! `problem` (error bodies), `ratelimit` (per-IP buckets), `form` (Go-compatible form parsing), `dpop` (DPoP proofs at the
//! token endpoint, nonces, spent proof ids). The interactive half: `register` (DCR), `cimd`
//! (client lookup, metadata documents), `authorize`, `login`, `consent`, `pages` (their HTML),
//! `session` (cookies, CSRF), `flows` (pending authorizations and codes), `users`, `issue`
//! (minting for every grant) and `user_grants` (code exchange, refresh rotation).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::var;
use crate::exit::EnvError;

pub mod access_token;
pub mod admin;
pub mod authorize;
pub mod cimd;
pub mod client_auth;
pub mod config;
pub mod consent;
pub mod cors;
pub mod dpop;
pub mod flows;
pub mod form;
#[cfg(test)]
mod fuzz;
pub mod introspect;
pub mod issue;
pub mod keyring;
pub mod keys;
pub mod login;
pub mod oauth;
pub mod pages;
pub mod problem;
pub mod ratelimit;
pub mod register;
pub mod revoke;
pub mod session;
pub mod store;
pub mod user_grants;
pub mod users;
pub mod wellknown;

pub use config::AsConfig;

/// What every handler shares.
#[derive(Debug)]
pub struct Shared {
    pub config: AsConfig,
    /// The signing keys (current, and previous after a rotation).
    pub key: keyring::KeyRing,
    pub store: store::Store,
    pub limiter: ratelimit::Limiter,
    /// DPoP nonces issued and proof `jti`s spent (in memory).
    pub dpop: dpop::DpopState,
    /// Keys for the session cookie, login nonces and CSRF tokens.
    pub session: session::SessionKeys,
    /// Authorization requests in progress (in memory).
    pub flows: flows::Flows,
    /// Where one line per request goes, once someone asked for it ([`Bound::request_log`]).
    request_log: OnceLock<mpsc::UnboundedSender<String>>,
}

/// Handler state: the shared server state behind an `Arc`.
pub type AppState = Arc<Shared>;

/// A server whose listeners are bound (so their addresses are known) but not yet serving.
pub struct Bound {
    state: AppState,
    public: TcpListener,
    admin: Option<TcpListener>,
}

impl Bound {
    /// The address the public listener is bound to.
    pub fn public_addr(&self) -> anyhow::Result<SocketAddr> {
        self.public
            .local_addr()
            .context("reading the public listener address")
    }

    /// The address the admin listener is bound to (`None` when `AUTHPLANE_ADMIN_ENABLED` is off).
    pub fn admin_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        self.admin
            .as_ref()
            .map(|l| l.local_addr().context("reading the admin listener address"))
            .transpose()
    }

    /// The resolved configuration.
    pub fn config(&self) -> &AsConfig {
        &self.state.config
    }

    /// The current signing key's id (`kid`).
    pub fn kid(&self) -> String {
        self.state.key.kid()
    }

    /// One line per request served from now on (`authserver: <time> <listener> <METHOD> <path> →
    /// <status>[ <error>]`); the query string is never logged (it may carry a client secret).
    pub fn request_log(&self) -> mpsc::UnboundedReceiver<String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = self.state.request_log.set(tx);
        rx
    }

    /// Serves both listeners until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let token = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        let public_app = public_router(self.state.clone());
        tasks.spawn(serve_listener(self.public, public_app, token.clone()));
        if let Some(admin) = self.admin {
            tasks.spawn(serve_listener(
                admin,
                admin::router(self.state.clone()),
                token.clone(),
            ));
        }
        let trigger = token.clone();
        tokio::spawn(async move {
            shutdown.await;
            trigger.cancel();
        });
        let mut result = Ok(());
        while let Some(joined) = tasks.join_next().await {
            // One listener failing stops the other too.
            token.cancel();
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(e) => result = Err(anyhow::Error::new(e).context("a listener task panicked")),
            }
        }
        result
    }
}

async fn serve_listener(
    listener: TcpListener,
    app: Router,
    token: CancellationToken,
) -> anyhow::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { token.cancelled().await })
    .await
    .context("serving HTTP")
}

/// Validates the configuration, opens the state directory (signing key under `keys/`, generated
/// when absent; registrations in `state.json`) and binds both listeners.
///
/// Errors: a [`crate::exit::ConfigError`] for a configuration the real server refuses, an
/// [`EnvError`] when a port cannot be bound.
pub async fn bind(config: AsConfig, state_dir: &Path) -> anyhow::Result<Bound> {
    config.validate()?;
    let public_bind = config.bind_for(var::SERVER_ADDRESS, &config.server_address)?;
    let admin_bind = if config.admin_enabled {
        Some(config.bind_for(var::ADMIN_ADDRESS, &config.admin_address)?)
    } else {
        None
    };
    let unusable = |e: anyhow::Error| {
        anyhow::Error::new(EnvError::explained(
            format!(
                "cannot use {} as the authorization server's state directory",
                state_dir.display()
            ),
            format!("{e:#}"),
            // Also printed inside a container (the `authserver` personality), where there is no
            // --state-dir to pass: the flag is named as belonging to `serve authserver`.
            "make the directory writable by the user the server runs as, or delete it to start \
             afresh (with `authplane-dev serve authserver`: or pass --state-dir with another \
             directory)",
        ))
    };
    store::create_private_dir(state_dir).map_err(unusable)?;
    let store = store::Store::open(state_dir).map_err(unusable)?;
    if let Some((email, password)) = &config.dev_user {
        users::ensure(&store, email, password).map_err(unusable)?;
    }
    let keys_dir = state_dir.join("keys");
    let alg = config.algorithm();
    // RSA key generation is CPU-bound for a moment; keep it off the async workers.
    let key = tokio::task::spawn_blocking(move || keyring::KeyRing::load_or_create(&keys_dir, alg))
        .await
        .context("generating the signing key")?
        .map_err(unusable)?;

    let public = listen(&public_bind, "public", var::SERVER_ADDRESS).await?;
    let admin = match admin_bind {
        Some(addr) => Some(listen(&addr, "admin", var::ADMIN_ADDRESS).await?),
        None => None,
    };
    let limiter = ratelimit::Limiter::new(config.rate_limit);
    let session =
        session::SessionKeys::new(config.session_secret.as_deref(), config.session_secure);
    let state = Arc::new(Shared {
        session,
        flows: flows::Flows::default(),
        config,
        key,
        store,
        limiter,
        dpop: dpop::DpopState::default(),
        request_log: OnceLock::new(),
    });
    Ok(Bound {
        state,
        public,
        admin,
    })
}

/// Binds, then serves until `shutdown` completes (for embedding the server in other code).
pub async fn serve(
    config: AsConfig,
    state_dir: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    bind(config, state_dir).await?.run(shutdown).await
}

async fn listen(addr: &str, which: &str, variable: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AddrInUse {
            "another process is already listening on that port".to_owned()
        } else {
            e.to_string()
        };
        anyhow::Error::new(EnvError::explained(
            format!("cannot listen on {addr} for the authorization server's {which} listener"),
            why,
            format!(
                "stop whatever holds the port (`authplane-dev status` shows our own servers), or \
                 set {variable} to another address such as :19000"
            ),
        ))
    })
}

/// The public listener's routes (§2).
fn public_router(state: AppState) -> Router {
    let routes = Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(wellknown::metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            get(wellknown::metadata),
        )
        .route("/.well-known/jwks.json", get(wellknown::jwks))
        .route("/livez", get(wellknown::livez))
        .route("/health", get(wellknown::health))
        .route("/ready", get(wellknown::ready))
        .route("/oauth/authorize", get(authorize::authorize))
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/register", post(register::register))
        .route("/login", get(login::show).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/consent", get(consent::show).post(consent::submit))
        .route("/oauth/introspect", post(introspect::introspect))
        .route("/oauth/revoke", post(revoke::revoke))
        .fallback(|| async { problem::not_found() })
        .with_state(state.clone());
    wrap(routes, middleware::from_fn_with_state(state, public_guard))
}

/// Puts `layer` around the whole router rather than around each route, so it sees the final
/// response (axum adds `Allow` to a 405 outside per-route layers).
pub fn wrap<L>(routes: Router, layer: L) -> Router
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service:
        tower::Service<Request, Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
    <L::Service as tower::Service<Request>>::Response: axum::response::IntoResponse + 'static,
    <L::Service as tower::Service<Request>>::Future: Send + 'static,
{
    Router::new().fallback_service(routes).layer(layer)
}

/// Rate limit, then the common response treatment.
async fn public_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let seen = Seen::of(&request, "public");
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(ip) = ip
        && !state.limiter.allow(ip, Instant::now())
    {
        return finish_response(&state, &seen, problem::slow_down());
    }
    let allowed = &state.config.allowed_origins;
    if let Some(answer) = cors::preflight(allowed, request.method(), request.headers()) {
        return finish_response(&state, &seen, answer);
    }
    let origin = cors::allowed_origin(allowed, request.headers()).cloned();
    let mut response = next.run(request).await;
    cors::decorate(origin, &mut response);
    finish_response(&state, &seen, response)
}

/// What the request log says about a request (captured before the handler consumes it).
pub struct Seen {
    listener: &'static str,
    method: axum::http::Method,
    path: String,
}

impl Seen {
    /// Captures method and path (never the query) of a request on `listener`.
    pub fn of(request: &Request, listener: &'static str) -> Seen {
        Seen {
            listener,
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
        }
    }
}

/// Logs the request, then adds the security headers to every response and Go's text body to a
/// 405.
pub fn finish_response(state: &Shared, seen: &Seen, mut response: Response) -> Response {
    if let Some(log) = state.request_log.get() {
        let now = time::OffsetDateTime::now_utc();
        let time = now
            .replace_nanosecond(0)
            .unwrap_or(now)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut line = format!(
            "authserver: {time} {} {} {} → {}",
            seen.listener,
            seen.method,
            seen.path,
            response.status().as_u16()
        );
        if let Some(problem::Logged(what)) = response.extensions().get::<problem::Logged>() {
            line.push(' ');
            line.push_str(what);
        }
        let _ = log.send(line);
    }
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && response.headers().get(header::CONTENT_TYPE).is_none()
    {
        let (content_type, body) = problem::method_not_allowed_body();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
        // The router may already have declared the empty body's length.
        response.headers_mut().remove(header::CONTENT_LENGTH);
        *response.body_mut() = Body::from(body);
        // Go writes `Allow: GET, HEAD`; axum joins without the space.
        let spaced = response
            .headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').map(str::trim).collect::<Vec<_>>().join(", "))
            .and_then(|v| HeaderValue::from_str(&v).ok());
        if let Some(allow) = spaced {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    let headers = response.headers_mut();
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    // The HTML pages bring their own (which also allows their inline style).
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if state.config.session_secure {
        headers.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}
