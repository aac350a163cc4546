//! Readiness probes for the background components: one GET (or one unauthenticated POST) and its
//! status code, nothing more. The client side of the real protocols lives in `flow/`; this is only
//! "does it answer yet".
//!
//! - authorization server: `GET <public_url>/.well-known/oauth-authorization-server` → 200
//!   (RFC 8414: the well-known segment goes between the origin and any issuer path);
//! - echo MCP server: `GET <origin>/.well-known/oauth-protected-resource<mcp path>` → 200, or an
//!   unauthenticated `POST <mcp url>` answered with 401.

use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use crate::cli::Component;
use crate::config::Settings;

/// Per-request timeout: a local server answers well within it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Poll intervals while waiting: the first probe comes soon (a local server is usually ready
/// within a few milliseconds, and `up` should not sleep longer than the start takes), then the
/// interval doubles up to the cap so a slow start does not busy-poll.
const POLL_FIRST: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(75);
/// Connecting must succeed within this (part of [`REQUEST_TIMEOUT`]).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How many log lines a failure quotes.
pub const LOG_TAIL: usize = 20;

/// `origin + /.well-known/<name> + path` (RFC 8414 / RFC 9728 insertion); `base` unchanged when
/// it does not parse (settings have validated it already).
pub fn well_known(base: &str, name: &str) -> String {
    match url::Url::parse(base) {
        Ok(url) => {
            let path = url.path().trim_end_matches('/');
            let origin = url.origin().ascii_serialization();
            format!("{origin}/.well-known/{name}{path}")
        }
        Err(_) => format!("{}/.well-known/{name}", base.trim_end_matches('/')),
    }
}

/// The URL whose 200 means `component` is ready.
pub fn probe_url(settings: &Settings, component: Component) -> String {
    match component {
        Component::Authserver => well_known(&settings.public_url, "oauth-authorization-server"),
        Component::Echo => well_known(&settings.audience(), "oauth-protected-resource"),
    }
}

/// The URL a user talks to for `component` (issuer, MCP endpoint).
pub fn public_url(settings: &Settings, component: Component) -> String {
    match component {
        Component::Authserver => settings.public_url.clone(),
        Component::Echo => settings.audience(),
    }
}

/// An HTTP client with the readiness probes' short timeouts and no redirects.
pub fn client() -> reqwest::Client {
    crate::flow::resolve_localhost(reqwest::Client::builder())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        // Building a client without custom TLS roots only fails if the TLS backend cannot
        // initialise; fall back to the default client, which would report the same at send time.
        .unwrap_or_default()
}

/// One readiness probe: Ok when `component` answers as ready, Err with what it answered instead.
pub async fn probe(settings: &Settings, component: Component) -> Result<(), String> {
    probe_with(&client(), settings, component).await
}

async fn probe_with(
    client: &reqwest::Client,
    settings: &Settings,
    component: Component,
) -> Result<(), String> {
    let url = probe_url(settings, component);
    let first = match client.get(&url).send().await {
        Ok(resp) if resp.status() == reqwest::StatusCode::OK => return Ok(()),
        Ok(resp) => format!("GET {url} answered {}", resp.status()),
        Err(e) => format!("GET {url} failed: {}", describe(&e)),
    };
    if component == Component::Echo {
        let mcp = settings.audience();
        let resp = client
            .post(&mcp)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body("{}")
            .send()
            .await;
        if let Ok(resp) = resp
            && resp.status() == reqwest::StatusCode::UNAUTHORIZED
        {
            return Ok(());
        }
    }
    Err(first)
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused (nothing listens there yet)".into()
    } else if e.is_timeout() {
        format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        text
    }
}

/// Why a component did not become ready.
#[derive(Debug)]
pub enum NotReady {
    /// The process exited while we waited.
    Exited {
        status: ExitStatus,
        log_tail: Vec<String>,
    },
    /// The deadline passed; `last` is the last probe's answer.
    Timeout { last: String, log_tail: Vec<String> },
}

/// Polls until `component` answers, the deadline passes, or `child` (when given) exits.
pub async fn wait_ready(
    settings: &Settings,
    component: Component,
    timeout: Duration,
    mut child: Option<&mut Child>,
    log: &Path,
) -> Result<(), NotReady> {
    let client = client();
    let deadline = Instant::now() + timeout;
    let mut poll = POLL_FIRST;
    loop {
        let last = match probe_with(&client, settings, component).await {
            Ok(()) => return Ok(()),
            Err(last) => last,
        };
        if let Some(child) = child.as_deref_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(NotReady::Exited {
                status,
                log_tail: tail(log, LOG_TAIL),
            });
        }
        if Instant::now() >= deadline {
            return Err(NotReady::Timeout {
                last,
                log_tail: tail(log, LOG_TAIL),
            });
        }
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(POLL_MAX);
    }
}

/// The last `n` lines of a file (empty when it cannot be read). Reads at most the last 1 MiB.
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    const MAX: u64 = 1 << 20;
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(MAX);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        // The first line was cut in the middle.
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|l| (*l).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_is_inserted_between_origin_and_path() {
        assert_eq!(
            well_known("http://localhost:9000", "oauth-authorization-server"),
            "http://localhost:9000/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            well_known("https://a.example/tenant1", "oauth-authorization-server"),
            "https://a.example/.well-known/oauth-authorization-server/tenant1"
        );
        assert_eq!(
            well_known("http://localhost:8080/mcp", "oauth-protected-resource"),
            "http://localhost:8080/.well-known/oauth-protected-resource/mcp"
        );
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        std::fs::write(&path, "a\nb\nc\n").unwrap();
        assert_eq!(tail(&path, 2), vec!["b", "c"]);
        assert_eq!(tail(&path, 10), vec!["a", "b", "c"]);
        assert!(tail(&dir.path().join("missing"), 3).is_empty());
    }
}
