//! doctor's configuration group: rules that need no network. Each rule is a pure function from
//! [`Settings`] to findings, so it is unit-tested without a stack; [`configuration`] records them
//! as steps.

use crate::authserver::config::is_weak;
use crate::config::{Settings, var};
use crate::diagnose::claims::{self, AudienceSource, Expectations};
use crate::diagnose::scope::Ledger;
use crate::diagnose::{Code, Finding, url};
use crate::report::Run;

use super::record;

/// The shortest secret doctor accepts.
pub const MIN_SECRET_LEN: usize = 16;

/// A configuration rule: pure, from the settings to what is wrong.
type Rule = fn(&Settings) -> Vec<Finding>;

/// Records every configuration rule as one step.
pub fn configuration(run: &mut Run<'_>, settings: &Settings) {
    let steps: [(&str, &str, Rule); 6] = [
        (
            "configuration: issuer",
            "AUTHPLANE_ISSUER names the AS's issuer",
            issuer,
        ),
        (
            "configuration: resource URI",
            "resource URI = audience = MCP URL",
            resource_uri,
        ),
        ("configuration: port", "PORT is the base URL's port", port),
        (
            "configuration: scope",
            "the requested scope is the one the server requires",
            scope,
        ),
        ("configuration: dev mode", "http only on loopback", dev_mode),
        ("configuration: secrets", "secrets are strong", secrets),
    ];
    for (name, ok, rule) in steps {
        record(run, name, ok, rule(settings));
    }
}

/// The expectations the configuration implies (before any network).
pub fn expectations(settings: &Settings) -> Expectations {
    let with_echo = crate::commands::verify::dials_embedded_echo(settings);
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

/// The SDK's issuer must be the AS's issuer (the rule verify applies to discovery); an issuer
/// ending with a slash is a warning.
pub fn issuer(settings: &Settings) -> Vec<Finding> {
    let mut findings = claims::check_issuers(
        &settings.server_issuer,
        &settings.server_issuer,
        &settings.sdk_issuer,
    );
    if settings.server_issuer.ends_with('/') {
        findings.push(
            Finding::warning(
                Code::ConfigInvalid,
                format!("{} ends with a slash", var::SERVER_ISSUER),
                format!(
                    "set {}={}",
                    var::SERVER_ISSUER,
                    settings.server_issuer.trim_end_matches('/')
                ),
            )
            .why("endpoint URLs are issuer + path, so they would contain a double slash"),
        );
    }
    findings
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
/// server does not listen on. Reported as audience_mismatch (the token audience is what breaks).
pub fn port(settings: &Settings) -> Vec<Finding> {
    let with_echo = crate::commands::verify::dials_embedded_echo(settings);
    let Ok(base) = reqwest::Url::parse(&settings.base_url) else {
        return Vec::new();
    };
    match base.port_or_known_default() {
        Some(base_port) if with_echo && base_port != settings.port => vec![
            Finding::error(
                Code::AudienceMismatch,
                format!(
                    "{} names port {base_port}, but the echo server listens on {}={}",
                    var::BASE_URL,
                    var::PORT,
                    settings.port
                ),
                format!("make {} and the port in {} the same", var::PORT, var::BASE_URL),
            )
            .why("the audience is the base URL; a client reaching the server on PORT mints for another URL")
            .compare(settings.port.to_string(), base_port.to_string())
            .differs("port"),
        ],
        _ => Vec::new(),
    }
}

/// The scope the CLI asks for must be one the server requires.
pub fn scope(settings: &Settings) -> Vec<Finding> {
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

/// Plain http is for loopback issuers only (the AS's dev mode).
pub fn dev_mode(settings: &Settings) -> Vec<Finding> {
    let Ok(issuer) = reqwest::Url::parse(&settings.server_issuer) else {
        return Vec::new();
    };
    if issuer.scheme() != "http" || issuer.host_str().is_some_and(url::is_loopback_host) {
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

/// The admin key and the session secret are neither on the AS's weak list nor short.
pub fn secrets(settings: &Settings) -> Vec<Finding> {
    [
        (var::ADMIN_API_KEY, &settings.admin_api_key),
        (var::SESSION_SECRET, &settings.session_secret),
    ]
    .into_iter()
    .filter(|(_, value)| {
        value
            .as_deref()
            .is_some_and(|v| is_weak(v) || v.chars().count() < MIN_SECRET_LEN)
    })
    .map(|(name, _)| weak_secret(name))
    .collect()
}

/// The finding for a weak secret (the value itself is never shown).
pub fn weak_secret(name: &str) -> Finding {
    Finding::error(
        Code::WeakSecret,
        format!("{name} is on the AS's weak-secret list or shorter than {MIN_SECRET_LEN} characters"),
        format!("set {name} to a long random value (`openssl rand -hex 32`), then `authplane-dev clean && authplane-dev up`"),
    )
    .why("the AS refuses weak secrets outside dev mode, and anyone can guess them")
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
        for rule in [issuer, resource_uri, port, scope, dev_mode, secrets] {
            assert!(rule(&s).is_empty(), "{:?}", rule(&s));
        }
    }

    #[test]
    fn an_issuer_with_a_trailing_slash_is_a_warning() {
        // The SDK's issuer comparison ignores a trailing slash (claims::check_issuers), so the
        // slash alone is only the double-slash warning.
        let f = issuer(&settings(&[(var::SERVER_ISSUER, "http://localhost:9000/")]));
        assert_eq!(codes(&f), [Code::ConfigInvalid]);
        assert!(!f[0].is_error());
        assert_eq!(
            f[0].fix,
            "set AUTHPLANE_SERVER_ISSUER=http://localhost:9000"
        );
    }

    #[test]
    fn sdk_issuer_on_another_host_is_an_issuer_mismatch() {
        let f = issuer(&settings(&[(var::ISSUER, "http://127.0.0.1:9000")]));
        assert_eq!(codes(&f), [Code::IssuerMismatch]);
        assert!(f[0].differs.as_deref().unwrap().contains("host"), "{f:?}");
    }

    #[test]
    fn dialling_your_own_server_makes_its_url_the_resource_as_in_verify() {
        use crate::commands::verify::use_dialled_resource;
        let own = "http://localhost:9999/mcp";
        let mut s = settings(&[(var::DEV_MCP_URL, own)]);
        assert_eq!(codes(&resource_uri(&s)), [Code::AudienceMismatch]);
        use_dialled_resource(&mut s);
        assert_eq!(s.resource_uri, own);
        assert!(resource_uri(&s).is_empty());
        // A resource URI set explicitly is kept, and checked.
        let mut named = settings(&[
            (var::DEV_MCP_URL, own),
            (var::DEV_RESOURCE_URI, "http://localhost:9999/mcp/"),
        ]);
        use_dialled_resource(&mut named);
        let f = resource_uri(&named);
        assert_eq!(codes(&f), [Code::AudienceMismatch]);
        assert!(f[0].differs.as_deref().unwrap().contains("trailing slash"));
    }

    #[test]
    fn port_must_be_the_base_url_port() {
        let f = port(&settings(&[(var::PORT, "8081")]));
        assert_eq!(codes(&f), [Code::AudienceMismatch]);
        assert_eq!(f[0].expected.as_deref(), Some("8081"));
        assert_eq!(f[0].actual.as_deref(), Some("8080"));
        assert_eq!(f[0].differs.as_deref(), Some("port"));
        // The default port of the scheme counts.
        let implicit = settings(&[(var::BASE_URL, "http://localhost"), (var::PORT, "80")]);
        assert!(port(&implicit).is_empty());
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
    fn weak_or_short_secrets_are_named_but_not_shown() {
        let f = secrets(&settings(&[
            (var::ADMIN_API_KEY, "changeme"),
            (var::SESSION_SECRET, "short-but-15chr"),
        ]));
        assert_eq!(codes(&f), [Code::WeakSecret, Code::WeakSecret]);
        assert!(f[0].message.starts_with(var::ADMIN_API_KEY));
        assert!(f[1].message.starts_with(var::SESSION_SECRET));
        let shown = format!("{f:?}");
        assert!(!shown.contains("changeme") && !shown.contains("short-but-15chr"));
        // Sixteen characters pass; an unset secret is not this rule's business.
        let ok = settings(&[(var::SESSION_SECRET, "sixteen-chars-ok")]);
        assert!(secrets(&ok).is_empty());
    }
}
