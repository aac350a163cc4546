//! The configuration rules: pure functions from [`Settings`] to findings, needing no network.
//!
//! `doctor` reports every rule as a step of its configuration group, and every verb that acts
//! (`up`, `verify`, `token`) runs the same [`RULES`] first and stops, before anything starts or
//! is called, when one finds an error (the pre-flight). Nothing here does I/O or records steps.

use crate::authserver::config::{as_var, is_localhost_issuer, is_weak, parse_bool};
use crate::config::{Backend, Settings, Topology, default, var};
use crate::diagnose::claims::{self, AudienceSource, Expectations};
use crate::diagnose::scope::Ledger;
use crate::diagnose::{Code, Finding, url};

/// The shortest secret accepted without a warning (the real AS's minimum off localhost).
pub const MIN_SECRET_LEN: usize = 16;

/// One configuration rule: a stable id, the step name doctor and the pre-flight show, what a pass
/// means, and the check itself.
pub struct Rule {
    /// Stable snake_case id (the JSON step id is `configuration_<id>` in doctor).
    pub id: &'static str,
    /// Human name of the step.
    pub name: &'static str,
    /// The one-line summary when the rule finds nothing.
    pub ok: &'static str,
    pub check: fn(&Settings) -> Vec<Finding>,
}

/// Every configuration rule, in the order they are reported.
pub const RULES: &[Rule] = &[
    Rule {
        id: "variables",
        name: "variable names",
        ok: "every AUTHPLANE_* name set is one something reads",
        check: variable_names,
    },
    Rule {
        id: "issuer",
        name: "issuer",
        ok: "AUTHPLANE_ISSUER names the AS's issuer",
        check: issuer,
    },
    Rule {
        id: "topology",
        name: "topology",
        ok: "each issuer names a host reachable from where its server runs",
        check: topology,
    },
    Rule {
        id: "session_secure",
        name: "secure cookies",
        ok: "a localhost issuer, or AUTHPLANE_SESSION_SECURE=true",
        check: session_secure,
    },
    Rule {
        id: "listeners",
        name: "listen ports",
        ok: "each listener is on the port its URL names",
        check: listeners,
    },
    Rule {
        id: "distinct_ports",
        name: "distinct ports",
        ok: "the AS, its admin API and the MCP server use three ports",
        check: distinct_ports,
    },
    Rule {
        id: "resource_uri",
        name: "resource URI",
        ok: "resource URI = audience = MCP URL",
        check: resource_uri,
    },
    Rule {
        id: "port",
        name: "port",
        ok: "PORT is the base URL's port",
        check: port,
    },
    Rule {
        id: "scope",
        name: "scope",
        ok: "the requested scope is the one the server requires",
        check: scope,
    },
    Rule {
        id: "dev_mode",
        name: "dev mode",
        ok: "http only on loopback",
        check: dev_mode,
    },
    Rule {
        id: "secrets",
        name: "secrets",
        ok: "admin key and session secret set and strong",
        check: secrets,
    },
];

/// Runs every rule on `settings`; pure.
pub fn check(settings: &Settings) -> Vec<(&'static Rule, Vec<Finding>)> {
    RULES
        .iter()
        .map(|rule| (rule, (rule.check)(settings)))
        .collect()
}

/// The expectations the configuration implies (before any network).
pub fn expectations(settings: &Settings) -> Expectations {
    let with_echo = settings.dials_embedded_echo();
    Expectations {
        audience: if with_echo {
            settings.audience()
        } else {
            settings.mcp_url.clone()
        },
        audience_source: if with_echo {
            AudienceSource::Echo
        } else {
            AudienceSource::McpUrl
        },
        server_issuer: settings.server_issuer.clone(),
        sdk_issuer: settings.sdk_issuer.clone(),
        discovered_issuer: None,
        required_scopes: settings.scopes.clone(),
        now: claims::now(),
    }
}

/// The SDK's issuer must name the AS's issuer (the SDK strips one trailing slash from its own
/// setting and from the metadata before comparing); the AS's issuer itself must not end with a
/// slash, because the AS stamps it into `iss` verbatim and builds its endpoint URLs from it.
pub fn issuer(settings: &Settings) -> Vec<Finding> {
    let mut findings = Vec::new();
    let server = &settings.server_issuer;
    if server.ends_with('/') {
        let trimmed = server.trim_end_matches('/');
        findings.push(
            Finding::error(
                Code::IssuerMismatch,
                format!("{}={server} ends with a slash", var::SERVER_ISSUER),
                format!("set {}={trimmed}", var::SERVER_ISSUER),
            )
            .why(
                "the AS stamps the issuer into every token's iss as written, while the SDK expects \
                 it without the slash (every token is refused), and its endpoint URLs would hold \
                 a double slash (the JWKS answers 404)",
            )
            .compare(trimmed, server.as_str())
            .differs("trailing slash"),
        );
    }
    let sdk = settings.sdk_issuer.trim_end_matches('/');
    let announced = server.trim_end_matches('/');
    if let Some(differs) = url::difference(announced, sdk) {
        findings.push(
            Finding::error(
                Code::IssuerMismatch,
                format!(
                    "the MCP server's SDK expects issuer {} ({}), but the AS announces {server} ({})",
                    settings.sdk_issuer,
                    var::ISSUER,
                    var::SERVER_ISSUER
                ),
                format!(
                    "set {}={announced} (both must name the same host, port and path)",
                    var::ISSUER
                ),
            )
            .why("the SDK compares the discovered issuer with its configured one byte for byte and refuses to start when they differ")
            .compare(announced, settings.sdk_issuer.as_str())
            .differs(differs),
        );
    }
    findings
}

/// The host of `url`, if it is a URL with one.
fn host_of(url: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
}

/// True for a host name that only resolves inside a Docker network: the seed's network alias
/// for the AS (`authserver`) or the AS container's name. Judged by name, not by a DNS lookup, so
/// the rule stays pure and instant (an `/etc/hosts` entry for either name is not honoured).
fn network_only_host(settings: &Settings, host: &str) -> bool {
    host.eq_ignore_ascii_case(default::NETWORK_ALIAS)
        || host.eq_ignore_ascii_case(&settings.container_name)
}

/// `url` with its host replaced by `host` (for the value a fix proposes).
fn with_host(url: &str, host: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|mut u| u.set_host(Some(host)).ok().map(|()| u))
        .map_or_else(
            || url.to_owned(),
            |u| u.as_str().trim_end_matches('/').to_owned(),
        )
}

/// The seed's rule 1, "pick by topology and set both vars to the same host", as the fix every
/// topology finding gives: both valid choices, with the ports of `issuer`.
fn topology_choices(issuer: &str) -> String {
    format!(
        "pick by topology and set {server} and {sdk} to the same URL: MCP server on this machine \
         ({topology}=host, the default) → both {local}; MCP server in a container on the AS's \
         Docker network ({topology}=containers) → both {network} (with {secure}=true)",
        server = var::SERVER_ISSUER,
        sdk = var::ISSUER,
        topology = var::DEV_TOPOLOGY,
        local = with_host(issuer, "localhost"),
        network = with_host(issuer, default::NETWORK_ALIAS),
        secure = as_var::SESSION_SECURE,
    )
}

/// The issuer host must resolve where the server that uses it runs (the seed's two flows):
/// on this machine a Docker network name does not resolve; inside a container `localhost` is the
/// container itself. The CLI always runs on this machine, so its public URL must not be a network
/// name either. In the containers topology the AS must be a container too, and the echo server
/// authplane-dev starts (a process on this machine) cannot be the MCP server.
pub fn topology(settings: &Settings) -> Vec<Finding> {
    let mut findings = Vec::new();
    let sdk = &settings.sdk_issuer;
    let sdk_host = host_of(sdk).unwrap_or_default();
    match settings.topology {
        Topology::Host if network_only_host(settings, &sdk_host) => {
            let expected = with_host(sdk, "localhost");
            findings.push(
                Finding::error(
                    Code::IssuerMismatch,
                    format!(
                        "the MCP server runs on this machine ({}=host), but its issuer {}={sdk} \
                         names `{sdk_host}`, a host only containers on the AS's Docker network \
                         resolve",
                        var::DEV_TOPOLOGY,
                        var::ISSUER
                    ),
                    topology_choices(sdk),
                )
                .why("the SDK discovers the AS's metadata at its issuer before it accepts a token; from this machine the name does not resolve, so every token is refused")
                .compare(expected, sdk.as_str())
                .differs(format!("host: topology host needs a name this machine resolves, not {sdk_host}")),
            );
        }
        Topology::Containers if url::is_loopback_host(&sdk_host) => {
            let expected = with_host(sdk, default::NETWORK_ALIAS);
            findings.push(
                Finding::error(
                    Code::IssuerMismatch,
                    format!(
                        "the MCP server runs in a container ({}=containers), but its issuer \
                         {}={sdk} names `{sdk_host}`, which inside a container is the container \
                         itself, not the AS",
                        var::DEV_TOPOLOGY,
                        var::ISSUER
                    ),
                    topology_choices(sdk),
                )
                .why("the SDK discovers the AS's metadata at its issuer; inside the container nothing answers there, so the server cannot verify any token")
                .compare(expected, sdk.as_str())
                .differs(format!("host: topology containers needs the AS's network name, not {sdk_host}")),
            );
        }
        _ => {}
    }
    if settings.topology == Topology::Containers {
        findings.extend(containers_topology_parts(settings));
    }
    let public = &settings.public_url;
    if let Some(host) = host_of(public).filter(|h| network_only_host(settings, h)) {
        let expected = with_host(public, "localhost");
        findings.push(
            Finding::error(
                Code::ConfigInvalid,
                format!(
                    "authplane-dev runs on this machine and reaches the AS at {public} ({}, by \
                     default the issuer), but `{host}` only resolves inside the AS's Docker network",
                    var::DEV_PUBLIC_URL
                ),
                format!(
                    "set {}={expected} (the port the AS publishes on this machine); the issuer \
                     stays what the tokens carry",
                    var::DEV_PUBLIC_URL
                ),
            )
            .why("every discovery, JWKS and token request of the CLI would fail to resolve the host")
            .compare(expected, public.as_str())
            .differs("host"),
        );
    }
    findings
}

/// What the containers topology needs besides the issuer: an AS on the Docker network (not the
/// embedded one, which listens on this machine's loopback, nor an external one, which is not on
/// the network `up` creates). The echo server `up` starts joins the network in a container of its
/// own, but without revocation checking: its introspection client lives in this machine's run
/// directory.
fn containers_topology_parts(settings: &Settings) -> Vec<Finding> {
    let mut findings = Vec::new();
    let not_on_network = match settings.backend {
        Backend::Embedded => Some((
            "embedded",
            "runs the AS on this machine's loopback, where no container can reach it",
        )),
        Backend::External if settings.dials_embedded_echo() => Some((
            "external",
            "uses an AS authplane-dev did not start, which is not on the Docker network the echo \
             server's container joins",
        )),
        _ => None,
    };
    if let Some((backend, why)) = not_on_network {
        findings.push(
            Finding::error(
                Code::ConfigInvalid,
                format!(
                    "{}=containers puts the MCP server on the AS's Docker network, but {}={backend} \
                     {why}",
                    var::DEV_TOPOLOGY,
                    var::DEV_AS
                ),
                format!(
                    "set {}=docker (the AS container joins the network), or {}=host",
                    var::DEV_AS,
                    var::DEV_TOPOLOGY
                ),
            )
            .compare("docker", backend),
        );
    }
    if settings.dials_embedded_echo() && settings.echo_revocation {
        findings.push(
            Finding::error(
                Code::ConfigInvalid,
                format!(
                    "{}=containers runs the echo server in a container, but {} is on",
                    var::DEV_TOPOLOGY,
                    var::DEV_ECHO_REVOCATION
                ),
                format!(
                    "unset {} for the containers topology, or set {}=host",
                    var::DEV_ECHO_REVOCATION,
                    var::DEV_TOPOLOGY
                ),
            )
            .why("the echo server's introspection client is kept in this machine's run directory, which the container does not see")
            .compare("off", "on"),
        );
    }
    findings
}

/// A non-localhost issuer needs `AUTHPLANE_SESSION_SECURE=true`: the AS (the real image and the
/// embedded one alike) refuses to start without it. Not checked for an AS someone else runs
/// (external), whose settings are not ours.
pub fn session_secure(settings: &Settings) -> Vec<Finding> {
    let issuer = &settings.server_issuer;
    if settings.backend == Backend::External || is_localhost_issuer(issuer) {
        return Vec::new();
    }
    let value = settings.vars.get(as_var::SESSION_SECURE);
    if value.is_some_and(parse_bool) {
        return Vec::new();
    }
    let shown = value.map_or_else(|| "(unset)".to_owned(), str::to_owned);
    vec![
        Finding::error(
            Code::ConfigInvalid,
            format!(
                "the issuer {}={issuer} is not localhost, and {}={shown}",
                var::SERVER_ISSUER,
                as_var::SESSION_SECURE
            ),
            format!(
                "set {}=true in {} (the AS marks its session cookies Secure), or use a localhost \
                 issuer for a server on this machine; for an AS you run yourself, set {}=external",
                as_var::SESSION_SECURE,
                settings.env_file.display(),
                var::DEV_AS
            ),
        )
        .why("the authorization server refuses to start with a non-localhost issuer unless its session cookies are Secure (\"refusing non-localhost issuer … without secure cookies\"): nothing would come up")
        .compare("true", shown),
    ]
}

/// Each listener is on the port its URL names: the AS's public listener on the issuer's port, the
/// admin listener on the port of `AUTHPLANE_DEV_ADMIN_URL` — when that URL is on this machine
/// (loopback). An explicit `AUTHPLANE_DEV_PUBLIC_URL` is not checked: it exists to reach the AS
/// somewhere else than the issuer says (a container network name, a port-forward, another AS).
/// Behind a proxy (`AUTHPLANE_DEV_BEHIND_PROXY`) a difference is only a warning.
pub fn listeners(settings: &Settings) -> Vec<Finding> {
    let mut pairs = vec![(
        var::ADMIN_ADDRESS,
        settings.admin_address.as_str(),
        settings.admin_port(),
        var::DEV_ADMIN_URL,
        settings.admin_url.as_str(),
    )];
    if settings.vars.non_empty(var::DEV_PUBLIC_URL).is_none() {
        pairs.insert(
            0,
            (
                var::SERVER_ADDRESS,
                settings.server_address.as_str(),
                settings.server_port(),
                var::SERVER_ISSUER,
                settings.server_issuer.as_str(),
            ),
        );
    }
    let mut findings = Vec::new();
    for (address_var, address, listens, url_var, url) in pairs {
        // Only a loopback URL can be served by our own listener; any other host is a proxy, a
        // container network name or another machine.
        let Some(named) = reqwest::Url::parse(url)
            .ok()
            .filter(|u| u.host_str().is_some_and(url::is_loopback_host))
            .and_then(|u| u.port_or_known_default())
        else {
            continue;
        };
        if named == listens {
            continue;
        }
        let message = format!(
            "{address_var}={address} listens on port {listens}, but {url_var}={url} names port {named}"
        );
        let fix = format!(
            "make them the same port: set {address_var}=:{named}, or change the port in {url_var} \
             to {listens} (a proxy in between: set {}=true)",
            var::DEV_BEHIND_PROXY
        );
        let finding = if settings.behind_proxy {
            Finding::warning(Code::ConfigInvalid, message, fix)
        } else {
            Finding::error(Code::ConfigInvalid, message, fix)
        };
        findings.push(
            finding
                .why("nothing would answer at the URL: every request, and the wait for the server to be ready, would go to a port nobody listens on")
                .compare(named.to_string(), listens.to_string())
                .differs("port"),
        );
    }
    findings
}

/// The AS's public and admin listeners and the echo server (when it is the server dialled) need a
/// port each.
pub fn distinct_ports(settings: &Settings) -> Vec<Finding> {
    let mut ports = vec![
        (var::SERVER_ADDRESS, settings.server_port()),
        (var::ADMIN_ADDRESS, settings.admin_port()),
    ];
    if settings.dials_embedded_echo() {
        ports.push((var::PORT, settings.port));
    }
    let mut findings = Vec::new();
    for (i, (first, port)) in ports.iter().enumerate() {
        for (second, other) in &ports[i + 1..] {
            if port == other {
                findings.push(
                    Finding::error(
                        Code::ConfigInvalid,
                        format!("{first} and {second} both use port {port}"),
                        format!("give each its own port, e.g. `authplane-dev init --ports 9000,9001,8080` in a fresh directory, or edit {second}"),
                    )
                    .why("two servers cannot listen on one port: the second would fail to start")
                    .compare(format!("{first} ≠ {second}"), format!("{port} = {other}")),
                );
            }
        }
    }
    findings
}

/// Unknown `AUTHPLANE_*` names (a typo is otherwise silently ignored), with the closest known one.
pub fn variable_names(settings: &Settings) -> Vec<Finding> {
    settings
        .unknown_names
        .iter()
        .map(|unknown| {
            let (message, fix) = match &unknown.suggestion {
                Some(closest) => (
                    format!(
                        "{} ({}) is not a variable anything reads; did you mean {closest}?",
                        unknown.name, unknown.source
                    ),
                    format!("rename {} to {closest}", unknown.name),
                ),
                None => (
                    format!(
                        "{} ({}) is not a variable authplane-dev reads",
                        unknown.name, unknown.source
                    ),
                    "remove it, or see docs/configuration.md for the variables".to_owned(),
                ),
            };
            let finding = Finding::warning(Code::UnknownVariable, message, fix)
                .why("a misspelt variable is silently ignored, so its default is used instead");
            match &unknown.suggestion {
                Some(closest) => finding.compare(closest.clone(), unknown.name.clone()),
                None => finding,
            }
        })
        .collect()
}

/// The resource URI the CLI registers is the server's audience, and the MCP URL it dials is the
/// same server.
pub fn resource_uri(settings: &Settings) -> Vec<Finding> {
    let exp = expectations(settings);
    let mut findings: Vec<Finding> = claims::check_resource_uri(&settings.resource_uri, &exp)
        .into_iter()
        .collect();
    if exp.audience_source == AudienceSource::Echo
        && let Some(differs) = url::difference(&exp.audience, &settings.mcp_url)
        && !url::same_local_server(&exp.audience, &settings.mcp_url)
    {
        findings.push(
            Finding::error(
                Code::AudienceMismatch,
                format!(
                    "the CLI dials {} but the server's audience is {}",
                    settings.mcp_url, exp.audience
                ),
                claims::audience_fix(&exp.audience, exp.audience_source),
            )
            .compare(exp.audience.clone(), settings.mcp_url.clone())
            .differs(differs),
        );
    }
    findings
}

/// `PORT` must be the port in `AUTHPLANE_BASE_URL`: otherwise the audience names a port the
/// server does not listen on. Reported as audience_mismatch (the token audience is what breaks);
/// behind a proxy (`AUTHPLANE_DEV_BEHIND_PROXY`) only a warning.
pub fn port(settings: &Settings) -> Vec<Finding> {
    let Ok(base) = reqwest::Url::parse(&settings.base_url) else {
        return Vec::new();
    };
    let Some(base_port) = base.port_or_known_default() else {
        return Vec::new();
    };
    if !settings.dials_embedded_echo() || base_port == settings.port {
        return Vec::new();
    }
    let message = format!(
        "{} names port {base_port}, but the echo server listens on {}={}",
        var::BASE_URL,
        var::PORT,
        settings.port
    );
    let fix = format!(
        "make {} and the port in {} the same (a proxy in between: set {}=true)",
        var::PORT,
        var::BASE_URL,
        var::DEV_BEHIND_PROXY
    );
    let finding = if settings.behind_proxy {
        Finding::warning(Code::AudienceMismatch, message, fix)
    } else {
        Finding::error(Code::AudienceMismatch, message, fix)
    };
    vec![
        finding
            .why("the audience is the base URL; a client reaching the server on PORT mints for another URL, and nothing answers at the base URL")
            .compare(settings.port.to_string(), base_port.to_string())
            .differs("port"),
    ]
}

/// The scope the CLI asks for must be one the echo server requires. A server you dial announces
/// its scopes itself (`scopes_supported`), which `verify` compares once it has read them.
pub fn scope(settings: &Settings) -> Vec<Finding> {
    if !settings.dials_embedded_echo() {
        return Vec::new();
    }
    let ledger = Ledger {
        server_requires: settings.scopes.clone(),
        requested: vec![settings.scope.clone()],
        ..Ledger::default()
    };
    let mut findings = ledger.check();
    if !settings.scopes.contains(&settings.scope) && findings.is_empty() {
        findings.push(
            Finding::error(
                Code::ScopeMismatch,
                format!(
                    "{}={} is not one of {}={}",
                    var::DEV_SCOPE,
                    settings.scope,
                    var::SCOPES,
                    settings.scopes.join(" ")
                ),
                format!(
                    "set {} to one of {}",
                    var::DEV_SCOPE,
                    settings.scopes.join(" ")
                ),
            )
            .compare(settings.scopes.join(" "), settings.scope.clone()),
        );
    }
    findings
}

/// Plain http is for loopback issuers only (the AS's dev mode) — and, in the containers
/// topology, for the AS's name on the Docker network, where the seed's `http://authserver:9000`
/// never leaves this machine.
pub fn dev_mode(settings: &Settings) -> Vec<Finding> {
    let Ok(issuer) = reqwest::Url::parse(&settings.server_issuer) else {
        return Vec::new();
    };
    let host = issuer.host_str().unwrap_or("");
    if issuer.scheme() != "http"
        || url::is_loopback_host(host)
        || (settings.topology == Topology::Containers && network_only_host(settings, host))
    {
        return Vec::new();
    }
    vec![
        Finding::warning(
            Code::ConfigInvalid,
            format!(
                "the issuer {} is plain http on a non-loopback host",
                settings.server_issuer
            ),
            "use https, or a loopback host (localhost) for local development",
        )
        .why("the AS accepts http only in dev mode; tokens travel unencrypted"),
    ]
}

/// The admin key and the session secret: set, not on the AS's weak list (the AS refuses to
/// start), and long enough (short is refused off localhost, a warning on it).
pub fn secrets(settings: &Settings) -> Vec<Finding> {
    let local = reqwest::Url::parse(&settings.server_issuer)
        .ok()
        .and_then(|u| u.host_str().map(url::is_loopback_host))
        .unwrap_or(false);
    let mut findings = Vec::new();
    for (name, value) in [
        (var::ADMIN_API_KEY, &settings.admin_api_key),
        (var::SESSION_SECRET, &settings.session_secret),
    ] {
        match value.as_deref() {
            None => findings.push(
                Finding::warning(
                    Code::WeakSecret,
                    format!("{name} is not set in {} or the environment", settings.env_file.display()),
                    format!(
                        "run `authplane-dev up` (it appends a fresh {name} to {}), or set it yourself",
                        settings.env_file.display()
                    ),
                )
                .why("without an admin key every admin API call is refused; `up`, `verify` and `token` generate one before starting anything")
                .compare("a random value of 16+ characters", "(unset)"),
            ),
            Some(v) if is_weak(v) => findings.push(weak_secret(name)),
            Some(v) if v.chars().count() < MIN_SECRET_LEN => {
                let finding = short_secret(name);
                findings.push(if local {
                    Finding { severity: crate::diagnose::Severity::Warning, ..finding }
                } else {
                    finding
                });
            }
            Some(_) => {}
        }
    }
    findings
}

/// The finding for a secret on the AS's weak list (the value itself is never shown).
pub fn weak_secret(name: &str) -> Finding {
    Finding::error(
        Code::WeakSecret,
        format!("{name} is on the AS's weak-secret list"),
        format!("set {name} to a long random value (`openssl rand -hex 32`), then `authplane-dev clean && authplane-dev up`"),
    )
    .why("the AS refuses to start with a well-known secret, and anyone can guess it")
}

/// The finding for a secret shorter than [`MIN_SECRET_LEN`] (an error; a warning on localhost).
fn short_secret(name: &str) -> Finding {
    Finding::error(
        Code::WeakSecret,
        format!("{name} is shorter than {MIN_SECRET_LEN} characters"),
        format!("set {name} to a long random value (`openssl rand -hex 32`), then `authplane-dev clean && authplane-dev up`"),
    )
    .why("the AS refuses short secrets for a non-localhost issuer, and short secrets are guessable")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Overrides, Vars};

    const STRONG: &str = "0123456789abcdef0123456789abcdef";

    /// Settings from `.env` pairs over strong secrets (nothing from the process environment).
    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let mut all = vec![(var::ADMIN_API_KEY, STRONG), (var::SESSION_SECRET, STRONG)];
        all.extend_from_slice(pairs);
        let owned = all.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        let vars = Vars::from_parts(Vec::new(), owned);
        Settings::resolve(
            vars,
            &Overrides::default(),
            Path::new(".env"),
            Path::new(".run"),
        )
        .unwrap()
    }

    fn codes(findings: &[Finding]) -> Vec<Code> {
        findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn the_defaults_break_no_rule() {
        let s = settings(&[]);
        for (rule, findings) in check(&s) {
            assert!(findings.is_empty(), "{}: {findings:?}", rule.id);
        }
    }

    #[test]
    fn rule_ids_are_unique_snake_case() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        assert!(
            ids.iter()
                .all(|id| id.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
    }

    #[test]
    fn an_issuer_with_a_trailing_slash_is_an_issuer_mismatch() {
        let f = issuer(&settings(&[(var::SERVER_ISSUER, "http://localhost:9000/")]));
        assert_eq!(codes(&f), [Code::IssuerMismatch]);
        assert!(f[0].is_error());
        assert_eq!(f[0].differs.as_deref(), Some("trailing slash"));
        assert_eq!(
            f[0].fix,
            "set AUTHPLANE_SERVER_ISSUER=http://localhost:9000"
        );
        // The SDK strips a trailing slash from its own setting: that one is fine.
        let sdk = issuer(&settings(&[(var::ISSUER, "http://localhost:9000/")]));
        assert!(sdk.is_empty(), "{sdk:?}");
    }

    #[test]
    fn the_sdk_issuer_follows_the_server_issuer_unless_set() {
        let s = settings(&[(var::SERVER_ISSUER, "http://127.0.0.1:9000")]);
        assert_eq!(s.sdk_issuer, "http://127.0.0.1:9000");
        assert!(issuer(&s).is_empty());
    }

    #[test]
    fn a_listener_on_another_port_than_its_url_is_config_invalid() {
        let f = listeners(&settings(&[
            (var::SERVER_ADDRESS, ":9100"),
            (var::SERVER_ISSUER, "http://localhost:9000"),
        ]));
        assert_eq!(codes(&f), [Code::ConfigInvalid]);
        assert!(f[0].is_error());
        assert_eq!(f[0].expected.as_deref(), Some("9000"));
        assert_eq!(f[0].actual.as_deref(), Some("9100"));
        assert!(
            f[0].message.contains("AUTHPLANE_SERVER_ADDRESS=:9100"),
            "{f:?}"
        );
        let admin = listeners(&settings(&[
            (var::ADMIN_ADDRESS, ":9101"),
            (var::DEV_ADMIN_URL, "http://localhost:9001"),
        ]));
        assert_eq!(codes(&admin), [Code::ConfigInvalid]);
        assert!(admin[0].message.contains(var::DEV_ADMIN_URL), "{admin:?}");
        // Moving only the listener moves the derived URLs with it.
        let moved = settings(&[
            (var::SERVER_ADDRESS, ":9100"),
            (var::ADMIN_ADDRESS, ":9101"),
        ]);
        assert_eq!(moved.server_issuer, "http://localhost:9100");
        assert_eq!(moved.admin_url, "http://localhost:9101");
        assert!(listeners(&moved).is_empty());
        // A proxy in between is declared, and the difference becomes a warning.
        let proxied = listeners(&settings(&[
            (var::SERVER_ADDRESS, ":9100"),
            (var::SERVER_ISSUER, "http://localhost:9000"),
            (var::DEV_BEHIND_PROXY, "true"),
        ]));
        assert_eq!(codes(&proxied), [Code::ConfigInvalid]);
        assert!(!proxied[0].is_error());
    }

    #[test]
    fn two_components_on_one_port_are_config_invalid() {
        let f = distinct_ports(&settings(&[
            (var::PORT, "9000"),
            (var::BASE_URL, "http://localhost:9000"),
        ]));
        assert_eq!(codes(&f), [Code::ConfigInvalid]);
        assert!(
            f[0].message.contains("AUTHPLANE_SERVER_ADDRESS and PORT"),
            "{f:?}"
        );
    }

    #[test]
    fn a_misspelt_variable_gets_the_closest_name() {
        let f = variable_names(&settings(&[("AUTHPLANE_ISUER", "http://localhost:9000")]));
        assert_eq!(codes(&f), [Code::UnknownVariable]);
        assert!(!f[0].is_error());
        assert!(
            f[0].message.contains("did you mean AUTHPLANE_ISSUER?"),
            "{f:?}"
        );
        // A variable only the real authserver reads is known; an unrelated name is left alone.
        let passthrough = settings(&[
            ("AUTHPLANE_LOG_LEVEL", "debug"),
            ("AUTHPLANE_SOMETHING_THE_AS_MAY_READ", "x"),
        ]);
        assert!(variable_names(&passthrough).is_empty());
        // Our own namespace is all known to us: any other name there is reported.
        let ours = variable_names(&settings(&[("AUTHPLANE_DEV_NOTHING_LIKE_THIS", "x")]));
        assert_eq!(codes(&ours), [Code::UnknownVariable]);
    }

    #[test]
    fn sdk_issuer_on_another_host_is_an_issuer_mismatch() {
        let f = issuer(&settings(&[(var::ISSUER, "http://127.0.0.1:9000")]));
        assert_eq!(codes(&f), [Code::IssuerMismatch]);
        assert!(f[0].differs.as_deref().unwrap().contains("host"), "{f:?}");
    }

    #[test]
    fn dialling_your_own_server_makes_its_url_the_resource_as_in_verify() {
        let own = "http://localhost:9999/mcp";
        let mut s = settings(&[(var::DEV_MCP_URL, own)]);
        assert_eq!(codes(&resource_uri(&s)), [Code::AudienceMismatch]);
        s.use_dialled_resource();
        assert_eq!(s.resource_uri, own);
        assert!(resource_uri(&s).is_empty());
        // A resource URI set explicitly is kept, and checked.
        let mut named = settings(&[
            (var::DEV_MCP_URL, own),
            (var::DEV_RESOURCE_URI, "http://localhost:9999/mcp/"),
        ]);
        named.use_dialled_resource();
        let f = resource_uri(&named);
        assert_eq!(codes(&f), [Code::AudienceMismatch]);
        assert!(f[0].differs.as_deref().unwrap().contains("trailing slash"));
    }

    #[test]
    fn port_must_be_the_base_url_port() {
        let f = port(&settings(&[
            (var::PORT, "8081"),
            (var::BASE_URL, "http://localhost:8080"),
        ]));
        assert_eq!(codes(&f), [Code::AudienceMismatch]);
        assert_eq!(f[0].expected.as_deref(), Some("8081"));
        assert_eq!(f[0].actual.as_deref(), Some("8080"));
        assert_eq!(f[0].differs.as_deref(), Some("port"));
        // The default port of the scheme counts.
        let implicit = settings(&[(var::BASE_URL, "http://localhost"), (var::PORT, "80")]);
        assert!(port(&implicit).is_empty());
        // PORT alone moves the base URL with it.
        let moved = settings(&[(var::PORT, "8180")]);
        assert_eq!(moved.base_url, "http://localhost:8180");
        assert!(port(&moved).is_empty());
        // Dialling another server: the echo's PORT is not this check's business.
        let own = settings(&[
            (var::PORT, "8081"),
            (var::DEV_MCP_URL, "http://example.test/mcp"),
        ]);
        assert!(port(&own).is_empty());
    }

    #[test]
    fn a_scope_the_server_does_not_require_is_a_scope_mismatch() {
        let f = scope(&settings(&[(var::DEV_SCOPE, "mcp:other")]));
        assert_eq!(codes(&f), [Code::ScopeMismatch]);
        // Every scope the server requires must be asked for.
        let partial = scope(&settings(&[
            (var::SCOPES, "mcp:read mcp:write"),
            (var::DEV_SCOPE, "mcp:read"),
        ]));
        assert_eq!(codes(&partial), [Code::ScopeMismatch]);
        assert_eq!(partial[0].actual.as_deref(), Some("mcp:read"));
        let renamed = scope(&settings(&[
            (var::SCOPES, "mcp:read"),
            (var::DEV_SCOPE, "mcp:read"),
        ]));
        assert!(renamed.is_empty(), "{renamed:?}");
    }

    #[test]
    fn plain_http_is_a_warning_only_off_loopback() {
        for loopback in [
            "http://localhost:9000",
            "http://127.0.0.1:9000",
            "http://[::1]:9000",
        ] {
            assert!(dev_mode(&settings(&[(var::SERVER_ISSUER, loopback)])).is_empty());
        }
        assert!(dev_mode(&settings(&[(var::SERVER_ISSUER, "https://auth.example")])).is_empty());
        let f = dev_mode(&settings(&[(
            var::SERVER_ISSUER,
            "http://auth.example:9000",
        )]));
        assert_eq!(codes(&f), [Code::ConfigInvalid]);
        assert!(!f[0].is_error());
    }

    #[test]
    fn weak_secrets_are_errors_and_short_ones_warnings_on_localhost() {
        let f = secrets(&settings(&[
            (var::ADMIN_API_KEY, "changeme"),
            (var::SESSION_SECRET, "short-but-15chr"),
        ]));
        assert_eq!(codes(&f), [Code::WeakSecret, Code::WeakSecret]);
        assert!(f[0].message.starts_with(var::ADMIN_API_KEY) && f[0].is_error());
        assert!(f[1].message.starts_with(var::SESSION_SECRET) && !f[1].is_error());
        let shown = format!("{f:?}");
        assert!(!shown.contains("changeme") && !shown.contains("short-but-15chr"));
        // Off localhost a short secret is refused by the AS.
        let remote = secrets(&settings(&[
            (var::SERVER_ISSUER, "https://auth.example"),
            (var::SESSION_SECRET, "short-but-15chr"),
        ]));
        assert_eq!(codes(&remote), [Code::WeakSecret]);
        assert!(remote[0].is_error());
        // Sixteen characters pass.
        let ok = settings(&[(var::SESSION_SECRET, "sixteen-chars-ok")]);
        assert!(secrets(&ok).is_empty());
    }

    #[test]
    fn a_network_name_on_the_host_or_localhost_in_a_container_is_an_issuer_mismatch() {
        let network = "http://authserver:9000";
        // The seed's container issuer, with the MCP server on this machine (the default).
        let f = topology(&settings(&[
            (var::SERVER_ISSUER, network),
            (var::DEV_PUBLIC_URL, "http://localhost:9000"),
        ]));
        assert_eq!(codes(&f), [Code::IssuerMismatch]);
        assert!(f[0].is_error() && f[0].message.contains("=host"), "{f:?}");
        assert_eq!(f[0].expected.as_deref(), Some("http://localhost:9000"));
        assert!(
            f[0].fix.contains("both http://localhost:9000")
                && f[0].fix.contains("both http://authserver:9000"),
            "{f:?}"
        );
        // The AS container's own name resolves only on the network too.
        let named = topology(&settings(&[(
            var::ISSUER,
            "http://authplane-dev-authserver:9000",
        )]));
        assert_eq!(codes(&named), [Code::IssuerMismatch]);
        // localhost inside a container (a server of the user's own, dialled); written by hand,
        // since an unset issuer follows the topology.
        let own = [
            (var::SERVER_ISSUER, "http://localhost:9000"),
            (var::DEV_TOPOLOGY, "containers"),
            (var::DEV_AS, "docker"),
            (var::DEV_MCP_URL, "http://localhost:18080/mcp"),
        ];
        let f = topology(&settings(&own));
        assert_eq!(codes(&f), [Code::IssuerMismatch]);
        assert_eq!(f[0].expected.as_deref(), Some(network));
        let mut right = own.to_vec();
        right.extend([
            (var::SERVER_ISSUER, network),
            (var::DEV_PUBLIC_URL, "http://localhost:9000"),
        ]);
        assert!(topology(&settings(&right)).is_empty());
    }

    #[test]
    fn the_cli_cannot_reach_the_as_by_its_network_name() {
        let mut pairs = vec![
            (var::SERVER_ISSUER, "http://authserver:9000"),
            (var::DEV_TOPOLOGY, "containers"),
            (var::DEV_AS, "docker"),
            (var::DEV_MCP_URL, "http://localhost:18080/mcp"),
        ];
        let f = topology(&settings(&pairs));
        assert_eq!(codes(&f), [Code::ConfigInvalid]);
        assert!(
            f[0].fix
                .contains("AUTHPLANE_DEV_PUBLIC_URL=http://localhost:9000")
        );
        pairs.push((var::DEV_PUBLIC_URL, "http://localhost:9000"));
        assert!(topology(&settings(&pairs)).is_empty());
    }

    #[test]
    fn the_containers_topology_needs_an_as_on_the_network_and_no_echo_revocation() {
        let on_network = [
            (var::SERVER_ISSUER, "http://authserver:9000"),
            (var::DEV_PUBLIC_URL, "http://localhost:9000"),
            (var::DEV_TOPOLOGY, "containers"),
        ];
        // The echo server runs in a container of its own: fine with the AS in Docker or auto.
        assert!(topology(&settings(&on_network)).is_empty());
        for backend in ["embedded", "external"] {
            let mut pairs = on_network.to_vec();
            pairs.push((var::DEV_AS, backend));
            let f = topology(&settings(&pairs));
            assert_eq!(codes(&f), [Code::ConfigInvalid], "{backend}");
            assert!(f[0].fix.contains("AUTHPLANE_DEV_AS=docker"), "{f:?}");
            assert_eq!(f[0].actual.as_deref(), Some(backend));
        }
        // An external AS with a containerised server of one's own: their network, not ours.
        let mut own = on_network.to_vec();
        own.extend([
            (var::DEV_AS, "external"),
            (var::DEV_MCP_URL, "http://localhost:18080/mcp"),
        ]);
        assert!(topology(&settings(&own)).is_empty());
        let mut revocation = on_network.to_vec();
        revocation.push((var::DEV_ECHO_REVOCATION, "true"));
        let f = topology(&settings(&revocation));
        assert_eq!(codes(&f), [Code::ConfigInvalid]);
        assert!(
            f[0].fix.contains("unset AUTHPLANE_DEV_ECHO_REVOCATION"),
            "{f:?}"
        );
    }

    #[test]
    fn plain_http_to_the_as_on_the_docker_network_is_no_warning_in_the_containers_topology() {
        let on_network = [
            (var::SERVER_ISSUER, "http://authserver:9000"),
            (var::DEV_PUBLIC_URL, "http://localhost:9000"),
            (var::DEV_TOPOLOGY, "containers"),
        ];
        assert!(dev_mode(&settings(&on_network)).is_empty());
        let elsewhere = [(var::SERVER_ISSUER, "http://auth.example:9000")];
        assert_eq!(
            codes(&dev_mode(&settings(&elsewhere))),
            [Code::ConfigInvalid]
        );
        let mut on_host = on_network.to_vec();
        on_host.pop();
        assert_eq!(codes(&dev_mode(&settings(&on_host))), [Code::ConfigInvalid]);
    }

    #[test]
    fn a_non_localhost_issuer_needs_secure_cookies_unless_the_as_is_external() {
        let remote = [(var::SERVER_ISSUER, "https://auth.example")];
        let f = session_secure(&settings(&remote));
        assert_eq!(codes(&f), [Code::ConfigInvalid]);
        assert!(f[0].is_error());
        assert_eq!(f[0].actual.as_deref(), Some("(unset)"));
        let mut pairs = remote.to_vec();
        pairs.push((as_var::SESSION_SECURE, "no"));
        assert_eq!(
            session_secure(&settings(&pairs))[0].actual.as_deref(),
            Some("no")
        );
        pairs.pop();
        pairs.push((as_var::SESSION_SECURE, "true"));
        assert!(session_secure(&settings(&pairs)).is_empty());
        let mut external = remote.to_vec();
        external.push((var::DEV_AS, "external"));
        assert!(session_secure(&settings(&external)).is_empty());
        // localhost, 127.0.0.1 and [::1] are the AS's localhost.
        assert!(session_secure(&settings(&[(var::SERVER_ISSUER, "http://[::1]:9000")])).is_empty());
    }

    #[test]
    fn unset_secrets_are_a_warning_naming_the_env_file() {
        let vars = Vars::from_parts(Vec::new(), Vec::new());
        let s = Settings::resolve(
            vars,
            &Overrides::default(),
            Path::new("my.env"),
            Path::new(".run"),
        )
        .unwrap();
        let f = secrets(&s);
        assert_eq!(codes(&f), [Code::WeakSecret, Code::WeakSecret]);
        assert!(
            f.iter()
                .all(|f| !f.is_error() && f.message.contains("my.env")),
            "{f:?}"
        );
    }
}
