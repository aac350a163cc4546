//! An authorization server this tool did not start — the seed example's `make run`, a
//! `docker run authplane/authserver`, a team's dev AS, `authplane-dev serve authserver` in another
//! terminal — found answering at the configured public URL. It is used as it is: never started,
//! restarted or stopped (DESIGN §2, `--as external`).
//!
//! Detection asks the cheapest question first, so a warm stack of ours costs no request: a live
//! pid file of ours means "ours"; only when something answers discovery is Docker asked whether
//! it is our container.

use crate::cli::Component;
use crate::config::{Backend, Settings};
use crate::stack::process::{self, PidState};
use crate::stack::{docker, health};

/// An AS that answers at the public URL and is not ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    /// Where it answered (the public URL).
    pub url: String,
    /// The issuer its RFC 8414 metadata announces.
    pub issuer: String,
}

/// The external AS at the public URL, if one answers there and none of ours runs. Only for
/// `auto` and `external`: `embedded` and `docker` demand our own server.
pub async fn detect(settings: &Settings) -> Option<External> {
    if !matches!(settings.backend, Backend::Auto | Backend::External) {
        return None;
    }
    if matches!(
        process::inspect(&settings.run_dir, Component::Authserver),
        PidState::Running(_)
    ) {
        return None;
    }
    let metadata = crate::flow::token::discover(&health::client(), &settings.public_url)
        .await
        .ok()?;
    if let Ok(docker) = docker::connect().await
        && docker::own_running(&docker, &settings.container_name).await
    {
        return None;
    }
    Some(External {
        url: settings.public_url.clone(),
        issuer: metadata.issuer,
    })
}
